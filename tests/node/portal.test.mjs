/*
 * portal.test.mjs - the tenant portal in a real browser: a throwaway
 * database, `hookd migrate` and `hookd serve` on a free port, a Node
 * receiver on 127.0.0.1 whose answer the test switches, and Debian's
 * Chromium driven by playwright-core. It checks the sign-in link, the
 * endpoint list and form (an API error included), a delivery failing after
 * the retry schedule, its attempts, a replay that succeeds, the events view,
 * that API data is shown as text and never as markup, and the screen shown
 * without a token. A missing Chromium, playwright-core, psql or test
 * setting is a failure, never a skip. The server is stopped with SIGTERM and
 * the database dropped whatever happens.
 */
import { test, before, after } from 'node:test';
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
const DELIVERY_TIMEOUT_MS = 40000;

const env = process.env;
const SOURCE_DIR = env.HOOKD_SOURCE_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const LOG_DIR = path.join(SOURCE_DIR, 'build', 'test-logs');
const SCREENSHOT = path.join(LOG_DIR, 'portal.png');

const ctx = {
  db: null,
  dbCreated: false,
  server: null,
  serverExit: null,
  serverLog: path.join(LOG_DIR, 'portal-hookd.log'),
  base: null,
  adminKey: `hk_admin_${crypto.randomBytes(16).toString('hex')}`,
  receiver: null,
  receiverStatus: 500,
  receiverDelayMs: 0,
  receiverHits: [],
  browser: null,
  page: null,
  pageErrors: [],
  tenantId: null,
  tenantKey: null,
  endpointUrl: null,
  endpointId: null,
  eventId: null,
  deliveryId: null,
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

function psql(sql) {
  return run(psqlBinary(), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', requireEnv('HOOKD_TEST_PGHOST'),
    '-p', requireEnv('HOOKD_TEST_PGPORT'), '-U', requireEnv('HOOKD_TEST_PGUSER'), '-d', 'postgres', '-c', sql],
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
    const s = fs.readFileSync(ctx.serverLog, 'utf8');
    return s.slice(-6000);
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
    HOOKD_RETRY_SCHEDULE: '1s',
    HOOKD_REQUEST_TIMEOUT: '5s',
    HOOKD_LOG_LEVEL: 'info',
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
  return { status: res.status, json, text };
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

/* SIGTERM, then a bounded wait; resolves to how the process ended. */
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

/* Clicks the deliveries Refresh until the row of the delivery shows the
 * status, within the time bound. */
async function waitRowStatus(page, deliveryId, status, timeoutMs) {
  const row = page.locator(`#deliveries-body tr[data-delivery-id="${deliveryId}"]`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.click('#deliveries-refresh');
    try {
      await row.locator(`.badge.status-${status}`).waitFor({ timeout: 1500 });
      return row;
    } catch {
      if (Date.now() > deadline) {
        const seen = (await row.count()) ? await row.innerText() : '(row absent)';
        const api = await call('GET', `/v1/tenants/${ctx.tenantId}/deliveries/${deliveryId}`, ctx.adminKey);
        throw new Error(`delivery did not show ${status} within ${timeoutMs} ms; row: ${seen}; API: ${api.text}`);
      }
    }
  }
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
  fs.rmSync(SCREENSHOT, { force: true });

  /* The receiver: answers with ctx.receiverStatus after
   * ctx.receiverDelayMs and records each call. */
  ctx.receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      ctx.receiverHits.push({ url: req.url, status: ctx.receiverStatus, body: Buffer.concat(chunks).toString() });
      const ok = ctx.receiverStatus < 300;
      const status = ctx.receiverStatus;
      setTimeout(() => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(ok ? { received: true } : { error: 'receiver is down for maintenance' }));
      }, ctx.receiverDelayMs);
    });
  });
  await new Promise((r) => ctx.receiver.listen(0, '127.0.0.1', r));
  ctx.endpointUrl = `http://127.0.0.1:${ctx.receiver.address().port}/hooks/main`;

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

  /* A tenant, its key, an event type, one endpoint at the failing receiver
   * (its description is markup, which the page must show as text), and an
   * event for it. */
  const tenant = await call('POST', '/v1/tenants', ctx.adminKey, { name: 'Acme Portal Test' }, 201);
  ctx.tenantId = tenant.json.id;
  const key = await call('POST', `/v1/tenants/${ctx.tenantId}/api-keys`, ctx.adminKey, { name: 'portal' }, 201);
  ctx.tenantKey = key.json.key;
  assert.match(ctx.tenantKey, /^hk_/);
  await call('POST', '/v1/event-types', ctx.adminKey, { name: 'invoice.paid', description: 'An invoice was paid' }, 201);
  const ep = await call('POST', `/v1/tenants/${ctx.tenantId}/endpoints`, ctx.tenantKey, {
    url: ctx.endpointUrl,
    description: '<img src=x onerror="window.__xss=1">Billing',
    event_types: ['invoice.paid'],
  }, 201);
  ctx.endpointId = ep.json.id;
  const ev = await call('POST', `/v1/tenants/${ctx.tenantId}/events`, ctx.tenantKey,
    { event_type: 'invoice.paid', payload: { invoice: 'in_4711', amount: 4200, currency: 'eur' } }, 202);
  ctx.eventId = ev.json.id;
  assert.equal(ev.json.deliveries, 1, `the event should make one delivery: ${ev.text}`);
  const list = await call('GET', `/v1/tenants/${ctx.tenantId}/deliveries?event_id=${ctx.eventId}`, ctx.tenantKey, undefined, 200);
  assert.equal(list.json.data.length, 1, `one delivery expected: ${list.text}`);
  ctx.deliveryId = list.json.data[0].id;

  ctx.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
    timeout: 60000,
  });
  const bctx = await ctx.browser.newContext({ viewport: { width: 1400, height: 900 } });
  bctx.setDefaultTimeout(UI_TIMEOUT_MS);
  ctx.page = await bctx.newPage();
  ctx.page.on('pageerror', (e) => ctx.pageErrors.push(String(e)));
  ctx.page.on('dialog', (d) => d.accept());
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

