// The task page's live view shows /api/tasks/{id}/live and, while the person holds the lease,
// sends their mouse and keyboard there; approvals are answered through the REST API (the page's
// other updates come through stream.js). Websockets and requests carry the session cookie (same
// origin), never the token.
/* global htmx */

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

function refreshTask(taskId) {
  htmx.ajax("GET", `/ui/tasks/${encodeURIComponent(taskId)}`, {
    target: "#task-body",
    swap: "outerHTML",
  });
}

// ---- the live view: frames, the lease, the person's mouse and keyboard ----------------------

const MODIFIERS = (e) => (e.altKey ? 1 : 0) | (e.ctrlKey ? 2 : 0) | (e.metaKey ? 4 : 0) | (e.shiftKey ? 8 : 0);
const BUTTONS = ["left", "middle", "right"];

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, data };
}

function liveView(taskId) {
  const panel = document.getElementById("live");
  if (!panel) return;
  const canvas = document.getElementById("live-canvas");
  const context = canvas.getContext("2d");
  const state = document.getElementById("lease-state");
  const hint = document.getElementById("live-hint");
  const take = document.getElementById("take-over");
  const back = document.getElementById("hand-back");
  const path = `/api/tasks/${encodeURIComponent(taskId)}/live`;
  // This tab's viewer id survives a reload: the live view resumes as the same viewer, so a
  // takeover in progress stays this tab's (the server keeps it for a grace period).
  const remembered = `valet-viewer:${taskId}`;
  let socket = null;
  let viewer = null;
  let active = false; // this viewer holds the lease and the agent has paused
  let ended = false;
  let latest = null;
  let drawing = false;
  let frames = 0;

  async function draw(blob) {
    latest = blob;
    if (drawing) return;
    drawing = true;
    while (latest) {
      const next = latest;
      latest = null;
      const bitmap = await createImageBitmap(next);
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
      }
      context.drawImage(bitmap, 0, 0);
      bitmap.close();
      frames += 1;
      panel.dataset.frames = String(frames);
    }
    drawing = false;
  }

  function showLease(lease) {
    active = lease.you && lease.state === "active";
    panel.dataset.lease = lease.you ? "mine" : lease.state === "free" ? "free" : "other";
    if (lease.state === "free") state.textContent = ended ? "Task ended" : "The agent is in control";
    else if (lease.you && lease.state === "pending") state.textContent = "Waiting for the agent to pause…";
    else if (lease.you) state.textContent = "You are in control";
    else state.textContent = `Controlled by ${lease.holder}`;
    take.hidden = lease.you;
    take.disabled = ended || lease.state !== "free";
    back.hidden = !lease.you;
    if (active) canvas.focus();
    offerResume(lease);
  }

  function send(message) {
    if (active && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    const resume = sessionStorage.getItem(remembered);
    socket = new WebSocket(socketUrl(resume ? `${path}?resume=${encodeURIComponent(resume)}` : path));
    socket.binaryType = "blob";
    socket.addEventListener("message", (message) => {
      if (typeof message.data !== "string") {
        draw(message.data);
        return;
      }
      const event = JSON.parse(message.data);
      if (event.type === "hello") {
        viewer = event.viewer;
        sessionStorage.setItem(remembered, viewer);
      }
      else if (event.type === "lease") showLease(event);
      else if (event.type === "error") hint.textContent = event.detail;
      else if (event.type === "ended") {
        ended = true;
        showLease({ state: "free", you: false });
      }
    });
    socket.addEventListener("close", () => {
      active = false;
      if (!ended) setTimeout(connect, 2000);
    });
  }

  take.addEventListener("click", async () => {
    const { ok, data } = await postJson(`/api/tasks/${encodeURIComponent(taskId)}/takeover`, { viewer });
    if (!ok) hint.textContent = data.detail || "Could not take over.";
  });
  back.addEventListener("click", async () => {
    const { ok, data } = await postJson(`/api/tasks/${encodeURIComponent(taskId)}/handback`, { viewer });
    if (!ok) hint.textContent = data.detail || "Could not hand back.";
  });

  function point(e) {
    const box = canvas.getBoundingClientRect();
    const x = Math.min(Math.max((e.clientX - box.left) / box.width, 0), 1);
    const y = Math.min(Math.max((e.clientY - box.top) / box.height, 0), 1);
    return { x, y };
  }
  canvas.addEventListener("mousedown", (e) => {
    if (!active) return;
    e.preventDefault();
    canvas.focus();
    const button = BUTTONS[e.button] || "left";
    send({ type: "pointer", kind: "down", ...point(e), button, clicks: e.detail || 1, modifiers: MODIFIERS(e) });
  });
  canvas.addEventListener("mouseup", (e) => {
    if (!active) return;
    e.preventDefault();
    const button = BUTTONS[e.button] || "left";
    send({ type: "pointer", kind: "up", ...point(e), button, clicks: e.detail || 1, modifiers: MODIFIERS(e) });
  });
  let moved = null;
  canvas.addEventListener("mousemove", (e) => {
    if (!active) return;
    const first = moved === null;
    moved = { type: "pointer", kind: "move", ...point(e), button: "none", clicks: 0, modifiers: MODIFIERS(e) };
    if (first) requestAnimationFrame(() => { send(moved); moved = null; });
  });
  canvas.addEventListener("wheel", (e) => {
    if (!active) return;
    e.preventDefault();
    send({ type: "wheel", ...point(e), dx: e.deltaX, dy: e.deltaY, modifiers: MODIFIERS(e) });
  }, { passive: false });
  canvas.addEventListener("contextmenu", (e) => { if (active) e.preventDefault(); });
  for (const kind of ["keydown", "keyup"]) {
    canvas.addEventListener(kind, (e) => {
      if (!active || e.isComposing) return;
      const paste = (e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "v";
      if (paste) return; // the paste event sends the text
      e.preventDefault();
      send({
        type: "key",
        kind: kind === "keydown" ? "down" : "up",
        key: e.key,
        code: e.code,
        key_code: e.keyCode || 0,
        modifiers: MODIFIERS(e),
      });
    });
  }
  canvas.addEventListener("paste", (e) => {
    if (!active) return;
    e.preventDefault();
    const text = e.clipboardData ? e.clipboardData.getData("text") : "";
    if (text) send({ type: "text", text });
  });

  connect();
}

// While someone holds the browser, the only way on is their hand back: "let the agent go on
// without me" is offered only while nobody does (also on a task body htmx swapped in later).
let lastLease = null;
function offerResume(lease) {
  if (lease) lastLease = lease;
  const free = !lastLease || lastLease.state === "free";
  for (const button of document.querySelectorAll("[data-resume]")) button.hidden = !free;
  for (const note of document.querySelectorAll("[data-held]")) note.hidden = free;
}
document.addEventListener("htmx:afterSwap", () => offerResume(null));

// ---- requests: approve, edit or decline what the agent asks; answer its questions --------------------------------

function answerRequests(taskId) {
  document.addEventListener("click", async (e) => {
    const resume = e.target.closest("[data-resume]");
    if (resume) {
      const card = resume.closest("[data-request-id]");
      const error = card && card.querySelector(".approval-error");
      resume.disabled = true;
      const { ok, data } = await postJson(`/api/tasks/${encodeURIComponent(taskId)}/handback`);
      resume.disabled = false;
      if (ok) refreshTask(taskId);
      else if (error) {
        error.textContent = data.detail || "The agent could not go on.";
        error.hidden = false;
      }
      return;
    }
    const button = e.target.closest("[data-answer]");
    const card = button && button.closest("[data-request-id]");
    if (!card) return;
    const id = encodeURIComponent(card.dataset.requestId);
    const answer = button.dataset.answer;
    const error = card.querySelector(".approval-error");
    let body;
    if (answer === "answer") {
      const text = card.querySelector("textarea[name=answer]").value.trim();
      if (!text) {
        error.textContent = "Write an answer first.";
        error.hidden = false;
        return;
      }
      body = { text };
    } else if (answer === "edit") {
      try {
        body = { args: JSON.parse(card.querySelector("textarea[name=args]").value) };
      } catch {
        error.textContent = "The arguments must be JSON, e.g. {\"element\": 12}.";
        error.hidden = false;
        return;
      }
    }
    for (const other of card.querySelectorAll("button")) other.disabled = true;
    const { ok, data } = await postJson(`/api/requests/${id}/${answer}`, body);
    if (ok) {
      refreshTask(taskId);
      return;
    }
    const detail = Array.isArray(data.detail)
      ? data.detail.map((d) => d.text || `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : data.detail;
    error.textContent = detail || "The answer was not accepted.";
    error.hidden = false;
    for (const other of card.querySelectorAll("button")) other.disabled = false;
  });
}

const taskId = document.body.dataset.taskId;
if (taskId) {
  liveView(taskId);
  answerRequests(taskId);
}
