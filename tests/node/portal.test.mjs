/*
 * portal.test.mjs - the tenant portal in a real browser, used as its users
 * use it: a throwaway database, `hookd migrate` and `hookd serve` on a free
 * port, real receivers on 127.0.0.1 (answering 204, 500, 410, and slowly),
 * and Debian's Chromium driven by playwright-core. It goes through every
 * task of the portal at 1280×800, then every view again at 390×844 and in
 * dark mode: sign-in (a link, an operator's admin key listing the tenants),
 * the home view, endpoints (add with the event-type picker, edit, secret
 * reveal and rotation, test event, recovery, disable, delete), the live
 * delivery log with its filters in the address, the delivery panel (the
 * request as sent, attempts, replay and retry now), a read-only session and
 * sign out. Each view is checked for a page wider than the screen, controls
 * without a label and text below WCAG AA contrast, and saved as
 * build/portal-screenshots/<view>-<width>.png. Any script error or console
 * error fails the run. A missing Chromium, playwright-core, psql or test
 * setting is a failure, never a skip. The server is stopped with SIGTERM and
 * the database dropped whatever happens.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const START_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 20000;
const HTTP_TIMEOUT_MS = 10000;
const UI_TIMEOUT_MS = 15000;
const DELIVERY_TIMEOUT_MS = 30000;
const PRODUCT = 'Acme Hooks';
const ACCENT = '#0f766e';

const env = process.env;
const SOURCE_DIR = env.HOOKD_SOURCE_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const LOG_DIR = path.join(SOURCE_DIR, 'build', 'test-logs');
const SHOTS = path.join(SOURCE_DIR, 'build', 'portal-screenshots');
const BROWSER_LOG = path.join(LOG_DIR, 'portal-browser.log');

const ctx = {
  db: null,
  dbCreated: false,
  server: null,
  serverExit: null,
  serverLog: path.join(LOG_DIR, 'portal-hookd.log'),
  base: null,
  adminKey: `hk_admin_${crypto.randomBytes(16).toString('hex')}`,
  receiver: null,
  rx: null,
  /* what each receiver path answers; the tests switch them */
  answers: { ok: 204, fail: 500, gone: 410, slow: 204, order: 500 },
  slowMs: 2500,
  hits: [],
  browser: null,
  problems: [],
  tenantId: null,
  tenantKey: null,
  ep: {},
};

/* ---- helpers ---- */

function requireEnv(name) {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set: run this test through scripts/test.sh (make test)`);
  return v;
}

function loadPlaywright() {
  const req = createRequire(path.join(SOURCE_DIR, 'tests', 'package.json'));
  try {
    return req('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in ${SOURCE_DIR}/tests/node_modules ` +
      `(scripts/deps.sh test, or: cd tests && npm install): ${e.message}`);
  }
}

function psqlBinary() {
  for (const p of ['/usr/bin/psql', '/usr/lib/postgresql/15/bin/psql']) if (fs.existsSync(p)) return p;
  throw new Error('psql is missing: install postgresql-client-15 (scripts/deps.sh)');
}

function run(file, args, options) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60000, maxBuffer: 4 << 20, ...options }, (err, stdout, stderr) => {
      if (err) {
        err.message = `${file} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

function psql(sql, db = 'postgres') {
  return run(psqlBinary(), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', requireEnv('HOOKD_TEST_PGHOST'),
    '-p', requireEnv('HOOKD_TEST_PGPORT'), '-U', requireEnv('HOOKD_TEST_PGUSER'), '-d', db, '-c', sql],
  { timeout: 30000 });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function logTail() {
  try {
    return fs.readFileSync(ctx.serverLog, 'utf8').slice(-6000);
  } catch {
    return '(no server log)';
  }
}

function hookdEnv() {
  const out = {
    PATH: env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOOKD_DATABASE_URL: `postgresql://${env.HOOKD_TEST_PGUSER}@${env.HOOKD_TEST_PGHOST}:${env.HOOKD_TEST_PGPORT}/${ctx.db}`,
    HOOKD_LISTEN: `127.0.0.1:${ctx.port}`,
    HOOKD_PUBLIC_URL: `http://127.0.0.1:${ctx.port}`,
    HOOKD_ADMIN_KEY: ctx.adminKey,
    HOOKD_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
    HOOKD_ALLOW_PRIVATE_TARGETS: '1',
    HOOKD_WEB_DIR: path.join(SOURCE_DIR, 'web'),
    HOOKD_MIGRATIONS_DIR: path.join(SOURCE_DIR, 'migrations'),
    /* one retry an hour away: a failed first attempt leaves the delivery
     * pending long enough to press "Retry now" */
    HOOKD_RETRY_SCHEDULE: '1h',
    HOOKD_REQUEST_TIMEOUT: '10s',
    HOOKD_LOG_LEVEL: 'info',
    HOOKD_PORTAL_NAME: PRODUCT,
    HOOKD_PORTAL_ACCENT: ACCENT,
  };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'HOOKD_TEST_RUN']) if (env[k]) out[k] = env[k];
  return out;
}

/* One API call with a bound on its time; the parsed body when JSON. */
async function call(method, urlPath, token, body, expect) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(ctx.base + urlPath, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (expect !== undefined) {
    assert.equal(res.status, expect, `${method} ${urlPath}: expected ${expect}, got ${res.status}: ${text}`);
  }
  return { status: res.status, json, text, headers: res.headers };
}

const tpath = (rest = '') => `/v1/tenants/${ctx.tenantId}${rest}`;

/* Does the server's /stats carry latency and last failures? The portal
 * shows them when it does and leaves them out when it does not. */
async function statsExtended() {
  const r = await call('GET', tpath('/stats'), ctx.tenantKey, undefined, 200);
  return 'latency_p50_ms' in r.json;
}

async function postEvent(type, payload) {
  const r = await call('POST', tpath('/events'), ctx.tenantKey, { event_type: type, payload }, 202);
  return r.json;
}

async function deliveriesOf(eventId) {
  const r = await call('GET', tpath(`/deliveries?event_id=${eventId}`), ctx.tenantKey, undefined, 200);
  return r.json.data;
}

/* Polls the API until the delivery has the status (the portal is checked
 * separately; this is for set-up). */
async function apiWaitStatus(deliveryId, status) {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    const r = await call('GET', tpath(`/deliveries/${deliveryId}`), ctx.tenantKey, undefined, 200);
    if (r.json.status === status && (status !== 'pending' || r.json.attempt_count > 0)) return r.json;
    if (Date.now() > deadline) throw new Error(`delivery ${deliveryId} did not reach ${status}: ${r.text}`);
    await sleep(100);
  }
}

