// The admin dashboard: plain ES module, no build step, no third-party code.
// Every value that came from the gateway is put in the page as text
// (textContent, text nodes, setAttribute of inert attributes): never as
// HTML. Charts are SVG built with DOM calls.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let csrf = "";

// el builds an element; string children become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

async function call(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401 && path !== "/admin/login") { showLogin(); }
  if (!r.ok) throw new Error((data && data.error && data.error.message) || r.status + " " + r.statusText);
  return data;
}

const usd = (v) => "$" + Number(v || 0).toFixed(v >= 100 ? 2 : 4);
const int = (v) => Number(v || 0).toLocaleString("en-US");
const ms = (v) => Number(v || 0) >= 60000 ? "≥60 s" : int(v) + " ms";

function table(t, head, rows, numeric) {
  t.replaceChildren();
  const tr = el("tr");
  head.forEach((h, i) => tr.append(el("th", numeric && numeric[i] ? { class: "num" } : {}, h)));
  t.append(el("thead", {}, tr));
  const tb = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    r.cells.forEach((c, i) => row.append(el("td", numeric && numeric[i] ? { class: "num" } : {}, c)));
    if (r.onclick) row.addEventListener("click", r.onclick);
    tb.append(row);
  }
  if (rows.length === 0) tb.append(el("tr", {}, el("td", { colspan: String(head.length), class: "muted" }, "Nothing yet.")));
  t.append(tb);
}

// ---- session ----

function showLogin() {
  csrf = "";
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  document.querySelectorAll(".page").forEach((p) => (p.hidden = true));
  $("login").hidden = false;
}

async function start() {
  try {
    const s = await call("GET", "/admin/session");
    loggedIn(s);
  } catch {
    showLogin();
  }
}

function loggedIn(s) {
  csrf = s.csrf_token;
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

// ---- routing ----

const pages = { overview: loadOverview, requests: loadRequests, projects: loadProjects };

function route() {
  if (!csrf) return;
  const name = (location.hash || "#overview").slice(1);
  const page = pages[name] ? name : "overview";
  document.querySelectorAll(".page").forEach((p) => (p.hidden = p.id !== "page-" + page));
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  pages[page]();
}
window.addEventListener("hashchange", route);

// ---- overview ----

function card(k, v, id) {
  return el("div", { class: "card" }, el("div", { class: "v", "data-metric": id }, v), el("div", { class: "k" }, k));
}

// chart draws one series as an SVG area chart with a max label.
function chart(title, points, pick, fmt) {
  const W = 400, H = 120, P = 4;
  const vals = points.map(pick);
  const max = Math.max(0, ...vals);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, role: "img", "aria-label": title });
  s.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
  if (vals.length > 1) {
    const x = (i) => P + (i * (W - 2 * P)) / (vals.length - 1);
    const y = (v) => H - (max > 0 ? (v / max) * (H - 10) : 0);
    const line = vals.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
    s.append(svg("path", { d: `${line}L${x(vals.length - 1)},${H}L${x(0)},${H}Z`, class: "area" }));
    s.append(svg("path", { d: line, class: "line" }));
  }
  const label = svg("text", { x: 2, y: 10 });
  label.textContent = "max " + fmt(max);
  const first = svg("text", { x: 2, y: H + 12 });
  first.textContent = points.length ? new Date(points[0].start).toLocaleString() : "";
  const last = svg("text", { x: W - 2, y: H + 12, "text-anchor": "end" });
  last.textContent = "now";
  s.append(label, first, last);
  return el("div", { class: "chart" }, el("h2", {}, title), s);
}

async function loadOverview() {
  const win = $("ov-window").value;
  $("ov-status").textContent = "Loading…";
  let o;
  try {
    o = await call("GET", "/admin/overview?window=" + encodeURIComponent(win));
  } catch (e) {
    $("ov-status").textContent = e.message;
    return;
  }
  $("ov-status").textContent = o.totals.requests ? "" : "No requests in this window yet.";
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
  $("ov-charts").replaceChildren(
    chart("Requests", s, (p) => p.requests, int),
    chart("Errors", s, (p) => p.errors, int),
    chart("p99 latency", s, (p) => p.p99_ms, ms),
    chart("Tokens", s, (p) => p.prompt_tokens + p.completion_tokens, int),
    chart("Cost", s, (p) => p.cost_usd, usd),
    chart("Saving", s, (p) => p.saved_total_usd, usd),
  );
  const sv = t.saved_usd;
  table($("ov-saving"), ["technique", "saved"], [
    ["response cache", sv.response_cache], ["provider prompt cache", sv.provider_prompt_cache],
    ["IDE boilerplate", sv.ide_boilerplate], ["file dedup", sv.file_dedup], ["routing", sv.routing],
  ].map(([k, v]) => ({ cells: [k, usd(v)] })), [false, true]);
  const total = o.cache.reduce((n, c) => n + c.requests, 0);
  table($("ov-cache"), ["cache", "requests", "share"], o.cache.map((c) => ({
    cells: [c.key || "(not cacheable)", int(c.requests), total ? ((100 * c.requests) / total).toFixed(1) + " %" : ""],
  })), [false, true, true]);
  const top = (rows) => rows.map((r) => ({ cells: [r.key || "(none)", int(r.requests), int(r.errors), usd(r.cost_usd), usd(r.saved_usd)] }));
  table($("ov-projects"), ["project", "requests", "errors", "cost", "saved"], top(o.top_projects), [false, true, true, true, true]);
  table($("ov-models"), ["model", "requests", "errors", "cost", "saved"], top(o.top_models), [false, true, true, true, true]);
}
$("ov-window").addEventListener("change", loadOverview);

