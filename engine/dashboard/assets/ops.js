// The routing, providers and models, policies and cache pages.

import { $, el, call, usd, int, ms, pct, when, table, status, chart, confirmDo, requestDetail } from "./core.js";

// ---- routing ----

let rtTimer = null;

export async function loadRouting() {
  clearTimeout(rtTimer);
  const win = $("rt-window").value;
  status("rt-status", "Loading…", true);
  let r, trace;
  try {
    [r, trace] = await Promise.all([
      call("GET", "/admin/routing?window=" + encodeURIComponent(win)),
      call("GET", "/admin/requests?routed=1&limit=50"),
    ]);
  } catch (e) {
    status("rt-status", e.message, false, true);
    return;
  }
  const t = r.totals;
  const escal = t.cascade_accepted + t.cascade_escalated;
  status("rt-status", t.routed ? "" : "No routed requests in this window yet (send model \"auto\").");
  const c = (k, v, id) => el("div", { class: "card" }, el("div", { class: "v", "data-metric": id }, v), el("div", { class: "k" }, k));
  $("rt-cards").replaceChildren(
    c("routed requests", int(t.routed), "routed"),
    c("share of all requests", pct(t.routed, r.requests), "routed-share"),
    c("phase-2 rate", pct(t.phase2, t.routed), "phase2-rate"),
    c("phase-2 requests' cost", usd(t.phase2_cost_usd), "phase2-cost"),
    c("cascade rate", pct(escal, t.routed), "cascade-rate"),
    c("cascade escalations", pct(t.cascade_escalated, escal), "cascade-escalated"),
    c("cascaded requests' cost", usd(t.cascade_cost_usd), "cascade-cost"),
    c("routed cost", usd(t.cost_usd), "routed-cost"),
    // The extra calls alone: what routing spent on calls that did not
    // produce an answer (part of the costs above).
    c("phase-2 classifier calls", int(t.phase2_calls), "phase2-calls"),
    c("classifier calls' cost", usd(t.classifier_cost_usd), "classifier-cost"),
    c("cascade cheap calls rejected", int(t.cascade_escalated), "cascade-extra-calls"),
    c("rejected cheap calls' cost", usd(t.cascade_extra_cost_usd), "cascade-extra-cost"),
  );
  const s = r.series;
  const tiers = r.tier_names.map((name, i) => ({ name, values: s.map((p) => p.tiers[i]) }));
  tiers.push({ name: "other", values: s.map((p) => p.other) });
  $("rt-charts").replaceChildren(
    chart("Tier shares (requests)", s, tiers, int, true),
    chart("Phase 2 and cascade", s, [
      { name: "phase 2", values: s.map((p) => p.phase2) },
      { name: "cascade accepted", values: s.map((p) => p.cascade_accepted) },
      { name: "cascade escalated", values: s.map((p) => p.cascade_escalated) },
    ], int),
    chart("Cost of phase-2 and cascaded requests", s, [
      { name: "phase 2", values: s.map((p) => p.phase2_cost_usd) },
      { name: "cascade", values: s.map((p) => p.cascade_cost_usd) },
    ], usd),
    chart("Cost of the extra calls alone", s, [
      { name: "classifier calls", values: s.map((p) => p.classifier_cost_usd) },
      { name: "rejected cheap calls", values: s.map((p) => p.cascade_extra_cost_usd) },
    ], usd),
  );
  table($("rt-tiers"), ["tier", "requests", "share"], r.tier_names.map((n, i) => ({ cells: [n, int(t.tiers[i]), pct(t.tiers[i], t.routed)] }))
    .concat([{ cells: ["other", int(t.other), pct(t.other, t.routed)] }]), [false, true, true]);
  drawTrace(trace.data);
  rtTimer = setTimeout(() => { if (!$("page-routing").hidden) refreshTrace(); }, 5000);
}

function drawTrace(rows) {
  table($("rt-trace"), ["time", "project", "requested", "served", "route reason", "cost"], rows.map((r) => ({
    cells: [when(r.time), r.project_id, r.requested_model, r.served_model, r.route_reason, usd(r.cost_usd)],
    onclick: () => requestDetail(r),
  })), [false, false, false, false, false, true], "No routing decisions yet.");
}

