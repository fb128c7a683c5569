// The console's job form: create a job, or edit one, with a live preview of the
// schedule. Loaded before console.js, whose helpers (h, api, notify, ...) it uses
// when called. The API validates; an error it gives is shown by the field it names.
"use strict";

const PREVIEW_COUNT = 5;
const PREVIEW_DELAY_MS = 300; // typing pauses this long before the preview is asked for
const SECRET_HINT = "one Name: value a line; *** keeps a secret as it is";

// Which field an API error is about: the first pattern the message matches.
// Messages are the API's own ("cron_schedule must be ...", "http_job.url: ...").
const ERROR_FIELDS = [
  ["max_concurrent", /max_concurrent/],
  ["starts_at", /starts_at/],
  ["ends_at", /ends_at/],
  ["max_runs", /max_runs/],
  ["overlap_policy", /overlap_policy/],
  ["pause_after_failures", /pause_after_failures/],
  ["misfire_grace", /misfire_grace/],
  ["min_backoff", /min_backoff/],
  ["max_backoff", /max_backoff/],
  ["max_attempts", /max_attempts/],
  ["on_failure_headers", /on_failure\.headers/],
  ["on_success_headers", /on_success\.headers/],
  ["on_failure", /on_failure/],
  ["on_success", /on_success/],
  ["flow_key", /flow_key/],
  ["cron_schedule", /cron/],
  ["execute_at", /execute_at/],
  ["timezone", /timezone|time zone/],
  ["jitter", /jitter/],
  ["timeout", /timeout/],
  ["tags", /\btags?\b/],
  ["name", /^name\b|named/],
  ["connection", /connection/],
  ["exchange", /exchange/],
  ["routing_key", /routing.key/],
  ["content_type", /content_type/],
  ["username", /username/],
  ["password", /password/],
  ["bearer_token", /bearer/],
  ["method", /method/],
  ["amqp_headers", /AMQP job headers/],
  ["headers", /header/],
  ["url", /url|URL/],
  ["body", /\bbody\b/],
];

// A text field, its label, and the place for its error.
function field(name, label, control, hint) {
  control.id = `field-${name}`;
  control.name = name;
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: control.id }, label),
    control,
    hint ? h("span", { class: "hint muted" }, hint) : null,
    h("p", { class: "field-error error", hidden: true }),
  );
}

function text(value, attributes = {}) {
  return h("input", { type: "text", value: value ?? "", ...attributes });
}

function choices(value, options) {
  return h("select", {}, options.map(([key, label]) => h("option", { value: key, selected: key === value }, label)));
}

function area(value, rows = 3) {
  const element = h("textarea", { rows });
  element.value = value ?? "";
  return element;
}

// Headers as the form shows them: one "Name: value" a line. An AMQP header may
// hold a number or an object: it shows as JSON.
function headerText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function headerLines(headers) {
  return Object.entries(headers || {}).map(([name, value]) => `${name}: ${headerText(value)}`).join("\n");
}

// The headers of the field `name`; a value shown as it was keeps what it was
// (an AMQP header's number stays a number), any other is a string.
function parseHeaders(lines, name, before = {}) {
  const headers = {};
  for (const line of lines.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    if (at < 1) throw new FieldError(name, `header line ${JSON.stringify(line)} needs "Name: value"`);
    const [header, text] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    const kept = before?.[header];
    headers[header] = kept !== undefined && headerText(kept) === text ? kept : text;
  }
  return headers;
}

class FieldError extends Error {
  constructor(name, message) {
    super(message);
    this.field = name;
  }
}

// --- the page -----------------------------------------------------------------------

async function editorPage(mine, id) {
  await knowAccess();
  const job = id ? await api("GET", `/v1/jobs/${id}`) : null;
  const form = jobForm(job);
  mount(
    mine,
    h("p", {}, h("a", { href: id ? `#/jobs/${id}` : "#/" }, id ? "← Job" : "← Jobs")),
    h("h1", {}, id ? `Edit ${job.name || target(job)}` : "New job"),
    form,
  );
}

