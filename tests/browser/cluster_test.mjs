// Two headless Chromium pages (Debian's /usr/bin/chromium driven by playwright-core; no
// browser is ever downloaded), each in its own browser context, on two different
// icehubd nodes of one cluster: page A loads node 1's demo page, page B node 2's, both
// join one room (each through its own node's /ws) and connect with iceTransportPolicy
// 'relay'. Nodes 1 and 2 run no TURN: their hubs' iceServers name the third node's
// relay (the director), with credentials minted from the shared turn.secrets. Then:
//   connect   both joined, each sees the other (peer-joined crossed the nodes), and a
//             relay/relay pair comes up on both sides
//   messages  N DataChannel messages each way arrive intact and in order; getStats shows
//             relayed addresses in the third node's turn.relay_ports on both sides
//   signal    a hub broadcast from A reaches B across the nodes
// usage: node cluster_test.mjs CONFIG_JSON
//   CONFIG_JSON = {"bases": ["http://127.0.0.1:P1", "http://127.0.0.1:P2"], "room": "r",
//                  "messages": 30, "relay_ports": [LOW, HIGH], "artifacts": "...",
//                  "timeout_ms": 15000, "executable": "/usr/bin/chromium"}
// Prints JSON lines {"step": name, "ok": bool, ...}, then {"done": true, "ok": bool}.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2] || '{}');
const artifacts = cfg.artifacts || path.join(process.cwd(), 'artifacts');
const messages = cfg.messages || 30;
const timeoutMs = cfg.timeout_ms || 15000;
const [relayLow, relayHigh] = cfg.relay_ports || [0, 65535];
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let allOk = true;
function report(step, ok, details = {}) {
  if (!ok) allOk = false;
  process.stdout.write(JSON.stringify({ step, ok, ...details }) + '\n');
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function waitIn(page, what, fn, arg, ms = timeoutMs) {
  try {
    const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    return await h.jsonValue();
  } catch (err) {
    throw new Error(`timeout waiting for ${what}`);
  }
}

async function join(page, base) {
  await page.goto(`${base}/?debug=1&relay=1&room=${encodeURIComponent(cfg.room)}`);
  await page.click('#joinBtn');
  return waitIn(page, 'joined', () => {
    const c = window.icehubDemo.client;
    return c && c.state === 'joined' && c.id && { id: c.id, iceServers: c.iceServers };
  });
}

async function stepConnect(a, b) {
  const ja = await join(a, cfg.bases[0]);
  const jb = await join(b, cfg.bases[1]);
  for (const [page, other] of [[a, jb.id], [b, ja.id]]) {
    const p = await waitIn(page, 'a relay pair', (id) => {
      const x = window.icehubDemo.pairs[id];
      return x && x.type;
    }, other);
    check(p === 'relay', `pair ${p}`);
  }
  return { a: ja.id, b: jb.id, iceServersA: ja.iceServers, iceServersB: jb.iceServers };
}

async function stepMessages(a, b, ids) {
  const listen = (n) => {
    const c = window.icehubDemo.client;
    window.__got = [];
    window.__all = new Promise((resolve) => {
      const off = c.on('message', ({ data }) => {
        if (typeof data === 'string' && data.startsWith('m:')) window.__got.push(data);
        if (window.__got.length >= n) { off(); resolve(); }
      });
    });
  };
  const sendAll = ({ n, other, prefix }) => {
    const peer = window.icehubDemo.client.peers.get(other);
    for (let i = 0; i < n; i++) peer.send(`m:${prefix}:${i}:` + 'x'.repeat(i * 37 % 900));
  };
  const collect = (ms) => Promise.race([window.__all,
    new Promise((resolve) => setTimeout(resolve, ms))]).then(() => window.__got);
  await waitIn(a, 'DataChannel open', () => [...window.icehubDemo.client.peers.values()]
    .some((p) => p.channel && p.channel.readyState === 'open'));
  await waitIn(b, 'DataChannel open', () => [...window.icehubDemo.client.peers.values()]
    .some((p) => p.channel && p.channel.readyState === 'open'));
  await a.evaluate(listen, messages);
  await b.evaluate(listen, messages);
  await a.evaluate(sendAll, { n: messages, other: ids.b, prefix: 'a' });
  await b.evaluate(sendAll, { n: messages, other: ids.a, prefix: 'b' });
  const gotA = await a.evaluate(collect, timeoutMs);
  const gotB = await b.evaluate(collect, timeoutMs);
  const intact = (got, prefix) => got.length === messages &&
    got.every((m, i) => m === `m:${prefix}:${i}:` + 'x'.repeat(i * 37 % 900));
  check(intact(gotA, 'b'), `a got ${gotA.length}/${messages} or out of order`);
  check(intact(gotB, 'a'), `b got ${gotB.length}/${messages} or out of order`);
  const pairOf = (other) => window.icehubDemo.client.peers.get(other).getSelectedPair();
  const pa = await a.evaluate(pairOf, ids.b);
  const pb = await b.evaluate(pairOf, ids.a);
  for (const p of [pa, pb]) {
    check(p && p.local.candidateType === 'relay' && p.remote.candidateType === 'relay',
      'pair is not relay/relay: ' + JSON.stringify(p));
    for (const c of [p.local, p.remote]) {
      check(c.port >= relayLow && c.port <= relayHigh,
        `relayed port ${c.port} is not the third node's (${relayLow}-${relayHigh})`);
    }
  }
  return { received_a: gotA.length, received_b: gotB.length, pair_a: pa, pair_b: pb };
}

async function stepSignal(a, b) {
  await b.evaluate(() => {
    window.__bc = new Promise((resolve) => {
      window.icehubDemo.client.on('broadcast', ({ from, data }) => resolve({ from, data }));
      setTimeout(() => resolve(null), 5000);
    });
  });
  await a.evaluate(() => window.icehubDemo.client.broadcast({ across: 'nodes' }));
  const got = await b.evaluate(() => window.__bc);
  check(got && got.data && got.data.across === 'nodes', 'broadcast: ' + JSON.stringify(got));
  return got;
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  let browser;
  const pages = [];
  try {
    browser = await chromium.launch({ executablePath: cfg.executable || '/usr/bin/chromium',
      headless: true, args: FLAGS, timeout: 30000 });
    report('launch', true, { browser: browser.version() });
    for (let i = 0; i < 2; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.__log = [];
      page.on('console', (m) => page.__log.push(`[${m.type()}] ${m.text()}`));
      pages.push(page);
    }
    const [a, b] = pages;
    let ids = null;
    for (const [name, fn] of [['connect', () => stepConnect(a, b)],
      ['messages', () => stepMessages(a, b, ids)], ['signal', () => stepSignal(a, b)]]) {
      const t0 = Date.now();
      try {
        const res = await fn();
        if (name === 'connect') ids = res;
        report(name, true, { ms: Date.now() - t0, ...res });
      } catch (err) {
        report(name, false, { ms: Date.now() - t0, error: String(err && err.message || err) });
        if (name === 'connect') break;
      }
    }
  } catch (err) {
    report('error', false, { error: String(err && err.stack || err) });
  } finally {
    for (const [i, page] of pages.entries()) {
      if (!allOk) {
        await page.screenshot({ path: path.join(artifacts, `cluster-${i}.png`) })
          .catch(() => {});
      }
      fs.writeFileSync(path.join(artifacts, `cluster-${i}.log`), page.__log.join('\n') + '\n');
    }
    if (browser) await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify({ done: true, ok: allOk }) + '\n');
  process.exit(allOk ? 0 : 1);
}

main();
