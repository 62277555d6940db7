// Browser end-to-end test of the Airlock console: one story, in order, in one page.
//
// A new user signs up, creates a tenant, adds the `mock` provider, records its DPA,
// lets `internal` data go to it, creates a dev key, calls the relay with it through
// the official openai Python SDK (relay_call.py), revokes it, rotates a second key,
// and checks the members page and the audit chain. After every page a full-page
// screenshot goes to e2e/screenshots/NN-<name>.png.
//
// Run: e2e/run-console-tests.sh   (or: node --test e2e/console/ with the env below)
//
// Environment:
//   AIRLOCK_BIN               the binary (default ${CARGO_TARGET_DIR:-~/.cache/airlock-target}/debug/airlock)
//   AIRLOCK_VENV              virtualenv with e2e/requirements.txt (default ~/.cache/airlock-venv)
//   AIRLOCK_CHROMIUM          the browser (default /usr/bin/chromium)
//   AIRLOCK_STARTUP_TIMEOUT   seconds to wait for the server's JSON line (default 60)
//   AIRLOCK_SHUTDOWN_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default 20)
//   AIRLOCK_E2E_HEADFUL=1     show the browser (needs a display)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const screenshotDir = path.resolve(here, '..', 'screenshots');
const home = os.homedir();

const AIRLOCK_BIN =
  process.env.AIRLOCK_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(home, '.cache', 'airlock-target'), 'debug', 'airlock');
const AIRLOCK_VENV = process.env.AIRLOCK_VENV || path.join(home, '.cache', 'airlock-venv');
const PYTHON = path.join(AIRLOCK_VENV, 'bin', 'python');
const CHROMIUM = process.env.AIRLOCK_CHROMIUM || '/usr/bin/chromium';
const STARTUP_TIMEOUT_MS = Number(process.env.AIRLOCK_STARTUP_TIMEOUT || 60) * 1000;
const SHUTDOWN_TIMEOUT_MS = Number(process.env.AIRLOCK_SHUTDOWN_TIMEOUT || 20) * 1000;

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
// How long the relay may take to notice a revoked key (the console says "within a second").
const REVOKE_DEADLINE_MS = 5000;
const MODEL = 'gpt-4o-mini';

// ---------------------------------------------------------------------------
// The server

let server = null; // { proc, info, workdir, logPath, exited }

function tail(file, limit = 6000) {
  try {
    const data = fs.readFileSync(file);
    // eslint-disable-next-line no-control-regex
    const text = data.subarray(Math.max(0, data.length - limit)).toString('utf8').replace(/\x1b\[[0-9;]*m/g, '');
    return (data.length > limit ? '...(truncated)...\n' : '') + (text || '(stderr was empty)');
  } catch {
    return '(no stderr captured)';
  }
}

function serverLogTail() {
  if (!server) return '(the server was not started)';
  const state = server.exited ? `exited with ${server.exited}` : 'still running';
  return `--- airlock stderr, ${state} (${server.logPath}) ---\n${tail(server.logPath)}`;
}

async function startServer() {
  try {
    fs.accessSync(AIRLOCK_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(
      `airlock binary not found or not executable at ${AIRLOCK_BIN}; ` +
        'build it with `cargo build -p airlock` or set AIRLOCK_BIN',
    );
  }
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-console-e2e-'));
  const logPath = path.join(workdir, 'airlock.stderr.log');
  const logFd = fs.openSync(logPath, 'w');
  const args = [
    'serve', '--demo', '--json',
    '--data-dir', path.join(workdir, 'demo'),
    '--relay-addr', '127.0.0.1:0',
    '--console-addr', '127.0.0.1:0',
  ];
  const proc = spawn(AIRLOCK_BIN, args, {
    cwd: workdir,
    // The job runner every second, so a budget alert shows while the story waits.
    env: { ...process.env, NO_COLOR: '1', AIRLOCK_JOBS__INTERVAL_SECS: '1' },
    stdio: ['ignore', 'pipe', logFd],
  });
  fs.closeSync(logFd);
  server = { proc, info: null, workdir, logPath, exited: null };
  // If node dies without running `after` (Ctrl-C, a crash), do not leave the server behind.
  process.once('exit', () => {
    if (!server.exited) proc.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      if (!server.exited) proc.kill('SIGKILL');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  const exitedPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      server.exited = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
  });
  server.exitedPromise = exitedPromise;
  proc.on('error', (err) => {
    server.exited = `spawn error: ${err.message}`;
  });

  // The first stdout line is the JSON; the rest is drained so a chatty server never blocks.
  const lines = createInterface({ input: proc.stdout });
  const first = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), STARTUP_TIMEOUT_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    exitedPromise.then(() => {
      clearTimeout(timer);
      // A line written just before exit arrives first; this only wins if there was none.
      setTimeout(() => resolve(null), 200);
    });
  });
  const cmd = `${AIRLOCK_BIN} ${args.join(' ')}`;
  if (first === null) {
    const why = server.exited
      ? `exited (${server.exited})`
      : `printed nothing on stdout within ${STARTUP_TIMEOUT_MS / 1000}s`;
    throw new Error(`\`${cmd}\` ${why}.\n${serverLogTail()}`);
  }
  let info;
  try {
    info = JSON.parse(first);
    for (const field of ['relay_url', 'console_url']) {
      assert.equal(typeof info[field], 'string', `missing field ${field}`);
    }
  } catch (err) {
    throw new Error(
      `airlock's first stdout line is not the expected JSON (${err.message}): ${first}\n${serverLogTail()}`,
    );
  }
  info.relay_url = info.relay_url.replace(/\/+$/, '');
  info.console_url = info.console_url.replace(/\/+$/, '');
  server.info = info;
  return info;
}

/** SIGTERM, wait, SIGKILL if it hangs. Returns a problem description or null. */
async function stopServer() {
  if (!server || !server.proc) return null;
  const { proc } = server;
  if (server.exited) return `airlock had already exited (${server.exited}) before the end of the test`;
  proc.kill('SIGTERM');
  const stopped = await Promise.race([
    server.exitedPromise.then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), SHUTDOWN_TIMEOUT_MS)),
  ]);
  if (!stopped) {
    proc.kill('SIGKILL');
    await server.exitedPromise;
    return `airlock did not stop within ${SHUTDOWN_TIMEOUT_MS / 1000}s of SIGTERM and was killed`;
  }
  if (server.exited !== 'code 0') return `airlock exited with ${server.exited} after SIGTERM (expected a graceful 0)`;
  return null;
}

// ---------------------------------------------------------------------------
// The relay, through the official openai Python SDK