async function waitReady() {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (ctx.serverExit) throw new Error(`hookd serve exited during start-up (${ctx.serverExit})\n${logTail()}`);
    try {
      const res = await fetch(`${ctx.base}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`hookd did not become ready within ${START_TIMEOUT_MS} ms\n${logTail()}`);
}

async function stopServer() {
  const p = ctx.server;
  if (!p) return null;
  ctx.server = null;
  if (!ctx.serverExit) {
    p.kill('SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (!ctx.serverExit && Date.now() < deadline) await sleep(50);
    if (!ctx.serverExit) {
      p.kill('SIGKILL');
      return `did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM (killed)`;
    }
  }
  return ctx.serverExit;
}

/* A browser page of its own (own storage) at a viewport. Script errors and
 * console errors are collected into ctx.problems. The API's own 4xx
 * answers, which the portal shows to the user, make Chromium log "Failed to
 * load resource"; those are expected when a test provokes them and are not
 * counted, but a 5xx is. */
async function newPage(width, height, opts = {}) {
  const bctx = await ctx.browser.newContext({ viewport: { width, height }, colorScheme: opts.dark ? 'dark' : 'light' });
  bctx.setDefaultTimeout(UI_TIMEOUT_MS);
  await bctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ctx.base });
  const page = await bctx.newPage();
  const tag = `${width}${opts.dark ? '-dark' : ''}`;
  page.on('pageerror', (e) => {
    ctx.problems.push(`[${tag}] script error: ${e}`);
    fs.appendFileSync(BROWSER_LOG, `[${tag}] pageerror ${e.stack || e}\n`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) fs.appendFileSync(BROWSER_LOG, `[${tag}] ${r.status()} ${r.request().method()} ${r.url().replace(ctx.base, '')}\n`);
  });
  page.on('console', (m) => {
    const t = m.text();
    fs.appendFileSync(BROWSER_LOG, `[${tag}] console.${m.type()} ${t}\n`);
    if (m.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(t)) return;
    ctx.problems.push(`[${tag}] console error: ${t}`);
  });
  return page;
}

function shotPath(name, width) {
  return path.join(SHOTS, `${name}-${width}.png`);
}

/* Every check a view must pass, then its screenshot. */
async function checkView(page, name) {
  const width = page.viewportSize().width;
  await page.waitForFunction(() => !document.querySelector('#view-loading:not([hidden])'));
  const wide = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  assert.ok(wide.sw <= wide.iw, `${name} at ${width}: the page is ${wide.sw} px wide in a ${wide.iw} px window`);
  const unlabelled = await page.evaluate(() => {
    const out = [];
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href], summary')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      const name = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') ? 'x' : '')
        || (el.labels && el.labels.length ? [...el.labels].map((l) => l.textContent.trim()).join(' ') : '')
        || (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) ? el.textContent.trim() : '')
        || (el.getAttribute('title') || '').trim();
      if (!name) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
  assert.deepEqual(unlabelled, [], `${name} at ${width}: controls without a label`);
  const low = await page.evaluate(contrastProblems);
  assert.deepEqual(low, [], `${name} at ${width}: text below WCAG AA contrast`);
  fs.mkdirSync(SHOTS, { recursive: true });
  /* from the top, so that the sticky bar is drawn where it belongs, then
   * back where the test was */
  const y = await page.evaluate(() => window.scrollY);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: shotPath(name, width + (page.__dark ? '-dark' : '')), fullPage: true });
  await page.evaluate((top) => window.scrollTo(0, top), y);
}

/* Runs in the page: every visible text whose colour against the
 * background behind it is below 4.5:1 (3:1 for large text). Disabled
 * controls are exempt, as WCAG says. */
function contrastProblems() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    if (layers.length && layers[layers.length - 1].a >= 1) bg = layers.pop();
    while (layers.length) bg = blend(layers.pop(), bg);
    return bg;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || seen.has(el)) continue;
    seen.add(el);
    if (!el.getClientRects().length || el.closest('[hidden], :disabled, [aria-hidden="true"], option, svg')) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || Number(st.opacity) === 0) continue;
    const fg0 = parse(st.color);
    if (!fg0) continue;
    const bg = background(el);
    const fg = fg0.a < 1 ? blend(fg0, bg) : fg0;
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${ratio.toFixed(2)}: "${n.textContent.trim().slice(0, 40)}" (${st.color} on rgb(${Math.round(bg.r)},${Math.round(bg.g)},${Math.round(bg.b)}))`);
  }
  return out;
}

/* The portal's address as the user sees it, parsed. */
/* The endpoint page's health panel, as its labels and values, beside the
 * blocked banner above it: the two must tell the same story the moment the
 * banner shows (the deliveries held are waiting, the last failure is the
 * attempt the banner names), not a moment later. minWaiting: how many
 * deliveries of the endpoint are known to be pending. */
async function expectHealthAgreesWithBanner(page, minWaiting) {
  const banner = await page.locator('#endpoint-blocked').innerText();
  const panel = await page.locator('#endpoint-health').evaluate((dl) => Object.fromEntries(
    [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim()])));
  const why = banner.match(/its last attempt (?:got (HTTP \d+)|failed: ([^;]+));/);
  assert.ok(why, `the banner gives no reason: ${banner}`);
  assert.ok(Number(panel.Waiting) >= minWaiting, `Waiting beside a blocked banner: ${JSON.stringify(panel)}`);
  assert.ok((panel['Last failure'] || '').includes(why[1] || why[2]),
    `the health panel's last failure is not the banner's (${why[1] || why[2]}): ${JSON.stringify(panel)}`);
}

function urlParams(page) {
  return new URL(page.url()).searchParams;
}

async function openSession(page, scope = 'write') {
  const made = await call('POST', tpath('/portal-sessions'), ctx.adminKey, { ttl_seconds: 3600, scope }, 201);
  await page.goto('about:blank');
  await page.goto(made.json.url);
  await page.locator('#tenant-name', { hasText: 'Acme Portal Test' }).waitFor();
  return made.json;
}

/* ---- set-up and tear-down ---- */

