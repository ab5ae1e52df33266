// Credentials, authenticated fetch and WebSockets. Credentials live in sessionStorage only.
const KEY = "hbmesh.console.auth";

export class AuthError extends Error {}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setCredentials(user, password) {
  // base64 of UTF-8 bytes (btoa alone only takes Latin-1)
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  sessionStorage.setItem(KEY, btoa(String.fromCharCode(...bytes)));
}

export function clearCredentials() {
  sessionStorage.removeItem(KEY);
}

const listeners = new Set();
export function onUnauthorized(fn) { listeners.add(fn); }

export async function api(method, path, body = undefined, params = undefined) {
  const t = token();
  if (!t) throw new AuthError("not logged in");
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const init = { method, credentials: "omit", cache: "no-store", headers: { Authorization: `Basic ${t}`, Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401) {
    listeners.forEach((fn) => fn());
    throw new AuthError("invalid or missing credentials");
  }
  if (!r.ok) {
    let detail = data && data.detail !== undefined ? data.detail : data;
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    const err = new Error(`${r.status}: ${detail}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

export const get = (path, params) => api("GET", path, undefined, params);
export const post = (path, body, params) => api("POST", path, body, params);

export function wsUrl(path) {
  const url = new URL(path, location.origin);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token() || "");
  return url.toString();
}

// A /ws/topics connection that reconnects and re-subscribes; onMessage gets {topic, payload, ts}.
export class TopicSocket {
  constructor({ onMessage, onState = () => {}, onReply = () => {} }) {
    this.filters = new Set();
    this.onMessage = onMessage;
    this.onState = onState;
    this.onReply = onReply;
    this.closed = false;
    this.retry = 500;
    this.open();
  }

  open() {
    if (this.closed || !token()) return;
    const ws = (this.ws = new WebSocket(wsUrl("/ws/topics")));
    this.onState("connecting");
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.topic !== undefined) return this.onMessage(msg);
      if (msg.type === "connected") {
        this.retry = 500;
        this.onState("connected");
        for (const f of this.filters) this.send({ action: "subscribe", filter: f });
      }
      this.onReply(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.onState(ev.code === 4001 ? "unauthorized" : "disconnected");
      if (ev.code === 4001) return listeners.forEach((fn) => fn());
      // Refused before the handshake (the gateway rejects bad tokens with HTTP 403): ask whether the
      // credentials still hold; a 401 there logs the console out, anything else retries.
      if (!opened) get("/console/config.json").catch(() => {});
      if (!this.closed) setTimeout(() => this.open(), (this.retry = Math.min(this.retry * 2, 10000)));
    };
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  subscribe(filter) {
    this.filters.add(filter);
    this.send({ action: "subscribe", filter });
  }

  unsubscribe(filter) {
    this.filters.delete(filter);
    this.send({ action: "unsubscribe", filter });
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}

// Progress of one task over /ws/tasks/{id}; returns a close function.
export function watchTask(taskId, onEvent) {
  const ws = new WebSocket(wsUrl(`/ws/tasks/${encodeURIComponent(taskId)}`));
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.payload) onEvent(msg.payload);
  };
  return () => ws.close();
}
