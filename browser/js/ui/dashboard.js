// The dashboard: polls the daemon's /dashboard/stats every second and
// shows its peers, pinned models, hot cache, traffic (a chart of the last
// two minutes on a canvas), active sessions and the generations running.

import { formatBytes, formatDuration, formatRate, h, shorten } from './format.js';

const POLL_MS = 1000;
const WINDOW_MS = 120_000; // the chart's time span
const $ = (id) => document.getElementById(id);
let samples = []; // the latest bandwidth samples, kept for redraws on resize

async function poll() {
  try {
    const res = await fetch('/dashboard/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
    $('live').classList.add('live');
  } catch {
    $('live').classList.remove('live');
    $('node').textContent = 'daemon unreachable';
  }
  setTimeout(poll, POLL_MS);
}

function render(st) {
  $('node').textContent = `${shorten(st.peer_id)} · v${st.version} · up ${formatDuration(st.uptime_s)}`;
  $('node').title = st.peer_id;

  const transports = new Map();
  for (const p of st.peers) transports.set(p.transport, (transports.get(p.transport) ?? 0) + 1);
  $('peers-count').textContent = st.peers.length;
  $('peers-sub').textContent = [...transports].map(([t, n]) => `${n} ${t}`).join(' · ') || 'none connected';

  $('models-count').textContent = st.models.length;
  $('models-sub').textContent = `${formatBytes(st.models.reduce((sum, m) => sum + m.size, 0))} of weights`;

  const c = st.cache;
  $('hit-rate').textContent = c.hits + c.misses > 0 ? `${(c.hit_rate * 100).toFixed(1)}%` : '–';
  $('cache-sub').textContent = `hits ${c.hits} · misses ${c.misses}`;
  $('cache-fill').style.width = `${c.max_bytes > 0 ? (100 * c.bytes) / c.max_bytes : 0}%`;
  $('cache-fill').parentElement.title = `${formatBytes(c.bytes)} of ${formatBytes(c.max_bytes)} in the hot cache`;

  const bw = st.bandwidth;
  const now = bw.samples.at(-1) ?? { in: 0, out: 0 };
  $('total-in').textContent = formatBytes(bw.total_in);
  $('total-out').textContent = formatBytes(bw.total_out);
  $('in-sub').textContent = `now ${formatRate(now.in)}`;
  $('out-sub').textContent = `now ${formatRate(now.out)}`;
  $('rate-in').textContent = formatRate(now.in);
  $('rate-out').textContent = formatRate(now.out);

  const s = st.sessions;
  $('sessions').textContent = s.generations + s.gateway + s.offload;
  $('sessions-sub').textContent = [[s.generations, 'generating'], [s.gateway, 'gateway'], [s.offload, 'offload']]
    .filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(' · ') || 'idle';
  $('waiting').textContent = s.waiting > 0 ? `${s.waiting} waiting` : '';

  const names = new Map(st.models.map((m) => [m.cid, m.name]));
  renderTable($('generations'), st.generations, 6, 'No generations running.', (g) => [
    h('td', { className: names.get(g.cid) ? '' : 'mono', title: g.cid, textContent: names.get(g.cid) || shorten(g.cid) }),
    h('td', { textContent: g.api }),
    h('td', { className: 'num', textContent: g.tokens }),
    h('td', { className: 'num', textContent: g.tokens_per_second > 0 ? g.tokens_per_second.toFixed(1) : '–' }),
    h('td', { className: 'num', textContent: formatDuration(g.elapsed_s) }),
    h('td', { className: 'num', textContent: g.remote_layers }),
  ]);

  renderTable($('peers'), st.peers, 4, 'No peers connected.', (p) => [
    h('td', { className: 'mono', title: p.id, textContent: shorten(p.id) }),
    h('td', {}, h('span', { className: 'badge', textContent: p.transport || '?' })),
    h('td', { textContent: p.direction.toLowerCase() }),
    h('td', { className: 'mono', title: p.addr, textContent: p.addr }),
  ]);
  renderTable($('models'), st.models, 5, 'Nothing pinned yet.', (m) => [
    h('td', { title: m.name, textContent: m.name || '(unnamed)' }),
    h('td', { className: 'mono', title: m.cid },
      h('a', { href: `/?cid=${encodeURIComponent(m.cid)}`, title: 'Open in the playground', textContent: shorten(m.cid) })),
    h('td', { textContent: m.architecture || '—' }),
    h('td', { className: 'num', textContent: m.architecture ? m.components.length : '—' }),
    h('td', { className: 'num', textContent: m.architecture ? formatBytes(m.size) : '—' }),
  ]);

  samples = bw.samples;
  drawChart();
}

/** Fills tbody with a row of cells(item) per item, or a note when there are none. */
function renderTable(tbody, items, columns, empty, cells) {
  if (items.length === 0) {
    tbody.replaceChildren(h('tr', {}, h('td', { className: 'empty', colSpan: columns, textContent: empty })));
  } else {
    tbody.replaceChildren(...items.map((item) => h('tr', {}, ...cells(item))));
  }
}

/** The smallest power of two of at least x: gridlines at round binary rates. */
function niceStep(x) {
  return 2 ** Math.ceil(Math.log2(x));
}

/** Draws the in and out rates of the last WINDOW_MS on the canvas. */
function drawChart() {
  const canvas = $('chart');
  const css = getComputedStyle(document.documentElement);
  const dpr = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  const pad = { left: 72, right: 12, top: 8, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;

  const peak = Math.max(0, ...samples.flatMap((s) => [s.in, s.out]));
  const step = niceStep(Math.max(peak, 1024) / 4);
  const end = samples.at(-1)?.t ?? Date.now();
  const x = (t) => pad.left + plotW * (1 - (end - t) / WINDOW_MS);
  const y = (v) => pad.top + plotH * (1 - v / (4 * step));

  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = css.getPropertyValue('--muted');
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#edf0f6';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const yy = Math.round(y(i * step)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, yy);
    ctx.lineTo(width - pad.right, yy);
    ctx.stroke();
    ctx.fillText(formatRate(i * step), pad.left - 10, yy);
  }
  ctx.textBaseline = 'top';
  for (let ago = 0; ago <= WINDOW_MS; ago += 30_000) {
    ctx.textAlign = ago === 0 ? 'right' : ago === WINDOW_MS ? 'left' : 'center';
    ctx.fillText(ago === 0 ? 'now' : `−${ago / 1000} s`, x(end - ago), height - pad.bottom + 8);
  }

  const visible = samples.filter((s) => end - s.t <= WINDOW_MS);
  if (visible.length > 1) {
    for (const [key, color] of [['in', css.getPropertyValue('--in')], ['out', css.getPropertyValue('--out')]]) {
      ctx.beginPath();
      visible.forEach((s, i) => (i === 0 ? ctx.moveTo : ctx.lineTo).call(ctx, x(s.t), y(s[key])));
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.lineJoin = 'round';
      ctx.stroke();
      ctx.lineTo(x(visible.at(-1).t), y(0));
      ctx.lineTo(x(visible[0].t), y(0));
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
  }
  canvas.dataset.samples = visible.length;
  canvas.dataset.peak = peak;
}

addEventListener('resize', drawChart);
poll();