before(async () => {
  const bin = requireEnv('HOOKD_BIN');
  requireEnv('HOOKD_TEST_PGHOST');
  requireEnv('HOOKD_TEST_PGPORT');
  requireEnv('HOOKD_TEST_PGUSER');
  if (!fs.existsSync(bin)) throw new Error(`HOOKD_BIN ${bin} does not exist: build it first (make test-build)`);
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the portal's browser test needs Debian's chromium ` +
      '(scripts/deps.sh test installs it, or: apt-get install -y chromium)');
  }
  const { chromium } = loadPlaywright();
  fs.mkdirSync(LOG_DIR, { recursive: true });
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.rmSync(BROWSER_LOG, { force: true });

  /* The receivers: /ok, /fail, /gone and /slow answer what ctx.answers
   * says for them (the slow one after ctx.slowMs), and record each call. */
  ctx.receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const kind = req.url.split('/')[1] || 'ok';
      const status = ctx.answers[kind] || 404;
      ctx.hits.push({ kind, status, headers: req.headers, body: Buffer.concat(chunks).toString() });
      setTimeout(() => {
        if (status === 204) {
          res.writeHead(204);
          res.end();
        } else {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(status < 300 ? { received: true } : { error: `receiver answers ${status}` }));
        }
      }, kind === 'slow' ? ctx.slowMs : 0);
    });
  });
  await new Promise((r) => ctx.receiver.listen(0, '127.0.0.1', r));
  ctx.rx = `http://127.0.0.1:${ctx.receiver.address().port}`;

  ctx.db = `hookd_portal_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await psql(`CREATE DATABASE ${ctx.db}`);
  ctx.dbCreated = true;

  ctx.port = await freePort();
  ctx.base = `http://127.0.0.1:${ctx.port}`;
  const henv = hookdEnv();
  const log = fs.openSync(ctx.serverLog, 'w');
  try {
    const m = await run(bin, ['migrate'], { env: henv, timeout: 60000 });
    fs.writeSync(log, `--- hookd migrate\n${m.stdout}${m.stderr}--- hookd serve\n`);
    ctx.server = spawn(bin, ['serve'], { env: henv, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
  ctx.server.on('exit', (code, signal) => {
    ctx.serverExit = signal ? `signal ${signal}` : `exit ${code}`;
  });
  await waitReady();

  /* A tenant and its key; a small catalogue in two groups; endpoints at
   * each receiver (one description is markup, which the page must show as
   * text). */
  const tenant = await call('POST', '/v1/tenants', ctx.adminKey, { name: 'Acme Portal Test' }, 201);
  ctx.tenantId = tenant.json.id;
  await call('POST', '/v1/tenants', ctx.adminKey, { name: 'Other Tenant' }, 201);
  const key = await call('POST', tpath('/api-keys'), ctx.adminKey, { name: 'portal' }, 201);
  ctx.tenantKey = key.json.key;
  for (const [name, description, example] of [
    ['invoice.paid', 'An invoice was paid', { invoice: 'in_1', amount: 4200, currency: 'eur' }],
    ['invoice.voided', 'An invoice was voided', { invoice: 'in_2' }],
    ['customer.created', 'A customer signed up', { customer: 'cus_1', email: 'ann@example.com' }],
  ]) {
    await call('POST', '/v1/event-types', ctx.adminKey, { name, description, example }, 201);
  }
  const mk = async (kind, extra = {}) => {
    const r = await call('POST', tpath('/endpoints'), ctx.tenantKey, { url: `${ctx.rx}/${kind}/hooks`, ...extra }, 201);
    return r.json;
  };
  ctx.ep.ok = await mk('ok', { description: '<img src=x onerror="window.__xss=1">Billing', event_types: ['invoice.paid'] });
  ctx.ep.fail = await mk('fail', { event_types: ['customer.created'] });
  ctx.ep.gone = await mk('gone', { event_types: ['invoice.voided'] });
  ctx.ep.slow = await mk('slow', { event_types: ['invoice.paid'] });

  /* History: succeeded, failed (410, which disables its endpoint) and
   * pending (500, the next try an hour away). */
  ctx.evPaid = await postEvent('invoice.paid', { invoice: 'in_4711', amount: 4200, currency: 'eur' });
  ctx.evVoided = await postEvent('invoice.voided', { invoice: 'in_9' });
  ctx.evCustomer = await postEvent('customer.created', { customer: 'cus_7' });
  const paidDls = await deliveriesOf(ctx.evPaid.id);
  const okDl = paidDls.find((d) => d.endpoint_id === ctx.ep.ok.id);
  const slowDl = paidDls.find((d) => d.endpoint_id === ctx.ep.slow.id);
  const [goneDl] = await deliveriesOf(ctx.evVoided.id);
  const [failDl] = await deliveriesOf(ctx.evCustomer.id);
  ctx.okDl = await apiWaitStatus(okDl.id, 'succeeded');
  /* the slow receiver's copy too, so that the one pending delivery the
   * views count is the failing one's, however soon they are opened */
  await apiWaitStatus(slowDl.id, 'succeeded');
  ctx.goneDl = await apiWaitStatus(goneDl.id, 'failed');
  ctx.failDl = await apiWaitStatus(failDl.id, 'pending');

  /* launch() gives Chromium a fresh profile folder of its own (and
   * refuses --user-data-dir), removed when the browser closes. */
  ctx.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
    timeout: 60000,
  });
  ctx.page = await newPage(1280, 800);
});

after(async () => {
  const problems = [];
  if (ctx.browser) {
    await Promise.race([ctx.browser.close(), sleep(15000)]).catch((e) => problems.push(`browser close: ${e}`));
  }
  const how = await stopServer();
  if (how && how !== 'exit 0') problems.push(`hookd serve ended uncleanly (${how}); log tail:\n${logTail()}`);
  if (ctx.receiver) {
    ctx.receiver.closeAllConnections();
    await new Promise((r) => ctx.receiver.close(r));
  }
  if (ctx.dbCreated) {
    await psql(`DROP DATABASE IF EXISTS ${ctx.db} WITH (FORCE)`).catch((e) => problems.push(`drop database: ${e.message}`));
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

/* The main page after each test, for reading a failure. */
let testNo = 0;
afterEach(async () => {
  testNo++;
  if (ctx.page && !ctx.page.isClosed()) {
    await ctx.page.screenshot({ path: path.join(LOG_DIR, `portal-after-${String(testNo).padStart(2, '0')}.png`) }).catch(() => {});
  }
});

process.on('exit', () => {
  if (ctx.server && !ctx.serverExit) ctx.server.kill('SIGKILL');
});

/* ---- 1280 px: every task ---- */

test('the portal is branded from the settings and not framable by default', async () => {
  const page = ctx.page;
  const res = await call('GET', '/portal/', null, undefined, 200);
  assert.match(res.headers.get('content-security-policy') || '', /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  await page.goto(`${ctx.base}/portal/`);
  await page.locator('#product-name', { hasText: PRODUCT }).waitFor();
  assert.equal(await page.title(), PRODUCT);
  const accent = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim());
  assert.equal(accent, ACCENT);
});

test('without a token the sign-in page offers a link field and operator sign-in', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/`);
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#nav').isVisible(), false);
  await checkView(page, 'signin');

  /* A wrong admin key is refused beside the field, in plain words. */
  await page.getByLabel('Admin key').fill('hk_admin_wrong');
  await page.getByRole('button', { name: 'Sign in as operator' }).click();
  const err = page.locator('#operator-form [data-field=admin_key] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /not the admin key/);
  assert.equal(await page.getByLabel('Admin key').getAttribute('aria-invalid'), 'true');
  /* A tenant key is not an admin key. */
  await page.getByLabel('Admin key').fill(ctx.tenantKey);
  await page.getByRole('button', { name: 'Sign in as operator' }).click();
  await page.locator('#operator-form .field-error', { hasText: 'tenant key' }).waitFor();
});

test('operator sign-in lists the tenants and opens one with a portal session', async () => {
  const page = ctx.page;
  await page.getByLabel('Admin key').fill(ctx.adminKey);
  await page.getByRole('button', { name: 'Sign in as operator' }).click();
  await page.locator('#view-tenants').waitFor({ state: 'visible' });
  const items = page.locator('#tenant-list li');
  await items.first().waitFor();
  assert.equal(await items.count(), 2);
  await page.getByLabel('Find a tenant').fill('acme');
  assert.equal(await items.count(), 1);
  await checkView(page, 'tenants');
  await page.getByRole('button', { name: 'Open the portal of Acme Portal Test' }).click();
  await page.locator('#view-home').waitFor({ state: 'visible' });
  await page.locator('#tenant-name', { hasText: 'Acme Portal Test' }).waitFor();
  const token = await page.evaluate(() => sessionStorage.getItem('hookd.portal.token'));
  assert.match(token, /^hps_/, 'the portal runs on a portal session, not on the admin key');
  const live = await call('GET', tpath('/portal-sessions'), ctx.adminKey, undefined, 200);
  assert.equal(live.json.data.length, 1, `the session is listed: ${live.text}`);
  assert.equal(live.json.data[0].scope, 'write');
  assert.ok(!fs.readFileSync(ctx.serverLog, 'utf8').includes(ctx.adminKey), 'the admin key reached the server log');
});

test('the home view answers "is anything wrong?"', async () => {
  const page = ctx.page;
  /* the endpoint answering 410 was disabled; the home view names it and why */
  const alert = page.locator('#home-alerts .callout');
  await alert.waitFor();
  assert.ok((await alert.innerText()).includes(ctx.ep.gone.url), await alert.innerText());
  const tiles = await page.locator('#home-tiles').innerText();
  assert.match(tiles, /Waiting to be sent\s*1\b/, tiles);
  assert.match(tiles, /Succeeded\s*\d/, tiles);
  assert.match(tiles, /Failed\s*1\b/, tiles);
  const ok = page.locator(`#home-endpoints li[data-endpoint-id="${ctx.ep.ok.id}"]`);
  assert.match(await ok.locator('.rate').innerText(), /^100 %$/);
  const gone = page.locator(`#home-endpoints li[data-endpoint-id="${ctx.ep.gone.id}"]`);
  assert.match(await gone.innerText(), /disabled/);
  if (await statsExtended()) assert.match(await gone.locator('.last-failure').innerText(), /HTTP 410/);
  else assert.equal(await gone.locator('.last-failure').count(), 0, 'no empty last-failure figure');
  assert.ok(await page.locator('#home-chart svg g.bar').count() >= 24, 'one bar per hour');
  assert.equal(await page.locator('#home-endpoints img').count(), 0, 'no markup from API data');
  await checkView(page, 'home');
});

test('adding an endpoint: errors beside the field, the event-type picker, headers', async () => {
  const page = ctx.page;
  await page.locator('.tab[data-view=endpoints]').click();
  await page.locator('#endpoint-list li').first().waitFor();
  assert.equal(await page.locator('#endpoint-list li').count(), 4);
  assert.ok((await page.locator('#endpoint-list').innerText()).includes('<img src=x onerror="window.__xss=1">Billing'));
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no script from API data ran');
  await checkView(page, 'endpoints');

  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const dlg = page.locator('#dialog');
  await dlg.waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'ef-url', 'focus moves into the dialog');
  await dlg.getByLabel('URL').fill('not a url');
  await dlg.getByRole('button', { name: 'Add endpoint' }).click();
  const urlErr = dlg.locator('[data-field=url] .field-error');
  await urlErr.waitFor();
  /* the API's own message, beside the field, without codes added */
  const said = await urlErr.innerText();
  const api = await call('POST', tpath('/endpoints'), ctx.tenantKey, { url: 'not a url', description: 'Made in the portal' }, 422);
  assert.equal(api.json.error.field, 'url');
  assert.equal(said.replace(/^⚠\s*/, ''), api.json.error.message);
  assert.equal(await page.locator('#message').isVisible(), false, 'no banner: the error is beside the field');
  assert.equal(await dlg.getByLabel('URL').getAttribute('aria-invalid'), 'true');

  await dlg.getByLabel('URL').fill(`${ctx.rx}/ok/new`);
  await dlg.getByLabel('Description (optional)').fill('Made in the portal');
  /* The picker: "All events" is explicit; choosing shows the groups. */
  assert.equal(await dlg.getByLabel('All events').isChecked(), true);
  await dlg.getByLabel('Only the types I choose').check();
  await dlg.getByLabel('Search event types').fill('signed up');
  assert.equal(await dlg.locator('.picker-type:visible').count(), 1, 'search finds by description');
  await dlg.getByLabel('Search event types').fill('');
  const invGroup = dlg.locator('.picker-group[data-group=invoice]');
  assert.ok((await invGroup.innerText()).includes('An invoice was paid'), 'descriptions are shown');
  await invGroup.locator('details summary').first().click();
  assert.match(await invGroup.locator('details pre').first().innerText(), /"amount": 4200/);
  await dlg.getByLabel('All invoice events').check();
  assert.equal(await invGroup.locator('.picker-members input:disabled:checked').count(), 2, 'the group covers its members');
  await dlg.getByRole('button', { name: 'Add header' }).click();
  await dlg.getByLabel('Header 1 name').fill('X-Team');
  await dlg.getByLabel('Header 1 value').fill('billing');
  await dlg.getByLabel('Max concurrency').fill('4');
  assert.equal(await dlg.getByLabel('Any order, several at once').isChecked(), true, 'any order by default');
  assert.match(await dlg.locator('.ordering-field').innerText(), /one delivery at a time/);
  await checkView(page, 'endpoint-form');
  await dlg.getByRole('button', { name: 'Add endpoint' }).click();
  await page.locator('#view-endpoint').waitFor({ state: 'visible' });
  await page.locator('#endpoint-title', { hasText: `${ctx.rx}/ok/new` }).waitFor();
  const id = urlParams(page).get('id');
  const got = await call('GET', tpath(`/endpoints/${id}`), ctx.tenantKey, undefined, 200);
  assert.deepEqual(got.json.event_types, ['invoice.*'], 'a whole group writes the wildcard');
  assert.deepEqual(got.json.headers, { 'X-Team': 'billing' });
  assert.equal(got.json.max_concurrency, 4);
  assert.equal(got.json.ordering, 'unordered');
  assert.equal(got.json.description, 'Made in the portal');
  ctx.ep.made = got.json;

  /* An unknown header refused by the API shows beside the headers. */
  await page.getByRole('button', { name: 'Edit' }).click();
  await dlg.getByLabel('Header 1 name').fill('Host');
  await dlg.getByRole('button', { name: 'Save changes' }).click();
  await dlg.locator('[data-field=headers] .field-error').waitFor();
  await dlg.getByLabel('Header 1 name').fill('X-Team');
  /* Edit: all events, a rate limit, a new description. */
  await dlg.getByLabel('All events').check();
  await dlg.getByLabel('Rate limit').fill('5');
  await dlg.getByLabel('Description (optional)').fill('Edited in the portal');
  await dlg.getByRole('button', { name: 'Save changes' }).click();
  await dlg.waitFor({ state: 'hidden' });
  await page.locator('#endpoint-description', { hasText: 'Edited in the portal' }).waitFor();
  const edited = await call('GET', tpath(`/endpoints/${id}`), ctx.tenantKey, undefined, 200);
  assert.deepEqual(edited.json.event_types, [], '"All events" is an empty list');
  assert.equal(edited.json.rate_limit, 5);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Edit', 'focus returns to the opener');
});

test('the endpoint page: health, charts, secret, test event, recovery, disable, delete', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-title', { hasText: ctx.ep.ok.url }).waitFor();
  await page.locator('#endpoint-health .rate', { hasText: '100 %' }).waitFor();
  if (await statsExtended()) {
    assert.equal(await page.locator('#endpoint-charts svg').count(), 2, 'deliveries and latency charts');
    assert.match(await page.locator('#endpoint-charts').innerText(), /p50 \d+ ms/);
  } else {
    assert.equal(await page.locator('#endpoint-charts svg').count(), 1, 'the deliveries chart');
  }
  await checkView(page, 'endpoint');
  await page.getByRole('button', { name: '7 days' }).click();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('range') === '7d');
  await page.locator('#endpoint-charts h3', { hasText: 'per day' }).waitFor();
  assert.ok(await page.locator('#endpoint-charts svg g.bar').count() >= 7);

  /* Secret: reveal matches the API; rotate shows the new one and until
   * when the previous one signs. */
  await page.getByRole('button', { name: 'Reveal secret' }).click();
  const shown = await page.locator('code.secret').innerText();
  const api1 = await call('GET', tpath(`/endpoints/${ctx.ep.ok.id}/secret`), ctx.tenantKey, undefined, 200);
  assert.equal(shown, api1.json.key);
  await page.getByRole('button', { name: 'Copy the signing secret' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shown);
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await page.locator('#dialog').getByRole('button', { name: 'Rotate secret' }).click();
  await page.locator('.previous-until').waitFor();
  const rotated = await page.locator('code.secret').innerText();
  assert.notEqual(rotated, shown);
  const api2 = await call('GET', tpath(`/endpoints/${ctx.ep.ok.id}/secret`), ctx.tenantKey, undefined, 200);
  assert.equal(rotated, api2.json.key);
  assert.match(await page.locator('.previous-until').innerText(), /previous secret still signs until/);

  /* Send test event with a picked type: its delivery appears, live. */
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.locator('#dialog').getByLabel('Event type').selectOption('customer.created');
  assert.match(await page.locator('#test-example').innerText(), /"email": "ann@example.com"/);
  await page.locator('#dialog').getByRole('button', { name: 'Send test event' }).click();
  await page.locator('#message.success', { hasText: 'customer.created' }).waitFor();
  await page.getByRole('link', { name: 'Follow its delivery' }).click();
  await page.locator('#delivery-detail').waitFor({ state: 'visible' });
  await page.locator('#detail-fields .badge.status-succeeded').waitFor({ timeout: DELIVERY_TIMEOUT_MS });
  assert.equal(urlParams(page).get('endpoint'), ctx.ep.ok.id);

  /* Recover failed since…: the 410 endpoint, enabled again and fixed. */
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.gone.id}`);
  await page.locator('#endpoint-status .badge.disabled').waitFor();
  if (await statsExtended()) assert.match(await page.locator('#endpoint-health').innerText(), /410/);
  assert.match(await page.locator('#endpoint-health').innerText(), /answered 410/, 'the disabled reason');
  await page.getByRole('button', { name: 'Enable' }).click();
  await page.locator('#endpoint-status .badge.enabled').waitFor();
  ctx.answers.gone = 204;
  await page.getByRole('button', { name: 'Recover failed since…' }).click();
  await page.locator('#dialog').getByLabel('Failed since (your local time)').waitFor();
  await checkView(page, 'recover');
  await page.locator('#dialog').getByRole('button', { name: 'Recover' }).click();
  await page.locator('#message.success', { hasText: 'Re-sent 1 failed delivery' }).waitFor();
  await apiWaitStatus(ctx.goneDl.id, 'succeeded');

  /* Disable, then enable, from the page. */
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.locator('#endpoint-status .badge.disabled').waitFor();
  assert.equal((await call('GET', tpath(`/endpoints/${ctx.ep.gone.id}`), ctx.tenantKey, undefined, 200)).json.enabled, false);
  await page.getByRole('button', { name: 'Enable' }).click();
  await page.locator('#endpoint-status .badge.enabled').waitFor();

  /* Delete names the endpoint and asks first. */
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.made.id}`);
  await page.getByRole('button', { name: 'Delete' }).click();
  const dlg = page.locator('#dialog');
  assert.ok((await dlg.innerText()).includes(ctx.ep.made.url), 'the confirmation names the endpoint');
  await checkView(page, 'delete');
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Delete', 'focus returns to Delete');
  await call('GET', tpath(`/endpoints/${ctx.ep.made.id}`), ctx.tenantKey, undefined, 200);
  await page.getByRole('button', { name: 'Delete' }).click();
  await dlg.getByRole('button', { name: 'Delete endpoint' }).click();
  await page.locator('#view-endpoints').waitFor({ state: 'visible' });
  await call('GET', tpath(`/endpoints/${ctx.ep.made.id}`), ctx.tenantKey, undefined, 404);
});

