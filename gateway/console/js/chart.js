// Small canvas charts: lines (equity/PnL) and candles. Sized to the canvas' CSS box, sharp on HiDPI.
const PAD = { l: 64, r: 12, t: 12, b: 26 };
const GRID = "#2a3140", TEXT = "#8b95a7", FONT = "11px system-ui, sans-serif";

function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, hgt = canvas.clientHeight || 260;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  return { ctx, w, h: hgt };
}

function ticks(lo, hi, n = 5) {
  const span = hi - lo || Math.abs(hi) || 1;
  const step0 = span / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function timeLabel(sec, span) {
  const iso = new Date(sec * 1000).toISOString();
  return span > 3 * 86400 ? iso.slice(5, 10) : iso.slice(5, 16).replace("T", " ");
}

function axes(ctx, w, h, x0, x1, y0, y1) {
  const sx = (x) => PAD.l + ((x - x0) / (x1 - x0 || 1)) * (w - PAD.l - PAD.r);
  const sy = (y) => PAD.t + (1 - (y - y0) / (y1 - y0 || 1)) * (h - PAD.t - PAD.b);
  ctx.font = FONT;
  ctx.lineWidth = 1;
  ctx.fillStyle = TEXT;
  ctx.strokeStyle = GRID;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ticks(y0, y1)) {
    const y = Math.round(sy(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(PAD.l, y); ctx.lineTo(w - PAD.r, y); ctx.stroke();
    ctx.fillText(Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toPrecision(4), PAD.l - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const n = Math.max(2, Math.floor((w - PAD.l - PAD.r) / 110));
  for (let i = 0; i <= n; i++) {
    const t = x0 + ((x1 - x0) * i) / n;
    ctx.fillText(timeLabel(t, x1 - x0), sx(t), h - PAD.b + 6);
  }
  return { sx, sy };
}

function empty(ctx, w, h, text) {
  ctx.font = FONT; ctx.fillStyle = TEXT; ctx.textAlign = "center";
  ctx.fillText(text, w / 2, h / 2);
}

// series: [{label, color, points: [[t, v], ...]}]
export function lineChart(canvas, series, { zero = true } = {}) {
  const { ctx, w, h } = setup(canvas);
  const pts = series.flatMap((s) => s.points).filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  if (!pts.length) return empty(ctx, w, h, "no data");
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  if (zero) { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
  const pad = (y1 - y0) * 0.05 || 1;
  const { sx, sy } = axes(ctx, w, h, x0, x1, y0 - pad, y1 + pad);
  if (zero) {
    ctx.strokeStyle = "#566074"; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(PAD.l, sy(0)); ctx.lineTo(w - PAD.r, sy(0)); ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.lineWidth = 1.6;
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let started = false;
    for (const [t, v] of s.points) {
      if (!Number.isFinite(v)) { started = false; continue; }
      started ? ctx.lineTo(sx(t), sy(v)) : ctx.moveTo(sx(t), sy(v));
      started = true;
    }
    ctx.stroke();
    ctx.fillStyle = s.color; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(`■ ${s.label}`, PAD.l + 8 + i * 150, PAD.t + 2);
  });
}

// candles: [{timestamp, open, high, low, close}]
export function candleChart(canvas, candles) {
  const { ctx, w, h } = setup(canvas);
  if (!candles.length) return empty(ctx, w, h, "no candles");
  const x0 = candles[0].timestamp, x1 = candles[candles.length - 1].timestamp;
  const lo = Math.min(...candles.map((c) => c.low)), hi = Math.max(...candles.map((c) => c.high));
  const pad = (hi - lo) * 0.05 || 1;
  const { sx, sy } = axes(ctx, w, h, x0, x1 === x0 ? x0 + 1 : x1, lo - pad, hi + pad);
  const body = Math.max(1, ((w - PAD.l - PAD.r) / candles.length) * 0.7);
  for (const c of candles) {
    const x = sx(c.timestamp), up = c.close >= c.open;
    ctx.strokeStyle = ctx.fillStyle = up ? "#26a69a" : "#ef5350";
    ctx.beginPath(); ctx.moveTo(x, sy(c.high)); ctx.lineTo(x, sy(c.low)); ctx.stroke();
    const top = sy(Math.max(c.open, c.close)), bottom = sy(Math.min(c.open, c.close));
    ctx.fillRect(x - body / 2, top, body, Math.max(1, bottom - top));
  }
}

// True when the canvas has any non-transparent pixel (used by tests and to show "drawn" state).
export function drawn(canvas) {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i]) return true;
  return false;
}
