// Two headless Chromium pages (Debian's /usr/bin/chromium driven by playwright-core; no
// browser is ever downloaded) join one room through icehubd's demo page with "relay
// only" ticked, so their DataChannel runs through icehubd's TURN relay over UDP. While
// both pages send a numbered message every 20 ms over it, the test harness upgrades
// icehubd to a new process (it writes "upgrade" after our "connected" line and
// "upgraded" when the new process serves). Then, on each page:
//   - the WebSocket to the hub dropped and the client resumed on the new process
//     ('resumed', never 'rejoined'), with the same peer id;
//   - the RTCPeerConnection and DataChannel are the same objects as before (a mark set
//     on them before the upgrade is still there), never 'failed' or 'closed';
//   - every message sent, before, during and after the upgrade, arrived, in order;
//   - getStats still shows a relay/relay pair, and bytes flowed after the upgrade;
//   - a signal through the hub by the old peer id reaches the other page.
// The longest gap between two arriving messages is reported.
//
// usage: node upgrade_test.mjs CONFIG_JSON
//   CONFIG_JSON = {"base": "http://127.0.0.1:8080", "room": "r", "artifacts": DIR,
//                  "timeout_ms": 15000, "executable": "/usr/bin/chromium"}
// Prints JSON lines: {"step": "connected", ...}, then after "upgraded" on stdin
// {"step": "after", "ok": bool, ...}, last {"done": true, "ok": bool}.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const cfg = JSON.parse(process.argv[2] || '{}');
const base = cfg.base || 'http://127.0.0.1:8080';
const room = cfg.room || `upgrade-${process.pid}`;
const artifacts = cfg.artifacts || path.join(process.cwd(), 'artifacts');
const timeoutMs = cfg.timeout_ms || 15000;
// With cfg.turn_transport ("udp" or "tcp") the pages use only icehubd's TURN URL of
// that transport, so the relay candidates come from allocations over it.
const turnTransport = cfg.turn_transport || null;
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const check = (cond, what) => { if (!cond) throw new Error(what); };

// In the page: what its client, socket and (once the pump runs) its events and
// pair trace say, for a failure report.
const snapshot = () => {
  const c = window.icehubDemo && window.icehubDemo.client;
  const t = window.__t;
  return c ? { id: c.id, state: c.state, stats: c.stats, ws: c._ws ? c._ws.readyState : null,
    now: Math.round(performance.now()),
    peers: [...c.peers.values()].map((p) => ({ id: p.id, pc: p.pc && p.pc.connectionState,
      ice: p.pc && p.pc.iceConnectionState, stats: p.stats })),
    events: t && t.events, states: t && t.states, trace: t && t.trace } : null;
};

async function waitIn(page, what, fn, arg, ms = timeoutMs) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    return await h.jsonValue();
  } catch (err) {
    const seen = await page.evaluate(snapshot).catch((e) => String(e));
    throw new Error(`timeout waiting for ${what} (${page.__name}): ${JSON.stringify(seen)}`);
  }
}

// In the page, before its scripts: RTCPeerConnection drops the TURN URLs of other
// transports from every configuration it gets.
const onlyTurnOver = (transport) => {
  const Native = window.RTCPeerConnection;
  const keep = (u) => !/^turns?:/i.test(u) ||
    (/[?&]transport=tcp/i.test(u) ? 'tcp' : 'udp') === transport;
  const only = (c) => (c && Array.isArray(c.iceServers) ? { ...c, iceServers: c.iceServers
    .map((s) => ({ ...s, urls: [].concat(s.urls).filter(keep) }))
    .filter((s) => s.urls.length) } : c);
  window.RTCPeerConnection = class extends Native {
    constructor(c, ...rest) { super(only(c), ...rest); }
    setConfiguration(c) { return super.setConfiguration(only(c)); }
  };
};

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

async function join(page, url) {
  await page.goto(url);
  await page.check('#relayOnly');
  await page.click('#joinBtn');
  return waitIn(page, 'joined', () => {
    const c = window.icehubDemo.client;
    return c && c.state === 'joined' && c.id && c.id;
  });
}

