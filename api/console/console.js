// The Scheduler console: jobs and their history, read from the JSON API (/v1);
// the job form is in editor.js.
// Plain browser JavaScript, no framework and no build step: the file is served as
// it is written. Everything from the API goes into the page as text, never as HTML.
"use strict";

const KEY_STORAGE = "scheduler.apiKey";
const JOBS_PAGE = 25;
const HISTORY_PAGE = 20;
const CHART_EXECUTIONS = 500; // the newest executions the charts are drawn from
const DEAD_LETTERS_SHOWN = 20; // the newest dead letters a job's page lists
const AUDIT_SHOWN = 20; // the newest audit entries a job's page lists
const ZONE_STORAGE = "scheduler.timeZone"; // "utc", or the browser's zone
const CHART_BUCKETS = 30;
const OVERDUE_MS = 60_000; // a next run this far in the past is shown as late

const $ = (id) => document.getElementById(id);

// --- the API -----------------------------------------------------------------

class ApiError extends Error {}

let keyPrompt = null; // one prompt for every call refused at the same time

async function api(method, path, payload, extraHeaders = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    const headers = { Accept: "application/json", ...extraHeaders };
    if (key) headers.Authorization = `Bearer ${key}`;
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const sent = payload === undefined ? undefined : JSON.stringify(payload);
    const response = await fetch(path, { method, headers, body: sent });
    if (response.status === 401) {
      await askForKey(key ? "That key was refused; try another." : "");
      continue;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError((body && body.error) || `${response.status} ${response.statusText}`);
    }
    return body;
  }
}

// What the key may do, asked once per key: "read" (GET only) or "write".
let access = null;

async function knowAccess() {
  if (access === null) access = (await api("GET", "/v1/access")).access;
}

const READ_ONLY = "this API key may only read (SCHEDULER_API_READ_KEYS)";

// A button that changes something: for a key that may only read, disabled, saying why.
function changer(attributes, label) {
  const readOnly = access === "read";
  return h("button", { ...attributes, disabled: readOnly, title: readOnly ? READ_ONLY : null }, label);
}

// A link to a page that changes something: a disabled button for a read key.
function changeLink(attributes, label) {
  return access === "read" ? changer({ id: attributes.id }, label) : h("a", { ...attributes, class: "button" }, label);
}

function askForKey(problem) {
  if (keyPrompt) return keyPrompt;
  keyPrompt = new Promise((resolve) => {
    const form = $("key-form");
    const input = $("key-input");
    $("key-error").textContent = problem;
    $("key-error").hidden = !problem;
    $("key-dialog").hidden = false;
    input.value = "";
    input.focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, input.value.trim());
      access = null;
      $("key-dialog").hidden = true;
      showForgetKey();
      keyPrompt = null;
      resolve();
    };
  });
  return keyPrompt;
}

function showForgetKey() {
  $("forget-key").hidden = !sessionStorage.getItem(KEY_STORAGE);
}

$("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  access = null;
  showForgetKey();
  route();
});

// --- building the page ---------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

function svg(tag, attributes = {}, ...children) {
  return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attributes, children);
}

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false && value != null) element.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child != null && child !== false) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// A notice carried to the page a change leads to (the move would clear it).
let carried = null;

function goTo(hash, text) {
  carried = text;
  location.hash = hash;
}

function notify(text, kind = "info") {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = kind;
  notice.hidden = false;
}

function showError(error) {
  notify(error instanceof ApiError ? error.message : `The console failed: ${error.message}`, "error");
}

// Each render takes a ticket; a slow answer for a page left since is dropped.
let ticket = 0;

function mount(mine, ...sections) {
  if (mine === ticket) $("view").replaceChildren(...sections);
}

// --- words for values ------------------------------------------------------------

function pad(number) {
  return String(number).padStart(2, "0");
}

// Times show in the browser's zone (operators compare them with their own clock)
// or in UTC (to compare with logs), as the header's toggle says; remembered.
const inUtc = () => localStorage.getItem(ZONE_STORAGE) === "utc";

