// Every page follows one event stream, /ui/stream (a websocket that carries the session cookie):
// the "Waiting for you" badge everywhere, the inbox on the inbox page, and on a task page its
// status, requests, messages (read or not) and timeline. While the stream is down a banner says
// so and the page keeps retrying; once back, the page catches up on what it missed. When the
// browser's session has ended (signed out elsewhere, revoked, expired) the page goes to the
// signed-out page instead of retrying.
/* global htmx */

const taskId = document.body.dataset.taskId;
const onInbox = "inbox" in document.body.dataset;
const banner = document.getElementById("connection");

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

function seconds(ms) {
  return ms >= 100 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Mirrors templates/_step.html: a long result is cut, with "Show all" to open it.
const CUT = 280;
function stepItem(step) {
  const item = element("li", step.ok ? "step" : "step step-failed");
  item.dataset.index = String(step.index);
  const main = element("div", "step-main");
  main.append(element("div", "step-action", step.action_text));
  const result = step.result || "";
  if (result.length > CUT || result.split("\n").length > 4) {
    const more = element("details", "step-more");
    const summary = element("summary");
    summary.append(
      element("span", "step-result", `${result.slice(0, CUT)}…`),
      " ",
      element("span", "show-all", `Show all (${result.length.toLocaleString("en-US")} characters)`),
    );
    more.append(summary, element("div", "step-result step-result-full", result));
    main.append(more);
  } else {
    main.append(element("div", "step-result", result));
  }
  if (step.command) main.append(element("pre", "step-command", `$ ${step.command}`));
  const output = step.output || "";
  if (output) {
    const block = element("details", "step-output");
    block.open = Boolean(step.command) && output.split("\n").length <= 12;
    block.append(
      element("summary", "", `Output (${output.length.toLocaleString("en-US")} characters)`),
      element("pre", "", output),
    );
    main.append(block);
  }
  if (step.url) main.append(element("div", "step-url", step.url));
  const total = Object.values(step.timings_ms || {}).reduce((a, b) => a + b, 0);
  item.append(element("span", "step-index", String(step.index)), main, element("span", "step-time", seconds(total)));
  return item;
}

function showCounts(counts) {
  const badge = document.getElementById("waiting-badge");
  if (!badge) return;
  badge.textContent = String(counts.waiting);
  badge.classList.toggle("badge-on", counts.waiting > 0);
  badge.setAttribute("aria-label", `${counts.waiting} waiting`);
}

// Several events in a row cause one reload of a part of the page.
const timers = new Map();
function soon(key, work) {
  if (timers.has(key)) return;
  timers.set(key, setTimeout(() => {
    timers.delete(key);
    work();
  }, 80));
}

function refreshTask() {
  if (!document.getElementById("task-body")) return;
  htmx.ajax("GET", `/ui/tasks/${encodeURIComponent(taskId)}`, { target: "#task-body", swap: "outerHTML" });
}

function refreshInbox() {
  if (document.getElementById("inbox")) htmx.trigger("#inbox", "refresh");
}

function addStep(step) {
  const timeline = document.getElementById("timeline");
  if (!timeline || timeline.querySelector(`.step[data-index="${step.index}"]`)) return;
  timeline.append(stepItem(step));
  document.querySelector(".timeline-empty")?.remove();
  const count = document.getElementById("step-count");
  if (count) count.textContent = String(timeline.querySelectorAll(".step").length);
}

// A task that ends or waits for the person, seen from another page: a notice with its link.
const NOTICES = { succeeded: "A task is done", failed: "A task failed", waiting: "A task waits for you", stopped: "A task stopped" };
function notify(event) {
  const region = document.getElementById("notices");
  const text = NOTICES[event.status];
  if (!region || !text || event.task_id === taskId) return;
  region.querySelector(`[data-task-id="${CSS.escape(event.task_id)}"]`)?.remove();
  const notice = element("div", `toast toast-${event.status}`);
  notice.dataset.taskId = event.task_id;
  const link = element("a", "", "Open it");
  link.href = `/tasks/${encodeURIComponent(event.task_id)}`;
  const close = element("button", "toast-close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.addEventListener("click", () => notice.remove());
  notice.append(element("span", "", `${text}. `), link, close);
  region.append(notice);
  setTimeout(() => notice.remove(), 15000);
}

function onEvent(event) {
  if (event.type === "status") notify(event);
  if (onInbox) soon("inbox", refreshInbox);
  if (!taskId || event.task_id !== taskId) return;
  if (event.type === "step") addStep(event.step);
  else soon("task", refreshTask); // status, requests, messages: the server renders them
}

let lost = false;
let leaving = false;
let delay = 250;
addEventListener("pagehide", () => { leaving = true; });

const CLOSE_SIGNED_OUT = 4401; // _stream.py
// A refused handshake looks like any lost connection to the page: ask the server (401: the
// session is over; no answer: the server is down, keep retrying).
async function signedOut(closed) {
  if (closed.code === CLOSE_SIGNED_OUT) return true;
  try {
    const probe = await fetch("/api/sessions", { cache: "no-store", headers: { Accept: "application/json" } });
    return probe.status === 401;
  } catch {
    return false;
  }
}

function connect() {
  const socket = new WebSocket(socketUrl("/ui/stream"));
  socket.addEventListener("message", (message) => {
    const { event, counts } = JSON.parse(message.data);
    showCounts(counts);
    if (event) {
      onEvent(event);
      return;
    }
    delay = 250; // connected (again)
    document.body.dataset.stream = "open";
    if (lost) {
      lost = false;
      banner.hidden = true;
      if (taskId) refreshTask();
      if (onInbox) refreshInbox();
    }
  });
  socket.addEventListener("close", async (closed) => {
    if (leaving) return;
    if (await signedOut(closed)) {
      location.assign("/signed-out"); // SIGNED_OUT_PATH in _security.py
      return;
    }
    lost = true;
    banner.hidden = false;
    document.body.dataset.stream = "lost";
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 4000);
  });
}

if (banner) connect();

// A timezone field left empty takes the browser's own (the person's), e.g. Europe/Paris.
for (const field of document.querySelectorAll("input[data-local-timezone]")) {
  if (!field.value) field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