// refreshTrace re-reads the newest decisions every 5 s while the page is
// open (the ledger of every replica).
async function refreshTrace() {
  try {
    drawTrace((await call("GET", "/admin/requests?routed=1&limit=50")).data);
  } catch { /* the next tick retries */ }
  rtTimer = setTimeout(() => { if (!$("page-routing").hidden) refreshTrace(); }, 5000);
}
$("rt-window").addEventListener("change", loadRouting);

// ---- providers and models ----

let pvModels = [];
let pvProjects = [];

export async function loadProviders() {
  status("pv-status", "Loading…", true);
  let p, m, pj;
  try {
    [p, m, pj] = await Promise.all([call("GET", "/admin/providers"), call("GET", "/admin/models"), call("GET", "/admin/projects")]);
  } catch (e) {
    status("pv-status", e.message, false, true);
    return;
  }
  status("pv-status", "");
  table($("pv-table"), ["provider", "kind", "health", "breaker", "in flight", "requests (1 h)", "error rate", "p50", "p99", "base URL"], p.data.map((x) => ({
    cells: [x.name, x.kind, el("span", { class: "health " + x.health, "data-provider": x.name }, x.health),
      x.breakers.length ? x.breakers.map((b) => (b.model ? b.model + ": " : "") + b.state + (b.retry_after_s ? " (" + Math.ceil(b.retry_after_s) + " s)" : "")).join(", ") : "closed",
      x.in_flight + " / " + x.max_in_flight, int(x.requests), x.requests ? pct(x.errors, x.requests) : "–",
      x.requests ? ms(x.p50_ms) : "–", x.requests ? ms(x.p99_ms) : "–", x.base_url],
  })), [false, false, false, false, true, true, true, true, true, false], "No provider configured.");
  pvModels = m.data;
  pvProjects = pj.data.filter((x) => !x.static);
  const sel = $("pv-project");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "(catalogue only)"), ...pvProjects.map((x) => el("option", { value: x.id }, x.name + " (" + x.id + ")")));
  if (pvProjects.some((x) => x.id === keep)) sel.value = keep;
  drawModels();
}

const yes = (b) => (b ? "yes" : "–");
const price = (v) => (v ? "$" + Number(v).toFixed(3) : "–");

function drawModels() {
  const proj = pvProjects.find((x) => x.id === $("pv-project").value);
  const allowed = (name) => !proj || !proj.models || proj.models.length === 0 || proj.models.includes(name);
  const head = ["model", "aliases", "context", "input $/M", "output $/M", "cached $/M", "tools", "vision", "JSON", "reasoning"];
  if (proj) head.push("enabled for " + proj.name);
  table($("pv-models"), head, pvModels.map((x) => {
    const cells = [x.name, x.aliases.join(", "), x.context_window ? int(x.context_window) : "–", price(x.input_price), price(x.output_price),
      price(x.cached_price), yes(x.tools), yes(x.vision), yes(x.json), yes(x.reasoning)];
    if (proj) {
      cells.push(el("input", { type: "checkbox", class: "allow", "data-model": x.name, checked: allowed(x.name), "aria-label": "enable " + x.name,
        onchange: (ev) => setAllowed(proj, x.name, ev.target.checked) }));
    }
    return { cells };
  }), [false, false, true, true, true, true, false, false, false, false, false], "No model in the catalogue.");
}
$("pv-project").addEventListener("change", drawModels);

// setAllowed enables or disables a model for a project through its
// allow-list (an empty list allows every model: disabling one lists the
// others).
async function setAllowed(proj, name, on) {
  let list = proj.models && proj.models.length ? proj.models.slice() : pvModels.map((x) => x.name);
  list = on ? [...new Set(list.concat([name]))] : list.filter((x) => x !== name);
  if (on && pvModels.every((x) => list.includes(x.name)) && list.length === pvModels.length) list = [];
  try {
    const p = await call("PATCH", "/admin/projects/" + encodeURIComponent(proj.id), { models: list });
    proj.models = p.models;
    status("pv-status", name + (on ? " enabled" : " disabled") + " for " + proj.name + ".");
  } catch (e) {
    status("pv-status", e.message, false, true);
  }
  drawModels();
}