function jobForm(job) {
  const http = job?.http_job || { method: "POST", headers: {} };
  const amqp = job?.amqp_job || {};
  const auth = http.auth || { type: "none" };
  const policy = job?.retry_policy || {};
  const recurring = job ? job.cron_schedule != null : true;
  const f = {
    name: text(job?.name, { placeholder: "billing/nightly-invoices" }),
    type: choices(job?.type || "HTTP", [["HTTP", "HTTP call"], ["AMQP", "AMQP publish"]]),
    kind: choices(recurring ? "cron" : "once", [["cron", "Recurring (cron)"], ["once", "Once, at a time"]]),
    cron_schedule: text(job?.cron_schedule, { placeholder: "*/5 * * * *", class: "mono" }),
    execute_at: text(job?.execute_at, { placeholder: "2030-01-01T09:00:00Z", class: "mono" }),
    timezone: text(job?.timezone || "UTC"),
    jitter: text(job?.jitter, { placeholder: "30s" }),
    overlap_policy: choices(job?.overlap_policy || "skip", [
      ["skip", "skip a slot while one runs"],
      ["buffer_one", "run one waiting slot after"],
      ["allow", "start each on time"],
    ]),
    max_concurrent: text(job?.max_concurrent, { placeholder: "10" }),
    starts_at: text(job?.starts_at, { placeholder: "2030-01-01T00:00:00Z", class: "mono" }),
    ends_at: text(job?.ends_at, { placeholder: "2030-12-31T23:59:59Z", class: "mono" }),
    max_runs: text(job?.max_runs, { placeholder: "no limit" }),
    flow_key: text(job?.flow_key, { placeholder: "partner-api" }),
    tags: text((job?.tags || []).join(", "), { placeholder: "billing, eu" }),
    url: text(http.url, { placeholder: "example.com/hook", class: "mono" }),
    method: choices(http.method || "POST", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => [m, m])),
    headers: area(headerLines(http.headers)),
    body: area(http.body ?? amqp.body),
    auth: choices(auth.type || "none", [["none", "none"], ["basic", "basic"], ["bearer", "bearer token"]]),
    username: text(auth.username),
    password: h("input", { type: "password", value: auth.password ?? "", autocomplete: "off" }),
    bearer_token: h("input", { type: "password", value: auth.bearer_token ?? "", autocomplete: "off" }),
    connection: text(amqp.connection, { placeholder: "amqp://user:pass@rabbit:5672/vhost", class: "mono" }),
    exchange: text(amqp.exchange),
    routing_key: text(amqp.routing_key),
    content_type: text(amqp.content_type, { placeholder: "application/json" }),
    amqp_headers: area(headerLines(amqp.headers)),
    max_attempts: text(policy.max_attempts, { placeholder: "1" }),
    min_backoff: text(policy.min_backoff, { placeholder: "1s" }),
    max_backoff: text(policy.max_backoff, { placeholder: "1m" }),
    timeout: text(job?.timeout, { placeholder: "30s" }),
    misfire_grace: text(job?.misfire_grace, { placeholder: "1m" }),
    pause_after_failures: text(job?.pause_after_failures, { placeholder: "5" }),
    on_failure: text(job?.on_failure?.url, { placeholder: "example.com/alerts", class: "mono" }),
    on_success: text(job?.on_success?.url, { class: "mono" }),
    on_failure_headers: area(headerLines(job?.on_failure?.headers), 2),
    on_success_headers: area(headerLines(job?.on_success?.headers), 2),
  };
  const preview = h("ol", { id: "preview", class: "runs mono" });
  const previewNote = h("p", { id: "preview-note", class: "muted" });
  const groups = {
    cron: h("div", {}, field("cron_schedule", "Cron", f.cron_schedule, "minute hour day month weekday"),
      field("jitter", "Jitter", f.jitter, "each slot fires up to this much later"),
      field("overlap_policy", "Overlap", f.overlap_policy),
      field("max_concurrent", "Max at once", f.max_concurrent, "with overlap: start each on time"),
      field("starts_at", "Starts at", f.starts_at, "no slot before"),
      field("ends_at", "Ends at", f.ends_at, "no slot after"),
      field("max_runs", "Max runs", f.max_runs)),
    once: h("div", {}, field("execute_at", "At", f.execute_at, "RFC 3339 with an offset")),
    HTTP: h("fieldset", {}, h("legend", {}, "HTTP call"),
      field("url", "URL", f.url), field("method", "Method", f.method),
      field("headers", "Headers", f.headers, SECRET_HINT),
      field("body", "Body", f.body),
      field("auth", "Auth", f.auth), field("username", "User", f.username),
      field("password", "Password", f.password), field("bearer_token", "Bearer token", f.bearer_token)),
    AMQP: h("fieldset", {}, h("legend", {}, "AMQP publish"),
      field("connection", "Connection", f.connection), field("exchange", "Exchange", f.exchange),
      field("routing_key", "Routing key", f.routing_key), field("content_type", "Content type", f.content_type),
      field("amqp_headers", "Headers", f.amqp_headers, "one Name: value a line")),
  };
  const show = () => {
    groups.cron.hidden = f.kind.value !== "cron";
    groups.once.hidden = f.kind.value !== "once";
    groups.HTTP.hidden = f.type.value !== "HTTP";
    groups.AMQP.hidden = f.type.value !== "AMQP";
    for (const name of ["username", "password"]) f[name].closest(".field").hidden = f.auth.value !== "basic";
    f.bearer_token.closest(".field").hidden = f.auth.value !== "bearer";
    // The body serves both types: it moves with the type shown.
    (f.type.value === "HTTP" ? groups.HTTP : groups.AMQP).append(f.body.closest(".field"));
  };
  const error = h("p", { id: "form-error", class: "error", hidden: true });
  const form = h(
    "form",
    { id: "job-form", class: "card editor", novalidate: true },
    h("div", { class: "grid" },
      h("div", {},
        field("name", "Name", f.name, "optional, unique: deploys register by it"),
        field("type", "Type", f.type),
        field("kind", "Schedule", f.kind),
        groups.cron, groups.once,
        field("timezone", "Time zone", f.timezone, "IANA, e.g. Europe/Berlin"),
        field("tags", "Tags", f.tags, "comma-separated"),
        field("flow_key", "Flow key", f.flow_key)),
      h("div", {},
        h("section", { class: "preview" }, h("h2", {}, "Next runs"), previewNote, preview),
        groups.HTTP, groups.AMQP)),
    h("fieldset", {}, h("legend", {}, "Retries and limits"),
      h("div", { class: "row" },
        field("max_attempts", "Attempts", f.max_attempts), field("min_backoff", "Min backoff", f.min_backoff),
        field("max_backoff", "Max backoff", f.max_backoff), field("timeout", "Timeout", f.timeout),
        field("misfire_grace", "Misfire grace", f.misfire_grace),
        field("pause_after_failures", "Pause after failures", f.pause_after_failures))),
    h("fieldset", {}, h("legend", {}, "Callbacks"),
      h("div", { class: "row" },
        field("on_failure", "On failure", f.on_failure),
        field("on_failure_headers", "Its headers", f.on_failure_headers, SECRET_HINT)),
      h("div", { class: "row" },
        field("on_success", "On success", f.on_success),
        field("on_success_headers", "Its headers", f.on_success_headers, SECRET_HINT))),
    error,
    h("div", { class: "row actions" },
      changer({ type: "submit", id: "save", class: "primary" }, job ? "Save" : "Create job"),
      h("a", { href: job ? `#/jobs/${job.id}` : "#/" }, "Cancel")),
  );
  for (const control of [f.type, f.kind, f.auth]) control.addEventListener("change", show);
  show();
  const refresh = debounce(() => previewRuns(f, job, preview, previewNote), PREVIEW_DELAY_MS);
  for (const name of ["kind", "cron_schedule", "execute_at", "timezone", "jitter", "starts_at", "ends_at"]) {
    f[name].addEventListener("input", refresh);
    f[name].addEventListener("change", refresh);
  }
  previewRuns(f, job, preview, previewNote);
  // What the form said before any change: an edit sends only what differs, so
  // a field shown with its default (a retry policy never set) stays unset.
  const initial = job ? definition(f, job) : null;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(form, f, job, initial).catch(showError);
  });
  return form;
}

