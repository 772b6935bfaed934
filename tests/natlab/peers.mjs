// icehub - SPDX-License-Identifier: MIT
//
// peers.mjs: the NAT lab's browsers. One headless Chromium (Debian's, driven by
// playwright-core from tests/browser/node_modules; never downloaded) per lab network,
// each started inside its network's namespace by a wrapper script (natlab.py writes
// them: `exec ip netns exec NS /usr/bin/chromium "$@"`), so a page's traffic leaves
// through that network's NAT. Pages load icehubd's demo page (which imports
// /icehub.js), join one room through the hub and connect with the default ICE policy.
//
// Commands, one JSON object per line on stdin; answers, one per line on stdout:
//   {"op":"browsers","nets":{"c1":"/path/chromium-c1",...},"flags":[...]}
//       -> {"op":"browsers","ok":true,"version":"156..."}
//   {"op":"pair","id":"x","a":"c1","b":"s1","base":"http://203.0.113.10:8080",
//    "room":"r","messages":20,"timeout_ms":60000}
//       -> {"id":"x","result":{...}}: each side's outcome as icehub.js settled it
//          (connected or failed, candidate types, relay transport, time, restarts),
//          the selected pair read again at the end and what the demo page shows for
//          it (they must agree: the page follows the final pair), the iceServers URLs
//          the hub handed out, and whether N DataChannel messages got through each way
//   {"op":"restart",...same fields...}
//       -> {"id":"x","event":"connected"} once connected; natlab.py then cuts side a's
//          network off; -> {"id":"x","event":"failed",...} when a page's connection
//          failed; natlab.py restores the network; -> {"id":"x","result":{...}} once
//          both sides are connected again (icehub.js restarted ICE), with every
//          restartIce call and the states at that moment
//   {"op":"quit"}
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(HERE, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const browsers = {};          // net -> persistent context
const dirs = [];
let artifacts = process.env.NATLAB_ARTIFACTS || os.tmpdir();

const sleep = (ms) => new Promise((r) => setTimeout(() => r(true), ms));

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function launch(nets, flags) {
  let version = null;
  await Promise.all(Object.entries(nets).map(async ([net, exe]) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `natlab-${net}-`));
    dirs.push(dir);
    const ctx = await chromium.launchPersistentContext(dir, { executablePath: exe,
      headless: true, args: flags, timeout: 60000 });
    browsers[net] = ctx;
    version = ctx.browser() ? ctx.browser().version() : version;
  }));
  return version;
}

// ---- one side: a demo page in network <net> ------------------------------------------

async function openSide(net, base, room, log) {
  const page = await browsers[net].newPage();
  page.on('console', (m) => log.push(`[${net} ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${net} pageerror] ${e}`));
  // debug=1: every hub message goes to the console, kept for a failure's log.
  await page.goto(`${base}/?room=${encodeURIComponent(room)}&join=1&debug=1`,
    { timeout: 20000 });
  const h = await page.waitForFunction(() => {
    const c = window.icehubDemo && window.icehubDemo.client;
    return c && c.state === 'joined' && c.id;
  }, null, { timeout: 20000, polling: 50 });
  const id = await h.jsonValue();
  // Count DataChannel messages and keep the connection's states as they change.
  const iceServers = await page.evaluate(() => {
    const c = window.icehubDemo.client;
    const lab = { received: 0, states: [], restarts: [] };
    window.natlab = lab;
    const t0 = performance.now();
    c.on('message', ({ data }) => { if (String(data).startsWith('natlab ')) lab.received++; });
    const note = (what) => ({ peer }) => lab.states.push({ t: Math.round(performance.now() - t0),
      what, conn: peer.pc.connectionState, ice: peer.pc.iceConnectionState });
    c.on('connectionstatechange', note('connection'));
    c.on('iceconnectionstatechange', note('ice'));
    return c.iceServers.flatMap((s) => [].concat(s.urls));
  });
  return { net, page, id, iceServers };
}

// Waits until this side's connection to <other> has an outcome; returns it.
async function outcome(side, other, ms) {
  const h = await side.page.waitForFunction((id) => {
    const p = window.icehubDemo.client.peers.get(id);
    return p && p.outcome;
  }, other, { timeout: ms, polling: 100 });
  return h.jsonValue();
}

// N messages from each side to the other over the DataChannel; true when all arrived.
async function exchange(a, b, n) {
  const send = (side, to) => side.page.evaluate(({ to, n }) => {
    const p = window.icehubDemo.client.peers.get(to);
    for (let i = 0; i < n; i++) if (!p.send(`natlab ${i}`)) return false;
    return true;
  }, { to, n });
  const base = await Promise.all([a, b].map((s) => s.page.evaluate(() => window.natlab.received)));
  if (!await send(a, b.id) || !await send(b, a.id)) return false;
  try {
    await Promise.all([b, a].map((s, i) => s.page.waitForFunction((want) =>
      window.natlab.received >= want, base[1 - i] + n, { timeout: 10000, polling: 50 })));
    return true;
  } catch (_) {
    return false;
  }
}