/* A last resort if the runner is interrupted: no hookd outlives the test. */
process.on('exit', () => {
  if (ctx.server && !ctx.serverExit) ctx.server.kill('SIGKILL');
});

/* ---- the checks ---- */

test('without a token the portal asks for the sign-in link', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/`);
  await page.locator('#view-signed-out').waitFor({ state: 'visible' });
  assert.match(await page.locator('#view-signed-out').innerText(), /open the link your provider gave you/i);
  assert.equal(await page.locator('#tabs').isVisible(), false);
});

test('the sign-in link opens the portal, keeps the token out of the address bar', async () => {
  const page = ctx.page;
  await page.goto(`${ctx.base}/portal/#token=${encodeURIComponent(ctx.tenantKey)}`);
  await page.locator('#view-endpoints').waitFor({ state: 'visible' });
  assert.ok(!page.url().includes('#'), `the fragment should be gone: ${page.url()}`);
  assert.ok(!page.url().includes(ctx.tenantKey), 'the token must not stay in the address bar');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.portal.token')), ctx.tenantKey);
  await page.locator('#tenant-name', { hasText: 'Acme Portal Test' }).waitFor();
});

test('the endpoints view lists the endpoint, its data as text', async () => {
  const page = ctx.page;
  const row = page.locator(`#endpoints-body tr[data-endpoint-id="${ctx.endpointId}"]`);
  await row.waitFor();
  const text = await row.innerText();
  assert.ok(text.includes(ctx.endpointUrl), `row shows the URL: ${text}`);
  assert.ok(text.includes('enabled'), `row shows the status: ${text}`);
  assert.ok(text.includes('invoice.paid'), `row shows the event types: ${text}`);
  assert.ok(text.includes('<img src=x onerror="window.__xss=1">Billing'), `the description is shown as text: ${text}`);
  assert.equal(await page.locator('#endpoints-body img').count(), 0, 'no markup from API data');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no script from API data ran');

  await row.getByRole('button', { name: 'Reveal secret' }).click();
  const secret = await row.locator('code.secret').innerText();
  const api = await call('GET', `/v1/tenants/${ctx.tenantId}/endpoints/${ctx.endpointId}/secret`, ctx.tenantKey, undefined, 200);
  assert.equal(secret, api.json.key);
  assert.match(secret, /^whsec_/);
});