// ---- policies ----

// dur formats a policy call's duration (milliseconds): policies run in
// microseconds, which ms() would round to 0.
const dur = (v) => (v < 1 ? Math.round(v * 1000) + " µs" : v < 100 ? v.toFixed(2) + " ms" : int(v) + " ms");

// loadPolicies shows the chains and the table; done is the status line to
// leave once they are loaded (an upload's or a rollback's outcome).
export async function loadPolicies(done = "") {
  status("po-status", "Loading…", true);
  let list;
  try {
    list = await call("GET", "/admin/policies");
  } catch (e) {
    status("po-status", e.message, false, true);
    return;
  }
  status("po-status", done);
  $("po-chains").replaceChildren(...list.chains.map((c) => el("div", { class: "card chain" },
    el("div", { class: "k" }, c.stage + " stage"), el("div", {}, c.policies.length ? c.policies.join(" → ") : "(empty)"),
    el("div", { class: "muted small" }, c.decides))));
  // p50 and p99 are this replica's (the one that served the page), over
  // every call since it started: the policy's own histogram.
  const lat = (p, v) => (p.calls ? dur(v) : "–");
  const act = (cls, label, fn) => el("button", { type: "button", class: cls, onclick: (ev) => { ev.stopPropagation(); fn(); } }, label);
  table($("po-table"), ["name", "stages", "placement", "origin", "version", "calls", "p50", "p99", "errors", "timeouts", "quarantine", "last failure", ""], list.policies.map((p) => ({
    cells: [p.name, (p.stages || []).join(", "), (p.placement || []).join("; "), p.origin + (p.enabled ? "" : " (disabled)"),
      (p.digest || "").slice(0, 12), int(p.calls), lat(p, p.p50_ms), lat(p, p.p99_ms), int(p.errors), int(p.timeouts),
      p.quarantined ? el("span", { class: "bad" }, "quarantined") : (p.quarantines ? int(p.quarantines) + " past" : "–"),
      p.last_failure ? when(p.last_failure.time) + " " + p.last_failure.reason : "–",
      el("span", { class: "actions" },
        p.rollback_to ? act("rollback", "Roll back", () => rollback(p)) : "",
        p.origin === "upload" ? act("delete", p.module === "upload" ? "Delete" : "Reset", () => reset(p)) : "")],
    onclick: () => policyDetail(p.name),
  })), [false, false, false, false, false, true, true, true, true, true, false, false, false], "No policies.");
  $("po-position-ref").replaceChildren(...list.policies.map((p) => el("option", { value: p.name }, p.name)));
}

async function policyDetail(name) {
  let p;
  try {
    p = await call("GET", "/admin/policies/" + encodeURIComponent(name));
  } catch (e) {
    status("po-status", e.message, false, true);
    return;
  }
  $("po-detail-title").textContent = "Policy " + p.name;
  const rows = [["module", p.module], ["origin", p.origin], ["digest", p.digest], ["stages", (p.stages || []).join(", ")],
    ["placement", (p.placement || []).join("; ")], ["fail", p.fail], ["timeout", p.timeout_ms + " ms"], ["memory", p.memory_mb + " MB"],
    ["loaded", when(p.loaded_at)], ["calls", int(p.calls)], ["p50 (this replica)", p.calls ? dur(p.p50_ms) : "–"],
    ["p99 (this replica)", p.calls ? dur(p.p99_ms) : "–"], ["rollback to", p.rollback_to || "–"], ["instances", p.instances], ["error", p.error || ""], ["warnings", (p.warnings || []).join("; ")]];
  table($("po-detail-table"), ["field", "value"], rows.map(([k, v]) => ({ cells: [k, String(v ?? "")] })));
  table($("po-failures"), ["time", "stage", "reason", "status", "message", "request"], (p.recent_failures || []).map((f) => ({
    cells: [when(f.time), f.stage, f.reason, f.status || "", f.message || "", f.request_id || ""],
  })), null, "No failures recorded.");
  $("po-detail").showModal();
}

