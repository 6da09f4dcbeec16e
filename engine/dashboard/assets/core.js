// Shared helpers of the dashboard's modules. Every value that came from
// the gateway is put in the page as text (textContent, text nodes,
// setAttribute of inert attributes): never as HTML.

export const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// state.csrf is the session's CSRF token, kept in memory only.
export const state = { csrf: "", onLoggedOut: () => {} };

// el builds an element; string children become text nodes.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

export function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// call sends an admin API request with the session cookie (and the CSRF
// token on changes) and returns the decoded JSON, or throws the gateway's
// error message. body: undefined, a Blob/File (sent as is) or JSON.
export async function call(method, path, body, opts2) {
  const opts = { method, headers: {}, credentials: "same-origin", signal: opts2 && opts2.signal };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = state.csrf;
  if (body instanceof Blob) {
    opts.headers["Content-Type"] = "application/wasm";
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401 && path !== "/admin/login") state.onLoggedOut();
  if (!r.ok) throw new Error((data && data.error && data.error.message) || r.status + " " + r.statusText);
  return data;
}

export const usd = (v) => "$" + Number(v || 0).toFixed(v >= 100 ? 2 : 4);
export const int = (v) => Number(v || 0).toLocaleString("en-US");
export const ms = (v) => Number(v || 0) >= 60000 ? "≥60 s" : int(v) + " ms";
export const pct = (n, d) => d ? ((100 * n) / d).toFixed(1) + " %" : "–";
export const when = (t) => t ? new Date(t).toLocaleString() : "";
export function bytes(n) {
  n = Number(n || 0);
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

// table fills t: head is the column names, rows {cells, onclick, class};
// empty says what an empty table means.
export function table(t, head, rows, numeric, empty) {
  t.replaceChildren();
  const tr = el("tr");
  head.forEach((h, i) => tr.append(el("th", numeric && numeric[i] ? { class: "num" } : {}, h)));
  t.append(el("thead", {}, tr));
  const tb = el("tbody");
  for (const r of rows) {
    const row = el("tr", r.class ? { class: r.class } : {});
    r.cells.forEach((c, i) => row.append(el("td", numeric && numeric[i] ? { class: "num" } : {}, c)));
    if (r.onclick) row.addEventListener("click", r.onclick);
    tb.append(row);
  }
  if (rows.length === 0) tb.append(el("tr", {}, el("td", { colspan: String(head.length), class: "muted empty" }, empty || "Nothing yet.")));
  t.append(tb);
}

// status shows a message in a status line; busy adds a spinner.
export function status(id, msg, busy, bad) {
  const s = $(id);
  s.replaceChildren();
  if (busy) s.append(el("span", { class: "spinner", "aria-hidden": "true" }));
  s.append(msg || "");
  s.classList.toggle("error", !!bad);
}

// progress is a bar with a label; value and max are numbers.
export function progress(value, max, label) {
  const p = el("progress", { max: String(max || 1), value: String(Math.min(value || 0, max || 1)) });
  return el("span", { class: "progress" }, p, " ", label || "");
}

// chart draws one or more series as an SVG line/area chart with a max
// label. series: [{name, values, cls}]; points carry the start times.
export function chart(title, points, series, fmt, stacked) {
  const W = 400, H = 120, P = 4;
  const n = points.length;
  let max = 0;
  if (stacked) {
    for (let i = 0; i < n; i++) max = Math.max(max, series.reduce((s, x) => s + x.values[i], 0));
  } else {
    for (const x of series) max = Math.max(max, ...x.values);
  }
  const s = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, role: "img", "aria-label": title });
  s.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
  const xs = (i) => P + (i * (W - 2 * P)) / Math.max(1, n - 1);
  const ys = (v) => H - (max > 0 ? (v / max) * (H - 10) : 0);
  if (n > 1) {
    const base = new Array(n).fill(0);
    series.forEach((x, k) => {
      const top = x.values.map((v, i) => (stacked ? base[i] : 0) + v);
      const line = top.map((v, i) => `${i ? "L" : "M"}${xs(i).toFixed(1)},${ys(v).toFixed(1)}`).join("");
      const bottom = stacked ? base.map((v, i) => `L${xs(n - 1 - i).toFixed(1)},${ys(base[n - 1 - i]).toFixed(1)}`).join("") : `L${xs(n - 1)},${H}L${xs(0)},${H}`;
      s.append(svg("path", { d: line + bottom + "Z", class: "area s" + k }));
      s.append(svg("path", { d: line, class: "line s" + k }));
      if (stacked) top.forEach((v, i) => (base[i] = v));
    });
  }
  const label = svg("text", { x: 2, y: 10 });
  label.textContent = "max " + fmt(max);
  const first = svg("text", { x: 2, y: H + 12 });
  first.textContent = n ? new Date(points[0].start).toLocaleString() : "";
  const last = svg("text", { x: W - 2, y: H + 12, "text-anchor": "end" });
  last.textContent = "now";
  s.append(label, first, last);
  const legend = series.length > 1 ? el("div", { class: "legend" }, ...series.map((x, k) => el("span", { class: "key s" + k }, x.name))) : "";
  return el("div", { class: "chart" }, el("h2", {}, title), s, legend);
}

// confirmDo asks before a destructive change.
export const confirmDo = (msg) => window.confirm(msg);

// requestDetail shows one ledger row in the request dialog.
export function requestDetail(r) {
  const s = r.savings || {};
  const rows = [
    ["id", r.id], ["time", r.time], ["project", r.project_id], ["key", r.key_id], ["endpoint", r.endpoint],
    ["requested model", r.requested_model], ["served model", r.served_model], ["provider", r.provider],
    ["status", r.status], ["error code", r.error_code], ["cache", r.cache], ["route reason", r.route_reason],
    ["stream", r.stream], ["prompt tokens", r.prompt_tokens], ["cached tokens", r.cached_tokens],
    ["completion tokens", r.completion_tokens], ["cost", usd(r.cost_usd)],
    ["of which extra calls (classifier, rejected cascade attempt)", [r.classifier_cost_usd, r.cascade_extra_cost_usd].map(usd).join(", ")],
    ["saved (cache, prompt cache, boilerplate, dedup, routing)",
      [s.response_cache, s.provider_prompt_cache, s.ide_boilerplate, s.file_dedup, s.routing].map(usd).join(", ")],
    ["latency", r.latency_ms + " ms"], ["upstream", r.upstream_ms + " ms"],
  ];
  table($("rq-detail-table"), ["field", "value"], rows.map(([k, v]) => ({ cells: [k, String(v ?? "")] })));
  $("rq-detail").showModal();
}