function showZone() {
  const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("zone").textContent = inUtc() ? "times in UTC" : `times in ${browser} (this browser)`;
  $("zone").title = `show times in ${inUtc() ? "this browser's zone" : "UTC"}`;
}

$("zone").addEventListener("click", () => {
  if (inUtc()) localStorage.removeItem(ZONE_STORAGE);
  else localStorage.setItem(ZONE_STORAGE, "utc");
  showZone();
  route();
});

// `at` is an RFC 3339 text or milliseconds since the epoch.
function localTime(at) {
  if (at == null) return "—";
  const d = new Date(at);
  const [year, month, day, hours, minutes, seconds] = inUtc()
    ? [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  return `${year}-${pad(month + 1)}-${pad(day)} ${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
}

// A fire time as the API gives it, in the job's own zone: "2030-01-01 10:00:00 +01:00".
function zonedTime(iso) {
  return iso.replace("T", " ").replace(/(\.\d+)?([+-]\d\d:\d\d|Z)$/, " $2");
}

function relative(iso) {
  const seconds = Math.round((new Date(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return "now";
  const [amount, unit] =
    size < 90 ? [size, "s"]
    : size < 5400 ? [Math.round(size / 60), "min"]
    : size < 129600 ? [Math.round(size / 3600), "h"]
    : [Math.round(size / 86400), "d"];
  return seconds >= 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`;
}

function when(iso) {
  return iso ? h("span", { title: localTime(iso) }, relative(iso)) : "—";
}

function milliseconds(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

function target(job) {
  if (job.http_job) return `${job.http_job.method || "GET"} ${job.http_job.url}`;
  return `${job.amqp_job.exchange} → ${job.amqp_job.routing_key}`;
}

function lastOutcome(last) {
  if (!last) return h("span", { class: "muted" }, "never ran");
  const code = last.status_code == null ? null : h("span", { class: "muted" }, ` · ${last.status_code}`);
  return h("span", {}, badge(last.status), " ", when(last.end_time), code);
}

function nextRun(job) {
  if (job.status !== "RUNNING") return h("span", { class: "muted" }, "paused");
  if (!job.next_run) return h("span", { class: "muted" }, "none");
  const late = Date.now() - new Date(job.next_run) > OVERDUE_MS;
  return h("span", { class: late ? "overdue" : "", title: localTime(job.next_run) }, relative(job.next_run));
}

// --- the job list ------------------------------------------------------------------

// Kept across pages, so coming back from a job finds the list as it was left.
const list = { tags: "", status: "", cursors: [] };

async function jobsPage(mine) {
  await knowAccess();
  const query = new URLSearchParams({ limit: JOBS_PAGE + 1 }); // one more: is there a next page?
  for (const tag of filteredTags()) query.append("tags", tag);
  if (list.status) query.set("status", list.status);
  if (list.cursors.length) query.set("after", list.cursors.at(-1));
  const jobs = await api("GET", `/v1/jobs?${query}`);
  const shown = jobs.slice(0, JOBS_PAGE);
  mount(mine, filters(), bulkByTag(), jobsTable(shown), jobsPager(shown, jobs.length > JOBS_PAGE));
}

const filteredTags = () => list.tags.split(/[\s,]+/).filter(Boolean);

// Pause or resume every job of the filter's tags: a dry run says how many, then
// the operator confirms.
function bulkByTag() {
  const tags = filteredTags();
  const bar = h("div", { id: "bulk", class: "row bulk" });
  const ask = (action) => async () => {
    try {
      const selector = { tags };
      const would = await api("POST", "/v1/jobs/bulk", { action, selector, dry_run: true });
      const go = async () => {
        const done = await api("POST", "/v1/jobs/bulk", { action, selector });
        const more = done.more ? " More remain: do it again for the rest." : "";
        notify(`${action === "pause" ? "Paused" : "Resumed"} ${done.affected} of ${done.matched} jobs tagged ${tags.join(", ")}.${more}`);
        route();
      };
      bar.replaceChildren(
        h("span", {}, `${action === "pause" ? "Pause" : "Resume"} ${would.affected} of the ${would.matched} jobs tagged ${tags.join(", ")}?`),
        changer({ id: "bulk-confirm", class: "primary", onclick: () => go().catch(showError) }, "Confirm"),
        h("button", { type: "button", onclick: () => route() }, "Cancel"),
      );
    } catch (error) {
      showError(error);
    }
  };
  bar.append(changeLink({ id: "new-job", href: "#/new" }, "New job"));
  if (tags.length) {
    bar.append(
      changer({ id: "bulk-pause", onclick: ask("pause") }, `Pause all tagged ${tags.join(", ")}`),
      changer({ id: "bulk-resume", onclick: ask("resume") }, `Resume all tagged ${tags.join(", ")}`),
    );
  }
  return bar;
}

function filters() {
  const tags = h("input", { id: "tag-filter", value: list.tags, placeholder: "billing, eu" });
  const status = h(
    "select",
    { id: "status-filter" },
    ["", "RUNNING", "STOPPED"].map((value) =>
      h("option", { value, selected: value === list.status }, value || "any"),
    ),
  );
  const apply = (event) => {
    event.preventDefault();
    Object.assign(list, { tags: tags.value, status: status.value, cursors: [] });
    route();
  };
  return h(
    "form",
    { class: "filters row", onsubmit: apply },
    h("label", {}, "Tags", tags),
    h("label", {}, "Status", status),
    h("button", { type: "submit", class: "primary" }, "Filter"),
    h("button", { type: "button", onclick: () => route() }, "Refresh"),
  );
}

function jobsTable(jobs) {
  const headings = ["Job", "Type", "Schedule", "Next run", "Last outcome", "Tags", "Status"];
  const rows = jobs.map((job) =>
    h(
      "tr",
      { "data-job": job.id },
      h("td", { class: "wrap" }, h("a", { href: `#/jobs/${job.id}` }, target(job))),
      h("td", {}, job.type),
      h("td", {}, job.schedule_text),
      h("td", {}, nextRun(job)),
      h("td", {}, lastOutcome(job.last_execution)),
      h("td", {}, job.tags.map(tagButton)),
      h("td", {}, badge(job.status)),
    ),
  );
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "No jobs.")));
  return h(
    "div",
    { class: "card table" },
    h("table", { class: "jobs" }, h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))), h("tbody", {}, rows)),
  );
}