// ---- requests ----

let rqNext = "";

function requestParams() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData($("rq-filters"))) {
    if (!v) continue;
    p.set(k, k === "from" || k === "to" ? new Date(v).toISOString() : v);
  }
  return p;
}

async function loadRequests(more) {
  const p = requestParams();
  const csv = new URLSearchParams(p);
  csv.set("format", "csv");
  $("rq-csv").setAttribute("href", "/admin/requests?" + csv.toString());
  p.set("limit", "50");
  if (more === true && rqNext) p.set("cursor", rqNext);
  $("rq-status").textContent = "Loading…";
  let page;
  try {
    page = await call("GET", "/admin/requests?" + p.toString());
  } catch (e) {
    $("rq-status").textContent = e.message;
    return;
  }
  rqNext = page.next_cursor || "";
  $("rq-more").hidden = !rqNext;
  const prev = more === true ? rqRows : [];
  rqRows = prev.concat(page.data);
  $("rq-status").textContent = rqRows.length ? rqRows.length + " shown" : "";
  table($("rq-table"), ["time", "project", "model", "status", "cache", "tokens", "cost", "latency", "route"], rqRows.map((r) => ({
    cells: [new Date(r.time).toLocaleString(), r.project_id, r.served_model || r.requested_model, String(r.status), r.cache,
      int(r.prompt_tokens + r.completion_tokens), usd(r.cost_usd), Number(r.latency_ms).toFixed(1) + " ms", r.route_reason],
    onclick: () => detail(r),
  })), [false, false, false, true, false, true, true, true, false]);
}
let rqRows = [];

function detail(r) {
  const s = r.savings || {};
  const rows = [
    ["id", r.id], ["time", r.time], ["project", r.project_id], ["key", r.key_id], ["endpoint", r.endpoint],
    ["requested model", r.requested_model], ["served model", r.served_model], ["provider", r.provider],
    ["status", r.status], ["error code", r.error_code], ["cache", r.cache], ["route reason", r.route_reason],
    ["stream", r.stream], ["prompt tokens", r.prompt_tokens], ["cached tokens", r.cached_tokens],
    ["completion tokens", r.completion_tokens], ["cost", usd(r.cost_usd)],
    ["saved (cache, prompt cache, boilerplate, dedup, routing)",
      [s.response_cache, s.provider_prompt_cache, s.ide_boilerplate, s.file_dedup, s.routing].map(usd).join(", ")],
    ["latency", r.latency_ms + " ms"], ["upstream", r.upstream_ms + " ms"],
  ];
  table($("rq-detail-table"), ["field", "value"], rows.map(([k, v]) => ({ cells: [k, String(v ?? "")] })));
  $("rq-detail").showModal();
}

$("rq-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadRequests(false); });
$("rq-more").addEventListener("click", () => loadRequests(true));

// ---- projects & keys ----

async function loadProjects() {
  let list;
  try {
    list = await call("GET", "/admin/projects");
  } catch (e) {
    $("pj-status").textContent = e.message;
    return;
  }
  table($("pj-table"), ["id", "name", "budget", "kind"], list.data.map((p) => ({
    cells: [p.id, p.name, p.budget_usd ? usd(p.budget_usd) + " / " + p.budget_period : "none", p.static ? "gateway.toml" : "dynamic"],
    onclick: () => loadKeys(p),
  })));
}

async function loadKeys(p) {
  $("pj-keys").hidden = false;
  $("pj-keys-title").textContent = "Keys of " + p.name;
  let list;
  try {
    list = await call("GET", "/admin/projects/" + encodeURIComponent(p.id) + "/keys");
  } catch (e) {
    $("pj-status").textContent = e.message;
    return;
  }
  const t = $("pj-keys-table");
  table(t, ["id", "name", "prefix", "created", "last used", "state", ""], list.data.map((k) => ({
    cells: [k.id, k.name, k.prefix, new Date(k.created_at).toLocaleString(), k.last_used_at ? new Date(k.last_used_at).toLocaleString() : "never",
      k.revoked_at ? "revoked" : "active", k.revoked_at ? "" : el("button", { type: "button", class: "revoke", onclick: (ev) => { ev.stopPropagation(); revoke(p, k); } }, "Revoke")],
  })));
  const add = el("button", { type: "button", id: "pj-addkey", onclick: () => createKey(p) }, "Create key");
  t.append(el("caption", {}, add));
}

async function createKey(p) {
  try {
    const k = await call("POST", "/admin/projects/" + encodeURIComponent(p.id) + "/keys", { name: "dashboard" });
    $("pj-newkey-value").textContent = k.key;
    $("pj-newkey").hidden = false;
    $("pj-status").textContent = "Key created for " + p.name + ".";
    loadKeys(p);
  } catch (e) {
    $("pj-status").textContent = e.message;
  }
}

async function revoke(p, k) {
  if (!confirm("Revoke key " + k.prefix + "…? Clients using it stop at once.")) return;
  try {
    await call("DELETE", "/admin/keys/" + encodeURIComponent(k.id));
    $("pj-status").textContent = "Key revoked.";
    loadKeys(p);
  } catch (e) {
    $("pj-status").textContent = e.message;
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
    $("pj-status").textContent = "Project " + p.id + " created.";
    ev.target.reset();
    loadProjects();
  } catch (e) {
    $("pj-status").textContent = e.message;
  }
});

start();