test('the delivery log is live and keeps the loaded pages and the scroll position', async () => {
  const page = ctx.page;
  /* 60 deliveries to an endpoint of their own: more than one page. */
  const bulk = (await call('POST', tpath('/endpoints'), ctx.tenantKey,
    { url: `${ctx.rx}/ok/bulk`, event_types: ['invoice.voided'] }, 201)).json;
  for (let i = 0; i < 60; i++) await postEvent('invoice.voided', { invoice: `bulk_${i}` });
  const all = await call('GET', tpath(`/deliveries?endpoint_id=${bulk.id}&limit=250`), ctx.tenantKey, undefined, 200);
  const n = all.json.data.length;
  assert.equal(n, 60);
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${bulk.id}`);
  const rows = page.locator('#delivery-list li');
  await page.waitForFunction(() => document.querySelectorAll('#delivery-list li').length === 50);
  await page.getByRole('button', { name: 'Load more' }).click();
  await page.waitForFunction((want) => document.querySelectorAll('#delivery-list li').length === want, n);
  await page.locator('#live-state.on').waitFor();
  await checkView(page, 'deliveries');

  /* Scroll to the middle; remember which row is at the top of the window. */
  const probe = rows.nth(30);
  await probe.scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, 0));
  const probeId = await probe.getAttribute('data-delivery-id');
  const before = await probe.boundingBox();
  const scrollBefore = await page.evaluate(() => window.scrollY);
  assert.ok(scrollBefore > 0);

  /* A new delivery appears at the top by itself; nothing moves under the
   * reader, and the two loaded pages stay. */
  const ev = await postEvent('invoice.voided', { invoice: 'live_1' });
  const dl = (await deliveriesOf(ev.id)).find((d) => d.endpoint_id === bulk.id);
  await page.locator(`#delivery-list li[data-delivery-id="${dl.id}"]`).waitFor({ state: 'attached' });
  await page.locator(`#delivery-list li[data-delivery-id="${dl.id}"] .badge.status-succeeded`).waitFor({ state: 'attached', timeout: DELIVERY_TIMEOUT_MS });
  assert.equal(await rows.count(), n + 1, 'the loaded pages stay');
  assert.equal(await rows.first().getAttribute('data-delivery-id'), dl.id, 'newest first');
  const after = await page.locator(`#delivery-list li[data-delivery-id="${probeId}"]`).boundingBox();
  assert.ok(Math.abs(after.y - before.y) <= 2, `the row under the reader stayed put: ${before.y} → ${after.y}`);

  /* A status change on a loaded row: the slow receiver shows sending, then
   * succeeded, without a reload. */
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${ctx.ep.slow.id}`);
  await page.locator('#live-state.on').waitFor();
  const slowEv = await postEvent('invoice.paid', { invoice: 'slow_1' });
  const slowDl = (await deliveriesOf(slowEv.id)).find((d) => d.endpoint_id === ctx.ep.slow.id);
  const slowRow = page.locator(`#delivery-list li[data-delivery-id="${slowDl.id}"]`);
  await slowRow.locator('.badge.status-sending').waitFor({ timeout: DELIVERY_TIMEOUT_MS });
  await slowRow.locator('.badge.status-succeeded').waitFor({ timeout: DELIVERY_TIMEOUT_MS });

  /* An endpoint disabled by a 410 shows as disabled without a reload. */
  await call('PATCH', tpath(`/endpoints/${ctx.ep.gone.id}`), ctx.tenantKey, { enabled: true }, 200);
  await page.goto(`${ctx.base}/portal/?view=endpoints`);
  await page.locator(`#endpoint-list li[data-endpoint-id="${ctx.ep.gone.id}"] .badge.enabled`).waitFor();
  await page.locator('#live-state.on').waitFor({ state: 'attached' });
  ctx.answers.gone = 410;
  await postEvent('invoice.voided', { invoice: 'gone_again' });
  await page.locator(`#endpoint-list li[data-endpoint-id="${ctx.ep.gone.id}"] .badge.disabled`).waitFor({ timeout: DELIVERY_TIMEOUT_MS });
});

