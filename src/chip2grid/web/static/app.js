// chip2grid dashboard: plain JavaScript over the JSON API (no framework, no network beyond it).
"use strict";

const state = { base: null, last: null, lastBody: null, a: null, b: null, job: null };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function describeError(status, data) {
  if (data && Array.isArray(data.detail)) {
    return data.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n");
  }
  return `${status}: ${data && data.detail ? data.detail : "request failed"}`;
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(describeError(response.status, data));
  return data;
}

const FIELDS = {
  "f-model": ["model"],
  "f-accelerator": ["deployment", "accelerator"],
  "f-num_accelerators": ["deployment", "num_accelerators"],
  "f-weight_precision": ["deployment", "weight_precision"],
  "f-kv_precision": ["deployment", "kv_precision"],
  "f-engine": ["deployment", "engine"],
  "f-region": ["site", "region"],
  "f-cooling": ["site", "cooling"],
  "f-ttft_s": ["slo", "ttft_s"],
  "f-tpot_s": ["slo", "tpot_s"],
  "f-request_rate_per_s": ["workload", "synthetic", "request_rate_per_s"],
  "f-input_tokens": ["workload", "synthetic", "input_tokens"],
  "f-output_tokens": ["workload", "synthetic", "output_tokens"],
  "f-num_requests": ["workload", "synthetic", "num_requests"],
};

function getPath(obj, path) {
  return path.reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key];
  }
  node[path[path.length - 1]] = value;
}

function fillForm(scenario) {
  for (const [id, path] of Object.entries(FIELDS)) {
    const value = getPath(scenario, path);
    if (value !== undefined && value !== null) $(id).value = String(value);
  }
  const supply = scenario.energy && scenario.energy.supply;
  if (typeof supply === "string") $("f-energy").value = supply;
  const trace = scenario.workload ? scenario.workload.trace : null;
  $("f-trace").value = trace == null ? "" : trace;
}

function formScenario() {
  const scenario = JSON.parse(JSON.stringify(state.base || {}));
  for (const [id, path] of Object.entries(FIELDS)) {
    const el = $(id);
    if (el.value === "") continue;
    setPath(scenario, path, el.type === "number" ? Number(el.value) : el.value);
  }
  setPath(scenario, ["energy", "supply"], $("f-energy").value);
  setPath(scenario, ["workload", "trace"], $("f-trace").value || null);
  scenario.name = (state.base && state.base.name) || "dashboard";
  return scenario;
}

function requestBody() {
  return { scenario: formScenario(), simulate: $("f-simulate").checked };
}

async function loadBuiltin(name) {
  showError("");
  const data = await api("GET", `/api/scenarios/${encodeURIComponent(name)}`);
  state.base = data.scenario;
  fillForm(state.base);
  $("status").textContent = `Loaded the built-in scenario ${name}. Press Run.`;
}

function renderSummary(report) {
  const box = $("summary");
  box.replaceChildren();
  for (const item of report.summary) {
    const card = document.createElement("div");
    card.className = "card";
    const value = document.createElement("div");
    value.className = "value";
    value.dataset.metric = item.key;
    value.dataset.value = String(item.value);
    value.textContent = item.text + (item.unit ? ` ${item.unit}` : "");
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = item.label;
    card.append(value, label);
    box.append(card);
  }
}

function renderTable(table) {
  const el = document.createElement("table");
  el.id = `table-${table.id}`;
  const head = el.insertRow();
  for (const col of table.columns) {
    const th = document.createElement("th");
    th.textContent = col;
    head.append(th);
  }
  table.rows.forEach((row, i) => {
    const tr = el.insertRow();
    if (table.keys && table.keys.length) tr.dataset.key = table.keys[i];
    for (const cell of row) tr.insertCell().textContent = cell;
  });
  return el;
}

function renderSections(report) {
  const root = $("sections");
  root.replaceChildren();
  for (const section of report.sections) {
    if (section.id === "summary" || section.id === "sources") continue;
    const el = document.createElement("section");
    el.id = `section-${section.id}`;
    const h2 = document.createElement("h2");
    h2.textContent = section.title;
    const intro = document.createElement("p");
    intro.className = "note";
    intro.textContent = section.intro;
    el.append(h2, intro);
    for (const chart of report.charts.filter((c) => c.section === section.id)) {
      const div = document.createElement("div");
      div.className = "chart";
      div.id = `chart-${chart.id}`;
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = chart.note;
      el.append(div, note);
      root.append(el);
      Plotly.newPlot(div, chart.figure.data, chart.figure.layout, { responsive: true, displaylogo: false });
    }
    for (const table of report.tables.filter((t) => t.section === section.id)) el.append(renderTable(table));
    root.append(el);
  }
}

function validatedText(errors) {
  // the throughput error validation measured on runs like this one (seen / unseen by the fit)
  const cells = errors && errors.throughput;
  if (!cells) return "";
  const pct = (f) => (f ? `${Math.round(f.mape_frac * 100)} %` : "-");
  return `; validated throughput error ${pct(cells.seen)} / ${pct(cells.unseen)} (runs the fit saw / did not)`;
}

