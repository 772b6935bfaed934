// Two headless Chromium pages (Debian's /usr/bin/chromium driven by playwright-core; no
// browser is ever downloaded), each in its own browser context, load icehubd's demo
// page (which imports /icehub.js from the hub; B opens the invite link A's page shows),
// join one room through the hub's /ws,
// negotiate through it and connect with iceTransportPolicy 'relay' through icehubd's
// own TURN server, with the credentials from joined's iceServers. Then:
//   chat      a message typed into each page's chat box shows in the other page
//   messages  N DataChannel messages each way arrive intact and in order; getStats
//             shows a relay/relay selected pair on both sides
//   resume    page A's WebSocket is dropped (dropSocketForTest) and A stays away for
//             a moment while B sends signals and a broadcast through the hub; A comes
//             back with the same peer id, gets them in order, B saw no peer-left, and
//             the DataChannel still carries messages both ways
//   rejoin    A's socket stays away longer than the resume grace period: B hears
//             peer-left "timeout" and "undelivered" for its signal to A; A's resume
//             fails and it joins again under a new id and reconnects to B via relay
//   media     both pages start fake camera/mic streams at the same moment (offer glare
//             on renegotiation); each gets the other's audio and video tracks
//   origin    a page from another Origin (http://127.0.0.1:<other port>, served by
//             this script) cannot open /ws: the upgrade is refused with 403
//   wss       (with "secure_base": the hub's https:// URL) the demo over https: the
//             client uses wss://, iceServers has turns:, two pages connect and chat
//   refresh   (with "credential_ttl" in the config: the daemon's signal.credential_ttl)
//             B gets fresh iceServers pushed before its credentials expire, restarts
//             ICE with them, and messages still flow after the old ones expired
//   leave     A leaves (B hears peer-left "leave"), joins again and reconnects to B;
//             B's page is closed and A hears peer-left "leave" at once (pagehide)
// A screenshot of the demo page goes to artifacts/signal-demo.png; on failure each
// page's screenshot and console log go to artifacts/signal-{a,b}.{png,log}.
//
// usage: node signal_test.mjs CONFIG_JSON
//   CONFIG_JSON = {"base": "http://127.0.0.1:8080", "room": "r1", "messages": 50,
//                  "artifacts": "/path/to/tests/artifacts", "timeout_ms": 15000,
//                  "executable": "/usr/bin/chromium", "resume_seconds": 3,
//                  "credential_ttl": 30, "secure_base": "https://127.0.0.1:8443"}
// Prints JSON lines: {"step": name, "ok": bool, ...details} per step, and last
// {"done": true, "ok": bool}. Exit status 0 only if every step passed.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2] || '{}');
const base = cfg.base || 'http://127.0.0.1:8080';
const room = cfg.room || `room-${process.pid}`;
const artifacts = cfg.artifacts || path.join(process.cwd(), 'artifacts');
const messages = cfg.messages || 50;
const timeoutMs = cfg.timeout_ms || 15000;
const resumeSeconds = cfg.resume_seconds || 3;   // the daemon's signal.resume_seconds

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // getUserMedia without a prompt and without devices: a synthetic camera and mic.
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  // The test's certificate for https:// and wss:// is self-signed.
  '--ignore-certificate-errors'];

let allOk = true;
function report(step, ok, details = {}) {
  if (!ok) allOk = false;
  process.stdout.write(JSON.stringify({ step, ok, ...details }) + '\n');
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// Waits until fn() (run in the page) returns something truthy; returns it.
async function waitIn(page, what, fn, arg, ms = timeoutMs) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    return await h.jsonValue();
  } catch (err) {
    throw new Error(`timeout waiting for ${what}`);
  }
}

// Each page: console and page errors kept for the failure log.
function watch(page, name, logs) {
  logs[name] = [];
  page.on('console', (m) => logs[name].push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs[name].push(`[pageerror] ${e}`));
}

// Joins through the demo page's own form, with "relay only" ticked.
async function joinViaUi(page) {
  await page.goto(`${base}/?debug=1&room=${encodeURIComponent(room)}`);
  await page.check('#relayOnly');
  await page.click('#joinBtn');
  return waitIn(page, 'joined', () => {
    const c = window.icehubDemo.client;
    return c && c.state === 'joined' && c.id &&
      { id: c.id, iceServers: c.iceServers, url: c.url };
  });
}