test('filters live in the address: a link reproduces the view, reload keeps it', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/?view=deliveries`);
  await page.locator('#delivery-list li').first().waitFor();
  await page.getByLabel('Status').selectOption('pending');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('status') === 'pending');
  await page.locator(`#delivery-list li[data-delivery-id="${ctx.failDl.id}"]`).waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('#delivery-list li')].every((li) => li.dataset.status === 'pending'));
  await page.getByLabel('Event type').selectOption('customer.created');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('type') === 'customer.created');
  await page.waitForFunction(() => document.querySelectorAll('#delivery-list li').length === 1);
  await page.reload();
  await page.locator(`#delivery-list li[data-delivery-id="${ctx.failDl.id}"]`).waitFor();
  assert.equal(await page.locator('#delivery-list li').count(), 1);
  assert.equal(await page.getByLabel('Status').inputValue(), 'pending');
  assert.equal(await page.getByLabel('Event type').inputValue(), 'customer.created');

  /* Time range: a window ending before everything shows nothing. */
  const link = page.url();
  await page.getByLabel('Until').fill('2020-01-01T00:00');
  await page.getByLabel('Until').dispatchEvent('change');
  await page.locator('#deliveries-empty').waitFor({ state: 'visible' });
  assert.ok(urlParams(page).get('before').startsWith('20'), page.url());

  /* The link shows the same view again; in a new tab (sessionStorage is
   * per tab) it asks to sign in first and then shows that view. */
  await page.goto(`${ctx.base}/portal/?view=events`);
  await page.goto(link);
  await page.locator(`#delivery-list li[data-delivery-id="${ctx.failDl.id}"]`).waitFor();
  assert.equal(await page.locator('#delivery-list li').count(), 1);
  const other = await page.context().newPage();
  other.on('pageerror', (e) => ctx.problems.push(`[1280 tab] script error: ${e}`));
  await other.goto(link);
  await other.locator('#view-signin').waitFor({ state: 'visible' });
  const made = await call('POST', tpath('/portal-sessions'), ctx.adminKey, { ttl_seconds: 600 }, 201);
  await other.getByLabel('Sign-in link or token').fill(made.json.url);
  await other.getByRole('button', { name: 'Open the portal' }).click();
  await other.locator(`#delivery-list li[data-delivery-id="${ctx.failDl.id}"]`).waitFor();
  assert.equal(await other.locator('#delivery-list li').count(), 1);
  await other.close();

  /* Search by id: a bad one is answered beside the field; the webhook-id
   * (the event id) finds its deliveries. */
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('status'));
  await page.getByLabel('Event, delivery or webhook-id').fill('in_4711');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('#delivery-filters [data-field=search] .field-error').waitFor();
  await page.getByLabel('Event, delivery or webhook-id').fill(ctx.evCustomer.id);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction((id) => new URLSearchParams(location.search).get('q') === id, ctx.evCustomer.id);
  await page.waitForFunction(() => document.querySelectorAll('#delivery-list li').length === 1);
  assert.equal(await page.locator('#delivery-list li').first().getAttribute('data-delivery-id'), ctx.failDl.id);
  await page.getByLabel('Event, delivery or webhook-id').fill(ctx.okDl.id);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForFunction((id) => document.querySelector('#delivery-list li')?.dataset.deliveryId === id, ctx.okDl.id);
});

