// The admin dashboard: plain ES modules, no build step, no third-party
// code. Every value that came from the gateway is put in the page as text
// (see core.js); charts are SVG built with DOM calls.

import { $, el, call, state, usd, int, ms, pct, when, table, status, progress, chart, confirmDo, requestDetail } from "./core.js";
import { loadRouting, loadProviders, loadPolicies, loadCache } from "./ops.js";
import { loadOllama, loadWebhooks, loadAudit } from "./more.js";

// ---- session ----

function showLogin() {
  state.csrf = "";
  stopTail();
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  document.querySelectorAll(".page").forEach((p) => (p.hidden = true));
  $("login").hidden = false;
}
state.onLoggedOut = showLogin;

async function start() {
  try {
    loggedIn(await call("GET", "/admin/session"));
  } catch {
    showLogin();
  }
}

function loggedIn(s) {
  state.csrf = s.csrf_token;
  $("who").textContent = "signed in as " + s.actor;
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  route();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const s = await call("POST", "/admin/login", { key: $("login-key").value });
    $("login-key").value = "";
    loggedIn(s);
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await call("POST", "/admin/logout"); } finally { showLogin(); }
});

// ---- routing between pages ----

const pages = {
  overview: loadOverview, requests: loadRequests, routing: loadRouting, providers: loadProviders,
  projects: loadProjects, policies: loadPolicies, cache: loadCache, ollama: loadOllama,
  webhooks: loadWebhooks, audit: loadAudit,
};
let current = "";

function route() {
  if (!state.csrf) return;
  const name = (location.hash || "#overview").slice(1);
  const page = pages[name] ? name : "overview";
  if (current === "requests" && page !== "requests") stopTail();
  current = page;
  document.querySelectorAll(".page").forEach((p) => (p.hidden = p.id !== "page-" + page));
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  pages[page]();
}
window.addEventListener("hashchange", route);

// ---- overview ----

function card(k, v, id) {
  return el("div", { class: "card" }, el("div", { class: "v", "data-metric": id }, v), el("div", { class: "k" }, k));
}

async function loadOverview() {
  const win = $("ov-window").value;
  status("ov-status", "Loading…", true);
  let o;
  try {
    o = await call("GET", "/admin/overview?window=" + encodeURIComponent(win));
  } catch (e) {
    status("ov-status", e.message, false, true);
    return;
  }
  status("ov-status", o.totals.requests ? "" : "No requests in this window yet.");
  const t = o.totals;
  $("ov-cards").replaceChildren(
    card("requests", int(t.requests), "requests"),
    card("errors", int(t.errors), "errors"),
    card("p50 latency", ms(t.p50_ms), "p50"),
    card("p99 latency", ms(t.p99_ms), "p99"),
    card("tokens in / out", int(t.prompt_tokens) + " / " + int(t.completion_tokens), "tokens"),
    card("cost", usd(t.cost_usd), "cost"),
    card("saved", usd(t.saved_total_usd), "saved"),
  );
  const s = o.series;
  const one = (title, pick, fmt) => chart(title, s, [{ name: title, values: s.map(pick) }], fmt);
  $("ov-charts").replaceChildren(
    one("Requests", (p) => p.requests, int),
    one("Errors", (p) => p.errors, int),
    one("p99 latency", (p) => p.p99_ms, ms),
    one("Tokens", (p) => p.prompt_tokens + p.completion_tokens, int),
    one("Cost", (p) => p.cost_usd, usd),
    one("Saving", (p) => p.saved_total_usd, usd),
  );
  const sv = t.saved_usd;
  table($("ov-saving"), ["technique", "saved"], [
    ["response cache", sv.response_cache], ["provider prompt cache", sv.provider_prompt_cache],
    ["IDE boilerplate", sv.ide_boilerplate], ["file dedup", sv.file_dedup], ["routing", sv.routing],
  ].map(([k, v]) => ({ cells: [k, usd(v)] })), [false, true]);
  const total = o.cache.reduce((n, c) => n + c.requests, 0);
  table($("ov-cache"), ["cache", "requests", "share"], o.cache.map((c) => ({
    cells: [c.key || "(not cacheable)", int(c.requests), pct(c.requests, total)],
  })), [false, true, true]);
  const top = (rows) => rows.map((r) => ({ cells: [r.key || "(none)", int(r.requests), int(r.errors), usd(r.cost_usd), usd(r.saved_usd)] }));
  table($("ov-projects"), ["project", "requests", "errors", "cost", "saved"], top(o.top_projects), [false, true, true, true, true]);
  table($("ov-models"), ["model", "requests", "errors", "cost", "saved"], top(o.top_models), [false, true, true, true, true]);
}
$("ov-window").addEventListener("change", loadOverview);

