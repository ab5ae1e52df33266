// Backtest: controller + config form from its schema, range and resolution, run with progress, then summary,
// equity/PnL chart and the executors table (paged). Past tasks listed.
import { get, post, watchTask } from "./api.js";
import { lineChart } from "./chart.js";
import { errorBox, fmtNum, fmtTime, fromEpoch, h, table, toEpoch } from "./dom.js";
import { schemaForm } from "./schemaform.js";

export const title = "Backtest";
const PAGE = 25;
const METRICS = [["net_pnl_quote", "Net PnL (quote)"], ["net_pnl", "Net PnL %", 100], ["total_volume", "Volume"],
  ["total_executors", "Executors"], ["total_positions", "Positions"], ["accuracy", "Accuracy %", 100],
  ["sharpe_ratio", "Sharpe"], ["profit_factor", "Profit factor"], ["max_drawdown_usd", "Max drawdown"],
  ["total_fees_quote", "Fees"]];
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function mount(root) {
  let controllers = {}, form = null, stopWatch = null, poll = null, current = null;
  const ctrlSelect = h("select", { id: "bt-controller" });
  const formBox = h("div", { id: "bt-form" }, h("p", { class: "muted" }, "loading controllers…"));
  const now = Math.floor(Date.now() / 86400000) * 86400;
  const start = h("input", { id: "bt-start", type: "datetime-local", value: fromEpoch(now - 86400) });
  const end = h("input", { id: "bt-end", type: "datetime-local", value: fromEpoch(now) });
  const resolution = h("select", { id: "bt-resolution" }, ["1m", "3m", "5m", "15m", "1h"].map((r) => h("option", { value: r }, r)));
  const cost = h("input", { id: "bt-cost", type: "number", step: "0.0001", min: "0", max: "0.1", value: "0.0006" });
  const run = h("button", { id: "bt-run", type: "submit" }, "Run backtest");
  const formError = h("div");
  const bar = h("div", { class: "bar-fill" });
  const progress = h("div", { id: "bt-progress", class: "progress", hidden: true }, bar, h("span", { class: "bar-label" }));
  const statusLine = h("div", { id: "bt-status", class: "muted" }, "Pick a controller, a range and run.");
  const summary = h("div", { id: "bt-summary", class: "metrics" });
  const canvas = h("canvas", { id: "bt-chart", class: "chart" });
  const execBox = h("div", { id: "bt-executors" });
  const tasksBox = h("div", { id: "bt-tasks" });

  root.append(h("h2", {}, "Backtest"), h("div", { class: "grid2" },
    h("form", { class: "card", id: "bt-config", onsubmit: (ev) => { ev.preventDefault(); submit(); } },
      h("div", { class: "row" }, h("label", { for: "bt-controller" }, "Controller"), ctrlSelect),
      formBox,
      h("div", { class: "schema-form" },
        h("label", { for: "bt-start" }, "Start (UTC)"), start, h("label", { for: "bt-end" }, "End (UTC)"), end,
        h("label", { for: "bt-resolution" }, "Resolution"), resolution, h("label", { for: "bt-cost" }, "Trade cost"), cost),
      formError, run),
    h("div", {},
      h("div", { class: "card" }, statusLine, progress, summary, canvas),
      h("div", { class: "card" }, h("h3", {}, "Executors"), execBox))),
  h("div", { class: "card" }, h("h3", {}, "Past tasks"), tasksBox));

  function drawForm() {
    const [type, name] = JSON.parse(ctrlSelect.value);
    form = schemaForm(controllers[type][name], { controller_type: type, controller_name: name });
    formBox.replaceChildren(form.el);
  }
  ctrlSelect.addEventListener("change", drawForm);

  async function loadControllers() {
    try {
      controllers = await get("/backtesting/controllers");
      ctrlSelect.replaceChildren(...Object.entries(controllers).map(([type, names]) =>
        h("optgroup", { label: type }, Object.keys(names).map((n) => h("option", { value: JSON.stringify([type, n]) }, n)))));
      if (ctrlSelect.options.length) drawForm();
      else formBox.replaceChildren(h("p", { class: "muted" }, "No controllers available."));
    } catch (e) {
      formBox.replaceChildren(errorBox(e));
    }
  }

  function setProgress(pct, status) {
    progress.hidden = false;
    bar.style.width = `${Math.max(0, Math.min(100, pct))}%`;
    progress.lastChild.textContent = `${status} · ${pct.toFixed(0)}%`;
    progress.dataset.status = status;
  }

  function stopFollowing() {
    if (stopWatch) stopWatch();
    clearInterval(poll);
    stopWatch = poll = null;
  }

  async function submit() {
    formError.replaceChildren();
    let body;
    try {
      body = { config: form.value(), start_time: toEpoch(start.value), end_time: toEpoch(end.value),
        backtesting_resolution: resolution.value, trade_cost: Number(cost.value), include_processed_data: false };
      if (!(body.end_time > body.start_time)) throw new Error("end must be after start");
    } catch (e) {
      return formError.replaceChildren(errorBox(e));
    }
    run.disabled = true;
    try {
      const ref = await post("/backtesting/tasks", body);
      follow(ref.task_id);
      loadTasks();
    } catch (e) {
      formError.replaceChildren(errorBox(e));
    } finally {
      run.disabled = false;
    }
  }

  // Progress over /ws/tasks/{id}; a slow poll of the task covers events sent before the socket subscribed.
  function follow(taskId) {
    stopFollowing();
    current = taskId;
    clear();
    statusLine.textContent = `Task ${taskId}: pending`;
    setProgress(0, "pending");
    const onEvent = (ev) => {
      if (current !== taskId) return;
      setProgress(ev.progress || 0, ev.status);
      statusLine.textContent = `Task ${taskId}: ${ev.status}${ev.error ? ` — ${ev.error}` : ""}`;
      if (TERMINAL.has(ev.status)) {
        stopFollowing();
        show(taskId);
        loadTasks();
      }
    };
    stopWatch = watchTask(taskId, onEvent);
    const check = async () => {
      try { onEvent(await get(`/backtesting/tasks/${taskId}`)); } catch { /* next poll */ }
    };
    poll = setInterval(check, 2000);
    check();
  }

  function clear() {
    summary.replaceChildren();
    execBox.replaceChildren();
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    delete canvas.dataset.points;
  }

  async function show(taskId) {
    current = taskId;
    try {
      const task = await get(`/backtesting/tasks/${taskId}`);
      setProgress(task.progress || 0, task.status);
      statusLine.textContent = `Task ${taskId}: ${task.status}${task.error ? ` — ${task.error}` : ""}`;
      if (task.status !== "completed" || !task.result) {
        clear();
        if (!TERMINAL.has(task.status)) follow(taskId);
        return;
      }
      const r = task.result.results || {};
      summary.replaceChildren(...METRICS.map(([k, label, scale]) => h("div", { class: "metric", dataset: { metric: k } },
        h("div", { class: "label" }, label), h("div", { class: "value" }, fmtNum(r[k] === null || r[k] === undefined ? r[k] : r[k] * (scale || 1), 3)))));
      await drawPnl(taskId);
      await executors(taskId, 0);
    } catch (e) {
      statusLine.replaceChildren(errorBox(e));
    }
  }

  async function drawPnl(taskId) {
    const rows = [];
    for (let offset = 0; offset !== null && rows.length < 50000;) {
      const page = await get(`/backtesting/tasks/${taskId}/pnl`, { offset, limit: 5000 });
      rows.push(...page.items);
      offset = page.next_offset;
    }
    if (current !== taskId) return;
    const step = Math.max(1, Math.floor(rows.length / 2000));
    const pick = rows.filter((_, i) => i % step === 0 || i === rows.length - 1);
    lineChart(canvas, [
      { label: "net PnL", color: "#4ea1ff", points: pick.map((p) => [p.timestamp, p.total_pnl]) },
      { label: "realized", color: "#f5b942", points: pick.map((p) => [p.timestamp, (p.executor_realized_pnl || 0) + (p.position_realized_pnl || 0)]) },
    ]);
    canvas.dataset.points = String(rows.length);
  }

  async function executors(taskId, offset) {
    try {
      const page = await get(`/backtesting/tasks/${taskId}/executors`, { offset, limit: PAGE });
      if (current !== taskId) return;
      const last = Math.min(page.total, offset + page.items.length);
      execBox.replaceChildren(
        table([
          { label: "opened", render: (e) => fmtTime(e.timestamp) },
          { label: "type", key: "type" },
          { label: "side", render: (e) => e.side || (e.config && e.config.side) || "" },
          { label: "close", render: (e) => e.close_type || "" },
          { label: "filled quote", class: "num", render: (e) => fmtNum(e.filled_amount_quote, 2) },
          { label: "net PnL", class: "num", render: (e) => fmtNum(e.net_pnl_quote) },
          { label: "fees", class: "num", render: (e) => fmtNum(e.cum_fees_quote) },
        ], page.items, { empty: "no executors" }),
        h("div", { class: "pager" },
          h("button", { type: "button", id: "bt-prev", disabled: offset === 0, onclick: () => executors(taskId, Math.max(0, offset - PAGE)) }, "‹ Prev"),
          h("span", { id: "bt-page", class: "muted" }, `${page.total ? offset + 1 : 0}–${last} of ${page.total}`),
          h("button", { type: "button", id: "bt-next", disabled: page.next_offset === null || page.next_offset === undefined,
            onclick: () => executors(taskId, page.next_offset) }, "Next ›")));
    } catch (e) {
      execBox.replaceChildren(errorBox(e));
    }
  }

  async function loadTasks() {
    try {
      const tasks = await get("/backtesting/tasks", { limit: 50 });
      tasksBox.replaceChildren(table([
        { label: "task", render: (t) => h("a", { href: "#/backtest", class: "task-link", dataset: { task: t.task_id },
          onclick: (ev) => { ev.preventDefault(); show(t.task_id); } }, t.task_id) },
        { label: "status", render: (t) => h("span", { class: `badge ${t.status}` }, t.status) },
        { label: "progress", class: "num", render: (t) => `${fmtNum(t.progress, 0)}%` },
        { label: "created", key: "created_at", render: (t) => (t.created_at || "").slice(0, 19).replace("T", " ") },
        { label: "sweep", render: (t) => t.sweep_id || "" },
        { label: "error", render: (t) => t.error || "" },
      ], tasks, { empty: "no backtests yet" }));
    } catch (e) {
      tasksBox.replaceChildren(errorBox(e));
    }
  }

  loadControllers();
  loadTasks();
  return stopFollowing;
}
