// Market data: stored candle series with their ranges and gaps, downloads with progress, a candle chart.
import { get, post, watchTask } from "./api.js";
import { candleChart } from "./chart.js";
import { errorBox, fmtNum, fmtTime, fromEpoch, h, table, toEpoch } from "./dom.js";

export const title = "Market data";
const INTERVALS = ["1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d"];
const MAX_CANDLES = 600;
const SECONDS = { m: 60, h: 3600, d: 86400, w: 604800 };
const seconds = (iv) => parseInt(iv, 10) * SECONDS[iv.slice(-1)];

export function mount(root) {
  const closers = [];
  const seriesBox = h("div", { id: "md-series" }, h("p", { class: "muted" }, "loading…"));
  const now = Math.floor(Date.now() / 86400000) * 86400;
  const f = {
    connector: h("input", { id: "md-connector", value: "binance", list: "md-connectors" }),
    pair: h("input", { id: "md-pair", value: "BTC-USDT" }),
    interval: h("select", { id: "md-interval" }, INTERVALS.map((i) => h("option", { value: i }, i))),
    start: h("input", { id: "md-start", type: "datetime-local", value: fromEpoch(now - 86400) }),
    end: h("input", { id: "md-end", type: "datetime-local", value: fromEpoch(now) }),
  };
  const datalist = h("datalist", { id: "md-connectors" });
  const downloads = h("div", { id: "md-downloads" });
  const dlError = h("div");
  const chartTitle = h("div", { id: "md-chart-title", class: "muted" }, "Pick a stored series to chart it.");
  const canvas = h("canvas", { id: "md-chart", class: "chart" });

  root.append(h("h2", {}, "Market data"), h("div", { class: "grid2 even" },
    h("div", { class: "card" }, h("h3", {}, "Stored series"), seriesBox),
    h("form", { class: "card", id: "md-download", onsubmit: (ev) => { ev.preventDefault(); download(); } },
      h("h3", {}, "Download"),
      h("div", { class: "schema-form" },
        h("label", { for: "md-connector" }, "Connector"), f.connector, datalist,
        h("label", { for: "md-pair" }, "Trading pair"), f.pair,
        h("label", { for: "md-interval" }, "Interval"), f.interval,
        h("label", { for: "md-start" }, "Start (UTC)"), f.start,
        h("label", { for: "md-end" }, "End (UTC)"), f.end),
      dlError, h("button", { id: "md-run", type: "submit" }, "Download"), downloads)),
  h("div", { class: "card" }, chartTitle, canvas));

  function range() {
    return { connector_name: f.connector.value.trim(), trading_pair: f.pair.value.trim(), interval: f.interval.value,
      start_time: toEpoch(f.start.value), end_time: toEpoch(f.end.value) };
  }

  async function download() {
    dlError.replaceChildren();
    try {
      const body = range();
      const ref = await post("/market-data/candles/download", body);
      const bar = h("div", { class: "bar-fill" }), label = h("span", { class: "bar-label" }, "starting");
      const row = h("div", { class: "download", dataset: { task: ref.task_id } },
        h("div", { class: "small" }, `${body.connector_name} ${body.trading_pair} ${body.interval} · ${fmtTime(body.start_time)} → ${fmtTime(body.end_time)}`),
        h("div", { class: "progress" }, bar, label));
      downloads.prepend(row);
      let done = false;
      const update = (ev) => {
        if (done) return;
        bar.style.width = `${ev.progress || 0}%`;
        label.textContent = `${ev.status} · ${fmtNum(ev.progress || 0, 0)}%${ev.error ? ` — ${ev.error}` : ""}`;
        row.dataset.status = ev.status;
        if (["completed", "failed", "cancelled"].includes(ev.status)) {
          done = true;
          stop();
          clearInterval(poll);
          loadSeries();
        }
      };
      const stop = watchTask(ref.task_id, update);
      const check = async () => { try { update(await get(`/market-data/candles/download/${ref.task_id}`)); } catch { /* next */ } };
      const poll = setInterval(check, 2000);
      closers.push(() => { stop(); clearInterval(poll); });
      check();
    } catch (e) {
      dlError.replaceChildren(errorBox(e));
    }
  }

  function gapsCell(st) {
    if (!st.gaps || !st.gaps.length) return h("span", { class: "ok-text" }, "none");
    return h("ul", { class: "gaps" }, st.gaps.slice(0, 5).map(([a, b]) => h("li", {}, `${fmtTime(a)} → ${fmtTime(b)}`)),
      st.gaps.length > 5 ? h("li", { class: "muted" }, `…${st.gaps.length - 5} more`) : null);
  }

  async function loadSeries() {
    try {
      const keys = await get("/market-data/candles/stored");
      const rows = await Promise.all(keys.map(async (k) => {
        const body = { connector_name: k.connector, trading_pair: k.trading_pair, interval: k.interval };
        try { return { ...k, status: await post("/market-data/candles/status", body) }; } catch (e) { return { ...k, error: e.message }; }
      }));
      seriesBox.replaceChildren(table([
        { label: "series", render: (r) => h("a", { href: "#/market-data", class: "series-link", onclick: (ev) => { ev.preventDefault(); chart(r); } },
          `${r.connector} ${r.trading_pair} ${r.interval}`) },
        { label: "rows", class: "num", render: (r) => (r.status ? fmtNum(r.status.rows, 0) : "") },
        { label: "from", render: (r) => (r.status ? fmtTime(r.status.first) : r.error) },
        { label: "to", render: (r) => (r.status ? fmtTime(r.status.last) : "") },
        { label: "gaps inside", render: (r) => (r.status ? gapsCell(r.status) : "") },
      ], rows, { empty: "nothing stored yet", rowClass: () => "series" }));
    } catch (e) {
      seriesBox.replaceChildren(errorBox(e));
    }
  }

  // The last stored candles of a series, resampled so the chart shows at most MAX_CANDLES.
  async function chart(r) {
    const st = r.status;
    if (!st || st.first === null) return;
    const end = st.last;
    let iv = r.interval;
    for (const cand of INTERVALS) {
      if (seconds(cand) < seconds(r.interval)) continue;
      iv = cand;
      if ((end - st.first) / seconds(cand) <= MAX_CANDLES) break;
    }
    const start = Math.max(st.first, end - seconds(iv) * MAX_CANDLES);
    chartTitle.textContent = `${r.connector} ${r.trading_pair} · ${iv} candles · ${fmtTime(start)} → ${fmtTime(end)}`;
    try {
      const candles = await post("/market-data/candles/get", { connector_name: r.connector, trading_pair: r.trading_pair,
        interval: r.interval, start_time: start, end_time: end, resample: iv === r.interval ? null : iv, limit: MAX_CANDLES });
      candleChart(canvas, candles);
      canvas.dataset.candles = String(candles.length);
    } catch (e) {
      chartTitle.replaceChildren(errorBox(e));
    }
  }

  get("/market-data/available-candle-connectors").then((list) =>
    datalist.replaceChildren(...list.map((c) => h("option", { value: c })))).catch(() => {});
  loadSeries();
  return () => closers.forEach((c) => c());
}