// The peer state in a page, for reports.
const peerInfo = () => {
  const c = window.icehubDemo.client;
  return [...c.peers.values()].map((p) => ({ id: p.id, polite: p.polite,
    state: p.connectionState, stats: p.stats, pair: p.pair }));
};

// B opens the invite link A's page shows (?room=...&relay=1) and joins from there.
async function joinViaInvite(a, b) {
  const href = await a.getAttribute('#invite', 'href');
  await b.goto(`${href}&debug=1`);
  const form = await b.evaluate(() => ({ room: document.getElementById('room').value,
    relay: document.getElementById('relayOnly').checked }));
  check(form.room === room && form.relay, `invite ${href} filled in ${JSON.stringify(form)}`);
  await b.click('#joinBtn');
  return waitIn(b, 'joined', () => {
    const c = window.icehubDemo.client;
    return c && c.state === 'joined' && c.id &&
      { id: c.id, iceServers: c.iceServers, url: c.url };
  });
}

async function stepConnect(a, b) {
  const ja = await joinViaUi(a);
  const jb = await joinViaInvite(a, b);
  const turn = ja.iceServers.filter((s) => [].concat(s.urls).some((u) => u.startsWith('turn:')));
  check(turn.length && turn[0].username && turn[0].credential,
    'joined has no turn: server with credentials: ' + JSON.stringify(ja.iceServers));
  // Both sides report a relay pair (the demo's table badge reads it from getStats).
  const pairs = [];
  for (const [page, other] of [[a, jb.id], [b, ja.id]]) {
    pairs.push(await waitIn(page, 'a relay candidate pair', (id) => {
      const p = window.icehubDemo.pairs[id];
      const badge = document.querySelector(`tr[data-peer="${id}"] .badge`);
      return p && badge && badge.dataset.pairType && { ...p, badge: badge.dataset.pairType };
    }, other));
  }
  for (const p of pairs) {
    check(p.type === 'relay' && p.local === 'relay' && p.remote === 'relay' &&
      p.badge === 'relay', 'pair is not relay/relay: ' + JSON.stringify(p));
  }
  return { a: ja.id, b: jb.id, url: ja.url, iceServers: ja.iceServers,
    iceServersB: jb.iceServers, pairs };
}

async function stepChat(a, b, ids) {
  const said = [];
  for (const [from, to, text] of [[a, b, `hello from a ${ids.a}`],
    [b, a, `hello from b ${ids.b}`]]) {
    await waitIn(from, 'DataChannel open', () =>
      [...window.icehubDemo.client.peers.values()].some((p) => p.channel &&
        p.channel.readyState === 'open'));
    await from.fill('#chatInput', text);
    await from.click('#sendBtn');
    await waitIn(to, `chat line "${text}"`, (t) =>
      window.icehubDemo.log.some((l) => l.text.endsWith(': ' + t) && l.cls === ''), text);
    said.push(text);
  }
  return { said };
}