// In the page: mark the peer connection and channel, count events, and get ready
// to send a numbered message every 20 ms (t.go()); received numbers and arrival
// times are kept.
const startPump = (other) => {
  const c = window.icehubDemo.client;
  const peer = c.peers.get(other);
  const t = window.__t = { sent: 0, got: [], at: [], events: [], states: [], sendErrors: [],
    trace: [],
    pc: peer.pc,
    channel: peer.channel };
  peer.pc.__mark = 'before-upgrade';
  peer.channel.__mark = 'before-upgrade';
  for (const ev of ['resumed', 'rejoined', 'disconnected', 'peerleft', 'closed']) {
    c.on(ev, (e) => t.events.push([ev, e && e.peer ? e.peer.id : (e && e.id) || null,
      Math.round(performance.now())]));
  }
  c.on('statechange', ({ state }) => t.trace.push([Math.round(performance.now()),
    `client=${state}`, null]));
  peer.pc.addEventListener('connectionstatechange', () => t.states.push(peer.pc.connectionState));
  // When and on which pair each state came (what a failure report needs).
  const note = async (what) => {
    const at = Math.round(performance.now());
    const p = await peer.getSelectedPair().catch(() => null);
    t.trace.push([at, what, p ? `${p.local.relayProtocol || p.local.protocol}:${p.local.port}->` +
      `${p.remote.port}` : null]);
  };
  for (const ev of ['connectionstatechange', 'iceconnectionstatechange']) {
    peer.pc.addEventListener(ev, () => note(`${ev.replace('statechange', '')}=` +
      (ev[0] === 'c' ? peer.pc.connectionState : peer.pc.iceConnectionState)));
  }
  note('start');
  c.on('message', ({ data }) => {
    if (typeof data === 'string' && data.startsWith('n:')) {
      t.got.push(Number(data.slice(2)));
      t.at.push(performance.now());
    }
  });
  c.on('signal', ({ from, data }) => { if (data && data.upgrade) t.signal = [from, data.upgrade]; });
  t.go = () => { t.timer = setInterval(t.tick, 20); };
  t.tick = () => {
    if (!peer.channel || peer.channel.readyState !== 'open') return;
    const n = t.sent++;
    // A send that throws still counts as sent (and fails the test); say why.
    try { peer.send(`n:${n}`); } catch (err) { t.sendErrors.push([n, String(err)]); }
  };
};

const pumpState = () => {
  const t = window.__t;
  return { sent: t.sent, got: t.got.length, events: t.events };
};

