// The console shell: login, navigation between pages, the gateway's health in the top bar.
import { AuthError, clearCredentials, get, onUnauthorized, setCredentials, token } from "./api.js";
import { $ } from "./dom.js";
import * as fleet from "./fleet.js";
import * as backtest from "./backtest.js";
import * as marketData from "./marketdata.js";
import * as stream from "./stream.js";

const PAGES = { fleet, backtest, "market-data": marketData, stream };
const ctx = { config: null };
let unmount = null;
let healthTimer = null;

async function loadConfig() {
  ctx.config = await get("/console/config.json");
}

function showLogin(message) {
  if (unmount) { unmount(); unmount = null; }
  clearInterval(healthTimer);
  clearCredentials();
  ctx.config = null;
  $("#page").replaceChildren();
  $("#page").hidden = true;
  $("#topbar").hidden = true;
  $("#login").hidden = false;
  const err = $("#login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("#login-user").focus();
}

async function refreshHealth() {
  try {
    const s = await get("/health");
    const online = Object.entries(s.services || {}).filter(([, v]) => (Array.isArray(v) ? v.length : v)).map(([k]) => k);
    $("#health").textContent = `${s.broker_connected ? "broker ✓" : "broker ✗"} · ${online.join(", ") || "no services"}`;
    $("#health").className = s.broker_connected ? "muted" : "error-text";
  } catch (e) {
    $("#health").textContent = e instanceof AuthError ? "" : "gateway unreachable";
  }
}

function route() {
  if (!ctx.config) return;
  const name = location.hash.replace(/^#\//, "") || "fleet";
  const page = PAGES[name] || fleet;
  if (unmount) unmount();
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  const root = $("#page");
  root.replaceChildren();
  root.dataset.page = name;
  document.title = `hbmesh · ${page.title}`;
  unmount = page.mount(root, ctx) || null;
}

function enter() {
  $("#login").hidden = true;
  $("#topbar").hidden = false;
  $("#page").hidden = false;
  refreshHealth();
  healthTimer = setInterval(refreshHealth, 10000);
  route();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = $("#login-submit");
  button.disabled = true;
  setCredentials($("#login-user").value, $("#login-password").value);
  try {
    await loadConfig();
    $("#login-password").value = "";
    enter();
  } catch (e) {
    showLogin(e instanceof AuthError ? "Wrong username or password." : `Cannot reach the gateway: ${e.message}`);
  } finally {
    button.disabled = false;
  }
});

$("#logout").addEventListener("click", () => showLogin(""));
onUnauthorized(() => showLogin("Your credentials were refused; sign in again."));
window.addEventListener("hashchange", route);

(async () => {
  if (!token()) return showLogin("");
  try {
    await loadConfig();
    enter();
  } catch (e) {
    showLogin(e instanceof AuthError ? "" : e.message);
  }
})();