// N messages each way on the default channel, then the selected pair from getStats.
// Both pages listen before either sends.
async function stepMessages(a, b, ids) {
  const listen = (n) => {
    const c = window.icehubDemo.client;
    window.__got = [];
    window.__gotAll = new Promise((resolve) => {
      const off = c.on('message', ({ data }) => {
        if (typeof data === 'string' && data.startsWith('m:')) window.__got.push(data);
        if (window.__got.length >= n) { off(); resolve(); }
      });
    });
  };
  const sendAll = ({ n, other, prefix }) => {
    const peer = window.icehubDemo.client.peers.get(other);
    for (let i = 0; i < n; i++) {
      // Every tenth message 8000 bytes: several SCTP chunks through TURN.
      peer.send(`m:${prefix}:${i}:` + 'x'.repeat(i % 10 === 9 ? 8000 : i * 13 % 300));
    }
  };
  const collect = (ms) => Promise.race([window.__gotAll,
    new Promise((resolve) => setTimeout(resolve, ms))]).then(() => window.__got);
  await a.evaluate(listen, messages);
  await b.evaluate(listen, messages);
  await a.evaluate(sendAll, { n: messages, other: ids.b, prefix: 'a' });
  await b.evaluate(sendAll, { n: messages, other: ids.a, prefix: 'b' });
  const gotA = await a.evaluate(collect, timeoutMs);
  const gotB = await b.evaluate(collect, timeoutMs);
  const intact = (got, prefix) => got.length === messages && got.every((m, i) =>
    m === `m:${prefix}:${i}:` + 'x'.repeat(i % 10 === 9 ? 8000 : i * 13 % 300));
  check(intact(gotA, 'b'), `a got ${gotA.length}/${messages} or out of order`);
  check(intact(gotB, 'a'), `b got ${gotB.length}/${messages} or out of order`);
  const statsOf = (other) => window.icehubDemo.client.peers.get(other).getSelectedPair();
  const pa = await a.evaluate(statsOf, ids.b);
  const pb = await b.evaluate(statsOf, ids.a);
  for (const p of [pa, pb]) {
    check(p && p.local.candidateType === 'relay' && p.remote.candidateType === 'relay',
      'getStats pair is not relay/relay: ' + JSON.stringify(p));
    check(p.bytesSent > 0 && p.bytesReceived > 0, 'no bytes on the pair: ' + JSON.stringify(p));
  }
  return { received_a: gotA.length, received_b: gotB.length, pair_a: pa, pair_b: pb };
}

// One DataChannel message each way between A and B, tagged: both pages listen
// before either sends. Returns {a, b} with what each side saw, its peer's state,
// selected pair and counters.
async function exchange(a, b, ids, tag) {
  const listen = (want) => {
    const c = window.icehubDemo.client;
    window.__want = new Promise((resolve) => {
      const off = c.on('message', ({ data }) => { if (data === want) { off(); resolve(true); } });
      setTimeout(() => resolve(false), 8000);
    });
  };
  const send = ({ other, text }) => window.icehubDemo.client.peers.get(other).send(text);
  const result = async (other) => {
    const peer = window.icehubDemo.client.peers.get(other);
    return { got: await window.__want, state: peer.connectionState,
      pair: await peer.getSelectedPair(), stats: peer.stats };
  };
  await a.evaluate(listen, `${tag}-from-b`);
  await b.evaluate(listen, `${tag}-from-a`);
  const sentA = await a.evaluate(send, { other: ids.b, text: `${tag}-from-a` });
  const sentB = await b.evaluate(send, { other: ids.a, text: `${tag}-from-b` });
  const [ra, rb] = await Promise.all([a.evaluate(result, ids.b), b.evaluate(result, ids.a)]);
  return { a: { sent: sentA, ...ra }, b: { sent: sentB, ...rb } };
}