test('the form shows an API error, then creates a second endpoint', async () => {
  const page = ctx.page;
  const form = page.locator('#endpoint-form');
  await form.locator('input[name=url]').fill('ftp://files.example/hooks');
  await form.getByRole('button', { name: 'Add endpoint' }).click();
  const msg = page.locator('#message.error');
  await msg.waitFor({ state: 'visible' });
  assert.match(await msg.innerText(), /url/i, 'the error names the field');
  assert.equal(await form.locator('input[name=url]').getAttribute('aria-invalid'), 'true');

  const second = `http://127.0.0.1:${ctx.receiver.address().port}/hooks/second`;
  await form.locator('input[name=url]').fill(second);
  await form.locator('input[name=description]').fill('Second receiver');
  await form.locator('input[name=event_types]').fill('invoice.paid, invoice.*');
  await form.locator('input[name=max_concurrency]').fill('3');
  await form.getByRole('button', { name: 'Add endpoint' }).click();
  await page.locator('#endpoints-body tr', { hasText: second }).waitFor();
  await page.locator('#message.success').waitFor({ state: 'visible' });
  assert.equal(await form.locator('input[name=url]').inputValue(), '', 'the form is cleared');

  const list = await call('GET', `/v1/tenants/${ctx.tenantId}/endpoints`, ctx.tenantKey, undefined, 200);
  const made = list.json.data.find((e) => e.url === second);
  assert.ok(made, `the API lists the new endpoint: ${list.text}`);
  assert.equal(made.description, 'Second receiver');
  assert.deepEqual(made.event_types, ['invoice.paid', 'invoice.*']);
  assert.equal(made.max_concurrency, 3);
  assert.equal(await page.locator('#endpoints-body tr').count(), 2);

  /* Disable and enable it again from the table. */
  const row = page.locator(`#endpoints-body tr[data-endpoint-id="${made.id}"]`);
  await row.getByRole('button', { name: 'Disable' }).click();
  await row.locator('.badge.disabled').waitFor();
  await row.getByRole('button', { name: 'Enable' }).click();
  await row.locator('.badge.enabled').waitFor();
  const got = await call('GET', `/v1/tenants/${ctx.tenantId}/endpoints/${made.id}`, ctx.tenantKey, undefined, 200);
  assert.equal(got.json.enabled, true);

  /* A third one, made through the API, is deleted from the table after
   * the confirmation (accepted by the dialog handler). */
  const third = await call('POST', `/v1/tenants/${ctx.tenantId}/endpoints`, ctx.tenantKey,
    { url: 'https://example.com/to-delete' }, 201);
  await page.click('#endpoints-refresh');
  const doomed = page.locator(`#endpoints-body tr[data-endpoint-id="${third.json.id}"]`);
  await doomed.getByRole('button', { name: 'Delete' }).click();
  await doomed.waitFor({ state: 'detached' });
  await call('GET', `/v1/tenants/${ctx.tenantId}/endpoints/${third.json.id}`, ctx.tenantKey, undefined, 404);
  assert.equal(await page.locator('#endpoints-body tr').count(), 2);
});

