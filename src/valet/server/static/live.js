// Live updates for the web app: the task page follows /api/tasks/{id}/events, the inbox follows
// /api/events. The websocket carries the session cookie (same origin), never the token.
/* global htmx */

const FINAL = new Set(["succeeded", "failed", "stopped", "cancelled"]);

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

function seconds(ms) {
  return ms >= 100 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function div(className, text) {
  const node = document.createElement("div");
  node.className = className;
  node.textContent = text;
  return node;
}

// Mirrors templates/_step.html.
function stepItem(step) {
  const item = document.createElement("li");
  item.className = step.ok ? "step" : "step step-failed";
  item.dataset.index = String(step.index);
  const index = document.createElement("span");
  index.className = "step-index";
  index.textContent = String(step.index);
  const main = document.createElement("div");
  main.className = "step-main";
  main.append(div("step-action", step.action_text), div("step-result", step.result));
  if (step.url) main.append(div("step-url", step.url));
  const time = document.createElement("span");
  time.className = "step-time";
  const total = Object.values(step.timings_ms || {}).reduce((a, b) => a + b, 0);
  time.textContent = seconds(total);
  item.append(index, main, time);
  return item;
}

function refreshTask(taskId) {
  htmx.ajax("GET", `/ui/tasks/${encodeURIComponent(taskId)}`, {
    target: "#task-body",
    swap: "outerHTML",
  });
}

function followTask(taskId) {
  const socket = new WebSocket(socketUrl(`/api/tasks/${encodeURIComponent(taskId)}/events`));
  let refreshed = false;
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "step") {
      const timeline = document.getElementById("timeline");
      if (!timeline || timeline.querySelector(`[data-index="${event.step.index}"]`)) return;
      timeline.append(stepItem(event.step));
      document.querySelector(".timeline-empty")?.remove();
      const count = document.getElementById("step-count");
      if (count) count.textContent = String(timeline.children.length);
    } else if (event.type === "status") {
      const body = document.getElementById("task-body");
      if (body && body.dataset.status !== event.status) refreshTask(taskId);
      if (FINAL.has(event.status)) refreshed = true;
    } else if (event.type === "message") {
      refreshTask(taskId);
    }
  });
  socket.addEventListener("close", () => {
    if (!refreshed) setTimeout(() => followTask(taskId), 2000);
  });
}

function followInbox() {
  const socket = new WebSocket(socketUrl("/api/events"));
  let pending = null;
  socket.addEventListener("message", () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      htmx.trigger("#inbox", "refresh");
    }, 150);
  });
  socket.addEventListener("close", () => setTimeout(followInbox, 2000));
}

const taskId = document.body.dataset.taskId;
if (taskId) followTask(taskId);
else if ("inbox" in document.body.dataset) followInbox();