async function stepResume(a, b, ids) {
  // B records what reaches it about A; A records hub signals and broadcasts.
  await b.evaluate(() => {
    const c = window.icehubDemo.client;
    window.__left = [];
    c.on('peerleft', ({ peer, reason }) => window.__left.push([peer.id, reason]));
  });
  await a.evaluate(() => {
    const c = window.icehubDemo.client;
    window.__hub = [];
    window.__resumed = null;
    c.on('signal', ({ from, data }) => window.__hub.push(['signal', from, data]));
    c.on('broadcast', ({ from, data }) => window.__hub.push(['broadcast', from, data]));
    c.on('resumed', ({ id }) => { window.__resumed = { id, state: c.state }; });
    // Away for 1.5 s: long enough for B's messages to be queued by the hub.
    c.dropSocketForTest(1500);
  });
  await waitIn(a, 'reconnecting', () => window.icehubDemo.client.state === 'reconnecting');
  // Give the hub a moment to see the close, then talk to the absent A.
  await b.waitForTimeout(300);
  const queued = await b.evaluate((to) => {
    const c = window.icehubDemo.client;
    const sent = [];
    for (let i = 0; i < 5; i++) { c.signal(to, { app: `queued-${i}` }); sent.push(`queued-${i}`); }
    c.broadcast({ app: 'queued-broadcast' });
    return sent;
  }, ids.a);
  const resumed = await waitIn(a, 'resumed', () => window.__resumed);
  check(resumed.id === ids.a, `resumed with another id: ${resumed.id} != ${ids.a}`);
  const hub = await waitIn(a, 'queued messages', () => window.__hub.length >= 6 && window.__hub);
  const signals = hub.filter((m) => m[0] === 'signal').map((m) => m[2].app);
  check(JSON.stringify(signals) === JSON.stringify(queued),
    'queued signals missing or out of order: ' + JSON.stringify(hub));
  check(hub.every((m) => m[1] === ids.b), 'messages from someone else: ' + JSON.stringify(hub));
  check(hub.some((m) => m[0] === 'broadcast' && m[2].app === 'queued-broadcast'),
    'queued broadcast missing: ' + JSON.stringify(hub));
  // After the resume: still the same peers, and both channels carry messages.
  const ex = await exchange(a, b, ids, 'after-resume');
  check(ex.a.sent && ex.b.sent && ex.a.got && ex.b.got, 'DataChannel after resume: ' +
    JSON.stringify(ex));
  const peersA = await a.evaluate(() => [...window.icehubDemo.client.peers.keys()]);
  const peersB = await b.evaluate(() => [...window.icehubDemo.client.peers.keys()]);
  check(peersA.includes(ids.b) && peersB.includes(ids.a), 'peers lost: ' +
    JSON.stringify({ peersA, peersB }));
  const left = await b.evaluate(() => window.__left);
  check(left.length === 0, 'B saw peer-left during the resume: ' + JSON.stringify(left));
  const stats = await a.evaluate(() => window.icehubDemo.client.stats);
  check(stats.resumes === 1 && stats.rejoins === 0, 'client stats: ' + JSON.stringify(stats));
  return { id: resumed.id, delivered: hub.length, client: stats };
}

// A's socket drops for longer than the hub's resume grace period (resume_seconds):
// the hub announces A as gone (peer-left "timeout") and tells B that its signal to A
// was undelivered; A's resume is refused (resume-failed) and it joins again under a
// new id, and A and B connect again through the relay.
async function stepRejoin(a, b, ids) {
  await b.evaluate(() => {
    const c = window.icehubDemo.client;
    window.__events = [];
    c.on('peerleft', ({ peer, reason }) => window.__events.push(['left', peer.id, reason]));
    c.on('peerjoined', ({ peer }) => window.__events.push(['joined', peer.id]));
    c.on('error', (e) => window.__events.push(['error', e.code, e.to || null]));
  });
  await a.evaluate((hold) => {
    const c = window.icehubDemo.client;
    window.__rejoined = null;
    c.on('rejoined', (d) => { window.__rejoined = d; });
    c.dropSocketForTest(hold);
  }, resumeSeconds * 1000 + 1500);
  await waitIn(a, 'reconnecting', () => window.icehubDemo.client.state === 'reconnecting');
  await b.waitForTimeout(300);
  await b.evaluate((to) => window.icehubDemo.client.signal(to, { app: 'lost' }), ids.a);
  const rejoined = await waitIn(a, 'rejoined', () => window.__rejoined);
  check(rejoined.previousId === ids.a && rejoined.id && rejoined.id !== ids.a,
    'rejoined: ' + JSON.stringify(rejoined));
  const events = await waitIn(b, 'peer-left, undelivered and peer-joined', (ev) => {
    const e = window.__events;
    const has = (f) => e.some(f);
    return has((x) => x[0] === 'left' && x[1] === ev.old) &&
      has((x) => x[0] === 'joined' && x[1] === ev.now) &&
      has((x) => x[0] === 'error' && x[1] === 'undelivered') && e;
  }, { old: ids.a, now: rejoined.id });
  check(events.some((x) => x[0] === 'left' && x[1] === ids.a && x[2] === 'timeout'),
    'peer-left reason: ' + JSON.stringify(events));
  check(events.some((x) => x[0] === 'error' && x[1] === 'undelivered' && x[2] === ids.a),
    'undelivered: ' + JSON.stringify(events));
  const pair = await waitIn(b, 'relay pair with the new A', (id) => {
    const p = window.icehubDemo.pairs[id];
    return p && p.type;
  }, rejoined.id);
  check(pair === 'relay', `pair with the new A: ${pair}`);
  const stats = await a.evaluate(() => window.icehubDemo.client.stats);
  check(stats.rejoins === 1, 'client stats: ' + JSON.stringify(stats));
  ids.a = rejoined.id;
  return { old_id: rejoined.previousId, new_id: rejoined.id, events, pair, client: stats };
}