function tagButton(tag) {
  const only = () => {
    Object.assign(list, { tags: tag, cursors: [] });
    route();
  };
  return h("button", { type: "button", class: "tag", title: `only jobs tagged ${tag}`, onclick: only }, tag);
}

function jobsPager(jobs, more) {
  const move = (change) => () => {
    change();
    route();
  };
  return h(
    "div",
    { class: "pager row" },
    h("button", { disabled: !list.cursors.length, onclick: move(() => (list.cursors = [])) }, "First"),
    h("button", { disabled: !list.cursors.length, onclick: move(() => list.cursors.pop()) }, "Previous"),
    h("button", { disabled: !more, onclick: move(() => list.cursors.push(jobs.at(-1).id)) }, "Next"),
  );
}

// --- one job ------------------------------------------------------------------------

async function jobPage(mine, id, historyOffset = 0) {
  await knowAccess();
  const [job, recent, history, dead, audit] = await Promise.all([
    api("GET", `/v1/jobs/${id}`),
    api("GET", `/v1/jobs/${id}/executions?limit=${CHART_EXECUTIONS}`),
    api("GET", `/v1/jobs/${id}/executions?limit=${HISTORY_PAGE + 1}&offset=${historyOffset}`),
    api("GET", `/v1/dead-letters?job_id=${id}&limit=${DEAD_LETTERS_SHOWN}`),
    api("GET", `/v1/audit?job_id=${id}&limit=${AUDIT_SHOWN}`),
  ]);
  const reload = (offset) => jobPage(++ticket, id, offset).catch(showError);
  mount(
    mine,
    jobHeader(job, () => reload(historyOffset)),
    h("div", { class: "grid" }, jobFacts(job), nextRuns(job)),
    h("div", { class: "grid" }, outcomesChart(recent.executions), lagChart(recent.executions)),
    historyTable(history.executions, historyOffset, reload),
    deadLetters(id, dead.dead_letters, () => reload(historyOffset)),
    auditTable(audit.entries),
    h(
      "details",
      { class: "card", open: true },
      h("summary", {}, "Definition"),
      h("pre", { id: "definition" }, JSON.stringify(job, null, 2)),
    ),
  );
}

