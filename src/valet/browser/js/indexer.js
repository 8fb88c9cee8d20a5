// valet element indexer: evaluated once per document as a function of `config`, it returns an
// object that Python keeps as a JS handle. All state lives in this closure; nothing is written
// into the page's DOM or globals (only passive capture listeners and MutationObservers are
// added), so page scripts can neither read nor spoof the element ids. valet's selector engine
// (js/locate.js) asks it for an element with an event named `config.key` (random for every
// injection) and gets the element back as the target of an event named `config.reply` (random
// for the session).
(config) => {
  const ROLES = new Set([
    "button", "link", "checkbox", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "option",
    "switch", "radio", "combobox", "textbox", "searchbox", "slider", "spinbutton", "treeitem",
  ]);
  const INTERACTIVE = [
    "a[href]", "area[href]", "button", "input:not([type=hidden])", "select", "textarea",
    "summary", "[contenteditable='']", "[contenteditable=true]", "[contenteditable=plaintext-only]",
    ...[...ROLES].map((role) => `[role=${role}]`),
  ].join(",");
  // el.matches(INTERACTIVE) spelled out, as it runs on every element (keep the two in sync)
  const isInteractive = (el) => {
    switch (el.localName) {
      case "button": case "select": case "textarea": case "summary": return true;
      case "a": case "area": if (el.hasAttribute("href")) return true; break;
      case "input": if ((el.getAttribute("type") || "").toLowerCase() !== "hidden") return true; break;
    }
    const role = el.getAttribute("role");
    if (role !== null && ROLES.has(role)) return true;
    const editable = el.getAttribute("contenteditable");
    return editable === "" || editable === "true" || editable === "plaintext-only";
  };
  const NAME_FROM_CONTENT = new Set([
    "button", "link", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "option",
    "checkbox", "radio", "switch", "treeitem", "clickable", "cell", "heading", "listitem", "row",
  ]);
  // Inline formatting: no word break after it when naming by content (other elements get one).
  const INLINE = new Set(["b", "i", "em", "strong", "u", "s", "small", "sup", "sub", "mark", "code", "abbr", "span", "a", "font", "kbd", "q", "cite"]);
  const TEXT_TYPES = new Set(["", "text", "email", "tel", "url", "search", "password"]);
  const INPUT_EVENTS = [
    "pointerdown", "mousedown", "keydown", "input", "change", "click", "wheel", "scroll",
    "mouseover", "focusin", "submit",
  ];
  const CAUSED_BY_INPUT_MS = 500;

  let nextId = 1;
  let seq = 0;
  let mutations = 0;
  let lastMutation = 0;
  let lastInput = -1e9;
  const ids = new WeakMap(); // element -> local id
  const byId = new Map(); // local id -> WeakRef(element)
  const firstSeen = new WeakMap(); // element -> seq of the observation that first listed it
  const autonomous = new WeakMap(); // element -> count of mutations not caused by input
  const volatile = new Set(); // elements that change on their own (clocks, tickers)
  const observedRoots = new WeakSet();
  const described_ = new WeakMap(); // element -> [mutations, role, name, unnamed, hint]
  const ownNodes = new WeakSet(); // our overlay: its mutations are not the page's

  const now = () => performance.now();
  // The page watcher (js/watch.js, an init script) knows listeners and pending effects of input;
  // documents opened before it was installed have none, and then listeners are not known.
  const watcher = (() => {
    if (!config.watch) return null;
    const box = {};
    window.dispatchEvent(new CustomEvent(config.watch, { detail: box }));
    return box.watch || null;
  })();
  const listened = (el) => (watcher !== null && watcher.listened(el)) || typeof el.onclick === "function";
  let inputs = 0;
  const markInput = () => { lastInput = now(); inputs += 1; };
  // What changes whenever the page may look different: checked before an action to reuse the
  // last observation as its "before" instead of reading the whole page again.
  const state = () => mutations + "|" + inputs + "|" + Math.round(window.scrollX) + "," +
    Math.round(window.scrollY) + "|" + location.href;
  for (const type of INPUT_EVENTS) window.addEventListener(type, markInput, { capture: true, passive: true });

  const insideVolatile = (node) => {
    for (const v of volatile) if (v.contains(node)) return true;
    return false;
  };
  const onMutations = (records) => {
    const t = now();
    let counted = false;
    for (const record of records) {
      if (ownNodes.has(record.target) || [...record.addedNodes, ...record.removedNodes].some((n) => ownNodes.has(n))) continue;
      const target = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      if (!target) continue;
      if (t - lastInput > CAUSED_BY_INPUT_MS) {
        const n = (autonomous.get(target) || 0) + 1;
        autonomous.set(target, n);
        if (n >= 2 && (target.textContent || "").length <= 200) volatile.add(target);
      }
      if (!counted && !insideVolatile(target)) counted = true;
    }
    if (counted) { mutations += 1; lastMutation = t; }
  };
  const observer = new MutationObserver(onMutations);
  const watch = (root) => {
    if (observedRoots.has(root)) return;
    observedRoots.add(root);
    observer.observe(root, {
      subtree: true, childList: true, characterData: true, attributes: true,
      attributeFilter: [
        "class", "style", "hidden", "open", "disabled", "value", "checked", "href",
        "aria-expanded", "aria-hidden", "aria-checked", "aria-selected", "aria-pressed",
        "aria-disabled", "aria-label", "type", "autocomplete",
      ],
    });
  };
  watch(document);
  for (const el of document.querySelectorAll("time,[role=timer],[role=marquee],[aria-live=off]")) volatile.add(el);

  const idOf = (el) => {
    let id = ids.get(el);
    if (id === undefined) {
      id = nextId++;
      ids.set(el, id);
      byId.set(id, new WeakRef(el));
    }
    return id;
  };
  const get = (id) => {
    const ref = byId.get(id);
    const el = ref && ref.deref();
    return el && el.isConnected ? el : null;
  };

  const collapse = (s) => (s || "").replace(/\s+/g, " ").trim();
  const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
  const parentOf = (el) => el.parentElement || (el.getRootNode() && el.getRootNode().host) || null;
  const inClosedTree = (el) => {
    for (let root = el.getRootNode(); root !== document && root.host; root = root.host.getRootNode()) {
      if (root.mode === "closed") return true;
    }
    return false;
  };

  // Text of a subtree for naming: skips form controls' option lists and hidden bits.
  const textOf = (node, budget = 160) => {
    let out = "";
    const visit = (n) => {
      if (out.length > budget) return;
      if (n.nodeType === 3) { out += n.data; return; }
      if (n.nodeType !== 1) return;
      const tag = n.localName;
      if (tag === "script" || tag === "style" || tag === "select" || tag === "textarea" ||
          tag === "template" || tag === "noscript") return;
      if (n.getAttribute("aria-hidden") === "true" || n.hidden) return;
      if (tag === "img" || (tag === "input" && n.type === "image")) { out += " " + (n.alt || "") + " "; return; }
      if (tag === "input") return;
      if (tag === "br") { out += " "; return; }
      const label = n !== node && n.getAttribute("aria-label");
      if (label) { out += " " + label + " "; return; }
      const kids = n.shadowRoot ? n.shadowRoot.childNodes : n.childNodes;
      for (const k of kids) visit(k);
      if (!INLINE.has(tag) || (tag === "span" && n.parentElement && getComputedStyle(n.parentElement).display.includes("flex"))) out += " ";
    };
    visit(node);
    return collapse(out);
  };

  const roleOf = (el, weak) => {
    const explicit = (el.getAttribute("role") || "").trim().split(/\s+/)[0];
    if (explicit && explicit !== "presentation" && explicit !== "none" && explicit !== "generic") return explicit;
    const tag = el.localName;
    if (tag === "a" || tag === "area") return el.hasAttribute("href") ? "link" : "clickable";
    if (tag === "button" || tag === "summary") return "button";
    if (tag === "select") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (tag === "textarea") return "textbox";
    if (tag === "input") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (type === "checkbox") return el.getAttribute("role") === "switch" ? "switch" : "checkbox";
      if (type === "radio") return "radio";
      if (["button", "submit", "reset", "image", "file", "color"].includes(type)) return "button";
      if (type === "range") return "slider";
      if (type === "number") return "spinbutton";
      if (type === "search") return "searchbox";
      if (el.list) return "combobox";
      return "textbox";
    }
    if (el.isContentEditable) return "textbox";
    if (weak && tag === "img") return "img";
    if (weak && isSliderHandle(el)) return "slider";
    if (weak && tag === "li") return "listitem";
    if (weak && tag === "tr") return "row";
    return weak ? "clickable" : "generic";
  };
  // A slider drawn with divs (jQuery UI and the like): a small handle on a wider track.
  const isSliderHandle = (el) => {
    const cls = typeof el.className === "string" ? el.className : "";
    if (/slider-handle|ui-slider-handle|range-handle|thumb/i.test(cls)) return true;
    const parent = parentOf(el);
    return !!parent && /slider/i.test(typeof parent.className === "string" ? parent.className : "") &&
      el.children.length === 0 && !collapse(el.textContent);
  };
  // Where a drawn slider's handle sits on its track, in percent (left to right, or bottom up).
  const handlePosition = (el) => {
    const track = parentOf(el);
    if (!track) return null;
    const t = track.getBoundingClientRect();
    const h = el.getBoundingClientRect();
    const vertical = t.height > t.width;
    const span = vertical ? t.height : t.width;
    if (span <= 0) return null;
    const at = vertical ? (t.bottom - (h.top + h.height / 2)) / span : (h.left + h.width / 2 - t.left) / span;
    return Math.max(0, Math.min(100, Math.round(at * 100)));
  };

  const nameOf = (el, role) => {
    const root = el.getRootNode();
    const labelledby = el.getAttribute("aria-labelledby");
    if (labelledby) {
      const text = labelledby.split(/\s+/).map((ref) => {
        const target = (root.getElementById ? root.getElementById(ref) : null) || document.getElementById(ref);
        return target ? textOf(target) : "";
      }).join(" ");
      if (collapse(text)) return collapse(text);
    }
    const aria = collapse(el.getAttribute("aria-label"));
    if (aria) return aria;
    const tag = el.localName;
    if (tag === "input") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (type === "submit" || type === "reset" || type === "button") {
        return collapse(el.value) || (type === "submit" ? "Submit" : type === "reset" ? "Reset" : "");
      }
      if (type === "image") return collapse(el.alt || el.value || el.title);
    }
    if (tag === "input" || tag === "select" || tag === "textarea" || tag === "button" || tag === "meter" || tag === "progress") {
      const labels = el.labels ? Array.from(el.labels).map((l) => textOf(l)).filter(Boolean) : [];
      if (labels.length) return collapse(labels.join(" "));
    }
    if (tag === "img" || tag === "area") { const alt = collapse(el.alt); if (alt) return alt; }
    if (NAME_FROM_CONTENT.has(role) || tag === "button" || tag === "a" || tag === "summary") {
      const text = textOf(el);
      if (text) return text;
      const svgTitle = el.querySelector("svg title");
      if (svgTitle && collapse(svgTitle.textContent)) return collapse(svgTitle.textContent);
    }
    const title = collapse(el.getAttribute("title"));
    if (title) return title;
    const placeholder = collapse(el.getAttribute("placeholder") || el.getAttribute("aria-placeholder"));
    if (placeholder) return placeholder;
    return "";
  };

  const ICON_CLASS = /^(?:fa[srlbd]?|bi|icon|glyphicon|mdi|ti|lucide|ri|la|gg|octicon|ion|feather)-(.+)$/;
  const iconOf = (el) => {
    const nodes = [el, ...el.querySelectorAll("img,svg,use,i,span,[data-icon],[class*=icon]")].slice(0, 8);
    for (const n of nodes) {
      const data = n.getAttribute("data-icon");
      if (data) return data;
      for (const cls of n.classList || []) {
        const m = ICON_CLASS.exec(cls) || /(?:^|[-_])icon[-_](.+)$/.exec(cls);
        if (m && !["solid", "regular", "light", "fw", "lg", "sm", "xs"].includes(m[1])) return m[1];
      }
      if (n.localName === "img" && n.getAttribute("src")) {
        const file = n.getAttribute("src").split(/[?#]/)[0].split("/").pop() || "";
        const base = file.replace(/\.[a-z0-9]+$/i, "");
        if (base && !base.startsWith("data:")) return base;
      }
      if (n.localName === "use") {
        const href = n.getAttribute("href") || n.getAttribute("xlink:href") || "";
        const m = /#(?:icon[-_])?(.+)$/.exec(href);
        if (m) return m[1];
      }
      if (n.localName === "svg") {
        const t = n.querySelector("title");
        if (t && collapse(t.textContent)) return collapse(t.textContent);
      }
    }
    // an image drawn by CSS (content or background), then a class that names what it is
    for (const n of nodes.slice(0, 3)) {
      const style = getComputedStyle(n);
      for (const value of [style.content, style.backgroundImage]) {
        const m = /url\(["']?([^"')]+)["']?\)/.exec(value || "");
        if (m && !m[1].startsWith("data:")) {
          const base = m[1].split(/[?#]/)[0].split("/").pop().replace(/\.[a-z0-9]+$/i, "");
          if (base) return base;
        }
      }
    }
    const swatch = el.getAttribute("data-value") || el.getAttribute("data-color") || "";
    if (/^#[0-9a-f]{3,8}$|^rgba?\(/i.test(swatch)) return "color " + swatch;
    const parent = parentOf(el);
    return kindOf(el) || (parent && el === parent.firstElementChild ? kindOf(parent) : "");
  };
  // What an element's classes say it is (folder, file, trash, star…): only words of this list,
  // so generated class names never leak into the view.
  const KINDS = new Set([
    "folder", "file", "directory", "dir", "document", "trash", "delete", "remove", "star", "starred",
    "favorite", "favourite", "like", "heart", "reply", "forward", "retweet", "share", "edit", "close",
    "expand", "collapse", "menu", "more", "next", "prev", "previous", "back", "play", "pause", "stop",
    "download", "upload", "search", "settings", "add", "plus", "minus", "check", "archive", "flag",
    "pin", "bookmark", "copy", "send", "save", "refresh", "print", "home", "user", "mail", "email",
    "calendar", "tab", "toggle", "handle", "up", "down", "left", "right", "leaf", "node",
    "bold", "italic", "underline", "strike", "color", "align", "bullet", "ordered", "indent",
    "outdent", "link", "image", "code", "quote", "blockquote", "undo", "redo", "clean", "header",
    "picker",
  ]);
  const kindOf = (el) => {
    const words = [];
    for (const cls of el.classList || []) {
      for (const word of cls.toLowerCase().split(/[-_]+/)) {
        if (KINDS.has(word) && !words.includes(word)) words.push(word);
      }
    }
    return words.slice(0, 2).join(" ");
  };
  const siblingText = (sib) => (sib.nodeType === 3 ? collapse(sib.data) : sib.nodeType === 1 ? textOf(sib, 60) : "");
  // The text just after an element that is the first thing in its container (a field with
  // its label after it, a checkbox before its words): "" when text comes before it there.
  const textAfterOf = (el) => {
    for (let sib = el.previousSibling; sib; sib = sib.previousSibling) if (siblingText(sib)) return "";
    for (let sib = el.nextSibling; sib; sib = sib.nextSibling) {
      const text = siblingText(sib);
      if (text) return clip(text, 30);
    }
    return "";
  };
  const nearTextOf = (el) => {
    let node = el;
    for (let depth = 0; depth < 3 && node; depth++) {
      for (let sib = node.previousSibling; sib; sib = sib.previousSibling) {
        const text = sib.nodeType === 3 ? collapse(sib.data) : sib.nodeType === 1 ? textOf(sib, 60) : "";
        if (text) return clip(text, 30);
      }
      node = node.parentElement;
    }
    return "";
  };
  const descriptorOf = (el) => {
    const parts = [];
    const icon = iconOf(el);
    if (icon) parts.push("icon: " + clip(icon.replace(/[-_]+/g, " "), 24));
    const after = textAfterOf(el);
    const near = after || nearTextOf(el);
    if (near) parts.push('near "' + near + '"' + (after ? " after it" : ""));
    if (!parts.length) {
      const key = el.getAttribute("name") || el.id;
      if (key) parts.push("name=" + clip(key, 24));
    }
    if (!parts.length) parts.push("unlabeled " + el.localName);
    return "(" + parts.join(", ") + ")";
  };

  const deepActive = () => {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a;
  };

  const valueOf = (el, role) => {
    const tag = el.localName;
    if (tag === "input") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (type === "checkbox" || type === "radio" || role === "button") return null;
      if (type === "password") return el.value ? "•••" : null;
      return el.value ? clip(el.value, 80) : null;
    }
    if (tag === "textarea") return el.value ? clip(collapse(el.value), 80) : null;
    if (tag === "select") {
      const picked = Array.from(el.selectedOptions).map((o) => collapse(o.label || o.text));
      return picked.length ? clip(picked.join(", "), 80) : null;
    }
    if (el.isContentEditable) return clip(collapse(el.innerText), 80) || null;
    if (role === "slider" || role === "spinbutton") return el.getAttribute("aria-valuetext") || el.getAttribute("aria-valuenow");
    if (role === "combobox" || role === "textbox" || role === "searchbox") return clip(collapse(el.textContent), 80) || null;
    return null;
  };

  const statesOf = (el, role, active) => {
    const s = [];
    const aria = (name) => el.getAttribute(name);
    if (el.checked === true || aria("aria-checked") === "true") s.push("checked");
    else if (aria("aria-checked") === "mixed" || el.indeterminate) s.push("mixed");
    const control = "disabled" in el;
    if (el.disabled === true || aria("aria-disabled") === "true" || (control && el.matches(":disabled"))) s.push("disabled");
    if (aria("aria-expanded") === "true" || (el.localName === "summary" && el.parentElement && el.parentElement.open)) s.push("expanded");
    else if (aria("aria-expanded") === "false" || el.localName === "summary") s.push("collapsed");
    if (aria("aria-selected") === "true") s.push("selected");
    if (aria("aria-pressed") === "true") s.push("pressed");
    if (el.required === true || aria("aria-required") === "true") s.push("required");
    if (el.readOnly === true || aria("aria-readonly") === "true") s.push("readonly");
    if (aria("aria-invalid") === "true" || (control && el.matches(":user-invalid"))) s.push("invalid");
    if (el === active) s.push("focused");
    if (aria("aria-current") && aria("aria-current") !== "false") s.push("current");
    if (!isInteractive(el)) {
      // what plain elements say with classes only: the selected tab, the draggable item
      if (!s.includes("selected") && /(?:^|\s)(?:active|selected|current)(?:\s|$)/.test(typeof el.className === "string" ? el.className : "")) s.push("selected");
      if (isDraggable(el)) s.push("draggable");
    }
    return s.join(" ");
  };

  const extraOf = (el, role, name) => {
    const tag = el.localName;
    if (role === "button" && name) {
      // A button whose name (aria-label…) says something else than its visible text: show both,
      // so nobody (the model, the gateway's classifier) is fooled by a disguised label.
      const shown = clip(collapse(el.innerText || el.value || ""), 80);
      if (shown && shown.toLowerCase() !== name.toLowerCase()) return 'text="' + shown + '"';
    }
    if ((tag === "a" || tag === "area") && role === "link") {
      const raw = el.getAttribute("href") || "";
      if (!raw || raw.startsWith("javascript:")) return null;
      const href = el.href;
      const origin = location.origin;
      if (href.startsWith(origin + "/")) {
        const rest = href.slice(origin.length);
        const here = location.pathname + location.search;
        const hash = rest.indexOf("#");
        if (hash >= 0 && rest.slice(0, hash) === here) return rest.slice(hash);
        return "→" + clip(rest, 40) + (el.target === "_blank" ? " (new tab)" : "");
      }
      return "→" + clip(href.replace(/^https?:\/\//, ""), 40) + (el.target === "_blank" ? " (new tab)" : "");
    }
    if (tag === "input") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (!TEXT_TYPES.has(type) && !["checkbox", "radio", "button", "submit", "reset", "range", "number", "search"].includes(type)) return "type=" + type;
      if (type === "email" || type === "password" || type === "tel" || type === "url") return "type=" + type;
    }
    if (tag === "input" && (el.getAttribute("type") || "").toLowerCase() === "range") {
      return "min=" + (el.min || "0") + " max=" + (el.max || "100") + (el.step && el.step !== "1" ? " step=" + el.step : "");
    }
    if (tag === "textarea") return "multi-line";
    if (role === "slider" && !("value" in el)) {
      const min = el.getAttribute("aria-valuemin"), max = el.getAttribute("aria-valuemax");
      if (min !== null && max !== null) return "min=" + min + " max=" + max;
      const at = handlePosition(el);
      return at === null ? null : "handle at " + at + "% of its track";
    }
    if (tag === "select") {
      const labels = Array.from(el.options).map((o) => clip(collapse(o.label || o.text), 20));
      const shown = labels.slice(0, 6).join("|");
      return "options: " + shown + (labels.length > 6 ? "|+" + (labels.length - 6) : "");
    }
    if (el.target === "_blank") return "new tab";
    if (role === "clickable" || role === "listitem" || role === "row" || role === "treeitem") {
      const kind = kindOf(el);
      if (kind && name && !name.toLowerCase().includes(kind)) return "(" + kind + ")";
    }
    return null;
  };

  // What a form field's markup declares (type, autocomplete, name, id, inputmode, maxlength):
  // valet's code tells password, card and one-time-code fields from look-alikes with it.
  const NOT_TYPED = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "file", "range", "color"]);
  const fieldOf = (el) => {
    const tag = el.localName;
    if (tag !== "input" && tag !== "textarea" && tag !== "select") return null;
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (tag === "input" && NOT_TYPED.has(type)) return null;
    const attr = (name) => clip(el.getAttribute(name) || "", 60);
    return [tag, type, attr("autocomplete").toLowerCase(), attr("name"), clip(el.id || "", 60),
      attr("inputmode").toLowerCase(), tag === "select" || el.maxLength < 0 ? null : el.maxLength];
  };
  // Visible iframes and containers with CAPTCHA-style markup (reCAPTCHA, hCaptcha, Turnstile).
  const WIDGET_MARKUP = ".g-recaptcha,.h-captcha,.cf-turnstile,[data-sitekey]";
  const isShown = (el, cache) => {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true, checkVisibilityCSS: true })) return false;
    const rect = el.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0 && !hiddenBy(el, cache);
  };
  // Like roles and names, widgets only change with the DOM: recomputed after mutations only.
  let widgetsSeen = { mutations: -1, frames: -1, out: [] };
  const widgetsOf = (iframes, shadows, cache) => {
    if (widgetsSeen.mutations === mutations && widgetsSeen.frames === iframes.length) return widgetsSeen.out;
    const out = [];
    const add = (el, src) => out.push([el.localName, clip(src, 300), clip(el.getAttribute("class") || "", 100),
      el.hasAttribute("data-sitekey"), (el.getAttribute("data-size") || "").toLowerCase()]);
    for (const el of iframes) if (isShown(el, cache)) add(el, el.src || "");
    for (const root of [document, ...shadows]) {
      for (const el of root.querySelectorAll(WIDGET_MARKUP)) if (el.localName !== "iframe" && isShown(el, cache)) add(el, "");
    }
    widgetsSeen = { mutations, frames: iframes.length, out };
    return out;
  };

  // Is the element hidden from people (aria-hidden / inert ancestors), with a per-call cache.
  const hiddenBy = (el, cache) => {
    const chain = [];
    let node = el;
    let result = false;
    while (node) {
      const known = cache.get(node);
      if (known !== undefined) { result = known; break; }
      chain.push(node);
      if (node.getAttribute("aria-hidden") === "true" || node.hasAttribute("inert")) { result = true; break; }
      node = parentOf(node);
    }
    for (const n of chain) cache.set(n, result);
    return result;
  };

  const collect = (shadows) => {
    const all = [];
    const walk = (root) => {
      watch(root);
      for (const el of root.querySelectorAll("*")) {
        all.push(el);
        if (el.shadowRoot) {
          shadows.push(el.shadowRoot);
          walk(el.shadowRoot);
        }
      }
    };
    walk(document);
    return all;
  };

  // 2: interactive; 1: weak (a click or key listener, onclick, tabindex, a pointer cursor,
  // draggable), kept when nothing better is around it
  const NEVER = new Set(["html", "body", "head", "script", "style", "template", "br", "hr", "option", "optgroup"]);
  const isCandidate = (el, pointer) => {
    if (isInteractive(el)) return 2;
    const tag = el.localName;
    if (NEVER.has(tag) || (tag === "label" && el.control)) return 0;
    if (el.hasAttribute("onclick") || listened(el) || el.getAttribute("draggable") === "true") return 1;
    const t = el.getAttribute("tabindex");
    if (t !== null && Number(t) >= 0) return 1;
    if (tag === "img" && (el.alt || el.title) && isIcon(el)) return 1;
    return pointer.has(el) ? 1 : 0;
  };
  // A small image that says something (an icon with alt text: "vegan", "verified"): what a
  // sighted person reads off the page, and innerText leaves out.
  const isIcon = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.width <= 64 && r.height <= 64;
  };
  // Elements whose own cursor is a pointer (not one inherited from a parent that has it too):
  // what a sighted person takes for clickable. One computed style per element, after mutations.
  let pointerSeen = { mutations: -1, count: -1, set: new Set() };
  const pointerOf = (all) => {
    if (pointerSeen.mutations === mutations && pointerSeen.count === all.length) return pointerSeen.set;
    const set = new Set();
    const cursor = new Map();
    for (const el of all) {
      if (NEVER.has(el.localName) || el.namespaceURI !== "http://www.w3.org/1999/xhtml") continue;
      const own = getComputedStyle(el).cursor;
      cursor.set(el, own);
      if (own !== "pointer") continue;
      const parent = parentOf(el);
      if (!parent || cursor.get(parent) !== "pointer") set.add(el);
    }
    pointerSeen = { mutations, count: all.length, set };
    return set;
  };
  // A list of items worked by the mouse (a sortable list, an autocomplete menu, a listbox of
  // divs): its repeated children are what a person clicks or drags, not the list itself.
  const itemsOf = (el) => {
    const kids = Array.from(el.children).filter((k) => !NEVER.has(k.localName));
    const list = ["ul", "ol", "tbody", "menu"].includes(el.localName) || ["listbox", "menu", "list"].includes(el.getAttribute("role") || "");
    if (kids.length < (list ? 1 : 2)) return null;
    const tag = kids[0].localName;
    if (!kids.every((k) => k.localName === tag)) return null;
    if (!["li", "div", "tr", "span", "a", "p"].includes(tag)) return null;
    if (el.querySelector(INTERACTIVE)) return null;
    // not a list: only alike children (same tag and classes) that are no controls themselves
    if (!list && !kids.every((k) => k.className === kids[0].className && !weakNow.has(k))) return null;
    return kids;
  };
  let weakNow = new Set();
  const SORTABLE = /(?:^|[-_ ])(?:sortable|draggable|drag|dnd|reorder)(?:$|[-_ ])/i;
  const isDraggable = (el) => {
    if (el.getAttribute("draggable") === "true") return true;
    const parent = parentOf(el);
    return !!parent && (SORTABLE.test(parent.className || "") || SORTABLE.test(parent.id || "") ||
      /ui-sortable-handle|ui-draggable/.test(el.className || ""));
  };

  // The forms of the document, for valet's vault and gateway (never shown to the model): where
  // each goes (its action and each submit button's formaction), whether it has a password
  // field, and what its text fields hold. A form's attributes are read through
  // Element.prototype: a field named "action" or "getAttribute" shadows the form's own.
  const attrOf = (el, name) => Element.prototype.getAttribute.call(el, name);
  const absolute = (raw) => {
    if (!raw) return location.href;
    try { return new URL(raw, document.baseURI).href; } catch { return ""; }
  };
  const formMethod = (raw) => {
    const method = (raw || "").trim().toLowerCase();
    return method === "post" || method === "dialog" ? method : "get";
  };
  const isSubmitButton = (el) => (el.localName === "button" && el.type === "submit") ||
    (el.localName === "input" && (el.type === "submit" || el.type === "image"));
  // [url, method] a submission goes to, sent by `button` (or by none: the form's own)
  const sendsTo = (button, form) => {
    const method = formMethod(attrOf(form, "method"));
    if (!button) return [absolute(attrOf(form, "action")), method];
    const url = button.hasAttribute("formaction") ? button.formAction : absolute(attrOf(form, "action"));
    return [url, button.hasAttribute("formmethod") ? formMethod(button.getAttribute("formmethod")) : method];
  };
  const formsOf = (all) => {
    const forms = new Map();
    const add = (form) => {
      let f = forms.get(form);
      if (!f) {
        const [action, method] = sendsTo(null, form);
        f = { action, method, targets: [action], password: false, filled: false, values: [], first: null };
        forms.set(form, f);
      }
      return f;
    };
    for (const el of all) {
      const form = el.form;
      if (!(form instanceof HTMLFormElement)) continue;
      const f = add(form);
      if (isSubmitButton(el)) {
        if (!f.first) f.first = el;
        const [url] = sendsTo(el, form);
        if (!f.targets.includes(url)) f.targets.push(url);
      } else if (el.localName === "input" && el.type === "password") {
        f.password = true;
        if (el.value) f.filled = true;
      } else if ((el.localName === "input" && TEXT_TYPES.has(el.type)) || el.localName === "textarea" ||
                 (el.localName === "input" && el.type === "number")) {
        const value = el.value.trim();
        if (value && f.values.length < 20 && !f.values.includes(value)) f.values.push(clip(value, 500));
      }
    }
    return { forms, add };
  };
  // [form, url, method, submits] of a listed element in a form, else null
  const formRefOf = (el, role, known) => {
    let form = el.form;
    if (!(form instanceof HTMLFormElement)) {
      if (role !== "button") return null;
      form = el.closest("form"); // a scripted button inside a form may submit it
      if (!form) return null;
    }
    const f = known.add(form);
    let target, submits = true;
    if (isSubmitButton(el)) target = sendsTo(el, form);
    else if (el.localName === "input" && !NOT_TYPED.has(el.type)) target = sendsTo(f.first, form);
    else { target = sendsTo(null, form); submits = false; }
    return [idOf(form), target[0], target[1], submits];
  };
  // Accessible names, alt and title texts in full (the view shortens names and lists no
  // plain image): valet learns them as the page's words. Never shown to the model.
  const LABELS = ["aria-label", "aria-description", "alt", "title", "placeholder"];
  const labelsOf = (all) => {
    const out = [];
    const seen = new Set();
    let size = 0;
    for (const el of all) {
      let shown = null;
      for (const name of LABELS) {
        const text = clip(collapse(attrOf(el, name)), 2000);
        if (!text || seen.has(text)) continue;
        if (shown === null) shown = !el.checkVisibility || el.checkVisibility({ visibilityProperty: true, checkVisibilityCSS: true });
        if (!shown) break;
        seen.add(text);
        out.push(text);
        size += text.length;
        if (size > 40000) return out;
      }
    }
    return out;
  };

  const vis = (rect, vw, vh) => {
    if (rect.bottom <= 0) return "a";
    if (rect.top >= vh || rect.right <= 0 || rect.left >= vw) return "b";
    return "";
  };

  const observe = async (opts) => {
    const unsettled = opts.settle ? await settle(opts.settle) : false;
    seq += 1;
    const vw = window.innerWidth, vh = window.innerHeight;
    const shadows = [];
    const all = collect(shadows);
    const strong = new Set();
    const weak = new Set();
    const candidates = [];
    const pointer = pointerOf(all);
    for (const el of all) {
      const kind = isCandidate(el, pointer);
      if (!kind) continue;
      candidates.push([el, kind]);
      (kind === 2 ? strong : weak).add(el);
    }
    // a weak list's repeated children stand for it (each item is what gets clicked or dragged)
    weakNow = weak;
    const expanded = [];
    for (const [el, kind] of candidates) {
      const items = kind === 1 ? itemsOf(el) : null;
      if (!items) { expanded.push([el, kind]); continue; }
      weak.delete(el);
      for (const item of items) {
        if (weak.has(item)) continue; // listed where it is, as a control of its own
        weak.add(item);
        expanded.push([item, 1]);
      }
    }
    const hiddenCache = new Map();
    const visible = [];
    const area = window.innerWidth * window.innerHeight;
    for (const [el, kind] of expanded) {
      if (kind === 1) {
        if (!weak.has(el)) continue;
        // weak candidates that sit inside or around a real control are duplicates
        let dup = false;
        for (let p = parentOf(el); p && !dup; p = parentOf(p)) if (strong.has(p)) dup = true;
        if (dup || el.querySelector(INTERACTIVE)) continue;
        // a listener on a big container is a delegate: the things inside are what people click
        if (!el.hasAttribute("tabindex") && !el.hasAttribute("onclick")) {
          const r = el.getBoundingClientRect();
          if (r.width * r.height > area / 3 && (el.textContent || "").length > 200) continue;
        }
      }
      if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true, checkVisibilityCSS: true })) continue;
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      if (hiddenBy(el, hiddenCache)) continue;
      visible.push([el, kind, rect]);
    }
    // iframes, so Python can label frames and know whether they are on screen
    const frames = [];
    const iframes = [];
    for (const el of all) {
      if (el.localName !== "iframe" && el.localName !== "frame") continue;
      iframes.push(el);
      let state = "h";
      if (!el.checkVisibility || el.checkVisibility({ visibilityProperty: true, checkVisibilityCSS: true })) {
        const rect = el.getBoundingClientRect();
        if (rect.width > 0 && rect.height > 0 && !hiddenBy(el, hiddenCache)) state = vis(rect, vw, vh) || "v";
      }
      let label = collapse(el.getAttribute("title") || el.getAttribute("aria-label") || el.getAttribute("name"));
      if (!label) {
        try { label = new URL(el.src, location.href).pathname; } catch { label = ""; }
      }
      frames.push([idOf(el), clip(label, 40), state]);
    }
    // keep every on-screen element first, then fill with off-screen ones, then restore DOM order
    const max = opts.maxElements;
    let chosen = visible;
    if (visible.length > max) {
      const onScreen = visible.filter((v) => !vis(v[2], vw, vh));
      const offScreen = visible.filter((v) => vis(v[2], vw, vh));
      const keep = new Set(onScreen.slice(0, max).concat(offScreen.slice(0, Math.max(0, max - onScreen.length))).map((v) => v[0]));
      chosen = visible.filter((v) => keep.has(v[0]));
    }
    const active = deepActive();
    const since = opts.since;
    const known = formsOf(all);
    const out = [];
    const unnamed = new Map();
    for (const [el, kind, rect] of chosen) {
      const id = idOf(el);
      if (!firstSeen.has(el)) firstSeen.set(el, seq);
      // role, name and hint only change with the DOM: recompute them after mutations only
      let fixed = described_.get(el);
      if (!fixed || fixed[0] !== mutations) {
        const role = roleOf(el, kind === 1);
        const name = clip(nameOf(el, role), 100);
        const link = el.closest("a[href],area[href]");
        fixed = [mutations, role, name || descriptorOf(el), !name, extraOf(el, role, name), fieldOf(el), link ? link.href : ""];
        described_.set(el, fixed);
      }
      const [, role, name, described, extra, facts, href] = fixed;
      let flags = vis(rect, vw, vh);
      if (since > 0 && firstSeen.get(el) > since) flags += "n";
      const point = flags.includes("a") || flags.includes("b") ? null
        : [Math.round(rect.left + rect.width / 2), Math.round(rect.top + rect.height / 2)];
      const row = [id, role, name, valueOf(el, role), statesOf(el, role, active), flags, extra, facts, href, point, formRefOf(el, role, known)];
      if (described) {
        const list = unnamed.get(name) || [];
        list.push(row);
        unnamed.set(name, list);
      }
      out.push(row);
    }
    for (const [name, rows] of unnamed) {
      if (rows.length < 2) continue;
      rows.forEach((row, i) => { row[2] = name.slice(0, -1) + ", #" + (i + 1) + ")"; });
    }
    // visible text, condensed; the digest skips text of regions that change on their own
    for (const el of document.querySelectorAll("time,[role=timer],[role=marquee],[aria-live=off]")) volatile.add(el);
    const body = document.body;
    let raw = body ? body.innerText || "" : "";
    // innerText skips shadow trees: add the text of open shadow roots whose host is shown
    for (const root of shadows) {
      if (!root.host.checkVisibility || root.host.checkVisibility()) {
        for (const child of root.children) if (child.innerText) raw += "\n" + child.innerText;
      }
    }
    const selects = [];
    for (const row of out) {
      const el = get(row[0]);
      if (el && el.localName === "select") selects.push(el);
    }
    const text = condensed(raw, selects, opts.textChars);
    const forms = [];
    for (const [form, f] of known.forms) {
      forms.push([idOf(form), f.action, f.method, f.targets, f.password, f.filled, f.values]);
    }
    return {
      seq, url: location.href, title: document.title, els: out, total: visible.length,
      text: text.text, textMore: text.more, textHash: text.hash,
      frames, scroll: [Math.round(window.scrollX), Math.round(window.scrollY)],
      mutations, widgets: widgetsOf(iframes, shadows, hiddenCache), unsettled, state: state(),
      forms, labels: labelsOf(all),
    };
  };

  // The visible text as lines (without the option lists of the listed <select>s) and its hash
  // for the digest, minus the text of volatile regions. Most actions leave the text as it was:
  // then the previous result is reused.
  let lastText = { key: null, text: "", more: 0, hash: "" };
  const condensed = (raw, selects, textChars) => {
    const key = raw + "\u0000" + textChars + "\u0000" + selects.map(idOf).join(",");
    if (key === lastText.key) return lastText;
    let digestText = raw;
    for (const v of volatile) {
      if (!v.isConnected) { volatile.delete(v); continue; }
      const t = v.innerText;
      if (t && t.trim()) digestText = digestText.split(t).join("");
    }
    // every line as shown, in page order (repeated labels and values stay: each card, each
    // slider has its own), but not the option lists of the listed <select>s
    const lines = [];
    const options = new Set();
    for (const el of selects) for (const o of el.options) options.add(collapse(o.text));
    let size = 0;
    let more = 0;
    for (const line of raw.split("\n")) {
      const text = collapse(line);
      if (!text || options.has(text)) continue;
      if (size + text.length > textChars) { more += text.length + 1; continue; }
      lines.push(text);
      size += text.length + 1;
    }
    lastText = { key, text: lines.join("\n"), more, hash: hash(digestText) };
    return lastText;
  };

  const hash = (s) => {
    let h1 = 0x811c9dc5 | 0, h2 = 0x01000193 | 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 16777619);
      h2 = Math.imul(h2 + c, 2246822519) ^ (h2 >>> 13);
    }
    return (h1 >>> 0).toString(16) + (h2 >>> 0).toString(16);
  };

  const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // Wait until the DOM has been quiet for quietMs (bounded by maxMs). No fixed sleeps: a page
  // that is already quiet returns after one macrotask.
  // First waits (up to busyMs) for what the action set in motion and the watcher saw (a
  // debounce timer, a fetch), then for the DOM to be quiet (up to maxMs more). True when the
  // page was still changing when the wait ended.
  const settle = async ({ quietMs, maxMs, busyMs }) => {
    let start = now();
    await macrotask();
    let waited = false;
    while (watcher !== null && watcher.busy() > 0 && now() - start < (busyMs || 0)) {
      waited = true;
      await sleep(8);
    }
    if (watcher !== null && watcher.busy() > 0) return true;
    if (waited) { start = now(); await macrotask(); }
    const from = waited ? start : -1e9;
    while (now() - start < maxMs) {
      const quiet = now() - Math.max(lastMutation, from);
      if (quiet >= quietMs) return false;
      await sleep(Math.max(1, Math.min(quietMs - quiet, maxMs - (now() - start))));
    }
    return now() - lastMutation < quietMs;
  };


  let overlay = null;
  const marks = (pairs) => {
    unmark();
    const host = document.createElement("div");
    ownNodes.add(host);
    host.style.cssText = "position:fixed;inset:0;pointer-events:none;z-index:2147483647;";
    const shadow = host.attachShadow({ mode: "closed" });
    const colors = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324"];
    for (const [local, global] of pairs) {
      const el = get(local);
      if (!el) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.bottom <= 0 || r.top >= window.innerHeight) continue;
      const color = colors[global % colors.length];
      const box = document.createElement("div");
      box.style.cssText = `position:fixed;left:${r.left}px;top:${r.top}px;width:${r.width}px;height:${r.height}px;outline:2px solid ${color};box-sizing:border-box;`;
      const tag = document.createElement("div");
      tag.textContent = String(global);
      tag.style.cssText = `position:absolute;left:-2px;top:-14px;font:bold 11px/13px monospace;color:#fff;background:${color};padding:0 2px;`;
      box.appendChild(tag);
      shadow.appendChild(box);
    }
    (document.body || document.documentElement).appendChild(host);
    overlay = host;
  };
  const unmark = () => {
    if (overlay) overlay.remove();
    overlay = null;
  };

  const lookup = (el) => (el && el.nodeType === 1 ? idOf(el) : 0);
  // Scroll the element's nearest scrollable container (or the page) by dx/dy viewport sizes.
  const scrollable = (el) => {
    for (let node = el; node; node = parentOf(node)) {
      if (node === document.body || node === document.documentElement) break;
      const style = getComputedStyle(node);
      const y = /(auto|scroll|overlay)/.test(style.overflowY) && node.scrollHeight > node.clientHeight;
      const x = /(auto|scroll|overlay)/.test(style.overflowX) && node.scrollWidth > node.clientWidth;
      if (x || y) return node;
    }
    return null;
  };
  const scrollBy = (id, dx, dy) => {
    const el = id ? get(id) : null;
    if (id && !el) return false;
    const box = el ? scrollable(el) : null;
    const page = document.scrollingElement || document.documentElement;
    const target = box || page;
    const fx = box ? box.clientWidth : window.innerWidth;
    const fy = box ? box.clientHeight : window.innerHeight;
    target.scrollBy({ left: dx * fx * 0.9, top: dy * fy * 0.9, behavior: "instant" });
    return true;
  };

  // A request from valet's selector engine (in Playwright's isolated world, from which only
  // primitives cross): `detail` is the id. The element goes back as the target of a composed
  // reply event. One inside a closed shadow root would reach the engine retargeted to its host,
  // so the reply then comes from the document instead, and the engine refuses.
  const onRequest = (event) => {
    const el = get(Number(event.detail));
    if (!el) return;
    if (inClosedTree(el)) document.dispatchEvent(new Event(config.reply));
    else el.dispatchEvent(new Event(config.reply, { composed: true }));
  };
  window.addEventListener(config.key, onRequest, { capture: true });

  return { observe, get, lookup, marks, unmark, scrollBy, settle, state };
}