// Both pages start their fake camera and mic at the same moment: each renegotiates,
// the offers may cross (glare), and each must end up receiving the other's tracks.
async function stepMedia(a, b, ids) {
  const start = () => {
    window.__tracks = [];
    window.icehubDemo.client.on('track', ({ track }) => window.__tracks.push(track.kind));
  };
  await a.evaluate(start);
  await b.evaluate(start);
  await Promise.all([a.click('#callBtn'), b.click('#callBtn')]);
  const kinds = [];
  for (const page of [a, b]) {
    const k = await waitIn(page, 'remote audio and video tracks', () =>
      window.__tracks.includes('audio') && window.__tracks.includes('video') && window.__tracks);
    kinds.push(k);
  }
  // The remote video really plays (frames decoded).
  for (const [page, other] of [[a, ids.b], [b, ids.a]]) {
    await waitIn(page, 'remote video frames', (id) => {
      const v = document.querySelector(`figure[data-id="${id}"] video`);
      return v && v.videoWidth > 0 && v.currentTime > 0;
    }, other);
  }
  const peerStats = await Promise.all([a.evaluate(peerInfo), b.evaluate(peerInfo)]);
  const collisions = peerStats.flat().reduce((n, p) => n + p.stats.collisions, 0);
  return { tracks_a: kinds[0], tracks_b: kinds[1], collisions,
    peers: peerStats.map((ps) => ps.map(({ id, polite, stats }) => ({ id, polite, stats }))) };
}

// A page from another origin (http://127.0.0.1:<another port>, served by a small
// server here) tries to open the hub's /ws: the hub must refuse the upgrade (403).
// The page is on loopback too: Chromium itself blocks a public origin from reaching a
// loopback address (Private Network Access), which would prove nothing about the hub.
async function stepForeignOrigin(browser) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>foreign</title><p>another origin</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const foreign = `http://127.0.0.1:${server.address().port}`;
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    await page.goto(foreign + '/');
    const wsUrl = base.replace(/^http/, 'ws') + '/ws';
    const res = await page.evaluate((url) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      let opened = false;
      ws.onopen = () => { opened = true; };
      ws.onclose = (e) => resolve({ opened, code: e.code, origin: location.origin });
      setTimeout(() => resolve({ opened, code: null, timeout: true }), 5000);
    }), wsUrl);
    // Chromium logs the handshake's status line to the console.
    await page.waitForTimeout(100);
    res.console = consoleLines.filter((l) => l.includes('WebSocket'));
    check(!res.opened && res.code === 1006, 'foreign origin not refused: ' + JSON.stringify(res));
    check(res.console.some((l) => l.includes('403')), 'no 403 from the hub: ' +
      JSON.stringify(res));
    return res;
  } finally {
    await ctx.close().catch(() => {});
    server.close();
  }
}

