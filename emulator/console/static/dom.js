// A few DOM helpers: elements are built with properties, never from HTML strings, so nothing a
// payload holds can become markup.

/** h("button", {class: "x", onclick: f}, "text", child, ...) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `el` with `children` (the keyboard focus stays put: keepFocus). */
export function fill(el, ...children) {
  keepFocus(el, () => {
    el.replaceChildren();
    append(el, children);
  });
  return el;
}

const CONTROLS = "button, select, input, textarea, a[href], [tabindex]";

/**
 * Run `change`, which rebuilds part of `root`. If the keyboard focus was inside `root` and the
 * change took it away, it goes to the new control that stands for the one focused (same call or
 * broadcast, same name), or when that one is now disabled to the next control that can take
 * it, or else to `root` itself: a person using the keyboard keeps their place while the page
 * redraws under them (the call panel and the waiting list redraw on every event of the call).
 */
export function keepFocus(root, change) {
  const active = document.activeElement;
  const had = active && active !== root && root.contains(active) ? identity(active, root) : null;
  change();
  if (had === null || (document.activeElement && document.activeElement !== document.body)) return;
  const controls = [...root.querySelectorAll(CONTROLS)];
  const same = controls.findIndex((node) => identity(node, root) === had);
  let target = null;
  if (same >= 0) {
    target = controls.slice(same).find(usable) || controls.slice(0, same).reverse().find(usable) || null;
  }
  if (target === null && root.getClientRects().length > 0) {
    if (!root.hasAttribute("tabindex")) root.tabIndex = -1;
    target = root;
  }
  if (target !== null) target.focus({ preventScroll: true });
}

/** What a control stands for: the call or broadcast it belongs to and its name. */
function identity(node, root) {
  const scope = node.closest("[data-voice-id], [data-id]");
  const owner = scope && root.contains(scope) ? scope.dataset.voiceId || scope.dataset.id : "";
  const name = node.dataset.focus || node.id || node.getAttribute("aria-label") || node.textContent.trim();
  return `${owner}|${node.tagName}|${name}`;
}

function usable(node) {
  return !node.disabled && node.tabIndex >= 0 && node.getClientRects().length > 0;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Run `fn` at most once per `ms`, with the latest call always honoured at the end. */
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return function throttled() {
    if (timer !== null) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = setTimeout(() => {
      timer = null;
      last = performance.now();
      fn();
    }, wait);
  };
}