function runRelayCall(key, prompt) {
  const script = path.join(here, 'relay_call.py');
  const args = [script, '--base-url', `${server.info.relay_url}/v1`, '--key', key, '--model', MODEL, '--prompt', prompt];
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        const hint = err.code === 'ENOENT' ? ` (no python at ${PYTHON}: run e2e/run-console-tests.sh, or set AIRLOCK_VENV)` : '';
        reject(new Error(`relay_call.py failed${hint}: ${err.message}\nstderr: ${stderr}`));
        return;
      }
      const line = stdout.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`relay_call.py printed no JSON: ${JSON.stringify(stdout)}\nstderr: ${stderr}`));
      }
    });
  });
}

function mockReply(prompt) {
  return `Mock reply: ${prompt}`;
}

/** Calls the relay with `key` and asserts the mock provider answered. */
async function assertRelayAnswers(key, who) {
  const prompt = `Hello from the console test (${who}).`;
  const result = await runRelayCall(key, prompt);
  assert.ok(
    result.ok,
    `the relay should answer ${who}, but it refused: HTTP ${result.status} ${result.code}: ${result.message}`,
  );
  assert.equal(result.content, mockReply(prompt), `the relay's answer to ${who}`);
}

// ---------------------------------------------------------------------------
// The browser

let browser = null;
let context = null;
let page = null;
let shotNumber = 0;
const pageProblems = []; // console errors, page errors, failed subresources
const expectedFailures = new Set(); // addresses a step opens to see their error page

function resetScreenshots() {
  fs.mkdirSync(screenshotDir, { recursive: true });
  for (const name of fs.readdirSync(screenshotDir)) {
    if (name.endsWith('.png')) fs.rmSync(path.join(screenshotDir, name));
  }
}

