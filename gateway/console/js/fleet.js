// Fleet: every bot with status, last heartbeat, per-controller PnL and volume, recent errors; start/stop/archive.
import { TopicSocket, get, post } from "./api.js";
import { ago, errorBox, fmtNum, fmtTime, h } from "./dom.js";

export const title = "Fleet";

function controllers(bot) {
  const perf = Object.entries(bot.performance || {});
  if (!perf.length) return h("span", { class: "muted" }, "no controllers reporting");
  return h("table", { class: "inner" },
    h("tr", {}, ["controller", "status", "realized", "global PnL", "volume"].map((c) => h("th", {}, c))),
    perf.map(([id, c]) => {
      const p = c.performance || {};
      const pnl = Number(p.global_pnl_quote);
      return h("tr", { class: "controller", dataset: { controller: id } },
        h("td", {}, id),
        h("td", {}, h("span", { class: `badge ${c.status}` }, c.status), c.error ? h("div", { class: "error-text small" }, c.error) : null),
        h("td", { class: "num" }, fmtNum(p.realized_pnl_quote)),
        h("td", { class: `num pnl ${pnl > 0 ? "pos" : pnl < 0 ? "neg" : ""}` }, fmtNum(p.global_pnl_quote)),
        h("td", { class: "num volume" }, fmtNum(p.volume_traded, 2)));
    }));
}

function errors(bot) {
  const recent = (bot.error_logs || []).slice(-3).reverse();
  if (!recent.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "errors" }, recent.map((e) => h("li", { title: fmtTime(e.timestamp) }, e.msg)));
}

export function mount(root, ctx) {
  const { root: topicRoot, bot_namespace: ns } = ctx.config;
  const state = h("span", { class: "ws-state muted" }, "connecting…");
  const script = h("input", { id: "start-script", value: "v2_with_controllers.py", size: 24 });
  const conf = h("input", { id: "start-conf", placeholder: "config (optional)", size: 18 });
  const notice = h("div", { id: "fleet-notice" });
  const body = h("div", { id: "fleet-bots" }, h("p", { class: "muted" }, "loading…"));
  root.append(
    h("div", { class: "page-head" }, h("h2", {}, "Fleet"), state, h("span", { class: "spacer" }),
      h("label", { for: "start-script", class: "inline" }, "Start with script"), script, conf),
    notice, h("div", { class: "card" }, body));

  const say = (el) => notice.replaceChildren(el);

  async function action(label, fn) {
    try {
      const r = await fn();
      const detail = r && (r.message || r.msg || (r.response && r.response.msg) || r.status);
      say(h("div", { class: "ok" }, `${label}: ${detail || "done"}`));
    } catch (e) {
      say(errorBox(`${label}: ${e.message}`));
    }
    refresh();
  }

  function actions(name) {
    const archive = h("button", { class: "danger", dataset: { action: "archive" } }, "Stop & archive");
    archive.addEventListener("click", () => {
      if (archive.dataset.armed) {
        delete archive.dataset.armed;
        return action(`archive ${name}`, () => post(`/bot-orchestration/stop-and-archive-bot/${encodeURIComponent(name)}`));
      }
      archive.dataset.armed = "1";
      archive.textContent = "Confirm archive";
      setTimeout(() => { delete archive.dataset.armed; archive.textContent = "Stop & archive"; }, 4000);
    });
    return h("div", { class: "actions" },
      h("button", { dataset: { action: "start" }, onclick: () => action(`start ${name}`, () => post("/bot-orchestration/start-bot",
        { bot_name: name, script: script.value.trim() || null, conf: conf.value.trim() || null })) }, "Start"),
      h("button", { dataset: { action: "stop" }, onclick: () => action(`stop ${name}`, () => post("/bot-orchestration/stop-bot", { bot_name: name })) }, "Stop"),
      archive);
  }

  function render(bots) {
    const names = Object.keys(bots).sort();
    if (!names.length) return body.replaceChildren(h("p", { class: "muted" }, `No bots seen on ${ns}/# yet.`));
    const counts = {};
    names.forEach((n) => (counts[bots[n].status] = (counts[bots[n].status] || 0) + 1));
    body.replaceChildren(
      h("p", { class: "muted summary" }, `${names.length} bot(s): ` + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")),
      h("table", { class: "bots" },
        h("thead", {}, h("tr", {}, ["bot", "status", "last heartbeat", "controllers", "recent errors", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, names.map((n) => {
          const b = bots[n];
          return h("tr", { class: "bot", dataset: { bot: n, status: b.status } },
            h("td", {}, h("strong", {}, n), h("div", { class: "muted small" }, b.source || "")),
            h("td", {}, h("span", { class: `badge ${b.status}` }, b.status)),
            h("td", { title: fmtTime(b.last_seen) }, ago(b.last_seen)),
            h("td", {}, controllers(b)),
            h("td", {}, errors(b)),
            h("td", {}, actions(n)));
        }))));
  }

  let pending = null, inflight = false, again = false;
  async function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      const r = await get("/bot-orchestration/status");
      render(r.data || {});
    } catch (e) {
      body.replaceChildren(errorBox(e));
    } finally {
      inflight = false;
      if (again) { again = false; refresh(); }
    }
  }
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 250); };

  const socket = new TopicSocket({
    onMessage: soon,
    onState: (s) => { state.textContent = s === "connected" ? "● live" : s; state.className = `ws-state ${s === "connected" ? "live" : "muted"}`; },
  });
  // Status changes and archive steps from svc_fleet; bots' performance reports and logs for live PnL and errors.
  socket.subscribe(`${topicRoot}/fleet/events/#`);
  socket.subscribe(`${ns}/+/performance`);
  socket.subscribe(`${ns}/+/log`);
  refresh();
  const timer = setInterval(refresh, 5000); // "last heartbeat" ages and bots that went quiet
  return () => { socket.close(); clearInterval(timer); clearTimeout(pending); };
}
