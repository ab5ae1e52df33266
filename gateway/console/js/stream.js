// Stream: subscribe to topic filters and watch messages scroll; pause, filter, copy a payload.
import { TopicSocket } from "./api.js";
import { h } from "./dom.js";

export const title = "Stream";
const KEEP = 500;

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h("textarea", {}, text); // no clipboard API (plain http): the old way
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
}

export function mount(root, ctx) {
  const { root: topicRoot } = ctx.config;
  const filterInput = h("input", { id: "st-filter", size: 40, value: `${topicRoot}/+/events/#` });
  const subs = h("div", { id: "st-subs", class: "chips" });
  const search = h("input", { id: "st-search", type: "search", placeholder: "filter by topic or payload text" });
  const pause = h("button", { id: "st-pause", type: "button" }, "Pause");
  const clearBtn = h("button", { id: "st-clear", type: "button", class: "ghost" }, "Clear");
  const info = h("span", { id: "st-info", class: "muted" });
  const state = h("span", { class: "ws-state muted" }, "connecting…");
  const notice = h("div", { id: "st-notice" });
  const list = h("div", { id: "st-messages", class: "messages" });
  let paused = false, held = [], total = 0;

  root.append(
    h("div", { class: "page-head" }, h("h2", {}, "Stream"), state),
    h("form", { class: "card row", id: "st-form", onsubmit: (ev) => { ev.preventDefault(); add(filterInput.value.trim()); } },
      h("label", { for: "st-filter" }, "Topic filter"), filterInput, h("button", { id: "st-subscribe", type: "submit" }, "Subscribe"), subs),
    notice,
    h("div", { class: "card" }, h("div", { class: "row" }, search, pause, clearBtn, info), list));

  const matches = (el) => {
    const q = search.value.trim().toLowerCase();
    return !q || el.dataset.text.includes(q);
  };
  const updateInfo = () => { info.textContent = `${total} received${paused ? ` · ${held.length} held while paused` : ""}`; };

  function render(msg) {
    const payload = typeof msg.payload === "string" ? msg.payload : JSON.stringify(msg.payload, null, 2);
    const compact = typeof msg.payload === "string" ? msg.payload : JSON.stringify(msg.payload);
    const pre = h("pre", { class: "payload", hidden: true }, payload);
    const el = h("div", { class: "msg", dataset: { topic: msg.topic, text: `${msg.topic} ${compact}`.toLowerCase() } },
      h("div", { class: "msg-head", onclick: () => (pre.hidden = !pre.hidden) },
        h("span", { class: "ts" }, new Date(msg.ts * 1000).toISOString().slice(11, 23)),
        h("span", { class: "topic" }, msg.topic),
        h("span", { class: "preview" }, compact.length > 140 ? compact.slice(0, 140) + "…" : compact),
        h("button", { type: "button", class: "ghost copy", title: "Copy payload",
          onclick: async (ev) => { ev.stopPropagation(); await copy(payload); ev.target.textContent = "Copied"; } }, "Copy")),
      pre);
    el.hidden = !matches(el);
    return el;
  }

  function append(msgs) {
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
    list.append(...msgs.map(render));
    while (list.childElementCount > KEEP) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  const socket = new TopicSocket({
    onMessage: (msg) => {
      total += 1;
      if (paused) held.push(msg);
      else append([msg]);
      if (held.length > KEEP) held = held.slice(-KEEP);
      updateInfo();
    },
    onState: (s) => { state.textContent = s === "connected" ? "● live" : s; state.className = `ws-state ${s === "connected" ? "live" : "muted"}`; },
    onReply: (r) => {
      if (r.type === "error") notice.replaceChildren(h("div", { class: "error", role: "alert" }, r.detail));
      if (r.type === "subscribed") notice.replaceChildren();
      if (r.type === "subscribed" || r.type === "unsubscribed") {
        subs.querySelectorAll(".chip").forEach((c) => c.dataset.filter === r.filter && c.classList.toggle("confirmed", r.type === "subscribed"));
      }
    },
  });

  function add(filter) {
    if (!filter || socket.filters.has(filter)) return;
    socket.subscribe(filter);
    const chip = h("span", { class: "chip", dataset: { filter } }, filter,
      h("button", { type: "button", class: "ghost", title: "Unsubscribe", onclick: () => { socket.unsubscribe(filter); chip.remove(); } }, "×"));
    subs.append(chip);
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.classList.toggle("active", paused);
    if (!paused && held.length) { append(held); held = []; }
    updateInfo();
  });
  clearBtn.addEventListener("click", () => { list.replaceChildren(); held = []; total = 0; updateInfo(); });
  search.addEventListener("input", () => list.querySelectorAll(".msg").forEach((el) => (el.hidden = !matches(el))));
  updateInfo();
  return () => socket.close();
}