// The demo page over https:// (http.tls_listen): icehub.js then defaults to wss://,
// and joined's iceServers carry a turns: URL. Two more pages, in another room,
// connect through the relay and chat.
async function stepWss(browser) {
  const secureRoom = `${room}-tls`;
  const ctxs = [];
  try {
    const pages = [];
    for (let i = 0; i < 2; i++) {
      const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
      ctxs.push(ctx);
      const page = await ctx.newPage();
      await page.goto(`${cfg.secure_base}/?relay=1&room=${encodeURIComponent(secureRoom)}`);
      await page.click('#joinBtn');
      pages.push(page);
    }
    const joined = [];
    for (const page of pages) {
      joined.push(await waitIn(page, 'joined over wss', () => {
        const c = window.icehubDemo.client;
        return c && c.state === 'joined' && { id: c.id, url: c.url, iceServers: c.iceServers };
      }));
    }
    const urls = joined[0].iceServers.flatMap((x) => [].concat(x.urls));
    check(joined[0].url.startsWith('wss://'), `client url ${joined[0].url}`);
    check(urls.some((u) => u.startsWith('turns:')), 'no turns: URL: ' + JSON.stringify(urls));
    const ids = { a: joined[0].id, b: joined[1].id };
    const pair = await waitIn(pages[0], 'relay pair over wss signaling', (id) => {
      const p = window.icehubDemo.pairs[id];
      return p && p.type;
    }, ids.b);
    check(pair === 'relay', `pair ${pair}`);
    // The pair is selected once ICE connects; the DataChannel opens a moment later.
    for (const [page, other] of [[pages[0], ids.b], [pages[1], ids.a]]) {
      await waitIn(page, 'DataChannel open over wss', (id) => {
        const p = window.icehubDemo.client.peers.get(id);
        return p && p.channel && p.channel.readyState === 'open';
      }, other);
    }
    const ex = await exchange(pages[0], pages[1], ids, 'over-wss');
    check(ex.a.got && ex.b.got, 'DataChannel: ' + JSON.stringify(ex));
    return { url: joined[0].url, urls, pair };
  } finally {
    for (const ctx of ctxs) await ctx.close().catch(() => {});
  }
}

// Credentials expire (the daemon runs with a short signal.credential_ttl): the hub
// pushes fresh iceServers to B at 80% of the TTL, B restarts ICE with them, and the
// connection still carries messages both ways after B's first credentials (with
// which its first TURN allocation was made, and which icehubd ends it at) expired.
async function stepRefresh(a, b, ids) {
  const user = ids.iceServersB.find((x) => x.username).username;
  const expiry = parseInt(user.split(':')[0], 10);
  check(expiry > Date.now() / 1000, `odd TURN username ${user}`);
  const pushed = await waitIn(b, 'pushed iceServers', (old) => {
    const c = window.icehubDemo.client;
    const u = c.iceServers.find((x) => x.username);
    return u && u.username !== old && u.username;
  }, user, (expiry - Date.now() / 1000 + 5) * 1000);
  check(parseInt(pushed.split(':')[0], 10) > expiry, `new username ${pushed}`);
  // Past the old expiry (plus a margin for a refresh in flight), still connected.
  const wait = (expiry + 2) * 1000 - Date.now();
  if (wait > 0) await b.waitForTimeout(wait);
  const ex = await exchange(a, b, ids, 'after-expiry');
  const [ra, rb] = [ex.a, ex.b];
  check(ra.sent && rb.sent && ra.got && rb.got, 'DataChannel after the credentials ' +
    'expired: ' + JSON.stringify({ ra, rb }));
  check(rb.stats.credentialRestarts >= 1, 'B did not restart ICE: ' + JSON.stringify(rb.stats));
  check(rb.pair && rb.pair.type === 'relay', 'pair: ' + JSON.stringify(rb.pair));
  return { old_user: user, new_user: pushed, waited_past_expiry: Date.now() / 1000 - expiry,
    restarts_b: rb.stats.credentialRestarts, ice_restarts_b: rb.stats.iceRestarts,
    pair_b: rb.pair };
}

