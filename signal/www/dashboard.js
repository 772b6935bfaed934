// icehub - SPDX-License-Identifier: MIT
//
// dashboard.js: the live dashboard (signal/www/dashboard.html). Every second it
// reads /api/summary (bearer token) and /metrics, keeps the last WINDOW samples
// and redraws four hand-drawn <canvas> charts: relay throughput by direction,
// active allocations, top users by current rate, and cost this period; and the
// calls panel: the connection outcomes icehub.js reported since icehubd started
// (icehub_client_connections_total, icehub_client_connect_seconds), by path.
//
// Throughput comes from the relayed-bytes counters of /metrics
// (icehub_turn_relayed_bytes_total{direction}, all allocations, ended ones
// too) when the server exports them, else from the per-allocation rates in
// /api/summary (live allocations only). window.icehubDashboard exposes what
// was plotted, for tests and for curious operators.
'use strict';
(() => {
  const WINDOW = 60;           // samples kept (one minute at 1 s)
  const PERIOD_MS = 1000;
  const RELAYED = 'icehub_turn_relayed_bytes_total';
  const state = {
    samples: 0, errors: 0, lastError: null, source: null,
    lastThroughputBps: 0, lastAllocations: 0, lastCost: null, currency: '',
    t: [], down: [], up: [], allocs: [], cost: [], topUsers: [],
    calls: null,               // {total, connected, failed, relayed, paths, medianS}
  };
  window.icehubDashboard = state;
  let prevMetrics = null;      // {t, to_peer, to_client} from /metrics

  // ---- token ---------------------------------------------------------------
  function tokenFromHash() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }
  let token = tokenFromHash() || sessionStorage.getItem('icehub-token') || '';
  if (tokenFromHash() !== null) {
    sessionStorage.setItem('icehub-token', token);
    history.replaceState(null, '', location.pathname); // keep it out of the address bar
  }
  const $ = (id) => document.getElementById(id);
  $('tokenform').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('icehub-token', token);
    $('token').value = '';
    tick();
  });

  // ---- formatting ------------------------------------------------------------
  function fmtBits(v) {
    const u = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + u[i];
  }
  function fmtShort(v) {
    const u = ['', 'k', 'M', 'G', 'T'];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (v >= 10 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + u[i];
  }
  function fmtBytes(v) {
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + u[i];
  }
  function fmtMoney(v, cur) {
    if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
    return (v < 1 ? v.toFixed(4) : v.toFixed(2)) + (cur ? ' ' + cur : '');
  }

  // ---- canvas helpers ----------------------------------------------------------
  function setup(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 400, h = canvas.clientHeight || 190;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = '11px system-ui, sans-serif';
    return { g, w, h };
  }
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // Time series: each series {values, color, fill}; y from 0 to a rounded max.
  function lineChart(canvas, series, fmt) {
    const { g, w, h } = setup(canvas);
    const L = 52, R = 8, T = 8, B = 18;
    let max = 0;
    for (const s of series) for (const v of s.values) if (v > max) max = v;
    max = niceMax(max);
    g.strokeStyle = css('--grid');
    g.fillStyle = css('--dim');
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = T + (h - T - B) * (1 - i / 4);
      g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
      g.fillText(fmt(max * i / 4), 4, y + 4);
    }
    g.fillText(`last ${WINDOW} s`, L, h - 4);
    const n = WINDOW, dx = (w - L - R) / (n - 1);
    for (const s of series) {
      const vals = s.values, off = n - vals.length;
      if (!vals.length) continue;
      const pt = (i) => [L + (off + i) * dx, T + (h - T - B) * (1 - vals[i] / max)];
      g.beginPath();
      vals.forEach((_, i) => { const [x, y] = pt(i); i ? g.lineTo(x, y) : g.moveTo(x, y); });
      g.strokeStyle = s.color; g.lineWidth = 2; g.stroke();
      if (s.fill) {
        g.lineTo(pt(vals.length - 1)[0], h - B); g.lineTo(pt(0)[0], h - B); g.closePath();
        g.globalAlpha = 0.15; g.fillStyle = s.color; g.fill(); g.globalAlpha = 1;
      }
    }
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  // Horizontal bars: [{label, value}] largest first.
  function barChart(canvas, rows, fmt, empty = 'no traffic') {
    const { g, w, h } = setup(canvas);
    g.fillStyle = css('--dim');
    if (!rows.length) { g.fillText(empty, 8, 20); return; }
    const max = niceMax(rows[0].value), L = 110, R = 80;
    const bh = Math.min(22, (h - 8) / rows.length - 4);
    rows.forEach((r, i) => {
      const y = 4 + i * (bh + 4);
      g.fillStyle = css('--fg');
      g.fillText(r.label.length > 16 ? r.label.slice(0, 15) + '…' : r.label, 4, y + bh / 2 + 4);
      g.fillStyle = css('--bar');
      g.fillRect(L, y, Math.max(1, (w - L - R) * r.value / max), bh);
      g.fillStyle = css('--dim');
      g.fillText(fmt(r.value), w - R + 6, y + bh / 2 + 4);
    });
  }

  // ---- data --------------------------------------------------------------------
  // Sum of the relayed-bytes counters by direction, or null if not exported.
  function parseRelayed(text) {
    const out = { to_peer: 0, to_client: 0 };
    let seen = false;
    for (const line of text.split('\n')) {
      if (!line.startsWith(RELAYED + '{')) continue;
      const m = /direction="(to_peer|to_client)"[^}]*}\s+([0-9.eE+]+)/.exec(line);
      if (m) { out[m[1]] += Number(m[2]); seen = true; }
    }
    return seen ? out : null;
  }
  function push(arr, v) { arr.push(v); if (arr.length > WINDOW) arr.shift(); }

  // The reported connections by path: each connected end is "direct", "relay <t>"
  // (its own candidate is relayed over transport t) or "relayed by peer" (the other
  // end's is); plus "failed". And the median time to connected from the histogram.
  function parseCalls(text) {
    const c = { total: 0, connected: 0, failed: 0, relayed: 0, paths: {}, medianS: null };
    const buckets = [];
    for (const line of text.split('\n')) {
      let m = /^icehub_client_connections_total\{result="(\w+)",local_type="(\w+)",remote_type="(\w+)",relay_protocol="(\w+)"\}\s+([0-9.eE+]+)/.exec(line);
      if (m) {
        const n = Number(m[5]);
        const path = m[1] === 'failed' ? 'failed' : m[2] === 'relay' ? `relay ${m[4]}`
          : m[3] === 'relay' ? 'relayed by peer' : 'direct';
        c.paths[path] = (c.paths[path] || 0) + n;
        c.total += n;
        if (m[1] === 'failed') c.failed += n;
        else { c.connected += n; if (path !== 'direct') c.relayed += n; }
        continue;
      }
      m = /^icehub_client_connect_seconds_bucket\{le="([^"]+)"\}\s+([0-9.eE+]+)/.exec(line);
      if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
    }
    const all = buckets.length ? buckets[buckets.length - 1][1] : 0;
    let lo = 0, below = 0;
    for (const [le, n] of buckets) {
      if (all && n >= all / 2) {
        // Linear within the bucket, as histogram_quantile does.
        c.medianS = le === Infinity ? lo : lo + (le - lo) * (all / 2 - below) / ((n - below) || 1);
        break;
      }
      lo = le; below = n;
    }
    return c;
  }

  async function fetchMetrics() {
    try {
      const r = await fetch('/metrics', { cache: 'no-store' });
      if (!r.ok) return null;
      const text = await r.text();
      state.calls = parseCalls(text);
      return parseRelayed(text);
    } catch (e) { return null; }
  }

  async function tick() {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    let sum;
    try {
      const [r, rel] = await Promise.all([
        fetch('/api/summary', { headers, cache: 'no-store' }), fetchMetrics()]);
      if (r.status === 401) throw new Error('401: enter the admin token');
      if (!r.ok) throw new Error('HTTP ' + r.status);
      sum = await r.json();
      sum.relayed = rel;
    } catch (e) {
      state.errors++; state.lastError = String(e.message || e);
      $('status').textContent = state.lastError; $('status').className = 'status err';
      return;
    }
    record(sum, performance.now() / 1000);
    render(sum);
  }

  function record(sum, now) {
    let down = sum.throughput_bps.to_client, up = sum.throughput_bps.to_peer;
    state.source = 'api/summary';
    if (sum.relayed) {
      if (prevMetrics && now > prevMetrics.t) {
        const dt = now - prevMetrics.t;
        down = Math.max(0, (sum.relayed.to_client - prevMetrics.to_client) * 8 / dt);
        up = Math.max(0, (sum.relayed.to_peer - prevMetrics.to_peer) * 8 / dt);
        state.source = 'metrics';
      }
      prevMetrics = { t: now, ...sum.relayed };
    }
    const usage = sum.usage || null;
    const cost = usage && usage.totals && typeof usage.totals.cost === 'number'
      ? usage.totals.cost : null;
    push(state.t, sum.time_unix);
    push(state.down, down);
    push(state.up, up);
    push(state.allocs, sum.allocations);
    push(state.cost, cost === null ? 0 : cost);
    state.samples++;
    state.lastThroughputBps = down + up;
    state.lastAllocations = sum.allocations;
    state.lastCost = cost;
    state.currency = usage && usage.currency ? usage.currency : '';
    state.topUsers = sum.top_users.map((u) => ({
      label: u.user, value: u.to_peer_bps + u.to_client_bps,
      bytes: u.to_peer_bytes + u.to_client_bytes }));
  }

  function render(sum) {
    $('status').textContent = `live · ${sum.workers} workers · up ${Math.round(sum.uptime_s)} s`;
    $('status').className = 'status ok';
    $('v-throughput').textContent = fmtBits(state.lastThroughputBps);
    $('v-allocations').textContent = String(state.lastAllocations);
    $('v-users').textContent = String(sum.users_live);
    $('v-cost').textContent = fmtMoney(state.lastCost, state.currency);
    const p = sum.usage && sum.usage.period;
    $('v-period').textContent = p ? `${p.kind || ''} from ${p.start || ''}` : 'no usage table';
    $('currency').textContent = state.currency ? `(${state.currency})` : '';
    $('samples').textContent = String(state.samples);
    $('source').textContent = state.source;
    lineChart($('c-throughput'), [
      { values: state.down, color: css('--down'), fill: true },
      { values: state.up, color: css('--up'), fill: true }], fmtShort);
    lineChart($('c-allocations'), [{ values: state.allocs, color: css('--bar'), fill: true }],
      (v) => v.toFixed(v < 10 && v % 1 ? 1 : 0));
    barChart($('c-users'), state.topUsers.slice(0, 8), fmtBits);
    lineChart($('c-cost'), [{ values: state.cost, color: css('--line'), fill: false }],
      (v) => (v < 1 ? v.toFixed(3) : v.toFixed(2)));
    renderCalls();
    renderTable();
  }

  function renderCalls() {
    const c = state.calls;
    if (!c) return;
    const pct = (n, of) => (of ? `${(100 * n / of).toFixed(n === of || !n ? 0 : 1)} %` : '–');
    $('v-calls').textContent = String(c.total);
    $('v-relayed').textContent = pct(c.relayed, c.connected);
    $('v-failed').textContent = pct(c.failed, c.total);
    $('v-connect').textContent = c.medianS === null ? '–' : `${c.medianS.toFixed(2)} s`;
    const rows = Object.entries(c.paths).map(([label, value]) => ({ label, value }))
      .sort((a, b) => b.value - a.value);
    barChart($('c-calls'), rows, (v) => String(v), 'no reports yet');
  }

  async function renderTable() {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    let j;
    try {
      const r = await fetch('/api/allocations?limit=50', { headers, cache: 'no-store' });
      if (!r.ok) return;
      j = await r.json();
    } catch (e) { return; }
    const tb = document.querySelector('#allocs tbody');
    tb.textContent = '';
    for (const a of j.allocations.slice(0, 50)) {
      const tr = document.createElement('tr');
      for (const v of [a.id, a.user, `${a.client} (${a.transport})`, a.relay.join(' '),
        `${fmtBytes(a.to_peer_bytes)} · ${fmtBits(a.to_peer_bps)}`,
        `${fmtBytes(a.to_client_bytes)} · ${fmtBits(a.to_client_bps)}`,
        `${Math.round(a.age_s)} s`]) {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      }
      tb.appendChild(tr);
    }
  }

  tick();
  setInterval(tick, PERIOD_MS);
})();