// ---- requests ----

let rqNext = "";
let rqRows = [];

function requestParams() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData($("rq-filters"))) {
    if (!v) continue;
    p.set(k, k === "from" || k === "to" ? new Date(v).toISOString() : v);
  }
  return p;
}

const rqHead = ["time", "project", "model", "status", "cache", "tokens", "cost", "latency", "route"];
const rqNum = [false, false, false, true, false, true, true, true, false];
const rqCells = (r) => [when(r.time), r.project_id, r.served_model || r.requested_model, String(r.status), r.cache,
  int(r.prompt_tokens + r.completion_tokens), usd(r.cost_usd), Number(r.latency_ms).toFixed(1) + " ms", r.route_reason];

function drawRequests() {
  table($("rq-table"), rqHead, rqRows.map((r) => ({ cells: rqCells(r), onclick: () => requestDetail(r), class: r.live ? "live" : "" })), rqNum,
    "No requests match these filters.");
}

async function loadRequests(more) {
  const p = requestParams();
  const csv = new URLSearchParams(p);
  csv.set("format", "csv");
  $("rq-csv").setAttribute("href", "/admin/requests?" + csv.toString());
  p.set("limit", "50");
  if (more === true && rqNext) p.set("cursor", rqNext);
  status("rq-status", "Loading…", true);
  let page;
  try {
    page = await call("GET", "/admin/requests?" + p.toString());
  } catch (e) {
    status("rq-status", e.message, false, true);
    return;
  }
  rqNext = page.next_cursor || "";
  $("rq-more").hidden = !rqNext;
  rqRows = (more === true ? rqRows : []).concat(page.data);
  status("rq-status", rqRows.length ? rqRows.length + " shown" : "");
  drawRequests();
  if ($("rq-live").checked) startTail();
}