test('the delivery panel shows the request as sent; keyboard opens and Escape closes it', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${ctx.ep.ok.id}`);
  const link = page.locator(`#delivery-list a[data-delivery-id="${ctx.okDl.id}"]`);
  await link.focus();
  await page.keyboard.press('Enter');
  await page.locator('#delivery-detail').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('delivery-detail').contains(document.activeElement));
  assert.equal(urlParams(page).get('delivery'), ctx.okDl.id, 'the open delivery is in the address');

  const req = page.locator('#detail-request');
  await req.locator('pre').first().waitFor();
  const text = await req.innerText();
  assert.ok(text.includes(`POST ${ctx.ep.ok.url}`), text);
  assert.match(text, /webhook-id: /i);
  assert.match(text, /webhook-signature: v1,/i);
  const hit = ctx.hits.find((x) => x.kind === 'ok' && x.headers['webhook-id'] === ctx.evPaid.id);
  assert.ok(hit, 'the receiver got the event');
  const bodyPre = req.locator('.copy-block').nth(2).locator('pre');
  assert.equal(await bodyPre.innerText(), JSON.stringify(JSON.parse(hit.body), null, 2), 'the body as sent, pretty-printed');
  await req.getByRole('button', { name: 'Copy the request body' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), hit.body, 'copy gives the exact bytes');
  assert.equal(await page.locator('#attempts li.attempt').count(), 1);
  assert.match(await page.locator('#attempts li.attempt').innerText(), /HTTP 204/);
  /* where the attempt's time went: every phase, no TLS over plain HTTP
   * (no handshake took place), and the address reached */
  const timings = await page.locator('#attempts li.attempt .attempt-timings').innerText();
  for (const phase of ['DNS', 'connect', 'first byte', 'total']) assert.match(timings, new RegExp(`${phase} \\d+\\.\\d+ ms`), timings);
  assert.doesNotMatch(timings, /TLS/, timings);
  assert.match(timings, /127\.0\.0\.1/, timings);
  await checkView(page, 'delivery');

  await page.keyboard.press('Escape');
  await page.locator('#delivery-detail').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.deliveryId), ctx.okDl.id, 'focus is back on the row');
  assert.equal(urlParams(page).get('delivery'), null);
});

