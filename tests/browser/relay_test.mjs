// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no browser is
// ever downloaded) opens a WebRTC DataChannel between two RTCPeerConnections in one page
// (a and b; SDP and candidates are handed over in the page, no signaling server),
// each with iceTransportPolicy 'relay' and icehubd as its only ICE server, once per TURN
// URL given, exchanges messages both ways and reads the selected candidate pair from
// getStats.
//
// usage: node relay_test.mjs CONFIG_JSON
//   CONFIG_JSON = {"username": "...", "credential": "...", "messages": 50,
//                  "artifacts": "/path/to/tests/artifacts", "timeout_ms": 15000,
//                  "runs": [{"name": "udp", "url": "turn:127.0.0.1:3478?transport=udp"}, ...]}
//   Without "runs", one run per JSON line read from stdin ({"name": ..., "url": ...}), so
//   the caller can read the server's /metrics between runs.
// Prints JSON lines: {"ready": true, "browser": version} once Chromium is up; per run
// {"name", "url", "ok", "opened", "sent_a", "sent_b", "received_a", "received_b", "intact",
// "pair": {"a": {local: {candidateType, relayProtocol, ...}, remote: {...}}, "b": ...},
// "candidates", "error", "log", "ms"}; last {"done": true, "ok": bool}. Exit status 0 only
// if every run passed. A failed run leaves a screenshot and the page's console and ICE log
// in artifacts/browser-<name>.{png,log}.
// ICEHUB_CHROMIUM_LOG=<vmodule spec> (e.g. '*turn_port*=3') makes Chromium log to stderr.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const cfg = JSON.parse(process.argv[2] || '{}');
const artifacts = cfg.artifacts || path.join(process.cwd(), 'artifacts');
const executablePath = cfg.executable || '/usr/bin/chromium';
const messages = cfg.messages || 50;
const timeoutMs = cfg.timeout_ms || 15000;

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // icehubd's test certificate is self-signed: Chromium's TURN-over-TLS client would
  // refuse it otherwise.
  '--ignore-certificate-errors',
  ...(process.env.ICEHUB_CHROMIUM_LOG
    ? ['--enable-logging=stderr', '--v=0', '--vmodule=' + process.env.ICEHUB_CHROMIUM_LOG] : [])];