function jobHeader(job, reload) {
  const act = (action, done) => async () => {
    try {
      await api("POST", `/v1/jobs/${job.id}/${action}`);
      notify(done);
    } catch (error) {
      showError(error);
    }
    await reload();
  };
  const toggle =
    job.status === "RUNNING"
      ? changer({ id: "pause", onclick: act("pause", "Paused: no further runs until resumed.") }, "Pause")
      : changer({ id: "resume", onclick: act("resume", "Resumed.") }, "Resume");
  return h(
    "section",
    {},
    h("p", {}, h("a", { href: "#/" }, "← Jobs")),
    h(
      "div",
      { class: "row job-head" },
      h("h1", { class: "mono" }, target(job)),
      h("span", { id: "job-status" }, badge(job.status)),
    ),
    h("div", { class: "schedule" }, job.schedule_text),
    h(
      "div",
      { class: "row actions" },
      toggle,
      changer({ id: "run-now", onclick: act("run", "Run requested: the tick starts it within moments.") }, "Run now"),
      changeLink({ id: "edit", href: `#/jobs/${job.id}/edit` }, "Edit"),
      deleteButton(job),
      h("button", { onclick: reload }, "Refresh"),
    ),
  );
}

// Delete asks once more, in place: the job and its whole history go.
function deleteButton(job) {
  const holder = h("span", { class: "row" });
  const remove = async () => {
    try {
      await api("DELETE", `/v1/jobs/${job.id}`, undefined, { "If-Match": `"${job.version}"` });
      goTo("#/", "Deleted, with its history.");
    } catch (error) {
      showError(error);
    }
  };
  const ask = () =>
    holder.replaceChildren(
      h("span", { class: "error" }, "Delete this job and its history?"),
      h("button", { id: "delete-confirm", class: "danger", onclick: remove }, "Delete"),
      h("button", { onclick: () => holder.replaceChildren(first) }, "Cancel"),
    );
  const first = changer({ id: "delete", onclick: ask }, "Delete…");
  holder.append(first);
  return holder;
}

// Who changed the job, when and what: the audit log's newest entries.
function auditTable(entries) {
  const headings = ["At", "Action", "Actor", "Changes", "Request"];
  const rows = entries.map((entry) =>
    h(
      "tr",
      { class: "audit-entry" },
      h("td", { class: "mono" }, localTime(entry.at)),
      h("td", {}, entry.action),
      h("td", { class: "mono" }, entry.actor),
      h("td", { class: "wrap mono" }, changeWords(entry.changes)),
      h("td", { class: "mono muted" }, entry.request_id),
    ),
  );
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "No changes recorded.")));
  return h(
    "section",
    { class: "card table", id: "audit" },
    h("div", { class: "row table-title" }, h("h2", {}, "Changes")),
    h("table", {}, h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))), h("tbody", {}, rows)),
  );
}

function changeWords(changes) {
  if (!changes) return "";
  if (!changes.before || !changes.after) return changes.before ? "deleted" : changes.after ? "created" : JSON.stringify(changes);
  const words = Object.keys(changes.after).map(
    (name) => `${name}: ${JSON.stringify(changes.before[name])} → ${JSON.stringify(changes.after[name])}`,
  );
  if (changes.secrets_changed) words.push(`secrets changed: ${changes.secrets_changed.join(", ")}`);
  return words.join("; ");
}

