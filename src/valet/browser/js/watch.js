// valet page watcher: added to every document before its own scripts run (an init script), as
// a function of `config`. It notes two things a sighted person learns by using a page, that the
// DOM alone does not say:
// - which elements have pointer, click or key listeners (a span made clickable by JavaScript);
// - what a person's input set in motion: timers (a debounced autocomplete) and fetches
//   scheduled by input handlers, or by what those timers ran, still pending.
// Nothing is written into the page's globals; the indexer (js/indexer.js) asks for this state
// with an event named `config.key` (random for every session) and gets it in the event's detail.
(config) => {
  const LISTENED = new Set([
    "click", "dblclick", "mousedown", "mouseup", "pointerdown", "pointerup", "touchstart",
    "contextmenu", "dragstart", "keydown", "mouseover", "mouseenter", "pointerenter",
  ]);
  const INPUT_EVENTS = [
    "pointerdown", "mousedown", "mouseup", "click", "keydown", "keyup", "input", "change",
    "mouseover", "pointerover",
  ];
  const CAUSED_WINDOW_MS = 120; // what starts this soon after the person's input is its effect
  const MAX_TIMER_MS = 1500; // longer timers are clocks and pollers, not effects to wait for
  const listened = new WeakSet();
  const pending = new Set(); // tokens of caused timers and fetches not yet done
  let lastInput = -1e9;
  let inCaused = 0; // > 0 while a caused timer's callback runs
  const now = () => performance.now();
  const caused = () => inCaused > 0 || now() - lastInput < CAUSED_WINDOW_MS;

  const proto = EventTarget.prototype;
  const addListener = proto.addEventListener;
  proto.addEventListener = function (type, listener, options) {
    if (LISTENED.has(type) && this && this.nodeType === 1) listened.add(this);
    return addListener.call(this, type, listener, options);
  };
  const onInput = (event) => { if (event.isTrusted) lastInput = now(); };
  for (const type of INPUT_EVENTS) addListener.call(window, type, onInput, { capture: true, passive: true });

  const setTimer = window.setTimeout;
  const clearTimer = window.clearTimeout;
  const timers = new Map(); // timer id -> token
  window.setTimeout = function (handler, delay, ...rest) {
    const ms = Number(delay) || 0;
    if (typeof handler !== "function" || ms > MAX_TIMER_MS || !caused()) {
      return setTimer.call(window, handler, delay, ...rest);
    }
    const token = {};
    pending.add(token);
    const id = setTimer.call(window, function () {
      pending.delete(token);
      timers.delete(id);
      inCaused += 1;
      try { return handler.apply(this, rest); } finally { inCaused -= 1; }
    }, delay);
    timers.set(id, token);
    return id;
  };
  window.clearTimeout = function (id) {
    const token = timers.get(id);
    if (token) { pending.delete(token); timers.delete(id); }
    return clearTimer.call(window, id);
  };

  const track = (promise) => {
    const token = {};
    pending.add(token);
    const done = () => pending.delete(token);
    promise.then(done, done);
  };
  const fetchFn = window.fetch;
  if (fetchFn) {
    window.fetch = function (...args) {
      const result = fetchFn.apply(this, args);
      if (caused()) track(result);
      return result;
    };
  }
  const XHR = window.XMLHttpRequest;
  if (XHR) {
    const send = XHR.prototype.send;
    XHR.prototype.send = function (...args) {
      if (caused()) {
        track(new Promise((resolve) => addListener.call(this, "loadend", resolve, { once: true })));
      }
      return send.apply(this, args);
    };
  }

  const api = Object.freeze({
    listened: (el) => listened.has(el),
    busy: () => pending.size,
  });
  addListener.call(window, config.key, (event) => {
    if (event.detail && typeof event.detail === "object") event.detail.watch = api;
  }, { capture: true });
}