test('Retry now on a pending delivery and Replay on a finished one, results live', async () => {
  const page = ctx.page;
  ctx.answers.fail = 200;
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${ctx.ep.fail.id}&delivery=${ctx.failDl.id}`);
  await page.locator('#delivery-detail').waitFor({ state: 'visible' });
  await page.locator('#detail-fields .badge.status-pending').waitFor();
  const retry = page.locator('#detail-replay');
  assert.equal(await retry.innerText(), 'Retry now');
  await retry.click();
  await page.locator('#replay-result', { hasText: /retrying now/i }).waitFor();
  await page.locator('#detail-fields .badge.status-succeeded').waitFor({ timeout: DELIVERY_TIMEOUT_MS });
  await page.waitForFunction(() => document.querySelectorAll('#attempts li.attempt').length === 2);
  await page.locator(`#delivery-list li[data-delivery-id="${ctx.failDl.id}"] .badge.status-succeeded`).waitFor();

  assert.equal(await retry.innerText(), 'Replay');
  await retry.click();
  await page.locator('#replay-result', { hasText: /replay queued/i }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#attempts li.attempt').length === 3, null, { timeout: DELIVERY_TIMEOUT_MS });
  await page.locator('#detail-fields .badge.status-succeeded').waitFor();
});

test('an in-order endpoint: the ordering choice, the blocked banner with Skip it and Retry it now, live; Skip on a pending delivery', async () => {
  const page = ctx.page;
  await call('POST', '/v1/event-types', ctx.adminKey, { name: 'order.shipped', description: 'An order left the warehouse', example: { order: 'o_1' } }, 201);
  const made = await call('POST', tpath('/endpoints'), ctx.tenantKey, { url: `${ctx.rx}/order/hooks`, event_types: ['order.shipped'] }, 201);
  ctx.ep.order = made.json;
  const id = made.json.id;
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${id}`);
  await page.locator('#endpoint-title', { hasText: made.json.url }).waitFor();
  assert.equal(await page.locator('#endpoint-blocked').isVisible(), false);

  /* the edit form sets the order */
  await page.getByRole('button', { name: 'Edit' }).click();
  const dlg = page.locator('#dialog');
  await dlg.getByLabel('In order, one at a time').check();
  await dlg.getByRole('button', { name: 'Save changes' }).click();
  await dlg.waitFor({ state: 'hidden' });
  await page.locator('#endpoint-details', { hasText: 'In order, one at a time' }).waitFor();
  assert.match(await page.locator('#endpoint-details').innerText(), /1 at a time, in order/);
  assert.equal((await call('GET', tpath(`/endpoints/${id}`), ctx.tenantKey, undefined, 200)).json.ordering, 'fifo');

  /* the receiver fails: the banner names the first delivery, live */
  const e1 = await postEvent('order.shipped', { order: 'o_1' });
  const e2 = await postEvent('order.shipped', { order: 'o_2' });
  const [d1] = (await deliveriesOf(e1.id)).filter((d) => d.endpoint_id === id);
  const [d2] = (await deliveriesOf(e2.id)).filter((d) => d.endpoint_id === id);
  const banner = page.locator('#endpoint-blocked');
  await banner.locator('a', { hasText: d1.id }).waitFor({ timeout: DELIVERY_TIMEOUT_MS });
  const text = await banner.innerText();
  assert.match(text, /Blocked behind delivery/);
  assert.match(text, /HTTP 500/);
  assert.match(text, /next try/);
  await expectHealthAgreesWithBanner(page, 2);
  await checkView(page, 'endpoint-blocked');

  /* Skip it asks first, ends the first delivery, and the banner moves on
   * to the next one, which fails too */
  await banner.getByRole('button', { name: 'Skip it' }).click();
  assert.ok((await dlg.innerText()).includes(d1.id), 'the confirmation names the delivery');
  await dlg.getByRole('button', { name: 'Skip delivery' }).click();
  await dlg.waitFor({ state: 'hidden' });
  const skipped = await call('GET', tpath(`/deliveries/${d1.id}`), ctx.tenantKey, undefined, 200);
  assert.equal(skipped.json.status, 'failed');
  assert.equal(skipped.json.last_error, 'skipped');
  await banner.locator('a', { hasText: d2.id }).waitFor({ timeout: DELIVERY_TIMEOUT_MS });

  /* the receiver recovers; Retry it now sends it, and the banner goes */
  ctx.answers.order = 204;
  await banner.getByRole('button', { name: 'Retry it now' }).click();
  await banner.waitFor({ state: 'hidden', timeout: DELIVERY_TIMEOUT_MS });
  await apiWaitStatus(d2.id, 'succeeded');

  /* a pending delivery's panel offers Skip */
  ctx.answers.order = 500;
  const e3 = await postEvent('order.shipped', { order: 'o_3' });
  const [d3] = (await deliveriesOf(e3.id)).filter((d) => d.endpoint_id === id);
  await apiWaitStatus(d3.id, 'pending');
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${id}&delivery=${d3.id}`);
  await page.locator('#detail-fields .badge.status-pending').waitFor();
  const skip = page.locator('#detail-skip');
  assert.equal(await skip.isVisible(), true);
  await checkView(page, 'delivery-pending');
  await skip.click();
  await dlg.getByRole('button', { name: 'Skip delivery' }).click();
  await page.locator('#detail-fields .badge.status-failed').waitFor();
  assert.equal(await skip.isVisible(), false, 'a failed delivery cannot be skipped');
  await page.locator(`#delivery-list li[data-delivery-id="${d3.id}"] .badge.status-failed`).waitFor();

  /* left blocked for the views at other sizes and for the read-only session */
  const e4 = await postEvent('order.shipped', { order: 'o_4' });
  const [d4] = (await deliveriesOf(e4.id)).filter((d) => d.endpoint_id === id);
  ctx.orderDl = await apiWaitStatus(d4.id, 'pending');
});