// rollbackTarget names what a rollback restores, from rollback_to.
function rollbackTarget(p) {
  return p.rollback_to.startsWith("upload:") ? "the previous upload (" + p.rollback_to.slice(7, 19) + ")" : "its configured module (" + p.rollback_to + ")";
}

async function rollback(p) {
  if (!confirmDo("Roll " + p.name + " back to " + rollbackTarget(p) + "?")) return;
  try {
    const info = await call("POST", "/admin/policies/" + encodeURIComponent(p.name) + "/rollback");
    loadPolicies("Policy " + p.name + " rolled back: now " + info.origin + " " + (info.digest || "").slice(0, 12) + ".");
  } catch (e) {
    status("po-status", e.message, false, true);
  }
}

async function reset(p) {
  const what = p.module === "upload" ? "Delete the uploaded policy " + p.name + "?" : "Reset " + p.name + " to its configured module (" + p.module + ")?";
  if (!confirmDo(what)) return;
  try {
    await call("DELETE", "/admin/policies/" + encodeURIComponent(p.name));
    loadPolicies("Policy " + p.name + (p.module === "upload" ? " deleted." : " reset to " + p.module + "."));
  } catch (e) {
    status("po-status", e.message, false, true);
  }
}

$("po-upload").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const file = f.module.files[0];
  if (!file) return;
  let pos = f.position.value;
  if (pos === "before" || pos === "after") pos += ":" + f.ref.value;
  const q = pos ? "?position=" + encodeURIComponent(pos) : "";
  $("po-upload-error").textContent = "";
  status("po-status", "Validating and loading " + file.name + "…", true);
  try {
    const info = await call("PUT", "/admin/policies/" + encodeURIComponent(f.name.value) + q, file);
    ev.target.reset();
    loadPolicies("Policy " + info.name + " loaded: " + (info.placement || []).join("; "));
  } catch (e) {
    status("po-status", "");
    $("po-upload-error").textContent = e.message;
  }
});
$("po-position").addEventListener("change", () => {
  const v = $("po-position").value;
  $("po-position-ref").disabled = !(v === "before" || v === "after");
});

// ---- cache ----

export async function loadCache() {
  status("ca-status", "Loading…", true);
  let c, ov, pj;
  try {
    [c, ov, pj] = await Promise.all([call("GET", "/admin/cache"), call("GET", "/admin/overview?window=24h"), call("GET", "/admin/projects")]);
  } catch (e) {
    status("ca-status", e.message, false, true);
    return;
  }
  status("ca-status", "");
  const flat = (prefix, o, out) => {
    for (const [k, v] of Object.entries(o || {})) {
      if (v !== null && typeof v === "object") flat(prefix + k + ".", v, out);
      else out.push([prefix + k, typeof v === "number" ? int(v) : String(v)]);
    }
    return out;
  };
  table($("ca-stats"), ["statistic", "value"], flat("", c, []).map(([k, v]) => ({ cells: [k, v] })), [false, true]);
  const total = ov.cache.reduce((n, x) => n + x.requests, 0);
  const hits = ov.cache.filter((x) => x.key.startsWith("hit")).reduce((n, x) => n + x.requests, 0);
  $("ca-hitrate").textContent = total ? "Hit rate (24 h): " + pct(hits, total) : "No cacheable requests in the last 24 h.";
  table($("ca-tiers"), ["cache", "requests", "share"], ov.cache.map((x) => ({ cells: [x.key || "(not cacheable)", int(x.requests), pct(x.requests, total)] })), [false, true, true]);
  const sel = $("ca-project");
  sel.replaceChildren(el("option", { value: "" }, "every project"), ...pj.data.map((x) => el("option", { value: x.id }, x.name + " (" + x.id + ")")));
}

$("ca-purge").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const project = $("ca-project").value;
  if (!confirmDo(project ? "Purge the cache of project " + project + "?" : "Purge the whole response cache?")) return;
  status("ca-status", "Purging…", true);
  try {
    const r = await call("DELETE", "/admin/cache" + (project ? "?project=" + encodeURIComponent(project) : ""));
    await loadCache();
    void r;
    status("ca-status", "Cache purged" + (project ? " for " + project : "") + ".");
  } catch (e) {
    status("ca-status", e.message, false, true);
  }
});