$("rq-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadRequests(false); });
$("rq-more").addEventListener("click", () => loadRequests(true));

// The live tail: long polls of /admin/requests/tail (each bounded by the
// gateway to 30 s), prepending the rows this replica stores. One poll at a
// time; leaving the page or unticking aborts it.
let tail = null;

function stopTail() {
  if (tail) tail.abort.abort();
  tail = null;
  $("rq-live-status").textContent = "";
}

async function startTail() {
  stopTail();
  const t = { abort: new AbortController() };
  tail = t;
  const f = requestParams();
  const q = new URLSearchParams();
  for (const k of ["project", "model"]) if (f.get(k)) q.set(k, f.get(k));
  let after;
  try {
    after = (await call("GET", "/admin/requests/tail", undefined, { signal: t.abort.signal })).next;
  } catch { return; }
  $("rq-live-status").textContent = "live";
  while (tail === t) {
    q.set("after", String(after));
    try {
      const page = await call("GET", "/admin/requests/tail?" + q.toString(), undefined, { signal: t.abort.signal });
      after = page.next;
      if (tail !== t) return;
      if (page.data.length) {
        const rows = page.data.reverse().map((r) => Object.assign(r, { live: true }));
        rqRows = rows.concat(rqRows).slice(0, 500);
        drawRequests();
        status("rq-status", rqRows.length + " shown");
      }
    } catch (e) {
      if (tail !== t) return;
      $("rq-live-status").textContent = "live tail paused: " + e.message;
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}
$("rq-live").addEventListener("change", () => ($("rq-live").checked ? startTail() : stopTail()));

// ---- projects & keys ----

// loadProjects shows the projects; done is the status line to leave once
// they are loaded (a save's or a deletion's outcome).
async function loadProjects(done = "") {
  status("pj-status", "Loading…", true);
  let list;
  try {
    list = await call("GET", "/admin/projects");
  } catch (e) {
    status("pj-status", e.message, false, true);
    return;
  }
  status("pj-status", done);
  // Budgets: this period's spend from each budgeted project.
  const spends = await Promise.all(list.data.map((p) => p.budget_usd
    ? call("GET", "/admin/projects/" + encodeURIComponent(p.id)).then((x) => x.spend).catch(() => null) : null));
  table($("pj-table"), ["id", "name", "budget", "this period", "kind", ""], list.data.map((p, i) => {
    const sp = spends[i];
    const bar = sp ? progress(sp.spent_usd, sp.budget_usd, usd(sp.spent_usd) + " of " + usd(sp.budget_usd)) : "";
    const actions = p.static ? el("span", { class: "muted" }, "read-only") : el("span", { class: "actions" },
      el("button", { type: "button", class: "edit", onclick: (ev) => { ev.stopPropagation(); editProject(p); } }, "Edit"),
      el("button", { type: "button", class: "delete", onclick: (ev) => { ev.stopPropagation(); deleteProject(p); } }, "Delete"));
    return {
      cells: [p.id, p.name, p.budget_usd ? usd(p.budget_usd) + " / " + p.budget_period : "none", bar, p.static ? "gateway.toml" : "dynamic", actions],
      onclick: () => loadKeys(p),
    };
  }), null, "No projects yet: create one above.");
}

function editProject(p) {
  const f = $("pj-edit");
  f.elements.id.value = p.id;
  f.elements.name.value = p.name;
  f.elements.budget_usd.value = p.budget_usd || "";
  f.elements.budget_period.value = p.budget_period || "month";
  f.elements.rpm.value = p.rpm || "";
  f.elements.models.value = (p.models || []).join(", ");
  $("pj-edit-dialog").showModal();
}

$("pj-edit").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = {
    name: f.name.value, budget_usd: Number(f.budget_usd.value || 0), budget_period: f.budget_period.value,
    rpm: Number(f.rpm.value || 0), models: f.models.value.split(",").map((s) => s.trim()).filter(Boolean),
  };
  try {
    await call("PATCH", "/admin/projects/" + encodeURIComponent(f.id.value), body);
    $("pj-edit-dialog").close();
    loadProjects("Project " + f.id.value + " saved.");
  } catch (e) {
    $("pj-edit-error").textContent = e.message;
  }
});
$("pj-edit-cancel").addEventListener("click", () => $("pj-edit-dialog").close());

async function deleteProject(p) {
  if (!confirmDo("Delete project " + p.id + "? Its keys stop working at once.")) return;
  try {
    await call("DELETE", "/admin/projects/" + encodeURIComponent(p.id));
    $("pj-keys").hidden = true;
    loadProjects("Project " + p.id + " deleted.");
  } catch (e) {
    status("pj-status", e.message, false, true);
  }
}

async function loadKeys(p) {
  $("pj-keys").hidden = false;
  $("pj-keys-title").textContent = "Keys of " + p.name;
  let list;
  try {
    list = await call("GET", "/admin/projects/" + encodeURIComponent(p.id) + "/keys");
  } catch (e) {
    status("pj-status", e.message, false, true);
    return;
  }
  const t = $("pj-keys-table");
  table(t, ["id", "name", "prefix", "created", "last used", "state", ""], list.data.map((k) => ({
    cells: [k.id, k.name, k.prefix, when(k.created_at), k.last_used_at ? when(k.last_used_at) : "never",
      k.revoked_at ? "revoked" : "active", k.revoked_at ? "" : el("button", { type: "button", class: "revoke", onclick: (ev) => { ev.stopPropagation(); revoke(p, k); } }, "Revoke")],
  })), null, "No keys yet.");
  const add = el("button", { type: "button", id: "pj-addkey", onclick: () => createKey(p) }, "Create key");
  t.append(el("caption", {}, add));
}

async function createKey(p) {
  try {
    const k = await call("POST", "/admin/projects/" + encodeURIComponent(p.id) + "/keys", { name: "dashboard" });
    $("pj-newkey-value").textContent = k.key;
    $("pj-newkey").hidden = false;
    status("pj-status", "Key created for " + p.name + ".");
    loadKeys(p);
  } catch (e) {
    status("pj-status", e.message, false, true);
  }
}

async function revoke(p, k) {
  if (!confirmDo("Revoke key " + k.prefix + "…? Clients using it stop at once.")) return;
  try {
    await call("DELETE", "/admin/keys/" + encodeURIComponent(k.id));
    status("pj-status", "Key revoked.");
    loadKeys(p);
  } catch (e) {
    status("pj-status", e.message, false, true);
  }
}

$("pj-copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("pj-newkey-value").textContent));

$("pj-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { name: f.get("name") };
  if (f.get("budget_usd")) { body.budget_usd = Number(f.get("budget_usd")); body.budget_period = f.get("budget_period"); }
  try {
    const p = await call("POST", "/admin/projects", body);
    ev.target.reset();
    loadProjects("Project " + p.id + " created.");
  } catch (e) {
    status("pj-status", e.message, false, true);
  }
});

start();
