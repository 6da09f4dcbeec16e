// The Ollama, webhooks and audit-log pages.

import { $, el, call, int, when, bytes, table, status, progress, confirmDo } from "./core.js";

// ---- Ollama ----

let olTimer = null;

export async function loadOllama() {
  clearTimeout(olTimer);
  status("ol-status", "Loading…", true);
  let list;
  try {
    list = await call("GET", "/admin/ollama/models");
  } catch (e) {
    status("ol-status", e.message, false, true);
    table($("ol-table"), ["model"], [], null, "Ollama is not reachable.");
    return;
  }
  status("ol-status", "Ollama provider " + list.provider + " at " + list.base_url);
  table($("ol-table"), ["model", "size", "parameters", "quantization", "family", "modified", ""], list.data.map((m) => ({
    cells: [m.name, bytes(m.size), m.details.parameter_size, m.details.quantization_level, m.details.family, when(m.modified_at),
      el("button", { type: "button", class: "delete", "data-model": m.name, onclick: () => deleteModel(m.name) }, "Delete")],
  })), [false, true, false, false, false, false, false], "No local models: pull one above.");
  drawPulls(list.pulls);
}

function drawPulls(pulls) {
  $("ol-pulls").hidden = pulls.length === 0;
  table($("ol-pulls-table"), ["model", "progress", "status", "started"], pulls.map((p) => ({
    cells: [p.model, p.error ? el("span", { class: "bad" }, p.error)
      : progress(p.completed, p.total || 1, p.total ? bytes(p.completed) + " of " + bytes(p.total) : ""),
    p.status, when(p.started_at)],
    class: p.done ? (p.error ? "failed" : "done") : "running",
  })));
  // Poll while a pull runs and the page is open.
  if (pulls.some((p) => !p.done)) {
    olTimer = setTimeout(pollPulls, 1000);
  }
}

async function pollPulls() {
  if ($("page-ollama").hidden) return;
  let r;
  try {
    r = await call("GET", "/admin/ollama/pulls");
  } catch (e) {
    status("ol-status", e.message, false, true);
    olTimer = setTimeout(pollPulls, 5000);
    return;
  }
  const wasRunning = $("ol-pulls-table").querySelectorAll("tr.running").length > 0;
  drawPulls(r.data);
  if (wasRunning && r.data.every((p) => p.done)) loadOllama();
}

$("ol-pull").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const model = ev.target.elements.model.value.trim();
  try {
    await call("POST", "/admin/ollama/pull", { model });
    ev.target.reset();
    status("ol-status", "Pulling " + model + "…", true);
    clearTimeout(olTimer);
    pollPulls();
  } catch (e) {
    status("ol-status", e.message, false, true);
  }
});

async function deleteModel(name) {
  if (!confirmDo("Delete the local model " + name + " from Ollama?")) return;
  try {
    await call("DELETE", "/admin/ollama/models?model=" + encodeURIComponent(name));
    await loadOllama();
    status("ol-status", "Deleted " + name + ".");
  } catch (e) {
    status("ol-status", e.message, false, true);
  }
}

// ---- webhooks ----

export async function loadWebhooks() {
  status("wh-status", "Loading…", true);
  let list;
  try {
    list = await call("GET", "/admin/webhooks");
  } catch (e) {
    status("wh-status", e.message, false, true);
    return;
  }
  status("wh-status", "");
  table($("wh-table"), ["id", "url", "events", "project", "state", "created", ""], list.data.map((w) => ({
    cells: [w.id, w.url, (w.events || []).join(", ") || "*", w.project_id || "every project", w.disabled ? "disabled" : "active", when(w.created_at),
      el("span", { class: "actions" },
        el("button", { type: "button", class: "test", onclick: (ev) => { ev.stopPropagation(); testHook(w); } }, "Send test"),
        el("button", { type: "button", class: "delete", onclick: (ev) => { ev.stopPropagation(); deleteHook(w); } }, "Delete"))],
    onclick: () => deliveries(w),
  })), null, "No webhooks: add one above.");
}

async function deliveries(w) {
  $("wh-deliveries").hidden = false;
  $("wh-deliveries-title").textContent = "Deliveries to " + w.url;
  let list;
  try {
    list = await call("GET", "/admin/webhooks/" + encodeURIComponent(w.id) + "/deliveries");
  } catch (e) {
    status("wh-status", e.message, false, true);
    return;
  }
  table($("wh-deliveries-table"), ["id", "event", "state", "attempts", "last error", "created"], list.data.map((d) => ({
    cells: [d.id, d.event, d.delivered_at ? "delivered" : d.failed_at ? "given up" : "pending", int(d.attempts), d.last_error || "", when(d.created_at)],
  })), null, "No deliveries yet.");
}

async function testHook(w) {
  try {
    await call("POST", "/admin/webhooks/" + encodeURIComponent(w.id) + "/test");
    status("wh-status", "Test event queued for " + w.url + ".");
    deliveries(w);
  } catch (e) {
    status("wh-status", e.message, false, true);
  }
}

async function deleteHook(w) {
  if (!confirmDo("Delete the webhook to " + w.url + "?")) return;
  try {
    await call("DELETE", "/admin/webhooks/" + encodeURIComponent(w.id));
    $("wh-deliveries").hidden = true;
    await loadWebhooks();
    status("wh-status", "Webhook deleted.");
  } catch (e) {
    status("wh-status", e.message, false, true);
  }
}

$("wh-create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = { url: f.url.value, events: f.events.value.split(",").map((s) => s.trim()).filter(Boolean) };
  if (f.project_id.value) body.project_id = f.project_id.value;
  try {
    const w = await call("POST", "/admin/webhooks", body);
    ev.target.reset();
    $("wh-secret-value").textContent = w.secret;
    $("wh-secret").hidden = false;
    await loadWebhooks();
    status("wh-status", "Webhook " + w.id + " created.");
  } catch (e) {
    status("wh-status", e.message, false, true);
  }
});

// ---- audit log ----

let auNext = "";
let auRows = [];

export async function loadAudit(more) {
  const f = $("au-filters").elements;
  const p = new URLSearchParams({ limit: "50" });
  if (f.action.value) p.set("action", f.action.value);
  if (f.target.value) p.set("target", f.target.value);
  if (more === true && auNext) p.set("cursor", auNext);
  status("au-status", "Loading…", true);
  let page;
  try {
    page = await call("GET", "/admin/audit?" + p.toString());
  } catch (e) {
    status("au-status", e.message, false, true);
    return;
  }
  auNext = page.next_cursor || "";
  $("au-more").hidden = !auNext;
  auRows = (more === true ? auRows : []).concat(page.data || page.entries || []);
  status("au-status", auRows.length ? auRows.length + " shown" : "");
  table($("au-table"), ["time", "actor", "action", "target", "change"], auRows.map((e) => ({
    cells: [when(e.time), e.actor, e.action, e.target, el("code", { class: "small" }, summary(e))],
  })), null, "No administrative actions recorded yet.");
}

// summary shortens before → after to one line of JSON text.
function summary(e) {
  const s = (v) => (v === undefined || v === null ? "" : JSON.stringify(v));
  const t = (s(e.before) ? s(e.before) + " → " : "") + s(e.after);
  return t.length > 200 ? t.slice(0, 200) + "…" : t;
}

$("au-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(false); });
$("au-more").addEventListener("click", () => loadAudit(true));