// Runs inside the page. Returns a result object; never throws.
async function pageRun({ url, username, credential, messages, timeoutMs }) {
  const t0 = performance.now();
  const log = [];
  const res = { url, ok: false, opened: false, sent_a: 0, sent_b: 0, received_a: 0,
    received_b: 0, intact: false, pair: null, candidates: { a: [], b: [] }, error: null, log };
  const conf = { iceServers: [{ urls: [url], username, credential }],
    iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(conf);
  const b = new RTCPeerConnection(conf);
  const note = (s) => log.push(`${Math.round(performance.now() - t0)}ms ${s}`);
  // Fail at once, not at the timeout, when gathering ends without a relay candidate.
  const gathered = { a: false, b: false };
  let noCandidates;
  const noRelay = new Promise((_, rej) => {
    noCandidates = () => rej(new Error('gathering ended without a relay candidate: ' +
      log.filter((l) => l.includes('icecandidateerror')).join('; ')));
  });
  noRelay.catch(() => {});
  for (const [name, pc, other] of [['a', a, b], ['b', b, a]]) {
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        res.candidates[name].push(e.candidate.candidate);
        note(`${name} candidate ${e.candidate.candidate}`);
        other.addIceCandidate(e.candidate).catch((err) => note(`${name} addIceCandidate: ${err}`));
      } else {
        note(`${name} gathering complete`);
        gathered[name] = true;
        if (gathered.a && gathered.b && !(res.candidates.a.length && res.candidates.b.length)) {
          noCandidates();
        }
      }
    };
    pc.onicecandidateerror = (e) =>
      note(`${name} icecandidateerror ${e.url} ${e.errorCode} ${e.errorText}`);
    pc.oniceconnectionstatechange = () => note(`${name} ice ${pc.iceConnectionState}`);
    pc.onconnectionstatechange = () => note(`${name} conn ${pc.connectionState}`);
  }
  // Mostly small messages, every tenth one 8000 bytes (several SCTP chunks), each with
  // its own filler so a mix-up shows.
  const expected = Array.from({ length: messages }, (_, i) =>
    `msg-${i}-` + String.fromCharCode(97 + i % 26).repeat(i % 10 === 9 ? 8000 : i * 17 % 200));
  const gotA = [];
  const gotB = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  const check = () => {
    if (gotA.length >= messages && gotB.length >= messages) done();
  };
  try {
    // A negotiated channel (same id on both sides, no DCEP handshake): each side's
    // 'open' comes from its own SCTP association. With a channel announced by the other
    // side, Chromium 156 fires 'datachannel' with readyState 'open' before the stream is
    // usable when the DCEP OPEN and the first data arrive in one burst (as over TURN
    // TCP/TLS): send() then fails silently ("Send failed INVALID_STATE" in Chromium's log).
    const openedAll = [];
    for (const [name, pc, got, prefix] of [['a', a, gotA, 'a:'], ['b', b, gotB, 'b:']]) {
      const dc = pc.createDataChannel('icehub', { negotiated: true, id: 0, ordered: true });
      dc.onmessage = (m) => { got.push(m.data); check(); };
      dc.onerror = (ev) => note(`${name} datachannel error ${ev.error && ev.error.message}`);
      dc.onclose = () => note(`${name} datachannel close`);
      openedAll.push(new Promise((r) => {
        dc.onopen = () => {
          note(`${name} datachannel open`);
          for (const m of expected) { dc.send(prefix + m); res[`sent_${name}`]++; }
          r();
        };
      }));
    }
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    const timeout = (what) => new Promise((_, rej) =>
      setTimeout(() => rej(new Error(`timeout waiting for ${what}`)), timeoutMs));
    await Promise.race([Promise.all(openedAll), noRelay, timeout('DataChannel open')]);
    res.opened = true;
    await Promise.race([finished, timeout('messages')]);
    res.received_a = gotA.length;
    res.received_b = gotB.length;
    res.intact = gotB.length === messages && gotA.length === messages &&
      gotB.every((m, i) => m === 'a:' + expected[i]) &&
      gotA.every((m, i) => m === 'b:' + expected[i]);
    // The selected pair, as the transport reports it, on each side.
    res.pair = {};
    for (const [name, pc] of [['a', a], ['b', b]]) {
      const stats = await pc.getStats();
      let pairId = null;
      stats.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      const pair = pairId ? stats.get(pairId) : null;
      if (!pair) { res.pair[name] = null; continue; }
      const l = stats.get(pair.localCandidateId) || {};
      const r = stats.get(pair.remoteCandidateId) || {};
      res.pair[name] = { state: pair.state, nominated: pair.nominated,
        bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived,
        local: { candidateType: l.candidateType, relayProtocol: l.relayProtocol,
          protocol: l.protocol, address: l.address, port: l.port, url: l.url },
        remote: { candidateType: r.candidateType, protocol: r.protocol,
          address: r.address, port: r.port } };
    }
    res.ok = res.intact;
  } catch (err) {
    res.received_a = gotA.length;
    res.received_b = gotB.length;
    res.error = String(err && err.message || err);
  } finally {
    a.close();
    b.close();
  }
  res.ms = Math.round(performance.now() - t0);
  return res;
}

// One transport: a fresh page, the exchange, artifacts on failure. Returns the result.
async function runOne(context, run) {
  const page = await context.newPage();
  const consoleLog = [];
  page.on('console', (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e}`));
  let res;
  try {
    // A static page of our own, so the test runs in an ordinary document.
    await page.goto(pathToFileURL(path.join(HERE, 'relay_test.html')).href);
    res = await page.evaluate(pageRun, { url: run.url, username: cfg.username,
      credential: cfg.credential, messages, timeoutMs });
  } catch (err) {
    res = { url: run.url, ok: false, error: 'evaluate: ' + String(err), log: [] };
  }
  res.name = run.name;
  if (!res.ok) {
    try {
      await page.screenshot({ path: path.join(artifacts, `browser-${run.name}.png`) });
    } catch (_) { /* best effort */ }
    fs.writeFileSync(path.join(artifacts, `browser-${run.name}.log`),
      [...consoleLog, '--- page log ---', ...(res.log || [])].join('\n') + '\n');
  }
  await page.close().catch(() => {});
  return res;
}

// Runs from cfg.runs, or, without it, one run per JSON line on stdin ({"name", "url"}),
// so a caller can look at the server between runs. Each result goes out as it is known.
async function* runSpecs() {
  if (cfg.runs) { yield* cfg.runs; return; }
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim()) yield JSON.parse(line);
  }
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'icehub-chromium-'));
  let context;
  let allOk = true;
  try {
    // A persistent context is how playwright takes our own, fresh --user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath, headless: true, args: FLAGS, timeout: 30000 });
    const version = context.browser()?.version() ?? null;
    process.stdout.write(JSON.stringify({ ready: true, browser: version }) + '\n');
    for await (const run of runSpecs()) {
      const res = await runOne(context, run);
      if (!res.ok) allOk = false;
      process.stdout.write(JSON.stringify(res) + '\n');
    }
  } catch (err) {
    allOk = false;
    process.stdout.write(JSON.stringify({ error: 'launch: ' + String(err) }) + '\n');
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ done: true, ok: allOk }) + '\n');
  process.exit(allOk ? 0 : 1);
}

main();