function debounce(call, delay) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(call, delay);
  };
}

// The next fire times of the schedule as typed, from the API's own preview.
let previewTicket = 0;

async function previewRuns(f, job, list, note) {
  const mine = ++previewTicket;
  if (f.kind.value === "once") {
    list.replaceChildren(...(f.execute_at.value ? [h("li", {}, f.execute_at.value)] : []));
    note.textContent = "";
    return;
  }
  if (!f.cron_schedule.value.trim()) {
    list.replaceChildren();
    note.textContent = "Type a cron schedule to see when it fires.";
    return;
  }
  const ask = {
    cron_schedule: f.cron_schedule.value.trim(),
    timezone: f.timezone.value.trim() || "UTC",
    starts_at: value(f.starts_at),
    ends_at: value(f.ends_at),
    count: PREVIEW_COUNT,
  };
  // Jitter offsets are each job's own: a job not created yet has none to show.
  if (f.jitter.value.trim() && job) Object.assign(ask, { jitter: f.jitter.value.trim(), job_id: job.id });
  try {
    const { next_runs: runs } = await api("POST", "/v1/schedules/preview", ask);
    if (mine !== previewTicket) return;
    list.replaceChildren(...runs.map((iso) => h("li", {}, zonedTime(iso))));
    note.textContent = f.jitter.value.trim() && !job ? "Slots without jitter (its offsets come with the job's id)." : "";
  } catch (error) {
    if (mine !== previewTicket || !(error instanceof ApiError)) return;
    list.replaceChildren();
    note.textContent = error.message;
  }
}

// --- saving -------------------------------------------------------------------------

function value(control) {
  const given = control.value.trim();
  return given === "" ? null : given;
}

function integer(control, name) {
  const given = value(control);
  if (given === null) return null;
  if (!/^\d+$/.test(given)) throw new FieldError(name, `${name} must be a whole number`);
  return Number(given);
}