/** A full-page screenshot, e2e/screenshots/NN-name.png. */
async function screenshot(name) {
  shotNumber += 1;
  const file = path.join(screenshotDir, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// axe-core, injected into every page the story looks at.
const AXE_SOURCE = fs.readFileSync(path.join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const AXE_FAILING_IMPACTS = new Set(['serious', 'critical']);

/** Runs axe-core on the page as it is; serious and critical violations become problems. */
async function checkAccessibility(name) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    // Evaluated through the debugging protocol, so the console's CSP does not apply.
    await page.evaluate(AXE_SOURCE);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  for (const v of violations) {
    if (AXE_FAILING_IMPACTS.has(v.impact)) {
      pageProblems.push(`axe (${v.impact}) on the ${name} page at ${currentPath()}: ${v.id}: ${v.help} (${v.targets.join(', ')})`);
    }
  }
}

/**
 * What every page of the story goes through: a desktop screenshot, axe-core, and
 * the same page at a phone's width, which must not scroll sideways.
 */
async function shot(name) {
  const file = await screenshot(name);
  await checkAccessibility(name);
  await page.setViewportSize(PHONE);
  try {
    await screenshot(`${name}-phone`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) {
      pageProblems.push(`the ${name} page is ${overflow}px wider than a ${PHONE.width}px phone screen`);
    }
    // Dates and times (marked .when) stay on one line.
    const wrapped = await page.evaluate(() =>
      [...document.querySelectorAll('.when')]
        .filter((el) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          return tops.size > 1;
        })
        .map((el) => el.textContent.trim()),
    );
    if (wrapped.length) {
      pageProblems.push(`the ${name} page wraps dates on a phone: ${wrapped.slice(0, 3).join(', ')}`);
    }
  } finally {
    await page.setViewportSize(DESKTOP);
  }
  return file;
}

const WAIT_MS = 10_000;

function currentPath() {
  const url = new URL(page.url());
  return url.pathname + url.search;
}

/** What the user sees, shortened, for failure messages. */
async function visibleText(limit = 1500) {
  try {
    const text = (await page.locator('main').innerText({ timeout: 1000 })).replace(/\s+\n/g, '\n').trim();
    return text.length > limit ? `${text.slice(0, limit)}…` : text;
  } catch {
    return '(no <main> on the page)';
  }
}

/** Polls until `check()` is truthy; fails with `message()` after the deadline. */
async function eventually(check, message, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? ` (${last.message.split('\n')[0]})` : '';
      assert.fail(`${await message()}${detail}\n  at ${currentPath()}; the page shows:\n${await visibleText()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the locator is visible and its text matches `expected` (string: contains). */
async function seeText(locator, expected, what) {
  const matches = (text) => (typeof expected === 'string' ? text.includes(expected) : expected.test(text));
  let seen = null;
  await eventually(
    async () => {
      if (!(await locator.first().isVisible())) {
        seen = null;
        return false;
      }
      seen = (await locator.first().innerText()).trim();
      return matches(seen);
    },
    () =>
      seen === null
        ? `${what}: not on the page (looked for ${locator})`
        : `${what}: expected ${typeof expected === 'string' ? JSON.stringify(expected) : expected}, saw ${JSON.stringify(seen)}`,
  );
  return seen;
}

/** Waits until the locator is visible. */
async function see(locator, what) {
  await eventually(
    () => locator.first().isVisible(),
    () => `${what}: not on the page (looked for ${locator})`,
  );
  return locator.first();
}

/** Waits for the address bar to match, and for the page to have loaded. */
async function arriveAt(pattern, what) {
  await eventually(
    () => pattern.test(currentPath()),
    () => `${what}: expected to be at ${pattern}, but the browser is at ${currentPath()}`,
  );
  await page.waitForLoadState('load');
  await assertNotAnErrorPage(what);
}

let storyFailed = false; // set by the first failing step
let lastDocument = null; // { status, method, url } of the last main-frame document

async function assertNotAnErrorPage(what) {
  if (lastDocument && lastDocument.status >= 400) {
    assert.fail(
      `${what}: ${lastDocument.method} ${new URL(lastDocument.url).pathname} answered HTTP ${lastDocument.status}; the page shows:\n${await visibleText()}`,
    );
  }
}

/** Clicks a link of the top bar's section navigation, by its exact text. */
async function openSection(name, pathPattern) {
  const links = page.locator('nav.sections a, header nav a').filter({ hasText: new RegExp(`^\\s*${name}\\s*$`) });
  if ((await links.count()) === 0) {
    const available = await page.locator('header nav a').allInnerTexts();
    assert.fail(
      `the top bar has no "${name}" link (it has: ${available.map((t) => t.trim()).filter(Boolean).join(', ')}) at ${currentPath()}`,
    );
  }
  await links.first().click();
  await arriveAt(pathPattern, `after clicking "${name}" in the top bar`);
}

/** The form control named `name` inside `form`; fails clearly if the form has none. */
async function field(form, name, what) {
  const control = form.locator(`[name="${name}"]`);
  await eventually(
    async () => (await control.count()) > 0,
    async () => `${what} has no field named "${name}"`,
  );
  return control.first();
}

/** Clicks a button by its visible name (inside `scope`, default the page). */
async function press(name, scope = page) {
  const button = scope.getByRole('button', { name, exact: true });
  await see(button, `the "${name}" button`);
  await button.first().click();
}

/**
 * Clicks a submit button and waits for the server's answer: a new page (after any
 * redirects), or, for forms that update in place with htmx, the htmx response.
 */
async function submit(name, scope = page) {
  const answered = page.waitForResponse(
    (response) => {
      const request = response.request();
      if (request.frame() !== page.mainFrame()) return false;
      if (request.isNavigationRequest()) return !(response.status() >= 300 && response.status() < 400);
      return request.headers()['hx-request'] === 'true';
    },
    { timeout: WAIT_MS },
  );
  await press(name, scope);
  let response;
  try {
    response = await answered;
  } catch {
    assert.fail(`clicking "${name}" at ${currentPath()} got no answer from the server within ${WAIT_MS / 1000}s`);
  }
  if (!response.request().isNavigationRequest() && response.status() >= 400) {
    assert.fail(
      `clicking "${name}" at ${currentPath()}: ${response.request().method()} ${new URL(response.url()).pathname} answered HTTP ${response.status()}`,
    );
  }
  await page.waitForLoadState('load');
}

function tableRow(scope, cellText) {
  return scope.locator('tbody tr').filter({ has: page.getByRole('cell', { name: cellText, exact: true }) });
}

/**
 * Every amount of money in `locator` is written one way: dollars and cents from
 * a cent up ($1,234.57), more digits only below a cent ($0.000008).
 */
async function assertMoneyReadable(locator, what) {
  const text = await locator.innerText();
  const amounts = text.match(/-?\$[0-9][0-9,]*(\.[0-9]+)?/g) || [];
  for (const amount of amounts) {
    const ok = /^-?\$[1-9][0-9]{0,2}(,[0-9]{3})*\.[0-9]{2}$/.test(amount) || /^-?\$0\.(00|0[0-9]*[1-9]|[0-9]{2})$/.test(amount);
    assert.ok(ok, `${what}: the amount ${amount} is not written as dollars and cents (or exactly, below a cent)`);
  }
  return amounts;
}

/** Presses Tab until the element matching `selector` has the focus (as a keyboard user would). */
async function tabTo(selector, what, limit = 80) {
  for (let i = 0; i < limit; i += 1) {
    if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`${what}: ${limit} presses of Tab never reached ${selector} at ${currentPath()}`);
}

// ---------------------------------------------------------------------------
// The story

const run = randomBytes(4).toString('hex');
const user = {
  name: 'Erin Example',
  email: `erin-${run}@example.com`,
  password: `correct horse ${run} battery`,
};
const tenant = { name: `Acme Browser Test ${run}`, slug: `acme-${run}` };
const dpa = { signedOn: '2025-03-14', reference: `DPA-MOCK-${run.toUpperCase()}` };
// A second provider, only to see how a stored API key is shown (masked).
const keyedProvider = {
  name: 'anthropic-backup',
  kind: 'anthropic',
  apiKey: `sk-ant-e2e-${randomBytes(12).toString('hex')}`,
};

before(async () => {
  resetScreenshots();
  await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: process.env.AIRLOCK_E2E_HEADFUL !== '1',
    args: ['--no-sandbox', '--disable-background-networking'],
  });
  context = await browser.newContext({ viewport: DESKTOP });
  // The key page's Copy button writes to the clipboard; the test reads it back.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.info.console_url });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      if (response.status() >= 300 && response.status() < 400) return; // the redirect's target follows
      lastDocument = { status: response.status(), method: request.method(), url: response.url() };
    } else if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) {
      pageProblems.push(`${request.method()} ${response.url()} answered HTTP ${response.status()}`);
    }
  });
  page.on('pageerror', (err) => pageProblems.push(`script error at ${currentPath()}: ${err.message}`));
  page.on('console', (msg) => {
    const url = msg.location()?.url || '';
    if (msg.type() === 'error' && !/favicon\.ico/.test(url) && !expectedFailures.has(url)) {
      pageProblems.push(`console error at ${currentPath()}: ${msg.text()}`);
    }
  });
});

after(async () => {
  // Everything here runs even if `before` failed half-way.
  const problems = [];
  try {
    if (browser) await browser.close();
  } catch (err) {
    problems.push(`closing the browser: ${err.message}`);
  }
  const stopProblem = await stopServer();
  if (stopProblem) problems.push(stopProblem);
  if (storyFailed) process.stderr.write(`screenshots of the story so far: ${screenshotDir}\n`);
  // Keep the server's data dir and log when something went wrong.
  if (server && !storyFailed && !problems.length) fs.rmSync(server.workdir, { recursive: true, force: true });
  if (problems.length) throw new Error(`${problems.join('\n')}\n${serverLogTail()}`);
});


test('a new user sets up a tenant, a provider and its policy, then creates, uses, revokes and rotates relay keys', { timeout: 300_000 }, async (t) => {
  const consoleUrl = server.info.console_url;
  const slug = tenant.slug;
  const tenantPath = (rest) => new RegExp(`^/t/${slug}/${rest}`);
  const keys = {}; // what the user copied from the console

  /** One step of the story: later steps are skipped once one fails. */
  const step = (name, fn) =>
    t.test(name, async (st) => {
      if (storyFailed) {
        st.skip('an earlier step failed');
        return;
      }
      const problemsBefore = pageProblems.length;
      try {
        await fn();
        const fresh = pageProblems.slice(problemsBefore);
        assert.ok(fresh.length === 0, `problems a user would see in this step (console errors, failed loads, pages too wide for a phone):\n  ${fresh.join('\n  ')}`);
      } catch (err) {
        storyFailed = true;
        try {
          await screenshot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 40)}`);
        } catch {
          // the page may be gone; the error below is what matters
        }
        if (err instanceof Error) {
          err.message += `\n${serverLogTail()}`;
        }
        throw err;
      }
    });

  await step('a. sign up, confirm the address by its link, and land signed in', async () => {
    await page.goto(`${consoleUrl}/signup`);
    await assertNotAnErrorPage('the sign-up page');
    await seeText(page.locator('h1'), 'Create an account', 'the sign-up heading');
    await shot('signup');
    await page.getByLabel('Your name').fill(user.name);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await submit('Create account');
    // The demo sends no mail, so the confirmation link is on the page.
    await seeText(page.locator('h1'), 'Confirm your address', 'the page after signing up');
    const link = await see(page.locator('#shown-link'), 'the confirmation link');
    assert.match(await link.getAttribute('href'), /\/verify\/[0-9a-f]{64}$/, 'a single-use confirmation link');
    await shot('signup-confirm-link');
    await link.click();
    await seeText(page.locator('h1'), 'Address confirmed', 'the page after opening the link');
    await page.getByRole('link', { name: 'Go to your tenants' }).click();
    await arriveAt(/^\/tenants$/, 'after confirming the address');
    await seeText(page.locator('h1'), 'Your tenants', 'the page after signing up');
    await seeText(page.locator('header'), user.email, 'the top bar shows who is signed in');
    await see(page.getByRole('button', { name: 'Sign out' }), 'the sign-out button');
    await seeText(page.locator('main'), 'not a member of any tenant yet', 'a new user has no tenant');
    await shot('signed-up-tenants');
  });

  await step('b. create a tenant', async () => {
    await page.getByLabel('Name', { exact: true }).fill(tenant.name);
    const suggested = tenant.name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    await eventually(
      async () => (await page.getByLabel('Address').inputValue()) === suggested,
      async () => `typing the name should suggest the address ${suggested}, the field holds ${JSON.stringify(await page.getByLabel('Address').inputValue())}`,
      3000,
    );
    await page.getByLabel('Address').fill(slug);
    await submit('Create tenant');
    await arriveAt(tenantPath('keys'), 'after creating the tenant');
    await seeText(page.locator('h1'), 'Relay keys', 'a new tenant opens on its keys');
    await seeText(page.locator('header summary').first(), tenant.name, 'the tenant switcher shows the new tenant');
    await seeText(page.locator('header summary').first(), 'owner', 'the creator of a tenant is its owner');
    await seeText(page.locator('main'), 'No dev keys yet', 'a new tenant has no keys');
    await seeText(page.locator('#notice'), 'Tenant created', 'the notice after creating the tenant');
    await see(page.locator('#first-steps li[data-step="provider"][data-done="false"]'), 'the walk-through starts with adding a provider');
    await seeText(page.locator('#first-steps li[data-step="call"]'), '/v1', 'the walk-through says where the relay is');
    await shot('tenant-created-keys');
  });

  await step('c. add the mock provider', async () => {
    await openSection('Providers', tenantPath('providers'));
    await shot('providers-empty');
    const what = 'the provider form #provider-form';
    const form = await see(page.locator('#provider-form'), what);
    await (await field(form, 'name', what)).fill('mock');
    await (await field(form, 'kind', what)).selectOption('mock');
    await (await field(form, 'base_url', what)).fill('');
    const apiKey = await field(form, 'api_key', what);
    assert.equal(await apiKey.getAttribute('type'), 'password', 'the API key field should be a password field');
    await apiKey.fill('');
    await submit('Save provider', form);
    await arriveAt(tenantPath('providers'), 'after saving the mock provider');
    const row = page.locator('tr[data-provider="mock"]');
    await seeText(row, 'mock', 'the row of the mock provider shows its kind');
    await shot('providers-mock');

    // A provider with an API key shows only its last 4 characters.
    const form2 = await see(page.locator('#provider-form'), what);
    await (await field(form2, 'name', what)).fill(keyedProvider.name);
    await (await field(form2, 'kind', what)).selectOption(keyedProvider.kind);
    await (await field(form2, 'base_url', what)).fill('');
    await (await field(form2, 'api_key', what)).fill(keyedProvider.apiKey);
    await submit('Save provider', form2);
    await arriveAt(tenantPath('providers'), 'after saving a provider with an API key');
    const keyed = page.locator(`tr[data-provider="${keyedProvider.name}"]`);
    const last4 = keyedProvider.apiKey.slice(-4);
    const shown = await seeText(keyed, `••••${last4}`, `the ${keyedProvider.name} row shows the key as ••••${last4}`);
    await seeText(keyed, keyedProvider.kind, `the ${keyedProvider.name} row shows its kind`);
    await see(page.locator('tr[data-provider="mock"]'), 'the mock provider is still listed');
    const html = await page.content();
    assert.ok(!html.includes(keyedProvider.apiKey), 'the providers page must never contain the whole API key');
    assert.ok(
      !html.includes(keyedProvider.apiKey.slice(-5)),
      `the providers page shows more than the last 4 characters of the API key (row: ${JSON.stringify(shown)})`,
    );
    await shot('providers-two');

    // A second provider moved nothing: the page says where models go, and the
    // route tester answers for a name typed (the relay's answer follows in g).
    const anyOther = page.locator('tr[data-effective="any other model"]');
    await seeText(anyOther, 'mock', 'the effective routes send any other model to the default, mock');
    const tester = await see(page.locator('#route-test'), 'the route tester #route-test');
    await (await field(tester, 'model', 'the route tester')).fill('claude-sonnet-4-5');
    await submit('Show where it goes', tester);
    await arriveAt(tenantPath('providers/route'), 'after trying a model name');
    await seeText(page.locator('#route-test-result'), /goes to mock: the default provider/, 'the route tester for claude-sonnet-4-5 (an Anthropic provider exists, no route)');
    await shot('providers-route-test');
  });

  await step('d. record the DPA with mock', async () => {
    await openSection('Agreements', tenantPath('agreements'));
    await shot('agreements-empty');
    const what = 'the agreement form #agreement-form';
    const form = await see(page.locator('#agreement-form'), what);
    await (await field(form, 'provider', what)).selectOption('mock');
    await (await field(form, 'dpa_signed_on', what)).fill(dpa.signedOn);
    await (await field(form, 'dpa_reference', what)).fill(dpa.reference);
    await submit('Save agreement', form);
    await arriveAt(tenantPath('agreements'), 'after saving the agreement');
    const row = page.locator('tr[data-agreement="mock"]');
    await seeText(row, dpa.signedOn, 'the mock agreement row shows the date the DPA was signed');
    await seeText(row, dpa.reference, 'the mock agreement row shows the DPA reference');
    await shot('agreements-mock-dpa');

    // A change starts from what is on file: nothing is retyped.
    await row.getByRole('link', { name: 'Edit' }).click();
    await arriveAt(tenantPath('agreements\\?edit=mock'), 'after choosing to edit the mock agreement');
    await seeText(page.locator('main h2').filter({ hasText: 'Change the agreement' }), 'mock', 'the form says which agreement it changes');
    const edit = page.locator('#agreement-form');
    assert.equal(await (await field(edit, 'dpa_reference', what)).inputValue(), dpa.reference, 'the form holds the reference on file');
    assert.equal(await (await field(edit, 'dpa_signed_on', what)).inputValue(), dpa.signedOn, 'the form holds the date on file');
    await (await field(edit, 'region', what)).fill('eu-west');
    await submit('Save agreement', edit);
    await arriveAt(tenantPath('agreements'), 'after changing the agreement');
    await seeText(page.getByRole('status'), 'Saved', 'the notice after saving');
    await seeText(page.locator('tr[data-agreement="mock"]'), 'eu-west', 'the changed region');
    await seeText(page.locator('tr[data-agreement="mock"]'), dpa.reference, 'the reference is kept');
    await shot('agreements-edited');
  });

  await step('e. let internal data go to mock, with a DPA required', async () => {
    await openSection('Policies', tenantPath('policies'));
    await shot('policies');
    const what = 'the internal policy form #policy-internal';
    const form = await see(page.locator('#policy-internal'), what);
    await (await field(form, 'allowed_providers', what)).fill('mock');
    await (await field(form, 'require_dpa', what)).check();
    await submit('Save internal policy', form);
    await arriveAt(tenantPath('policies'), 'after saving the internal policy');
    const saved = page.locator('#policy-internal');
    await eventually(
      async () => (await saved.locator('input[name="allowed_providers"]').inputValue()).trim() === 'mock',
      async () =>
        `the saved internal policy should allow "mock", its field says ${JSON.stringify(await saved.locator('input[name="allowed_providers"]').inputValue())}`,
    );
    assert.ok(await saved.locator('input[name="require_dpa"]').isChecked(), 'the saved internal policy should require a DPA');

    const preview = await see(page.locator('#preview'), 'the preview table #preview');
    const internal = preview.locator('tr[data-provider="mock"] td[data-class="internal"]');
    // "allowed" must be the verdict itself, not part of e.g. "not on the allowed list".
    const verdict = await seeText(internal, /^[^a-z]*allowed\b/i, 'the preview: may mock receive internal data');
    assert.doesNotMatch(verdict, /\bnot\b|missing/i, `the preview should say mock may receive internal data, it says ${JSON.stringify(verdict)}`);
    // The other provider has no agreement and is not on the internal list: the preview must say so.
    const other = preview.locator(`tr[data-provider="${keyedProvider.name}"]`);
    const otherInternal = await seeText(other.locator('td[data-class="internal"]'), /\S/, `the preview: ${keyedProvider.name} and internal data`);
    assert.doesNotMatch(otherInternal, /^[^a-z]*allowed\b/i, `${keyedProvider.name} is not on the internal list, yet the preview says ${JSON.stringify(otherInternal)}`);
    await seeText(other.locator('td[data-class="confidential"]'), /missing DPA/i, `the preview: ${keyedProvider.name} has no DPA for confidential data`);
    await shot('policies-internal-saved');
  });

  await step('e2. the prices page: list prices, and a price of the tenant\'s own', async () => {
    await openSection('Prices', tenantPath('prices'));
    await seeText(page.locator('main'), 'gpt-4o-mini', 'the list prices are shown');
    const what = 'the price form #price-form';
    const form = await see(page.locator('#price-form'), what);
    await (await field(form, 'model', what)).fill('house-llm');
    await (await field(form, 'input', what)).fill('0.5');
    await (await field(form, 'output', what)).fill('1.5');
    await submit('Save price', form);
    await arriveAt(tenantPath('prices'), 'after saving a price');
    await seeText(page.locator('tr[data-price="house-llm"]'), 'this tenant', 'the own price is listed as the tenant\'s');
    await shot('prices');
  });

  await step('f. create a dev key and copy it', async () => {
    await openSection('Keys', tenantPath('keys'));
    await page.getByRole('navigation', { name: 'Environments' }).getByRole('link', { name: 'dev', exact: true }).click();
    await arriveAt(tenantPath('keys\\?env=dev'), 'after choosing the dev tab');
    await page.getByLabel('New dev key named').fill('checkout-e2e');
    await submit('Create key');
    await arriveAt(tenantPath('keys'), 'after creating a key');
    await seeText(page.locator('h1'), 'Key created', 'the page after creating a key');
    const key = (await seeText(page.locator('#new-key'), /^dev_\S+$/, 'the new key in #new-key is a dev_ key')).trim();
    const copy = await see(page.locator('#copy-key'), 'the copy button #copy-key next to the key');
    assert.match((await copy.innerText()).trim(), /^Copy$/, 'the copy button says "Copy"');
    await page.evaluate(() => navigator.clipboard.writeText('(nothing copied yet)'));
    await copy.click();
    await eventually(
      async () => (await page.evaluate(() => navigator.clipboard.readText())) === key,
      async () =>
        `clicking "Copy" should put the key on the clipboard, the clipboard holds ${JSON.stringify(await page.evaluate(() => navigator.clipboard.readText()))}`,
      3000,
    );
    keys.first = key;
    const python = await seeText(page.locator('#snippet-openai-python'), /base_url="http[^"]+\/v1"/, 'the OpenAI Python snippet names the relay');
    assert.ok(python.includes(key), 'the OpenAI Python snippet carries the new key');
    assert.ok((await page.locator('#snippet-claude-code').innerText()).includes(`ANTHROPIC_API_KEY=${key}`), 'the Claude Code snippet carries the key');
    await shot('key-created');

    // The page came by post-redirect-get: a reload says "already shown", shows
    // no key and makes none.
    await page.reload();
    await seeText(page.locator('h1'), 'This key was already shown', 'the key-created page after a reload');
    assert.ok(!(await page.content()).includes(key), 'a reload must not show the key again');
    await shot('key-already-shown');
    await page.getByRole('link', { name: 'Back to the keys' }).click();
    await arriveAt(tenantPath('keys'), 'after going back to the keys');
    await page.getByRole('navigation', { name: 'Environments' }).getByRole('link', { name: 'dev', exact: true }).click();
    await arriveAt(tenantPath('keys\\?env=dev'), 'after going back to the dev keys');
    const row = tableRow(page, 'checkout-e2e');
    await seeText(row, 'active', 'the new key is listed as active');
    assert.equal(await row.count(), 1, 'one key named checkout-e2e after a reload of its page');
    assert.ok(!(await page.content()).includes(key), 'the keys list must not show the whole key');
    await shot('keys-one-active');
  });

  await step('g. the relay answers the new key; the walk-through is done', async () => {
    await assertRelayAnswers(keys.first, 'the new dev key');
    await eventually(
      async () => {
        await page.goto(`${consoleUrl}/t/${slug}/keys?env=dev`);
        return (await page.locator('#first-steps').count()) === 0;
      },
      () => 'after the first call the keys page should drop the getting-started steps',
    );
    await assertMoneyReadable(page.locator('table.keys'), 'the keys list');
  });

  await step('g2. a page that does not exist keeps the way back', async () => {
    const missing = `${consoleUrl}/t/${slug}/keys/00000000-0000-0000-0000-000000000000`;
    expectedFailures.add(missing); // Chromium logs the 404 of the document itself
    const response = await page.goto(missing);
    assert.equal(response.status(), 404, 'a key that does not exist');
    await seeText(page.locator('main h1'), 'Not found', 'the error page heading');
    await seeText(page.locator('main'), 'Pick a tenant', 'the error page says what to do');
    await see(page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Keys' }), 'the section navigation on the error page');
    await see(page.getByRole('button', { name: 'Sign out' }), 'sign-out on the error page');
    lastDocument = null; // the 404 was the point
    await shot('error-not-found');
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Keys' }).click();
    await arriveAt(tenantPath('keys'), 'back from the error page');
  });

  await step('h. revoke the key; the relay refuses it within 5 s', async () => {
    if (!/[?&]env=dev\b/.test(currentPath())) {
      await page.goto(`${consoleUrl}/t/${slug}/keys?env=dev`);
      await arriveAt(tenantPath('keys\\?env=dev'), 'the dev keys');
    }
    const row = tableRow(page, 'checkout-e2e');
    await see(row, 'the row of the key to revoke');
    // "Keep it" closes the confirmation and revokes nothing.
    await row.locator('summary', { hasText: 'Revoke' }).click();
    await press('Keep it', row);
    assert.equal(await row.locator('details').first().evaluate((d) => d.open), false, '"Keep it" closes the confirmation');
    await row.locator('summary', { hasText: 'Revoke' }).click();
    // The confirmation is in full view, not cut off by its table cell or card.
    const confirm = row.getByRole('button', { name: 'Revoke for good', exact: true });
    const clear = await confirm.evaluate((button) => {
      const box = button.getBoundingClientRect();
      const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return box.right <= window.innerWidth && box.bottom <= window.innerHeight && hit === button;
    });
    assert.ok(clear, 'the "Revoke for good" button is in full view and not covered');
    await shot('key-revoke-confirm');
    await submit('Revoke for good', row);
    await arriveAt(tenantPath('keys\\?env=dev'), 'after revoking the key');
    await seeText(page.locator('#notice'), 'Key revoked', 'the notice after revoking');
    assert.equal(await tableRow(page, 'checkout-e2e').count(), 0, 'revoked keys are hidden from the list by default');
    const search = await see(page.locator('#key-search'), 'the key search form');
    await (await field(search, 'status', 'the key search form')).selectOption('revoked');
    await submit('Show keys', search);
    await arriveAt(tenantPath('keys\\?env=dev'), 'after choosing to show revoked keys');
    await seeText(tableRow(page, 'checkout-e2e'), 'revoked', 'the revoked key is listed as revoked');
    await shot('key-revoked');

    const started = Date.now();
    let result;
    for (;;) {
      result = await runRelayCall(keys.first, 'Is this key still alive?');
      if (!result.ok || Date.now() - started > REVOKE_DEADLINE_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(result.ok, false, `the relay still answered the revoked key ${Date.now() - started} ms after the revoke`);
    assert.equal(result.status, 401, `the relay should refuse a revoked key with HTTP 401, got ${JSON.stringify(result)}`);
    assert.equal(result.code, 'key_revoked', `the error code for a revoked key, got ${JSON.stringify(result)}`);
  });

  await step('i. create a second key with the keyboard alone, rotate it; the old and the new key both work', async () => {
    await page.goto(`${consoleUrl}/t/${slug}/keys?env=dev`);
    await arriveAt(tenantPath('keys\\?env=dev'), 'the dev keys');
    // The first Tab reaches "Skip to the page"; Tab on reaches the form.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to the page', 'the first Tab stop is the skip link');
    await tabTo('input[name="name"]', 'the new key\'s name field');
    await page.keyboard.type('billing-e2e');
    const answered = page.waitForResponse((r) => r.request().isNavigationRequest() && r.status() < 300);
    await page.keyboard.press('Enter');
    await answered;
    await arriveAt(tenantPath('keys'), 'after creating the second key');
    keys.old = (await seeText(page.locator('#new-key'), /^dev_\S+$/, 'the second key in #new-key')).trim();
    await page.getByRole('link', { name: 'Back to the dev keys' }).click();
    await arriveAt(tenantPath('keys\\?env=dev'), 'after going back to the dev keys');

    const row = tableRow(page, 'billing-e2e');
    await seeText(row, 'active', 'the second key is active');
    await submit('Rotate', row);
    await arriveAt(tenantPath('keys/created/[0-9a-f]{64}$'), 'after rotating the key');
    await seeText(page.locator('h1'), 'Key rotated', 'the page after rotating');
    keys.rotated = (await seeText(page.locator('#new-key'), /^dev_\S+$/, 'the rotated key in #new-key')).trim();
    assert.notEqual(keys.rotated, keys.old, 'rotation must give a new key');
    await seeText(page.locator('main'), 'keeps working until', 'the page says how long the old key keeps working');
    await shot('key-rotated');

    await assertRelayAnswers(keys.old, 'the old key during its grace period');
    await assertRelayAnswers(keys.rotated, 'the rotated key');

    await page.getByRole('link', { name: 'Back to the dev keys' }).click();
    await arriveAt(tenantPath('keys\\?env=dev'), 'after going back to the dev keys');
    await eventually(
      async () => (await tableRow(page, 'billing-e2e').count()) === 2,
      async () => `after rotation the list should show the old and the new billing-e2e key, it shows ${await tableRow(page, 'billing-e2e').count()}`,
    );
    await seeText(tableRow(page, 'billing-e2e').filter({ hasText: 'until' }), 'until', 'the old key shows until when it works');
    await shot('keys-after-rotation');
  });

  await step('i2. a key\'s budget, crossed, rings the bell', async () => {
    await page.goto(`${consoleUrl}/t/${slug}/keys?env=dev`);
    await arriveAt(tenantPath('keys\\?env=dev'), 'the dev keys');
    const rotatedPrefix = keys.rotated.slice(0, 12);
    await page.locator('table.keys a', { hasText: rotatedPrefix }).click();
    await arriveAt(tenantPath('keys/[0-9a-f-]{36}$'), 'the rotated key\'s page');
    const form = page.locator('#key-limits');
    // A budget of one micro-dollar: the call the key made is already past it.
    await (await field(form, 'monthly_budget', 'the key settings form')).fill('0.000001');
    await submit('Save key settings', form);
    await arriveAt(tenantPath('keys/[0-9a-f-]{36}'), 'after saving the key\'s budget');
    await eventually(
      async () => {
        await page.reload();
        return /\d/.test(await page.locator('#bell').innerText());
      },
      async () => `the bell should count an alert within a few job ticks, it says ${JSON.stringify(await page.locator('#bell').innerText())}`,
    );
    await page.locator('#bell').click();
    await arriveAt(tenantPath('alerts'), 'after clicking the bell');
    const alertItem = page.locator(`#alerts li[data-threshold="100"]`).filter({ hasText: 'billing-e2e' });
    await seeText(alertItem, /the budget of the key billing-e2e \(dev_\w+\) at \d+ % \(\$0\.\d+ of \$0\.000001\)/, 'the alert names the key and the numbers');
    await seeText(alertItem, 'no mail server is configured', 'the alert says it was not mailed (the demo has no SMTP)');
    await shot('alerts');
    await submit('Acknowledge', alertItem);
    await arriveAt(tenantPath('alerts'), 'after acknowledging');
    await seeText(page.getByRole('status'), 'Alert acknowledged', 'the notice after acknowledging');
    assert.doesNotMatch(await page.locator('#bell').innerText(), /\d/, 'the bell counts nothing once acknowledged');
  });

  await step('i3. an admin contains an incident in dev, sees the keys refused, and releases them', async () => {
    await openSection('Incidents', tenantPath('incidents'));
    const form = page.locator('#contain-form');
    await form.locator('input[name="scope"][value="env"]').check();
    await (await field(form, 'env', 'the containment form')).selectOption('dev');
    await (await field(form, 'action', 'the containment form')).selectOption('suspend');
    await (await field(form, 'note', 'the containment form')).fill('a dev key was pasted in a ticket');
    await submit('Show which keys', form);
    const confirm = await see(page.locator('#confirm-containment'), 'the confirmation with the number of keys');
    const says = await seeText(confirm, /This will suspend every dev key: \d+ keys?/, 'the confirmation says how many keys');
    const count = Number(says.match(/: (\d+) key/)[1]);
    assert.ok(count >= 2, `the dev keys working now (the rotated pair): ${says}`);
    await shot('incident-confirm');
    await submit(`Suspend ${count} keys`, confirm);
    await arriveAt(tenantPath('incidents\\?done=keys-suspended'), 'after suspending');
    await seeText(page.getByRole('status'), 'Keys suspended', 'the notice after containing');
    assert.equal(await page.locator('#suspended-keys tbody tr').count(), count, 'every suspended key is listed');
    await shot('incident-contained');
    const started = Date.now();
    let refused;
    for (;;) {
      refused = await runRelayCall(keys.rotated, 'Still there?');
      if (refused.code === 'key_suspended' || Date.now() - started > REVOKE_DEADLINE_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(refused.code, 'key_suspended', `the relay refuses a suspended key: ${JSON.stringify(refused)}`);
    const release = page.locator('#release-form');
    await (await field(release, 'note', 'the release form')).fill('the ticket was cleaned, keys rotated');
    await submit('Release', release);
    await arriveAt(tenantPath('incidents\\?done=keys-released'), 'after releasing');
    await seeText(page.locator('main'), 'No key is suspended.', 'nothing is suspended after the release');

    // Assess: the last 24 hours of the dev keys, on a page and as CSV.
    const report = page.locator('#report-form');
    await (await field(report, 'scope', 'the report form')).selectOption('env');
    await (await field(report, 'env', 'the report form')).selectOption('dev');
    await submit('Show the report', report);
    await arriveAt(tenantPath('incidents/report\\?'), 'the incident report');
    await seeText(page.locator('#report-summary'), /every dev key, .* UTC: \d+ keys with activity or stopped, [1-9]\d* requests/, 'the report\'s totals');
    await seeText(tableRow(page.locator('#report-keys'), 'billing-e2e').first(), 'billing-e2e', 'the report lists the rotated key');
    await see(page.locator('#report-events'), 'the audit events of the window');
    await seeText(page.locator('#report-events'), 'incident.contain', 'the containment is among the events');
    await assertMoneyReadable(page.locator('#report-keys'), 'the incident report');
    await shot('incident-report');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#report-csv').click()]);
    const rows = fs.readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(rows[0], 'key_prefix,name,env,state,requests,refusals,cost_usd,models,networks,first_request,last_request', 'the CSV header');
    assert.ok(rows.slice(1).some((row) => row.split(',')[1] === 'billing-e2e'), `the CSV lists the rotated key: ${rows.join(' | ')}`);
  });

  await step('j. the members page and a verified audit log', async () => {
    await openSection('Members', tenantPath('members'));
    const me = tableRow(page, user.email);
    await seeText(me, 'owner', 'the members page lists the user as owner');
    await seeText(me, user.name, 'the members page shows the user name');
    await shot('members');

    // An invitation sent by mistake is cancelled.
    const invite = page.locator('#invite-form');
    const mistaken = `typo-${run}@example.com`;
    await (await field(invite, 'email', 'the invitation form')).fill(mistaken);
    await submit('Send invitation', invite);
    const pending = tableRow(page, mistaken);
    await see(pending, 'the pending invitation');
    await shot('members-invitation-pending');
    await pending.locator('summary', { hasText: 'Cancel' }).click();
    await submit('Cancel invitation', pending);
    await arriveAt(tenantPath('members'), 'after cancelling the invitation');
    await seeText(page.getByRole('status'), 'Invitation cancelled', 'the notice after cancelling');
    assert.equal(await tableRow(page, mistaken).count(), 0, 'the cancelled invitation is gone');
    await shot('members-invitation-cancelled');

    await openSection('Audit log', tenantPath('audit'));
    const events = page.locator('main table tbody');
    for (const action of ['tenant.create', 'provider.create', 'agreement.save', 'policy.save', 'price.save', 'key.create', 'key.revoke', 'key.rotate']) {
      await seeText(events, action, `the audit log lists ${action}`);
    }
    // In words: keys by prefix and name, people by email, changes field by field.
    const prefix = keys.first.slice(0, 12);
    await seeText(page.locator('tr[data-action="key.revoke"]'), `Revoked the key ${prefix}… “checkout-e2e”`, 'the revocation names the key');
    await seeText(page.locator('tr[data-action="key.rotate"]'), /Rotated the key dev_\w+… “billing-e2e”; the new key is dev_\w+…/, 'the rotation names both keys');
    await seeText(page.locator('tr[data-action="member.invite_cancel"]'), `Cancelled the invitation of ${mistaken}`, 'the cancellation names the address');
    await seeText(page.locator('tr[data-action="agreement.save"]').first(), 'Region: none → eu-west', 'the agreement change, field by field');
    const auditText = await page.locator('main table').innerText();
    assert.doesNotMatch(auditText, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, 'no bare ids in the audit log');
    assert.doesNotMatch(auditText, /[{}]"/, 'no raw JSON in the audit log');
    await shot('audit');
    await submit('Verify the chain');
    await arriveAt(tenantPath('audit'), 'after verifying the chain');
    await seeText(page.getByRole('status'), /chain is intact/i, 'the audit chain verifies');
    await shot('audit-verified');
  });

  await step('k. the usage overview, and an API token that works', async () => {
    await openSection('Usage', tenantPath('usage'));
    await seeText(page.locator('#usage-totals'), /[1-9]\d* requests/, 'the period\'s totals count the calls made');
    await see(page.locator('#per-day'), 'the per-day table under the charts');
    await see(page.locator('svg[role="img"]').first(), 'the cost chart (server-rendered SVG)');
    await see(page.locator('#month-to-date'), 'month-to-date spend');
    await seeText(page.locator('main'), /forecast/i, 'the month-end forecast, labelled as one');
    await assertMoneyReadable(page.locator('main'), 'the usage page');
    await shot('usage');

    await page.locator('header a[href="/account/tokens"]').click();
    await arriveAt(/^\/account\/tokens$/, 'the account page');
    const form = page.locator('#token-form');
    await (await field(form, 'name', 'the token form')).fill('e2e-script');
    await submit('Create token');
    const token = (await page.locator('#new-token').innerText()).trim();
    assert.match(token, /^alk_[0-9a-f]{64}$/, 'the new API token is shown once');
    await shot('api-token-created');
    await page.reload();
    await see(page.locator('#already-shown'), 'the token page after a reload says it was already shown');
    assert.ok(!(await page.content()).includes(token), 'a reload must not show the token again');
    const answer = await fetch(`${consoleUrl}/api/v1/tenants`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(answer.status, 200, 'the management API accepts the token');
    const tenants = await answer.json();
    assert.ok(tenants.some((t) => t.slug === slug && t.role === 'owner'), `the API lists the tenant: ${JSON.stringify(tenants)}`);
  });

  await step('l. a finance member joins by invitation, filters usage, downloads the CSV and opens billing', async () => {
    const finance = { email: `finn-${run}@example.com`, name: 'Finn Finance', password: `ledger ${run} balance sheet` };
    await page.goto(`${consoleUrl}/t/${slug}/keys`);
    await openSection('Members', tenantPath('members'));
    const invite = page.locator('#invite-form');
    await (await field(invite, 'email', 'the invitation form')).fill(finance.email);
    await (await field(invite, 'role', 'the invitation form')).selectOption('finance');
    await submit('Send invitation', invite);
    const inviteLink = (await seeText(page.locator('#invite-link'), /\/invite\//, 'the invitation link (no mail in the demo)')).trim();
    await submit('Sign out');

    await page.goto(`${consoleUrl}/signup`);
    await page.getByLabel('Your name').fill(finance.name);
    await page.getByLabel('Email').fill(finance.email);
    await page.getByLabel('Password').fill(finance.password);
    await submit('Create account');
    await (await see(page.locator('#shown-link'), 'the confirmation link')).click();
    await seeText(page.locator('h1'), 'Address confirmed', 'the finance member confirmed the address');
    await page.goto(inviteLink);
    await seeText(page.locator('main'), 'finance', 'the invitation names the role');
    await shot('invitation');
    await submit('Accept invitation');
    await arriveAt(tenantPath('keys'), 'after accepting the invitation');
    await seeText(page.locator('header summary').first(), 'finance', 'the member is finance in the tenant');

    await openSection('Usage', tenantPath('usage'));
    // Finance narrows it down: the dev environment, last 7 days, per model.
    const filters = page.locator('#usage-filters');
    await filters.locator('select[name="period"]').selectOption('last_7_days');
    await filters.locator('select[name="env"]').selectOption('dev');
    await filters.locator('select[name="group"]').selectOption('model');
    await submit('Show', filters);
    await arriveAt(tenantPath('usage\\?'), 'after filtering the usage');
    assert.match(page.url(), /period=last_7_days/, 'the filters are in the address, to share');
    await seeText(page.locator('#usage'), MODEL, 'the filtered table still lists the model');
    const tableText = await page.locator('#usage').innerText();
    await shot('usage-filtered');

    // The CSV holds exactly what the filters selected.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#usage-csv').click()]);
    const csvPath = await download.path();
    const csv = fs.readFileSync(csvPath, 'utf8').trim().split('\n');
    assert.match(csv[0], /^date,/, `a header row: ${csv[0]}`);
    assert.ok(csv.length >= 2, 'at least one data row');
    for (const row of csv.slice(1)) {
      assert.match(row, /^\d{4}-\d{2}-\d{2},/, `ISO dates: ${row}`);
      assert.match(row, /\d+\.\d{6}/, `dollars with six decimals: ${row}`);
    }
    // Refusals before a model was known (a revoked key) are a row with no model.
    assert.ok(csv.slice(1).some((row) => row.split(',').includes(MODEL)), `a row per model: ${csv.join(' | ')}`);
    assert.ok(tableText.includes(MODEL), 'the page and the CSV agree on the model');

    // Billing: the demo has no Stripe key, and the page says how to connect one.
    await openSection('Billing', tenantPath('billing'));
    await seeText(page.locator('#billing-off'), 'AIRLOCK_STRIPE_SECRET_KEY', 'how to turn billing on');
    await assertMoneyReadable(page.locator('main'), 'the billing page');
    await shot('billing-off');
  });

  await step('m. the remaining pages: budgets, a key\'s settings and activity, sign-in and password reset', async () => {
    await openSection('Budgets', tenantPath('limits'));
    await seeText(page.locator('main h1'), 'Environment defaults', 'the budgets page');
    await shot('budgets');

    await openSection('Keys', tenantPath('keys'));
    await page.getByRole('navigation', { name: 'Environments' }).getByRole('link', { name: 'dev', exact: true }).click();
    await arriveAt(tenantPath('keys\\?env=dev'), 'the dev keys');
    await tableRow(page, 'billing-e2e').first().locator('a').first().click();
    await arriveAt(tenantPath('keys/[0-9a-f-]{36}$'), 'a key\'s page');
    await seeText(page.locator('main h1'), 'billing-e2e', 'the key\'s page names it');
    await shot('key-settings');
    await page.getByRole('link', { name: 'Recent requests of this key' }).click();
    await arriveAt(tenantPath('keys/[0-9a-f-]{36}/activity$'), 'the key\'s activity');
    await see(page.locator('#activity'), 'the requests of the key');
    await assertMoneyReadable(page.locator('#activity'), 'the key activity');
    await shot('key-activity');

    await submit('Sign out');
    await arriveAt(/^\/signin/, 'after signing out');
    await shot('signin');
    await page.getByRole('link', { name: /forgot/i }).click();
    await arriveAt(/^\/forgot/, 'the password reset page');
    await shot('forgot-password');

  });
});