function jobFacts(job) {
  const facts = [
    ["Id", h("span", { class: "mono" }, job.id)],
    ["Name", job.name ? h("span", { class: "mono" }, job.name) : null],
    ["Version", job.version],
    ["Type", job.type],
    job.cron_schedule ? ["Cron", h("code", {}, job.cron_schedule)] : ["Execute at", h("code", {}, job.execute_at)],
    ["Time zone", job.timezone],
    ["Jitter", job.jitter ? `up to ${job.jitter} after each slot` : null],
    ["Overlap", job.cron_schedule ? overlapPolicy(job) : null],
    ["Flow key", job.flow_key ? h("a", { href: "#/flow-controls", class: "mono" }, job.flow_key) : null],
    ["Next run", nextRun(job)],
    ["Last outcome", lastOutcome(job.last_execution)],
    ["Runs", job.max_runs == null ? job.runs : `${job.runs} of ${job.max_runs}`],
    ["Run requested", job.run_requested_at ? when(job.run_requested_at) : null],
    ["Paused because", job.paused_reason ? h("span", { id: "paused-reason", class: "error" }, job.paused_reason) : null],
    ["Failures in a row", job.consecutive_failures ? pauseAfter(job) : null],
    ["Callbacks", callbacks(job)],
    ["Tags", job.tags.length ? job.tags.join(", ") : "—"],
    ["Created", h("span", { id: "created" }, localTime(job.created_at))],
    ["Updated", localTime(job.updated_at)],
  ].filter(([, value]) => value != null);
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Job"),
    h("dl", { class: "facts" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
  );
}

function overlapPolicy(job) {
  if (job.overlap_policy === "allow") return `each slot starts on time, up to ${job.max_concurrent ?? 10} at once`;
  return job.overlap_policy === "buffer_one" ? "a slot that comes while one runs waits for it" : "a slot that comes while one runs is skipped";
}

function pauseAfter(job) {
  const limit = job.pause_after_failures;
  return limit == null ? job.consecutive_failures : `${job.consecutive_failures} (pauses at ${limit})`;
}

function callbacks(job) {
  const named = [["on failure", job.on_failure], ["on success", job.on_success]].filter(([, hook]) => hook);
  if (!named.length) return null;
  return h("span", {}, named.map(([name, hook], i) => [i ? "; " : "", `${name}: `, h("span", { class: "mono" }, hook.url)]));
}

// A failure's one sentence, its library's own words on demand.
function failure(run) {
  if (!run.error_message) return "";
  if (!run.error_detail) return run.error_message;
  return h("details", { class: "failure" }, h("summary", {}, run.error_message), h("pre", {}, run.error_detail));
}

function deadLetters(jobId, letters, reload) {
  const act = (call, done) => async () => {
    try {
      notify(done(await call()));
    } catch (error) {
      showError(error);
    }
    await reload();
  };
  const redrive = (letter) =>
    act(
      () => api("POST", `/v1/dead-letters/${letter.id}/redrive`),
      () => "Redrive requested: the failed delivery runs again, with its delivery id.",
    );
  const redriveAll = act(
    () => api("POST", "/v1/dead-letters/redrive", { job_id: jobId }),
    (answer) => `Redrives requested: ${answer.redriven}, run one after another, each with its delivery id.`,
  );
  const open = letters.some((letter) => !letter.redriven_at && !letter.redrive_requested_at);
  const state = (letter) => {
    if (letter.redriven_at) return h("span", { class: "muted" }, "redriven ", when(letter.redriven_at));
    if (letter.redrive_requested_at) return h("span", { class: "muted" }, "redrive pending");
    return changer({ class: "redrive", onclick: redrive(letter) }, "Redrive");
  };
  const headings = ["Failed", "Slot", "Attempts", "Status code", "Error", ""];
  const rows = letters.map((letter) =>
    h(
      "tr",
      { class: "dead-letter" },
      h("td", { class: "mono" }, localTime(letter.failed_at)),
      h("td", { class: "mono" }, localTime(letter.scheduled_for)),
      h("td", { class: "num" }, letter.attempts),
      h("td", { class: "num" }, letter.status_code ?? "—"),
      h("td", { class: "wrap" }, failure(letter)),
      h("td", {}, state(letter)),
    ),
  );
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "No dead letters.")));
  return h(
    "section",
    { class: "card table", id: "dead-letters" },
    h(
      "div",
      { class: "row table-title" },
      h("h2", {}, "Dead letters"),
      open ? changer({ id: "redrive-all", onclick: redriveAll }, "Redrive all") : null,
    ),
    h("table", {}, h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))), h("tbody", {}, rows)),
  );
}

