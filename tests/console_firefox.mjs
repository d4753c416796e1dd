// Drives Firefox over WebDriver BiDi with puppeteer-core, for tests/test_console_firefox.py.
//
// The Python test starts this script and sends it one JSON command a line on stdin; each answer
// is one JSON line on stdout: {"id": n, "ok": true, "value": ...} or {"id": n, "ok": false,
// "error": "..."}. Firefox speaks BiDi itself (no geckodriver); puppeteer-core never downloads a
// browser. Everything the page reports (console errors and warnings, uncaught errors, failed
// requests, HTTP errors, Content-Security-Policy violations) is kept and returned by "report".
//
// Environment: FIREFOX (the browser binary), PUPPETEER_DIR (the folder whose node_modules holds
// puppeteer-core), PROFILE (an empty folder for the browser's profile).

import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(join(process.env.PUPPETEER_DIR, "package.json"));
const puppeteer = require("puppeteer-core");

const TIMEOUT = 15_000; // a wait that fails fails quickly
const seen = { errors: [], warnings: [], failed: [], http: [], requests: [] };
let browser = null;
let page = null;

// installed before the page's own scripts: what the browser refuses or fails to load shows here
function watchPage() {
  const report = (text) => console.error(`[watch] ${text}`);
  document.addEventListener("securitypolicyviolation", (e) => {
    report(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
  });
  window.addEventListener(
    "error",
    (e) => {
      const el = e.target;
      if (el && el !== window && el.tagName) report(`failed to load <${el.tagName.toLowerCase()}> ${el.src || el.href || ""}`);
    },
    true,
  );
  window.addEventListener("unhandledrejection", (e) => report(`unhandled rejection: ${e.reason && (e.reason.stack || e.reason)}`));
}

function where(message) {
  const at = message.location();
  return at && at.url ? ` (${at.url}:${at.lineNumber ?? "?"})` : "";
}

async function open({ url, width = 1400, height = 900 }) {
  page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width, height });
  page.on("console", (message) => {
    const text = `${message.text()}${where(message)}`;
    if (message.type() === "error") seen.errors.push(`console.error: ${text}`);
    else if (message.type() === "warn" || message.type() === "warning") seen.warnings.push(text);
  });
  page.on("pageerror", (error) => seen.errors.push(`uncaught: ${error.message || error}`));
  page.on("requestfailed", (request) => {
    const failure = request.failure();
    seen.failed.push(`${request.method()} ${request.url()}: ${failure ? failure.errorText : "failed"}`);
  });
  page.on("request", (request) => seen.requests.push(`${request.method()} ${request.url()}`));
  page.on("response", (response) => {
    if (response.status() >= 400) seen.http.push(`${response.request().method()} ${response.url()} -> ${response.status()}`);
  });
  await page.evaluateOnNewDocument(watchPage);
  await page.goto(url, { waitUntil: "load" });
}

// Puppeteer's own waits build their predicate with `new Function` inside the page, which the
// console's Content-Security-Policy forbids (rightly: the page runs no string as code). So the
// waits here poll from outside: each evaluation is a BiDi script.evaluate, which the page's
// policy does not govern, and the page keeps its real policy throughout the tests.
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `expr`, a JavaScript expression, is evaluated in the page until it is truthy; answers its value
// (an element found answers true: a node does not travel as JSON)
async function wait({ expr, timeout = TIMEOUT }) {
  const deadline = Date.now() + timeout;
  const test = `(() => { const value = (${expr}); return value instanceof Node ? true : value; })()`;
  for (;;) {
    const value = await page.evaluate(test);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${expr}`);
    await pause(50);
  }
}

// `expr` finds an element; once it is shown and enabled it is clicked with the mouse
async function click({ expr, timeout = TIMEOUT }) {
  const found = `(() => {
    const el = (${expr});
    if (!el || el.disabled || !el.isConnected) return null;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 ? el : null;
  })()`;
  const deadline = Date.now() + timeout;
  for (;;) {
    const handle = await page.evaluateHandle(found);
    const element = handle.asElement();
    if (element) {
      await element.click();
      await handle.dispose();
      return true;
    }
    await handle.dispose();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting to click ${expr}`);
    await pause(50);
  }
}

// "Enter", "Tab", or a chord such as "Shift+Tab"
async function press({ key }) {
  const keys = key.length > 1 ? key.split("+") : [key];
  const last = keys.pop();
  for (const held of keys) await page.keyboard.down(held);
  await page.keyboard.press(last);
  for (const held of keys.reverse()) await page.keyboard.up(held);
}

const ops = {
  open,
  wait,
  click,
  eval: async ({ expr }) => page.evaluate(expr),
  press,
  type: async ({ text }) => page.keyboard.type(text),
  move: async ({ x, y }) => page.mouse.move(x, y),
  clickAt: async ({ x, y }) => page.mouse.click(x, y),
  reload: async () => page.reload({ waitUntil: "load" }),
  goto: async ({ url }) => page.goto(url, { waitUntil: "load" }),
  back: async () => page.goBack({ waitUntil: "load" }),
  screenshot: async ({ path }) => page.screenshot({ path }),
  report: async () => seen,
  close: async () => {
    await browser.close();
    browser = null;
    return true;
  },
};

async function main() {
  browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: process.env.FIREFOX,
    userDataDir: process.env.PROFILE,
    headless: true,
    timeout: 60_000,
    extraPrefsFirefox: {
      // no network but loopback, no updates, no telemetry, no first-run pages
      "network.proxy.allow_hijacking_localhost": false,
      "app.update.enabled": false,
      "datareporting.policy.dataSubmissionEnabled": false,
      "browser.aboutwelcome.enabled": false,
    },
  });
  const out = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
  out({ id: 0, ok: true, value: await browser.version() });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { id, op, args } = JSON.parse(line);
    try {
      if (!(op in ops)) throw new Error(`unknown command ${op}`);
      const value = await ops[op](args || {});
      out({ id, ok: true, value: value === undefined ? null : value });
    } catch (error) {
      out({ id, ok: false, error: String((error && error.stack) || error) });
    }
    if (op === "close") break;
  }
  // "close", or the test went away (stdin closed): the browser goes too
  if (browser) await browser.close();
  process.exit(0);
}

main().catch(async (error) => {
  process.stdout.write(`${JSON.stringify({ id: 0, ok: false, error: String((error && error.stack) || error) })}\n`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
});
