/*
 * chart.js - the portal's two charts, drawn as inline SVG so that the page
 * fetches nothing from elsewhere: stacked bars of succeeded and failed
 * deliveries per bucket, and lines of latency p50/p95 per bucket. The SVG
 * stretches to its box (no text inside it, so nothing is distorted); the
 * axis labels are HTML under it. Each bar carries a <title> with its exact
 * numbers, and the chart an aria-label summing it up.
 */
import { h, svg, fmtMs } from './lib.js';

const W = 600;
const H = 160;

function bucketLabel(iso, hourly) {
  const d = new Date(iso);
  return hourly
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

function axis(buckets, hourly) {
  if (!buckets.length) return h('div', { className: 'chart-axis' });
  const picks = [0, Math.floor((buckets.length - 1) / 2), buckets.length - 1];
  return h('div', { className: 'chart-axis', attrs: { 'aria-hidden': 'true' } },
    ...[...new Set(picks)].map((i) => h('span', { text: bucketLabel(buckets[i].start, hourly) })));
}

/* Stacked bars: succeeded (bottom) and failed (top) per bucket. */
export function volumeChart(buckets, { hourly = true, title = 'Deliveries' } = {}) {
  const max = Math.max(1, ...buckets.map((b) => (b.succeeded || 0) + (b.failed || 0)));
  const n = Math.max(1, buckets.length);
  const slot = W / n;
  const bw = Math.max(1, slot * 0.72);
  const bars = [];
  let ok = 0;
  let bad = 0;
  buckets.forEach((b, i) => {
    const s = b.succeeded || 0;
    const f = b.failed || 0;
    ok += s;
    bad += f;
    const x = i * slot + (slot - bw) / 2;
    const hs = (s / max) * (H - 4);
    const hf = (f / max) * (H - 4);
    const tip = svg('title', {}, `${bucketLabel(b.start, hourly)}: ${s} succeeded, ${f} failed`);
    bars.push(svg('g', { class: 'bar' }, tip,
      svg('rect', { x: x.toFixed(2), y: (H - hs).toFixed(2), width: bw.toFixed(2), height: hs.toFixed(2), class: 'ok' }),
      svg('rect', { x: x.toFixed(2), y: (H - hs - hf).toFixed(2), width: bw.toFixed(2), height: hf.toFixed(2), class: 'bad' }),
      /* an invisible full-height target so that the tooltip shows on empty buckets too */
      svg('rect', { x: (i * slot).toFixed(2), y: 0, width: slot.toFixed(2), height: H, class: 'hit' })));
  });
  const label = `${title}: ${ok} succeeded and ${bad} failed over ${buckets.length} ${hourly ? 'hours' : 'days'}; the busiest ${hourly ? 'hour' : 'day'} had ${max === 1 && ok + bad === 0 ? 0 : max}.`;
  return h('figure', { className: 'chart' },
    h('div', { className: 'chart-plot' },
      h('span', { className: 'chart-max', text: String(ok + bad === 0 ? 0 : max), attrs: { 'aria-hidden': 'true' } }),
      svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, class: 'chart-svg' },
        svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'baseline' }), ...bars)),
    axis(buckets, hourly),
    h('figcaption', { className: 'legend' },
      h('span', { className: 'key ok', text: `Succeeded ${ok}` }),
      h('span', { className: 'key bad', text: `Failed ${bad}` })));
}

/* Two lines, latency p50 and p95 per bucket; gaps where a bucket had no
 * attempt. */
export function latencyChart(buckets, { hourly = true, p50 = null, p95 = null } = {}) {
  const vals = buckets.flatMap((b) => [b.latency_p50_ms, b.latency_p95_ms]).filter((v) => typeof v === 'number');
  const max = Math.max(1, ...vals);
  const n = Math.max(1, buckets.length);
  const slot = W / n;
  /* A bucket alone between gaps is drawn as a dot: a segment of no length
   * with round caps, which the stroke draws as a circle in screen space
   * however the chart is stretched (a path of one point draws nothing). */
  const line = (key, cls) => {
    const parts = [];
    let pts = [];
    const flush = () => {
      if (pts.length === 1) parts.push({ d: `M${pts[0][0].toFixed(2)} ${pts[0][1].toFixed(2)} l0 0`, dot: true });
      else if (pts.length) parts.push({ d: pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(2)} ${y.toFixed(2)}`).join(' ') });
      pts = [];
    };
    buckets.forEach((b, i) => {
      const v = b[key];
      if (typeof v !== 'number') {
        flush();
        return;
      }
      pts.push([i * slot + slot / 2, H - 2 - (v / max) * (H - 8)]);
    });
    flush();
    return parts.map(({ d, dot }) => svg('path', { d, class: `line ${cls}${dot ? ' dot' : ''}`, 'vector-effect': 'non-scaling-stroke' }));
  };
  const label = `Latency: p50 ${fmtMs(p50)}, p95 ${fmtMs(p95)} over the range; the highest bucket ${vals.length ? fmtMs(max) : 'none'}.`;
  return h('figure', { className: 'chart' },
    h('div', { className: 'chart-plot' },
      h('span', { className: 'chart-max', text: vals.length ? fmtMs(max) : '', attrs: { 'aria-hidden': 'true' } }),
      svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, class: 'chart-svg' },
        svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'baseline' }),
        ...line('latency_p95_ms', 'p95'), ...line('latency_p50_ms', 'p50'))),
    axis(buckets, hourly),
    h('figcaption', { className: 'legend' },
      h('span', { className: 'key p50', text: `p50 ${fmtMs(p50)}` }),
      h('span', { className: 'key p95', text: `p95 ${fmtMs(p95)}` })));
}