function nextRuns(job) {
  const runs = job.next_runs.length
    ? h("ol", { class: "runs mono" }, job.next_runs.map((iso) => h("li", {}, zonedTime(iso))))
    : h("p", { class: "muted" }, job.status === "RUNNING" ? "No further runs." : "Paused: nothing runs.");
  return h("section", { class: "card" }, h("h2", {}, `Next runs (${job.timezone})`), runs);
}

function historyTable(executions, offset, reload) {
  const shown = executions.slice(0, HISTORY_PAGE);
  const headings = ["Started", "Outcome", "Attempts", "Status code", "Duration", "Lag", "Error"];
  const rows = shown.map((run) =>
    h(
      "tr",
      {},
      h("td", { class: "mono" }, localTime(run.start_time), run.manual ? h("span", { class: "muted" }, " (run now)") : null),
      h("td", {}, badge(run.status)),
      h("td", { class: "num" }, run.attempts),
      h("td", { class: "num" }, run.status_code ?? "—"),
      h("td", { class: "num" }, milliseconds(run.duration_ms)),
      h("td", { class: "num" }, milliseconds(run.lag_ms)),
      h("td", { class: "wrap" }, failure(run)),
    ),
  );
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "No executions yet.")));
  return h(
    "section",
    { class: "card table" },
    h("table", { class: "history" }, h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))), h("tbody", {}, rows)),
    h(
      "div",
      { class: "pager row", id: "history-pager" },
      h("button", { disabled: offset === 0, onclick: () => reload(Math.max(0, offset - HISTORY_PAGE)) }, "Newer"),
      h("button", { disabled: executions.length <= HISTORY_PAGE, onclick: () => reload(offset + HISTORY_PAGE) }, "Older"),
    ),
  );
}

// --- charts, drawn as SVG ---------------------------------------------------------------

const CHART = { width: 560, height: 150, left: 44, right: 8, top: 10, bottom: 22 };
const OUTCOMES = ["SUCCESSFUL", "FAILED", "SKIPPED"];

// The x axis of both charts: the time span of the executions, oldest on the left.
function timeAxis(executions) {
  const times = executions.map((run) => new Date(run.start_time).getTime());
  const first = Math.min(...times);
  const span = Math.max(Math.max(...times) - first, 1);
  const inner = CHART.width - CHART.left - CHART.right;
  return { first, span, x: (time) => CHART.left + ((time - first) / span) * inner, inner };
}