// Stop sending, wait for what is in flight, and check it all.
const finishPump = async ({ other, sentByOther }) => {
  const c = window.icehubDemo.client;
  const t = window.__t;
  clearInterval(t.timer);
  const deadline = performance.now() + 10000;
  while (t.got.length < sentByOther && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const peer = c.peers.get(other);
  const inOrder = t.got.every((n, i) => n === i);
  const seen = new Set(t.got);
  const missing = [];
  for (let n = 0; n < sentByOther && missing.length < 20; n++) if (!seen.has(n)) missing.push(n);
  let gap = 0;
  for (let i = 1; i < t.at.length; i++) gap = Math.max(gap, t.at[i] - t.at[i - 1]);
  const pair = peer ? await peer.getSelectedPair() : null;
  return { id: c.id, state: c.state, sent: t.sent, got: t.got.length, inOrder,
    longest_gap_ms: Math.round(gap), events: t.events, pc_states: t.states,
    same_pc: !!peer && peer.pc === t.pc && peer.pc.__mark === 'before-upgrade',
    same_channel: !!peer && peer.channel === t.channel &&
      peer.channel.__mark === 'before-upgrade' && peer.channel.readyState === 'open',
    pc_state: peer ? peer.pc.connectionState : null, pair, signal: t.signal || null,
    ice_restarts: peer ? peer.stats.iceRestarts : null, missing,
    pair_before: t.pairBefore,
    send_errors: t.sendErrors.slice(0, 20),
    trace: t.trace };
};

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  let ok = false;
  let browser;
  const pages = [];
  try {
    browser = await chromium.launch({ executablePath: cfg.executable || '/usr/bin/chromium',
      headless: true, args: FLAGS, timeout: 30000 });
    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext();
      if (turnTransport) await context.addInitScript(onlyTurnOver, turnTransport);
      pages.push(await context.newPage());
      pages[i].__name = i ? 'b' : 'a';
    }
    const [a, b] = pages;
    const url = `${base}/?debug=1&room=${encodeURIComponent(room)}&relay=1`;
    const idA = await join(a, url);
    const idB = await join(b, url);
    for (const [page, other] of [[a, idB], [b, idA]]) {
      await waitIn(page, 'an open DataChannel on a relay pair', async (id) => {
        const p = window.icehubDemo.client.peers.get(id);
        if (!p || !p.channel || p.channel.readyState !== 'open') return false;
        const pair = await p.getSelectedPair();
        return pair && pair.local.candidateType === 'relay' &&
          pair.remote.candidateType === 'relay';
      }, other);
    }
    // Both pages listen before either sends (else the first numbers can arrive
    // before the other page's handler and count as lost).
    await a.evaluate(startPump, idB);
    await b.evaluate(startPump, idA);
    await a.evaluate(() => window.__t.go());
    await b.evaluate(() => window.__t.go());
    for (const [page, id] of [[a, idB], [b, idA]]) {
      await page.evaluate(async (o) => {
        // getStats can be without a selected pair for a moment under load.
        let p = null;
        for (let i = 0; i < 100 && !p; i++) {
          p = await window.icehubDemo.client.peers.get(o).getSelectedPair();
          if (!p) await new Promise((r) => setTimeout(r, 50));
        }
        window.__t.pairBefore = p ? `${p.local.relayProtocol || p.local.protocol}:` +
          `${p.local.port}->${p.remote.port}` : null;
      }, id);
    }
    await a.waitForTimeout(1000);
    const pairA = await a.evaluate((id) => window.icehubDemo.client.peers.get(id)
      .getSelectedPair(), idB);
    out({ step: 'connected', a: idA, b: idB, before: await a.evaluate(pumpState),
      relay_a: pairA && pairA.local.relayProtocol });
    check((await nextLine()).trim() === 'upgraded', 'no "upgraded" from the harness');
    for (const page of [a, b]) {
      await page.evaluate(() => window.__t.trace.push([Math.round(performance.now()), 'upgraded',
        null]));
    }
    const beforeA = await a.evaluate(pumpState);
    const beforeB = await b.evaluate(pumpState);
    for (const page of [a, b]) {
      await waitIn(page, 'resumed on the new process', () =>
        window.__t.events.some((e) => e[0] === 'resumed') &&
        window.icehubDemo.client.state === 'joined');
    }
    // Traffic after the upgrade, and a signal through the new hub by the old id.
    await a.waitForTimeout(2000);
    await b.evaluate((to) => window.icehubDemo.client.signal(to, { upgrade: 'hello' }), idA);
    await waitIn(a, 'a signal through the new hub', () => window.__t.signal);
    const sentA = (await a.evaluate(pumpState)).sent;
    const sentB = (await b.evaluate(pumpState)).sent;
    check(sentA > beforeA.sent + 20 && sentB > beforeB.sent + 20, 'no traffic after the upgrade');
    // Stop both pumps at once, then collect.
    await Promise.all([a.evaluate(() => clearInterval(window.__t.timer)),
      b.evaluate(() => clearInterval(window.__t.timer))]);
    const nA = (await a.evaluate(pumpState)).sent;
    const nB = (await b.evaluate(pumpState)).sent;
    const ra = await a.evaluate(finishPump, { other: idB, sentByOther: nB });
    const rb = await b.evaluate(finishPump, { other: idA, sentByOther: nA });
    const problems = [];
    for (const [name, r, id, sentByOther] of [['a', ra, idA, nB], ['b', rb, idB, nA]]) {
      if (r.id !== id) problems.push(`${name}: id changed ${id} -> ${r.id}`);
      if (r.events.some((e) => e[0] === 'rejoined' || e[0] === 'peerleft' || e[0] === 'closed')) {
        problems.push(`${name}: ${JSON.stringify(r.events)}`);
      }
      if (!r.events.some((e) => e[0] === 'resumed')) problems.push(`${name}: never resumed`);
      if (!r.same_pc || !r.same_channel) problems.push(`${name}: a new connection or channel`);
      if (r.pc_states.some((s) => s === 'failed' || s === 'closed')) {
        problems.push(`${name}: states ${r.pc_states}`);
      }
      if (r.got !== sentByOther || !r.inOrder) {
        problems.push(`${name}: got ${r.got} of ${sentByOther} (in order: ${r.inOrder})`);
      }
      if (!r.pair || r.pair.local.candidateType !== 'relay' ||
          r.pair.remote.candidateType !== 'relay') problems.push(`${name}: pair ${JSON.stringify(r.pair)}`);
    }
    if (turnTransport) {
      for (const [name, r] of [['a', ra], ['b', rb]]) {
        if (!r.pair || r.pair.local.relayProtocol !== turnTransport) {
          problems.push(`${name}: not relayed over TURN/${turnTransport}`);
        }
      }
    }
    if (!ra.signal || ra.signal[0] !== idB) problems.push('a: no signal from b by its old id');
    ok = problems.length === 0;
    out({ step: 'after', ok, problems, a: ra, b: rb });
  } catch (err) {
    out({ step: 'after', ok: false, problems: [String(err && err.message || err)] });
    for (let i = 0; i < pages.length; i++) {
      await pages[i].screenshot({ path: path.join(artifacts, `upgrade-${i ? 'b' : 'a'}.png`) })
        .catch(() => {});
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    lines.close();
    out({ done: true, ok });
  }
  process.exit(ok ? 0 : 1);
}

main();
