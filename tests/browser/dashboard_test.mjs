// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no browser is
// ever downloaded) opens icehubd's live dashboard with the admin token in the URL
// (#token=...), waits until its charts have plotted live data (at least `min_samples`
// samples and a last throughput above zero, read from window.icehubDashboard), takes a
// screenshot and prints one JSON line:
//   {"ok", "samples", "lastThroughputBps", "lastAllocations", "topUsers", "source",
//    "errors", "lastError", "canvases": {id: non-blank pixels}, "calls" (the calls panel's
//    numbers), "callTiles" (its tiles' text), "requests": [urls],
//    "screenshot", "console", "error", "ms"}
// usage: node dashboard_test.mjs CONFIG_JSON
//   CONFIG_JSON = {"url": "http://127.0.0.1:PORT/dashboard#token=...", "artifacts": DIR,
//                  "min_samples": 5, "timeout_ms": 30000, "executable": "/usr/bin/chromium"}
// Exit status 0 only if ok.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2] || '{}');
const artifacts = cfg.artifacts || path.join(process.cwd(), 'artifacts');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function main() {
  const t0 = Date.now();
  fs.mkdirSync(artifacts, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'icehub-chromium-'));
  const res = { ok: false, console: [], requests: [], error: null };
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: cfg.executable || '/usr/bin/chromium', headless: true, args: FLAGS,
      timeout: 30000, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => res.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => res.console.push(`pageerror: ${e}`));
    // Everything the page loads must come from icehubd itself (no CDN).
    page.on('request', (r) => res.requests.push(r.url()));
    await page.goto(cfg.url, { waitUntil: 'load', timeout: 15000 });
    const min = cfg.min_samples || 5;
    await page.waitForFunction((n) => {
      const d = window.icehubDashboard;
      return d && d.samples >= n && d.lastThroughputBps > 0 && d.lastAllocations > 0;
    }, min, { timeout: cfg.timeout_ms || 30000, polling: 200 });
    Object.assign(res, await page.evaluate(() => {
      const d = window.icehubDashboard;
      // A chart got drawn if its canvas has pixels that are not transparent.
      const canvases = {};
      for (const c of document.querySelectorAll('canvas')) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]) n++;
        canvases[c.id] = n;
      }
      return { samples: d.samples, lastThroughputBps: d.lastThroughputBps,
        lastAllocations: d.lastAllocations, topUsers: d.topUsers, source: d.source,
        errors: d.errors, lastError: d.lastError, lastCost: d.lastCost,
        throughput: d.down.map((v, i) => v + d.up[i]), canvases,
        status: document.getElementById('status').textContent,
        tiles: document.getElementById('v-throughput').textContent, calls: d.calls,
        callTiles: ['v-calls', 'v-relayed', 'v-failed', 'v-connect'].map((id) =>
          document.getElementById(id).textContent) };
    }));
    res.screenshot = path.join(artifacts, 'dashboard.png');
    await page.screenshot({ path: res.screenshot, fullPage: true });
    res.ok = true;
  } catch (err) {
    res.error = String(err);
    try {
      const pages = context ? context.pages() : [];
      if (pages.length) {
        res.screenshot = path.join(artifacts, 'dashboard-failed.png');
        await pages[0].screenshot({ path: res.screenshot, fullPage: true });
        res.state = await pages[0].evaluate(() => window.icehubDashboard || null);
      }
    } catch (e) { /* best effort */ }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  res.ms = Date.now() - t0;
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(res.ok ? 0 : 1);
}

main();