test('the delivery fails after the schedule, and its attempts are shown', async () => {
  const page = ctx.page;
  await page.locator('.tab[data-view=deliveries]').click();
  await page.locator('#view-deliveries').waitFor({ state: 'visible' });
  const row = await waitRowStatus(page, ctx.deliveryId, 'failed', DELIVERY_TIMEOUT_MS);
  const text = await row.innerText();
  assert.ok(text.includes('invoice.paid'), text);
  assert.ok(text.includes(ctx.endpointUrl.replace(/^http:\/\//, '')), text);
  assert.equal(await row.locator('td.url').getAttribute('title'), ctx.endpointUrl);
  assert.ok(text.includes('HTTP 500'), text);

  await row.click();
  await page.locator('#delivery-detail').waitFor({ state: 'visible' });
  await page.locator('#detail-fields .badge.status-failed').waitFor();
  const attempts = page.locator('#attempts li.attempt');
  await attempts.first().waitFor();
  assert.equal(await attempts.count(), 2, 'a first attempt and one retry (HOOKD_RETRY_SCHEDULE=1s)');
  for (let i = 0; i < 2; i++) {
    const a = attempts.nth(i);
    assert.equal(await a.locator('.attempt-no').innerText(), `#${i + 1}`);
    assert.ok((await a.innerText()).includes('HTTP 500'));
    assert.match(await a.locator('pre.body').innerText(), /receiver is down for maintenance/);
    assert.match(await a.innerText(), /\d+ ms/);
  }
  assert.equal(await page.locator('#detail-replay').isEnabled(), true);

  /* The status filter keeps it and the other statuses do not. */
  await page.selectOption('#delivery-filters select[name=status]', 'succeeded');
  await page.locator('#deliveries-empty').waitFor({ state: 'visible' });
  await page.selectOption('#delivery-filters select[name=status]', 'failed');
  await page.locator(`#deliveries-body tr[data-delivery-id="${ctx.deliveryId}"]`).waitFor();
  await page.selectOption('#delivery-filters select[name=status]', '');
});

/* The detail's reload after the replay is held until the outcome is
 * committed, and the receiver answers the replay late, so that the
 * outcome commits well after the reload began: the portal must read the
 * attempts after the delivery, or it would show the final status without
 * the attempt that made it, and stop reloading there. */
async function holdDeliveryUntilSucceeded(page) {
  const deliveryPath = `/v1/tenants/${ctx.tenantId}/deliveries/${ctx.deliveryId}`;
  const hold = async (route) => {
    const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const got = await call('GET', deliveryPath, ctx.tenantKey);
      if (got.json && got.json.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await route.continue();
  };
  const match = (url) => url.pathname === deliveryPath;
  await page.route(match, hold);
  return () => page.unroute(match, hold);
}

test('replay with the receiver fixed makes the delivery succeed', async () => {
  const page = ctx.page;
  ctx.receiverStatus = 200;
  ctx.receiverDelayMs = 500;
  const hitsBefore = ctx.receiverHits.length;
  await page.locator(`#deliveries-body tr[data-delivery-id="${ctx.deliveryId}"]`).click();
  await page.locator('#detail-fields .badge.status-failed').waitFor();
  const release = await holdDeliveryUntilSucceeded(page);
  try {
    await page.locator('#detail-replay').click();
    const note = page.locator('#replay-result');
    await note.waitFor({ state: 'visible' });
    assert.match(await note.innerText(), /replay queued/i);
    await page.locator('#detail-fields .badge.status-succeeded').waitFor({ timeout: DELIVERY_TIMEOUT_MS });
    const attempts = page.locator('#attempts li.attempt');
    await page.waitForFunction(() => document.querySelectorAll('#attempts li.attempt').length === 3, null,
      { timeout: UI_TIMEOUT_MS });
    const last = attempts.nth(2);
    assert.ok((await last.innerText()).includes('HTTP 200'));
    assert.match(await last.locator('pre.body').innerText(), /"received":\s*true/);
    assert.ok(ctx.receiverHits.length > hitsBefore, 'the receiver got the replay');
  } finally {
    await release();
    ctx.receiverDelayMs = 0;
  }
  await page.locator(`#deliveries-body tr[data-delivery-id="${ctx.deliveryId}"] .badge.status-succeeded`).waitFor();

  const api = await call('GET', `/v1/tenants/${ctx.tenantId}/deliveries/${ctx.deliveryId}`, ctx.tenantKey, undefined, 200);
  assert.equal(api.json.status, 'succeeded');
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});

test('the events view shows the event and its payload', async () => {
  const page = ctx.page;
  await page.locator('.tab[data-view=events]').click();
  const row = page.locator(`#events-body tr[data-event-id="${ctx.eventId}"]`);
  await row.waitFor();
  assert.ok((await row.innerText()).includes('invoice.paid'));
  await row.click();
  const pre = page.locator('#events-body tr.payload-row pre');
  await pre.waitFor();
  assert.deepEqual(JSON.parse(await pre.innerText()),
    { invoice: 'in_4711', amount: 4200, currency: 'eur' });
  await page.screenshot({ path: path.join(LOG_DIR, 'portal-events.png'), fullPage: true });

  /* Its Deliveries button opens the deliveries of that event alone. */
  await row.getByRole('button', { name: 'Deliveries' }).click();
  await page.locator('#delivery-event-filter').waitFor({ state: 'visible' });
  await page.locator(`#deliveries-body tr[data-delivery-id="${ctx.deliveryId}"]`).waitFor();
  assert.equal(await page.locator('#deliveries-body tr').count(), 1);
  await page.locator('#delivery-event-filter button').click();
  await page.locator('#delivery-event-filter').waitFor({ state: 'hidden' });
  await page.locator('.tab[data-view=endpoints]').click();
  await page.locator('#endpoints-body tr').first().waitFor();
  await page.screenshot({ path: path.join(LOG_DIR, 'portal-endpoints.png'), fullPage: true });
});

test('an operator link names the tenant; an unknown token signs out', async () => {
  const page = ctx.page;
  await page.goto('about:blank');
  await page.goto(`${ctx.base}/portal/#token=${encodeURIComponent(ctx.adminKey)}&tenant=${ctx.tenantId}`);
  await page.locator(`#endpoints-body tr[data-endpoint-id="${ctx.endpointId}"]`).waitFor();
  assert.ok(!page.url().includes('#'));

  await page.goto('about:blank');
  await page.goto(`${ctx.base}/portal/#token=hk_not_a_real_key`);
  await page.locator('#view-signed-out').waitFor({ state: 'visible' });
  assert.match(await page.locator('#signed-out-reason').innerText(), /no longer valid/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.portal.token')), null);

  /* The tokens travelled in the fragment, which no request carries. */
  const log = fs.readFileSync(ctx.serverLog, 'utf8');
  assert.ok(!log.includes(ctx.tenantKey) && !log.includes(ctx.adminKey), 'a token reached the server log');
});

test('a portal session link made by the API opens the portal', async () => {
  const page = ctx.page;
  const made = await call('POST', `/v1/tenants/${ctx.tenantId}/portal-sessions`, ctx.adminKey, { ttl_seconds: 600 }, 201);
  assert.match(made.json.token, /^hps_/);
  assert.equal(made.json.url, `${ctx.base}/portal/#token=${made.json.token}`);
  await page.goto('about:blank');
  await page.goto(made.json.url);
  await page.locator(`#endpoints-body tr[data-endpoint-id="${ctx.endpointId}"]`).waitFor();
  await page.locator('#tenant-name', { hasText: 'Acme Portal Test' }).waitFor();
  assert.ok(!page.url().includes('#'));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookd.portal.token')), made.json.token);
  assert.ok(!fs.readFileSync(ctx.serverLog, 'utf8').includes(made.json.token), 'the session token reached the server log');
});

test('the page raised no script error', () => {
  assert.deepEqual(ctx.pageErrors, []);
});