// A leaves with the Leave button (B hears peer-left "leave"), joins again from the
// same page (a new id, connected to B again), then B's page is closed: its pagehide
// sends leave, so A hears peer-left "leave" at once, not after the grace period.
async function stepLeave(a, b, ids) {
  // The listener is in place before the action that makes the peer leave
  // (an evaluate still on its way could miss a peer-left that came first);
  // the returned function waits up to 5 s for the reason.
  const leftOf = async (page, id) => {
    await page.evaluate((pid) => {
      window.__left = window.__left || {};
      delete window.__left[pid];
      window.icehubDemo.client.on('peerleft', ({ peer, reason }) => {
        if (peer.id === pid) window.__left[pid] = reason;
      });
    }, id);
    return () => page.waitForFunction((pid) => window.__left && window.__left[pid], id,
      { timeout: 5000 }).then((h) => h.jsonValue())
      .catch((err) => (/Timeout/i.test(err.message) ? 'no peer-left within 5 s'
        : `error: ${err.message}`));
  };
  const bHears = await leftOf(b, ids.a);
  await a.click('#leaveBtn');
  const reason1 = await bHears();
  check(reason1 === 'leave', `B: peer-left reason ${reason1}`);
  await a.click('#joinBtn');
  const again = await waitIn(a, 'joined again', (old) => {
    const c = window.icehubDemo.client;
    return c && c.state === 'joined' && c.id && c.id !== old && c.id;
  }, ids.a);
  const pair = await waitIn(a, 'relay pair after joining again', (id) => {
    const p = window.icehubDemo.pairs[id];
    return p && p.type;
  }, ids.b);
  check(pair === 'relay', `pair after joining again: ${pair}`);
  const aHears = await leftOf(a, ids.b);
  await b.close({ runBeforeUnload: true });
  const reason2 = await aHears();
  check(reason2 === 'leave', `A: peer-left reason ${reason2} after B's page closed`);
  return { rejoined_as: again, pair, on_leave: reason1, on_page_close: reason2 };
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  let browser;
  const logs = {};
  let a; let b;
  try {
    browser = await chromium.launch({ executablePath: cfg.executable || '/usr/bin/chromium',
      headless: true, args: FLAGS, timeout: 30000 });
    report('launch', true, { browser: browser.version() });
    const ctxA = await browser.newContext({ viewport: { width: 1100, height: 820 } });
    const ctxB = await browser.newContext({ viewport: { width: 1100, height: 820 } });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    watch(a, 'a', logs);
    watch(b, 'b', logs);
    const steps = [
      ['connect', () => stepConnect(a, b)],
      ['chat', (ids) => stepChat(a, b, ids)],
      ['messages', (ids) => stepMessages(a, b, ids)],
      ['resume', (ids) => stepResume(a, b, ids)],
      ['rejoin', (ids) => stepRejoin(a, b, ids)],
      ['media', (ids) => stepMedia(a, b, ids)],
      ['origin', () => stepForeignOrigin(browser)],
      ...(cfg.secure_base ? [['wss', () => stepWss(browser)]] : []),
      ...(cfg.credential_ttl ? [['refresh', (ids) => stepRefresh(a, b, ids)]] : []),
    ];
    let ids = null;
    for (const [name, fn] of steps) {
      const t0 = Date.now();
      try {
        const res = await fn(ids);
        if (name === 'connect') ids = res;
        report(name, true, { ms: Date.now() - t0, ...res });
      } catch (err) {
        const peers = await Promise.all([a, b].map((p) => p.evaluate(peerInfo).catch(() => null)));
        report(name, false, { ms: Date.now() - t0, error: String(err && err.message || err),
          peers });
        if (name === 'connect') break;
      }
      if (name === 'chat') {
        await a.screenshot({ path: path.join(artifacts, 'signal-demo.png') }).catch(() => {});
      }
    }
    await a.screenshot({ path: path.join(artifacts, 'signal-demo-call.png') }).catch(() => {});
    if (ids) {
      const t0 = Date.now();
      try {
        const res = await stepLeave(a, b, ids);
        report('leave', true, { ms: Date.now() - t0, ...res });
      } catch (err) {
        report('leave', false, { error: String(err && err.message || err) });
      }
    }
  } catch (err) {
    report('error', false, { error: String(err && err.stack || err) });
  } finally {
    // Each page's console (with every hub message: ?debug=1) and demo log, always.
    for (const [name, page] of [['a', a], ['b', b]]) {
      if (!page) continue;
      if (!allOk) {
        await page.screenshot({ path: path.join(artifacts, `signal-${name}.png`) })
          .catch(() => {});
      }
      const demoLog = await page.evaluate(() => window.icehubDemo &&
        window.icehubDemo.log.map((l) => l.text)).catch(() => []);
      fs.writeFileSync(path.join(artifacts, `signal-${name}.log`),
        [...(logs[name] || []), '--- demo log ---', ...(demoLog || [])].join('\n') + '\n');
    }
    if (browser) await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify({ done: true, ok: allOk }) + '\n');
  process.exit(allOk ? 0 : 1);
}

main();
