// Tiny DOM helpers and formatters (no framework).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function fmtNum(x, digits = 4) {
  if (x === null || x === undefined || x === "") return "–";
  const n = Number(x);
  if (!Number.isFinite(n)) return String(x);
  if (Math.abs(n) >= 1e6) return n.toExponential(3);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function fmtTime(sec) {
  if (sec === null || sec === undefined) return "–";
  const d = new Date(Number(sec) * 1000);
  return Number.isNaN(d.getTime()) ? "–" : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function ago(sec) {
  if (sec === null || sec === undefined) return "–";
  const s = Math.max(0, Date.now() / 1000 - Number(sec));
  if (s < 60) return `${s.toFixed(0)} s ago`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

// <input type="datetime-local"> values are treated as UTC.
export const toEpoch = (value) => Math.floor(Date.parse(value + "Z") / 1000);
export const fromEpoch = (sec) => new Date(sec * 1000).toISOString().slice(0, 16);

export function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

export function table(columns, rows, { empty = "nothing yet", rowClass } = {}) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.label)))),
    h("tbody", {}, rows.length
      ? rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : undefined },
        columns.map((c) => h("td", { class: c.class }, c.render ? c.render(r) : r[c.key]))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty))));
}