function renderResult(data) {
  state.last = data;
  const l = data.layout;
  $("layout-line").textContent =
    `${l.model} on ${l.num_accelerators} x ${l.accelerator}: ${l.num_replicas} x (TP${l.tp} PP${l.pp} EP${l.ep}), ` +
    `${l.weight_precision} weights, ${l.engine}, calibration ${l.calibration}; evaluated in ${data.elapsed_s.toFixed(2)} s` +
    validatedText(l.validated_error);
  renderSummary(data.report);
  renderSections(data.report);
  $("download-report").disabled = false;
  $("download-json").disabled = false;
}

async function run(event) {
  if (event) event.preventDefault();
  showError("");
  $("status").textContent = "Running...";
  state.lastBody = requestBody();
  try {
    const data = await api("POST", "/api/evaluate", state.lastBody);
    renderResult(data);
    $("status").textContent = `Done: ${data.scenario.name}${data.simulation ? " (simulated)" : " (steady state)"}.`;
  } catch (err) {
    $("status").textContent = "Failed.";
    showError(err.message);
  }
}

async function runJob() {
  showError("");
  state.lastBody = requestBody();
  try {
    const job = await api("POST", "/api/jobs", state.lastBody);
    state.job = job.id;
    $("cancel-job").disabled = false;
    $("job-progress").hidden = false;
    pollJob(job.id);
  } catch (err) {
    showError(err.message);
  }
}

async function pollJob(id) {
  if (state.job !== id) return;
  let job;
  try {
    job = await api("GET", `/api/jobs/${id}`);
  } catch (err) {
    showError(err.message);
    return;
  }
  $("job-progress").value = job.progress_frac;
  $("job-stage").textContent = `job ${id.slice(0, 8)}: ${job.status}, ${job.stage}`;
  if (job.status === "done") {
    renderResult(job.result);
    $("status").textContent = "Done (background job).";
  } else if (job.status === "failed") {
    showError(job.error || "the job failed");
  }
  if (["done", "failed", "cancelled"].includes(job.status)) {
    $("cancel-job").disabled = true;
    state.job = null;
    return;
  }
  setTimeout(() => pollJob(id), 400);
}

async function cancelJob() {
  if (!state.job) return;
  try {
    await api("DELETE", `/api/jobs/${state.job}`);
  } catch (err) {
    showError(err.message);
  }
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function downloadReport() {
  if (!state.lastBody) return;
  try {
    const response = await fetch("/api/report", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(state.lastBody),
    });
    if (!response.ok) throw new Error(describeError(response.status, await response.json()));
    download(`chip2grid-report-${state.lastBody.scenario.name}.html`, "text/html", await response.text());
  } catch (err) {
    showError(err.message);
  }
}

function downloadJson() {
  if (!state.last) return;
  download(`chip2grid-${state.last.scenario.name}.json`, "application/json", JSON.stringify(state.last, null, 2));
}

function setSide(side) {
  state[side] = formScenario();
  state[side].name = `${side.toUpperCase()}: ${state[side].name}`.slice(0, 100);
  $("compare-names").textContent = `A: ${state.a ? "set" : "not set"}; B: ${state.b ? "set" : "not set"}`;
}

async function compare() {
  showError("");
  if (!state.a || !state.b) {
    showError("Set both A and B first (edit the form, then Set as A / Set as B).");
    return;
  }
  try {
    const data = await api("POST", "/api/compare", { a: state.a, b: state.b, simulate: false });
    const box = $("compare-result");
    box.replaceChildren();
    const h2 = document.createElement("h2");
    h2.textContent = "Comparison (steady state)";
    box.append(h2);
    box.append(renderTable({
      id: "compare-inputs",
      columns: ["input", "A", "B"],
      rows: data.inputs.map((r) => [r.field, JSON.stringify(r.a), JSON.stringify(r.b)]),
    }));
    const table = renderTable({
      id: "compare-metrics",
      columns: ["metric", "A", "B", "change"],
      rows: data.metrics.map((r) => [
        r.metric,
        r.a == null ? "n/a" : Number(r.a).toPrecision(4),
        r.b == null ? "n/a" : Number(r.b).toPrecision(4),
        r.change_frac == null ? "" : `${(100 * r.change_frac).toFixed(1)} %`,
      ]),
    });
    data.metrics.forEach((r, i) => {
      if (r.change_frac != null && Math.abs(r.change_frac) > 0.01) table.rows[i + 1].className = "changed";
    });
    box.append(table);
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("scenario-form").addEventListener("submit", run);
  $("builtin").addEventListener("change", (e) => loadBuiltin(e.target.value).catch((err) => showError(err.message)));
  $("run-job").addEventListener("click", runJob);
  $("cancel-job").addEventListener("click", cancelJob);
  $("download-report").addEventListener("click", downloadReport);
  $("download-json").addEventListener("click", downloadJson);
  $("set-a").addEventListener("click", () => setSide("a"));
  $("set-b").addEventListener("click", () => setSide("b"));
  $("compare").addEventListener("click", compare);
  loadBuiltin($("builtin").value).catch((err) => showError(err.message));
});