function chartFrame(title, legend, executions, draw) {
  const section = h("section", { class: "card" }, h("h2", {}, title));
  if (!executions.length) return build(section, {}, [h("p", { class: "muted" }, "No executions yet.")]);
  const axis = timeAxis(executions);
  const base = CHART.height - CHART.bottom;
  const chart = svg(
    "svg",
    { class: "chart", viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img", "aria-label": title },
    svg("line", { class: "axis", x1: CHART.left, x2: CHART.width - CHART.right, y1: base, y2: base }),
    svg("text", { x: CHART.left, y: CHART.height - 6 }, localTime(axis.first)),
    svg("text", { x: CHART.width - CHART.right, y: CHART.height - 6, "text-anchor": "end" }, localTime(axis.first + axis.span)),
    draw(axis, base),
  );
  const note = h("span", { class: "muted" }, `newest ${executions.length} executions`);
  return build(section, {}, [chart, h("div", { class: "legend" }, legend, note)]);
}

function yLabel(text, y) {
  return svg("text", { x: CHART.left - 6, y: y + 4, "text-anchor": "end" }, text);
}

function outcomesChart(executions) {
  const legend = OUTCOMES.map((status) => h("span", { class: status }, status.toLowerCase()));
  return chartFrame("Executions over time", legend, executions, (axis, base) => {
    const buckets = Array.from({ length: CHART_BUCKETS }, () => ({ SUCCESSFUL: 0, FAILED: 0, SKIPPED: 0 }));
    for (const run of executions) {
      const at = (new Date(run.start_time).getTime() - axis.first) / axis.span;
      buckets[Math.min(CHART_BUCKETS - 1, Math.floor(at * CHART_BUCKETS))][run.status] += 1;
    }
    const most = Math.max(...buckets.map((b) => b.SUCCESSFUL + b.FAILED + b.SKIPPED));
    const height = base - CHART.top;
    const width = axis.inner / CHART_BUCKETS;
    const bars = buckets.flatMap((bucket, index) => {
      const from = axis.first + (index / CHART_BUCKETS) * axis.span;
      const words = OUTCOMES.map((status) => `${bucket[status]} ${status.toLowerCase()}`).join(", ");
      let top = base;
      return OUTCOMES.filter((status) => bucket[status]).map((status) => {
        const size = (bucket[status] / most) * height;
        top -= size;
        return svg(
          "rect",
          { class: status, x: CHART.left + index * width + 1, y: top, width: Math.max(width - 2, 1), height: size },
          svg("title", {}, `from ${localTime(from)}: ${words}`),
        );
      });
    });
    return [yLabel(most, CHART.top), yLabel(0, base), ...bars];
  });
}

function lagChart(executions) {
  const measured = executions.filter((run) => run.lag_ms != null).reverse(); // oldest first
  const legend = [h("span", { class: "lag" }, "lag: start of the first attempt after the slot")];
  return chartFrame("Lag", legend, measured, (axis, base) => {
    const most = Math.max(...measured.map((run) => run.lag_ms), 1);
    const y = (lag) => base - (lag / most) * (base - CHART.top);
    const points = measured.map((run) => [axis.x(new Date(run.start_time).getTime()), y(run.lag_ms)]);
    const dots = measured.length > 60 ? [] : points.map(([cx, cy]) => svg("circle", { class: "lag-dot", cx, cy, r: 2.5 }));
    return [
      yLabel(milliseconds(most), CHART.top),
      yLabel("0", base),
      svg("polyline", { class: "lag", points: points.map((p) => p.join(",")).join(" ") }),
      ...dots,
    ];
  });
}

// --- flow controls ------------------------------------------------------------------------

async function flowControlsPage(mine) {
  const { flow_controls: controls } = await api("GET", "/v1/flow-controls?limit=1000");
  const headings = ["Key", "Rate", "Parallelism", "In flight", "Waiting", "Started last period"];
  const rows = controls.map((control) =>
    h(
      "tr",
      { "data-key": control.key },
      h("td", { class: "mono" }, control.key),
      h("td", {}, control.rate == null ? "—" : `${control.rate} per ${control.period}`),
      h("td", {}, control.parallelism == null ? "—" : String(control.parallelism)),
      h("td", {}, String(control.in_flight)),
      h("td", { class: control.waiting ? "overdue" : "" }, String(control.waiting)),
      h("td", {}, String(control.started_last_period)),
    ),
  );
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "No flow controls.")));
  mount(
    mine,
    h("p", {}, h("a", { href: "#/" }, "← Jobs")),
    h(
      "div",
      { class: "row" },
      h("h2", {}, "Flow controls"),
      h("button", { type: "button", onclick: () => route() }, "Refresh"),
    ),
    h(
      "div",
      { class: "card table" },
      h(
        "table",
        { class: "flow-controls" },
        h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))),
        h("tbody", {}, rows),
      ),
    ),
  );
}

// --- routes --------------------------------------------------------------------------------

function route() {
  const mine = ++ticket;
  const job = location.hash.match(/^#\/jobs\/([0-9a-fA-F-]{36})(\/edit)?$/);
  const page = job
    ? job[2] ? editorPage(mine, job[1]) : jobPage(mine, job[1])
    : location.hash === "#/new"
      ? editorPage(mine, null)
      : location.hash === "#/flow-controls"
        ? flowControlsPage(mine)
        : jobsPage(mine);
  page.catch((error) => {
    showError(error);
    mount(mine, h("p", {}, h("a", { href: "#/" }, "← Jobs")));
  });
}

window.addEventListener("hashchange", () => {
  if (carried) notify(carried);
  else $("notice").hidden = true;
  carried = null;
  route();
});
showZone();
showForgetKey();
route();