// The job as the form says, in the API's words: a full definition to create,
// or a partial update where null clears an option.
function definition(f, job) {
  const recurring = f.kind.value === "cron";
  const body = {
    type: f.type.value,
    name: value(f.name),
    timezone: value(f.timezone) || "UTC",
    tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    flow_key: value(f.flow_key),
    timeout: value(f.timeout),
    misfire_grace: value(f.misfire_grace),
    pause_after_failures: integer(f.pause_after_failures, "pause_after_failures"),
    on_failure: callback(f, "on_failure", job),
    on_success: callback(f, "on_success", job),
  };
  const attempts = integer(f.max_attempts, "max_attempts");
  const backoff = [value(f.min_backoff), value(f.max_backoff)];
  body.retry_policy = attempts === null && backoff.every((b) => b === null)
    ? null
    : { max_attempts: attempts ?? 1, min_backoff: backoff[0] ?? "1s", max_backoff: backoff[1] ?? "1m" };
  if (recurring) {
    Object.assign(body, {
      cron_schedule: value(f.cron_schedule),
      jitter: value(f.jitter),
      overlap_policy: f.overlap_policy.value,
      max_concurrent: integer(f.max_concurrent, "max_concurrent"),
      starts_at: value(f.starts_at),
      ends_at: value(f.ends_at),
      max_runs: integer(f.max_runs, "max_runs"),
    });
  } else {
    body.execute_at = value(f.execute_at);
  }
  const payload = f.type.value === "HTTP" ? httpPayload(f, job) : amqpPayload(f, job);
  body[job ? (f.type.value === "HTTP" ? "http" : "amqp") : f.type.value === "HTTP" ? "http_job" : "amqp_job"] = payload;
  if (!job) for (const [name, given] of Object.entries(body)) if (given === null) delete body[name];
  return body;
}

// A callback keeps what the form does not show (which headers are secret).
function callback(f, name, job) {
  const [url, lines] = [value(f[name]), f[`${name}_headers`].value];
  if (url === null) {
    if (lines.trim()) throw new FieldError(name, `${name} needs a URL for its headers`);
    return null;
  }
  return { ...(job?.[name] || {}), url, headers: parseHeaders(lines, `${name}_headers`) };
}

function httpPayload(f, job) {
  const payload = {
    ...(job?.http_job || {}),
    url: value(f.url),
    method: f.method.value,
    headers: parseHeaders(f.headers.value, "headers"),
    body: f.body.value,
  };
  if (payload.body === "") delete payload.body;
  const type = f.auth.value;
  payload.auth =
    type === "basic" ? { type, username: f.username.value, password: f.password.value }
    : type === "bearer" ? { type, bearer_token: f.bearer_token.value }
    : null;
  if (payload.auth === null) delete payload.auth;
  return payload;
}

function amqpPayload(f, job) {
  return {
    ...(job?.amqp_job || {}),
    connection: value(f.connection),
    exchange: value(f.exchange),
    routing_key: value(f.routing_key),
    content_type: value(f.content_type),
    headers: parseHeaders(f.amqp_headers.value, "amqp_headers", job?.amqp_job?.headers),
    body: f.body.value,
  };
}

function changedOnly(body, initial) {
  return Object.fromEntries(
    Object.entries(body).filter(([name, given]) => JSON.stringify(given) !== JSON.stringify(initial[name])),
  );
}

async function save(form, f, job, initial) {
  clearErrors(form);
  let saved;
  try {
    const body = job ? changedOnly(definition(f, job), initial) : definition(f, job);
    saved = job
      ? await api("PUT", `/v1/jobs/${job.id}`, body, { "If-Match": `"${job.version}"` })
      : await api("POST", "/v1/jobs", body);
  } catch (error) {
    if (!(error instanceof ApiError || error instanceof FieldError)) throw error;
    showFieldError(form, error);
    return;
  }
  goTo(`#/jobs/${saved.id}`, job ? "Saved: the next runs follow the new definition." : "Created.");
}

function clearErrors(form) {
  for (const shown of form.querySelectorAll(".field-error")) shown.hidden = true;
  for (const marked of form.querySelectorAll(".invalid")) marked.classList.remove("invalid");
  form.querySelector("#form-error").hidden = true;
}

// The error by the field it names, if one is shown; else under the form.
function showFieldError(form, error) {
  const name = error.field || ERROR_FIELDS.find(([, pattern]) => pattern.test(error.message))?.[0];
  const holder = name && form.querySelector(`.field[data-field="${name}"]`);
  const place = holder && !holder.closest("[hidden]") ? holder.querySelector(".field-error") : form.querySelector("#form-error");
  place.textContent = error.message;
  place.hidden = false;
  if (holder && place !== form.querySelector("#form-error")) {
    holder.classList.add("invalid");
    holder.querySelector("input, select, textarea").focus();
  }
}