test('an endpoint whose receiver struggles shows how many it sends at once of its max', async () => {
  const page = ctx.page;
  await psql(`UPDATE hookd.endpoints SET current_concurrency = 3 WHERE id = '${ctx.ep.slow.id}'`, ctx.db);
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.slow.id}`);
  await page.locator('#endpoint-details .throttled', { hasText: 'Sending 3 at once of max 10' }).waitFor();
  assert.match(await page.locator('#endpoint-details').innerText(), /429 or 503/);
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-details', { hasText: '10 at once' }).waitFor();
  assert.equal(await page.locator('#endpoint-details .throttled').count(), 0, 'not below its max: nothing to say');
});

test('the events view shows payloads and leads to their deliveries', async () => {
  const page = ctx.page;
  const ev = await postEvent('invoice.paid', { invoice: 'in_events_view', amount: 1 });
  await page.locator('.tab[data-view=events]').click();
  const item = page.locator(`#event-list li[data-event-id="${ev.id}"]`);
  await item.waitFor();
  await item.locator('summary').click();
  assert.deepEqual(JSON.parse(await item.locator('pre').innerText()), { invoice: 'in_events_view', amount: 1 });
  await checkView(page, 'events');
  await item.getByRole('link', { name: 'Its deliveries' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#delivery-list li').length === 2);
  assert.equal(urlParams(page).get('q'), ev.id);
});

test('a read-only session sees everything but no write control and no secret', async () => {
  const page = await newPage(1280, 800);
  const made = await openSession(page, 'read');
  await page.locator('#read-only-badge').waitFor({ state: 'visible' });
  await page.locator('#view-home').waitFor({ state: 'visible' });
  await page.goto(`${ctx.base}/portal/?view=endpoints`);
  await page.locator('#endpoint-list li').first().waitFor();
  assert.equal(await page.getByRole('button', { name: 'Add endpoint' }).isVisible(), false);
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-health .rate').waitFor();
  for (const name of ['Edit', 'Send test event', 'Recover failed since…', 'Disable', 'Delete', 'Reveal secret', 'Rotate secret']) {
    assert.equal(await page.getByRole('button', { name }).count(), 0, `${name} is not offered`);
  }
  assert.equal(await page.locator('#endpoint-secret-card').isVisible(), false);
  await checkView(page, 'endpoint-read-only');
  await page.goto(`${ctx.base}/portal/?view=deliveries&delivery=${ctx.okDl.id}`);
  await page.locator('#detail-fields').waitFor();
  assert.equal(await page.locator('#detail-replay').isVisible(), false);
  await page.goto(`${ctx.base}/portal/?view=deliveries&delivery=${ctx.orderDl.id}`);
  await page.locator('#detail-fields .badge.status-pending').waitFor();
  assert.equal(await page.locator('#detail-skip').isVisible(), false, 'no Skip for a read-only session');
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.order.id}`);
  await page.locator('#endpoint-blocked a', { hasText: ctx.orderDl.id }).waitFor();
  assert.equal(await page.locator('#endpoint-blocked button').count(), 0, 'the banner offers no action to a read-only session');
  await call('POST', tpath(`/deliveries/${ctx.orderDl.id}/skip`), made.token, undefined, 403);
  await call('GET', tpath(`/endpoints/${ctx.ep.ok.id}/secret`), made.token, undefined, 403);
  await page.context().close();
});

test('Sign out ends the session on the server', async () => {
  const page = ctx.page;
  const token = await page.evaluate(() => sessionStorage.getItem('hookd.portal.token'));
  await call('GET', '/v1/me', token, undefined, 200);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  assert.match(await page.locator('#signin-reason').innerText(), /signed out/i);
  await call('GET', '/v1/me', token, undefined, 401);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.portal.token')), null);
  const live = await call('GET', tpath('/portal-sessions'), ctx.adminKey, undefined, 200);
  assert.ok(!live.json.data.some((s) => s.token === token));

  /* A link whose session ended says so. */
  const made = await call('POST', tpath('/portal-sessions'), ctx.adminKey, { ttl_seconds: 600 }, 201);
  await call('DELETE', tpath(`/portal-sessions/${made.json.id}`), ctx.adminKey, undefined, 204);
  await page.goto('about:blank');
  await page.goto(made.json.url);
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  assert.match(await page.locator('#signin-reason').innerText(), /no longer valid/);
  assert.ok(!fs.readFileSync(ctx.serverLog, 'utf8').includes(made.json.token), 'a session token reached the server log');
});

test('a sign-in link opens the portal and leaves no token in the address bar; a pasted link works too', async () => {
  const page = await newPage(1280, 800);
  await page.goto(`${ctx.base}/portal/?view=endpoints#token=${encodeURIComponent(ctx.tenantKey)}`);
  await page.locator('#endpoint-list li').first().waitFor();
  assert.equal(new URL(page.url()).hash, '', `the fragment is gone: ${page.url()}`);
  assert.equal(urlParams(page).get('view'), 'endpoints', 'the view in the link is kept');
  await page.locator('#tenant-name', { hasText: 'Acme Portal Test' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  await call('GET', '/v1/me', ctx.tenantKey, undefined, 200); /* an API key is not a session: signing out forgets it here only */

  const made = await call('POST', tpath('/portal-sessions'), ctx.adminKey, { ttl_seconds: 600 }, 201);
  await page.getByLabel('Sign-in link or token').fill(made.json.url);
  await page.getByRole('button', { name: 'Open the portal' }).click();
  await page.locator('#view-home').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.portal.token')), made.json.token);
  await page.context().close();
});

/* ---- 390 px and dark: every view again ---- */

async function everyView(page, suffix = '') {
  const sfx = (n) => `${n}${suffix}`;
  await openSession(page);
  await page.goto(`${ctx.base}/portal/?view=home`);
  await page.locator('#home-endpoints li').first().waitFor();
  await checkView(page, sfx('home'));
  await page.goto(`${ctx.base}/portal/?view=endpoints`);
  await page.locator('#endpoint-list li').first().waitFor();
  await checkView(page, sfx('endpoints'));
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-charts svg').first().waitFor();
  await checkView(page, sfx('endpoint'));
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.order.id}`);
  await page.locator('#endpoint-blocked a', { hasText: ctx.orderDl.id }).waitFor();
  await expectHealthAgreesWithBanner(page, 1);
  await checkView(page, sfx('endpoint-blocked'));
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-charts svg').first().waitFor();
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.locator('#dialog .picker').waitFor();
  await page.locator('#dialog').getByLabel('Only the types I choose').check();
  await checkView(page, sfx('endpoint-form'));
  await page.keyboard.press('Escape');
  await page.goto(`${ctx.base}/portal/?view=deliveries`);
  await page.locator('#delivery-list li').first().waitFor();
  await checkView(page, sfx('deliveries'));
  await page.goto(`${ctx.base}/portal/?view=deliveries&endpoint=${ctx.ep.ok.id}`);
  await page.locator(`#delivery-list a[data-delivery-id="${ctx.okDl.id}"]`).click();
  await page.locator('#detail-request pre').first().waitFor();
  await checkView(page, sfx('delivery'));
  await page.goto(`${ctx.base}/portal/?view=events`);
  await page.locator('#event-list li').first().waitFor();
  await page.locator('#event-list li summary').first().click();
  await checkView(page, sfx('events'));
}

test('at 390 px every view fits, rows are cards, the nav folds, every action is reachable', async () => {
  const page = await newPage(390, 844);
  await page.goto(`${ctx.base}/portal/`);
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  await checkView(page, 'signin');
  const [first, second] = await page.locator('.signin-grid > .card').evaluateAll((els) => els.map((el) => el.getBoundingClientRect().toJSON()));
  assert.ok(second.top - first.bottom <= 20, `${second.top - first.bottom} px between the two sign-in cards`);
  await everyView(page);

  /* rows are cards: no column header, one card per delivery */
  await page.goto(`${ctx.base}/portal/?view=deliveries`);
  await page.locator('#delivery-list li').first().waitFor();
  assert.equal(await page.locator('.dl-head').isVisible(), false);
  const box = await page.locator('#delivery-list li').first().boundingBox();
  assert.ok(box.width <= 390 && box.height > 60, `a card: ${JSON.stringify(box)}`);

  /* the home tiles' values keep to one line */
  await page.goto(`${ctx.base}/portal/?view=home`);
  await page.locator('#home-tiles .tile').last().waitFor();
  const wrapped = await page.locator('#home-tiles .tile-value').evaluateAll((els) => {
    const line = Math.min(...els.map((el) => el.getBoundingClientRect().height));
    return els.filter((el) => el.getBoundingClientRect().height > 1.5 * line)
      .map((el) => `${el.previousElementSibling.textContent}: ${el.textContent}`);
  });
  assert.deepEqual(wrapped, [], 'home tiles whose value wraps at 390 px');

  /* on an endpoint's page, health comes right after the banner and the
   * actions, before the details, one card margin apart */
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.order.id}`);
  await page.locator('#endpoint-blocked a', { hasText: ctx.orderDl.id }).waitFor();
  const health = await page.locator('.health-card').boundingBox();
  const details = await page.locator('#endpoint-details').locator('xpath=..').boundingBox();
  const actions = await page.locator('#endpoint-actions').boundingBox();
  assert.ok(actions.y < health.y && health.y + health.height <= details.y,
    `health ${JSON.stringify(health)} is not between the actions ${JSON.stringify(actions)} and the details ${JSON.stringify(details)}`);
  assert.ok(details.y - (health.y + health.height) <= 20, `${details.y - (health.y + health.height)} px between two cards`);

  /* endpoint actions are all on screen */
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.ok.id}`);
  await page.locator('#endpoint-actions button').first().waitFor();
  for (const b of await page.locator('#endpoint-actions .button, #endpoint-secret .button').all()) {
    const r = await b.boundingBox();
    assert.ok(r && r.x >= 0 && r.x + r.width <= 390, `${await b.innerText()} is on screen: ${JSON.stringify(r)}`);
  }

  /* the blocked banner's actions too */
  await page.goto(`${ctx.base}/portal/?view=endpoint&id=${ctx.ep.order.id}`);
  await page.locator('#endpoint-blocked button').first().waitFor();
  for (const b of await page.locator('#endpoint-blocked .button').all()) {
    const r = await b.boundingBox();
    assert.ok(r && r.x >= 0 && r.x + r.width <= 390, `${await b.innerText()} is on screen: ${JSON.stringify(r)}`);
  }

  /* the nav is a menu; Sign out is in it */
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
  await page.getByRole('button', { name: 'Menu' }).click();
  await checkView(page, 'menu');
  await page.getByRole('link', { name: 'Deliveries', exact: true }).click();
  await page.locator('#view-deliveries').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#nav').isVisible(), false, 'the menu closes after a choice');
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  await page.context().close();
});

test('dark mode follows the system setting and keeps AA contrast', async () => {
  const page = await newPage(1280, 800, { dark: true });
  page.__dark = true;
  const bg = async () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.goto(`${ctx.base}/portal/`);
  await page.locator('#view-signin').waitFor({ state: 'visible' });
  assert.equal(await bg(), 'rgb(17, 19, 24)');
  await everyView(page);
  await page.context().close();
  const phone = await newPage(390, 844, { dark: true });
  phone.__dark = true;
  await everyView(phone);
  await phone.context().close();
});

test('the pages raised no script error and logged no console error', () => {
  assert.deepEqual(ctx.problems, []);
});
