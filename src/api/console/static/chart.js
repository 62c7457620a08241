// The billing chart: GB-seconds per hour as stacked bars, one colour per function, drawn as inline SVG
// elements (no library, no inline style: presentation attributes only, which the CSP allows).
import { h, s } from './dom.js';

const COLORS = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f59f00', '#0ca678', '#d6336c', '#5c7cfa'];
const W = 900;
const H = 260;
const PAD = { left: 56, right: 12, top: 12, bottom: 34 };

/** A round step for the y axis so that about 4 gridlines fit. */
function niceStep(max) {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

const label = (v) => (v >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(3))));

/**
 * records: [{ functionName, hour (ISO), gbSeconds }]; the x axis runs `hours` hours from `fromMs` (UTC).
 */
export function billingChart(records, fromMs, hours) {
  const names = [...new Set(records.map((r) => r.functionName))].sort();
  const color = (n) => COLORS[names.indexOf(n) % COLORS.length];
  const byHour = new Map();
  for (const r of records) {
    const i = Math.round((Date.parse(r.hour) - fromMs) / 3_600_000);
    if (i < 0 || i >= hours) continue;
    const list = byHour.get(i) ?? [];
    list.push(r);
    byHour.set(i, list);
  }
  let max = 0;
  for (const list of byHour.values())
    max = Math.max(
      max,
      list.reduce((t, r) => t + r.gbSeconds, 0),
    );
  const top = max > 0 ? Math.ceil(max / niceStep(max)) * niceStep(max) : 1;
  const step = max > 0 ? niceStep(max) : 0.25;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / hours;
  const barW = Math.max(1, slot * 0.7);
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const grid = [];
  for (let v = 0; v <= top + 1e-9; v += step) {
    grid.push(
      s('line', {
        x1: PAD.left,
        x2: W - PAD.right,
        y1: y(v),
        y2: y(v),
        stroke: '#e9ecef',
        'stroke-width': 1,
      }),
      s(
        'text',
        { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#868e96' },
        label(v),
      ),
    );
  }
  const ticks = [];
  const every = hours <= 24 ? 3 : 24;
  for (let i = 0; i < hours; i++) {
    const t = new Date(fromMs + i * 3_600_000);
    if (t.getUTCHours() % every !== 0) continue;
    const text =
      hours <= 24 ? `${String(t.getUTCHours()).padStart(2, '0')}:00` : t.toISOString().slice(5, 10);
    ticks.push(
      s(
        'text',
        {
          x: PAD.left + i * slot + slot / 2,
          y: H - PAD.bottom + 16,
          'text-anchor': 'middle',
          'font-size': 11,
          fill: '#868e96',
        },
        text,
      ),
    );
  }
  const bars = [];
  for (const [i, list] of byHour) {
    let base = 0;
    for (const r of list.sort((a, b) => a.functionName.localeCompare(b.functionName))) {
      const y0 = y(base);
      const y1 = y(base + r.gbSeconds);
      bars.push(
        s(
          'rect',
          {
            x: PAD.left + i * slot + (slot - barW) / 2,
            y: y1,
            width: barW,
            height: Math.max(1, y0 - y1),
            fill: color(r.functionName),
            rx: 2,
          },
          s('title', {}, `${r.functionName} · ${r.hour.slice(0, 13)}:00Z · ${r.gbSeconds.toFixed(3)} GB-s`),
        ),
      );
      base += r.gbSeconds;
    }
  }
  const svg = s(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      class: 'chart',
      role: 'img',
      'aria-label': 'GB-seconds per hour',
      id: 'billing-chart',
    },
    grid,
    s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), stroke: '#adb5bd', 'stroke-width': 1 }),
    ticks,
    bars,
  );
  const legend = h(
    'div',
    { class: 'legend' },
    names.map((n) =>
      h(
        'span',
        {},
        s('svg', { width: 10, height: 10 }, s('rect', { width: 10, height: 10, rx: 2, fill: color(n) })),
        ` ${n}`,
      ),
    ),
  );
  return h(
    'div',
    {},
    svg,
    names.length > 0 ? legend : h('p', { class: 'empty' }, 'No billed compute in this period.'),
  );
}