// What this side knows at the end: the pair read from getStats now, what the demo
// shows, the states it went through, its counters.
async function report(side, other) {
  return side.page.evaluate(async (id) => {
    const p = window.icehubDemo.client.peers.get(id);
    const pair = p ? await p.getSelectedPair() : null;
    const shown = window.icehubDemo.pairs[id] || null;
    const badge = document.querySelector(`tr[data-peer="${id}"] .badge`);
    // The hub has handled our stats report once it answers a later ping (one socket,
    // in order).
    try { await window.icehubDemo.client.ping(); } catch (_) { /* gone */ }
    return {
      outcome: p ? p.outcome : null,
      state: p ? p.connectionState : 'gone',
      pair: pair && { type: pair.type, local: pair.local.candidateType,
        remote: pair.remote.candidateType, relayProtocol: pair.local.relayProtocol || null },
      shown: shown && { ...shown, badge: badge ? badge.dataset.pairType : null },
      stats: p ? p.stats : null,
      states: window.natlab.states,
      log: window.icehubDemo.log.map((l) => l.text).filter((t) => !t.includes(': natlab ')),
      restarts: window.natlab.restarts,
      received: window.natlab.received,
    };
  }, other);
}

async function failureArtifacts(id, sides, log) {
  for (const s of sides) {
    try {
      await s.page.screenshot({ path: path.join(artifacts, `natlab-${id}-${s.net}.png`) });
    } catch (_) { /* best effort */ }
  }
  fs.writeFileSync(path.join(artifacts, `natlab-${id}.log`), log.join('\n') + '\n');
}

async function runPair(cmd, restart) {
  const log = [];
  const res = { a: null, b: null, messages: false, error: null, iceServers: null };
  let A, B;
  try {
    A = await openSide(cmd.a, cmd.base, cmd.room, log);
    B = await openSide(cmd.b, cmd.base, cmd.room, log);
    res.iceServers = A.iceServers;
    const wait = cmd.timeout_ms || 60000;
    const [oa, ob] = await Promise.all([outcome(A, B.id, wait), outcome(B, A.id, wait)]);
    if (oa.result === 'connected' && ob.result === 'connected') {
      res.messages = await exchange(A, B, cmd.messages || 20);
    }
    if (restart) await restartScenario(cmd, A, B, res);
    [res.a, res.b] = await Promise.all([report(A, B.id), report(B, A.id)]);
  } catch (err) {
    res.error = String(err.message || err).split('\n')[0];
    if (A && B) {
      try { [res.a, res.b] = await Promise.all([report(A, B.id), report(B, A.id)]); } catch (_) {}
    }
  }
  const bad = res.error || (restart && !res.restarted);
  if (bad) await failureArtifacts(cmd.id, [A, B].filter(Boolean), log);
  for (const s of [A, B]) if (s) await s.page.close().catch(() => {});
  return res;
}

// The connection is up: record every restartIce call with the states at that moment,
// ask natlab.py to cut side a off, wait for a page to see its connection fail, ask for
// the network back, and wait for both sides to be connected again and carry messages.
async function restartScenario(cmd, A, B, res) {
  for (const [s, other] of [[A, B.id], [B, A.id]]) {
    await s.page.evaluate((id) => {
      const p = window.icehubDemo.client.peers.get(id);
      const orig = p.restartIce.bind(p);
      p.restartIce = () => {
        window.natlab.restarts.push({ conn: p.pc.connectionState, ice: p.pc.iceConnectionState });
        orig();
      };
    }, other);
  }
  out({ id: cmd.id, event: 'connected' });
  const failed = (s, other) => s.page.waitForFunction((id) => {
    const p = window.icehubDemo.client.peers.get(id);
    return p && p.pc.connectionState === 'failed' &&
      { conn: p.pc.connectionState, ice: p.pc.iceConnectionState };
  }, other, { timeout: 60000, polling: 100 }).then((h) => h.jsonValue());
  const seen = await Promise.any([failed(A, B.id), failed(B, A.id)]);
  out({ id: cmd.id, event: 'failed', states: seen });
  // Back: both connected again after at least one restartIce on either side.
  const restarted = () => Promise.all([A, B].map((s) => s.page.evaluate(() =>
    window.natlab.restarts.length))).then(([x, y]) => x + y > 0);
  const connected = (s, other) => s.page.waitForFunction((id) => {
    const p = window.icehubDemo.client.peers.get(id);
    return p && p.pc.connectionState === 'connected';
  }, other, { timeout: 60000, polling: 100 });
  const deadline = Date.now() + 60000;
  do {
    await Promise.all([connected(A, B.id), connected(B, A.id)]);
  } while (!await restarted() && Date.now() < deadline && await sleep(200));
  res.failedStates = seen;
  res.messagesAfter = await exchange(A, B, cmd.messages || 20);
  res.restarted = res.messagesAfter;
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin });
  const running = new Set();
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    if (cmd.op === 'quit') break;
    if (cmd.op === 'browsers') {
      if (cmd.artifacts) artifacts = cmd.artifacts;
      try {
        out({ op: 'browsers', ok: true, version: await launch(cmd.nets, cmd.flags) });
      } catch (err) {
        out({ op: 'browsers', ok: false, error: String(err.message || err) });
      }
      continue;
    }
    const job = runPair(cmd, cmd.op === 'restart')
      .then((result) => out({ id: cmd.id, result }))
      .catch((err) => out({ id: cmd.id, result: { error: String(err) } }))
      .finally(() => running.delete(job));
    running.add(job);
  }
  await Promise.allSettled([...running]);
  await Promise.all(Object.values(browsers).map((b) => b.close().catch(() => {})));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  process.exit(0);
}

main();
