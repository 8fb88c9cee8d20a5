// What the person or the agent typed into the page's forms, to put back after a restart.
// `read()` lists the fields whose value differs from the page's own default; `write(fields)`
// puts those values back (firing input and change, as typing does). Hidden and file inputs,
// payment and one-time-code fields are never read; password fields are marked `secret` (the
// caller keeps one only when it holds a vault placeholder's value, and then only the
// placeholder).
(() => {
  const NEVER = /^(cc-|one-time-code)/;
  const skipped = (el) =>
    el.disabled ||
    ["hidden", "file", "submit", "button", "reset", "image"].includes(el.type) ||
    NEVER.test(el.autocomplete || "") ||
    /card|cvc|cvv|iban|otp|one.?time/i.test(`${el.name} ${el.id}`);
  const secret = (el) =>
    el.type === "password" || /password/.test(el.autocomplete || "");
  const key = (el, i) => {
    const form = el.form ? Array.from(document.forms).indexOf(el.form) : -1;
    return { form, name: el.name || "", id: el.id || "", index: i };
  };
  const fields = () => Array.from(document.querySelectorAll("input, textarea, select"));
  const find = (want) =>
    fields().find((el, i) =>
      (want.id && el.id === want.id) ||
      (!want.id && want.name && el.name === want.name &&
        (el.type !== "radio" || el.value === want.value)) ||
      (!want.id && !want.name && i === want.index));
  return {
    read() {
      const out = [];
      fields().forEach((el, i) => {
        if (skipped(el)) return;
        if (el.type === "checkbox" || el.type === "radio") {
          if (el.checked !== el.defaultChecked) out.push({ ...key(el, i), value: el.value, checked: el.checked });
        } else if (el.tagName === "SELECT") {
          const chosen = Array.from(el.options).find((o) => o.selected);
          const initial = Array.from(el.options).find((o) => o.defaultSelected) || el.options[0];
          if (chosen && chosen !== initial) out.push({ ...key(el, i), value: el.value });
        } else if (el.value !== el.defaultValue) {
          out.push({ ...key(el, i), value: el.value, secret: secret(el) });
        }
      });
      return out;
    },
    write(saved) {
      let put = 0;
      for (const want of saved) {
        const el = find(want);
        if (!el || skipped(el)) continue;
        if ("checked" in want) el.checked = want.checked;
        else el.value = want.value;
        el.dispatchEvent(new Event("input", { bubbles: true }));
        el.dispatchEvent(new Event("change", { bubbles: true }));
        put += 1;
      }
      return put;
    },
  };
})()
