/*
 * contract.test.mjs - hookd's answers are what docs/openapi.json promises.
 * The document passes an OpenAPI 3.1 validator (swagger-parser, offline)
 * and is what /openapi.json serves. Then a real hookd, with a real
 * receiver, is driven through every operation of the document: its success
 * answers, and every error status the operation documents that a client
 * can cause (no token, the wrong kind of token, another tenant's path, a
 * broken, oversized or non-JSON body, an unknown query parameter, each
 * route's conflicts). Every answer's status must be documented for its
 * operation, and its body must validate (ajv, JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1) against that status's schema, whose objects are
 * closed: an undocumented status or field fails the test. Last, every
 * documented (operation, status) pair must have been seen, except 500 and
 * 503, which need a bug or a database outage to appear.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startHookd, SOURCE_DIR } from './harness.mjs';

const require = createRequire(path.join(SOURCE_DIR, 'tests', 'package.json'));
const SwaggerParser = require('@apidevtools/swagger-parser');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats');

const DOC_PATH = path.join(SOURCE_DIR, 'docs', 'openapi.json');
const DOC_TEXT = fs.readFileSync(DOC_PATH, 'utf8');
const doc = JSON.parse(DOC_TEXT);
const DOC_ID = 'https://hookd.invalid/openapi.json';
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
/* statuses no client request can cause on a healthy server */
const UNPROVOKABLE = new Set(['500', '503']);

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(doc, DOC_ID);
const validators = new Map();

const seen = new Map(); // "post /v1/tenants" -> Set of statuses
const ctx = { hookd: null, receiver: null, rx: null, hits: [], ids: {} };

function pointer(...parts) {
  return parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

/* The response object of op for status, through its $ref, and where its
 * schema lives in the document. */
function documented(method, template, status) {
  const op = doc.paths[template]?.[method];
  assert.ok(op, `${method} ${template} is not in the document`);
  let r = op.responses[String(status)];
  let at = `#/${pointer('paths', template, method, 'responses', String(status))}`;
  if (r?.$ref) {
    at = r.$ref;
    r = doc.components.responses[r.$ref.split('/').pop()];
  }
  return { op, r, at };
}

function validatorFor(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.compile({ $ref: `${DOC_ID}${ref}` }));
  return validators.get(ref);
}

/* Checks one answer against the document and records it. */
async function check(method, template, res, label) {
  const status = res.status;
  const text = await res.text();
  const where = `${method.toUpperCase()} ${template} (${label}) answered ${status}: ${text.slice(0, 500)}`;
  const { r, at } = documented(method, template, status);
  assert.ok(r, `${where}\nstatus ${status} is not documented for this operation`);
  assert.match(res.headers.get('x-request-id') || '', /^\S{1,71}$/, `${where}\nno X-Request-Id`);
  if (!r.content) {
    assert.equal(text, '', `${where}\nstatus ${status} is documented without a body`);
  } else {
    const type = (res.headers.get('content-type') || '').split(';')[0].trim();
    assert.ok(r.content[type], `${where}\ncontent type ${type} is not documented`);
    if (type === 'application/json') {
      let body;
      assert.doesNotThrow(() => { body = JSON.parse(text); }, `${where}\nnot JSON`);
      const v = validatorFor(`${at}/${pointer('content', type, 'schema')}`);
      if (!v(body)) {
        assert.fail(`${where}\ndoes not match the document:\n${ajv.errorsText(v.errors, { separator: '\n' })}`);
      }
      res.json = body;
    }
  }
  const key = `${method} ${template}`;
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key).add(String(status));
  return res;
}

function fill(template, ids) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    assert.ok(ids[name] !== undefined, `no value for {${name}} in ${template}`);
    return encodeURIComponent(ids[name]);
  });
}

/* One request to the operation; opts: token, body (JSON), raw (a string
 * sent as is), type (Content-Type), headers, query, ids, expect. */
async function call(method, template, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let payload;
  if (opts.raw !== undefined) {
    payload = opts.raw;
    headers['Content-Type'] = opts.type || 'application/json';
  } else if (opts.body !== undefined) {
    payload = JSON.stringify(opts.body);
    headers['Content-Type'] = opts.type || 'application/json';
  }
  const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
  const url = ctx.hookd.base + fill(template, { ...ctx.ids, ...(opts.ids || {}) }) + qs;
  const res = await fetch(url, { method: method.toUpperCase(), headers, body: payload,
    signal: AbortSignal.timeout(30000) });
  await check(method, template, res, opts.label || 'request');
  if (Array.isArray(opts.expect)) {
    assert.ok(opts.expect.includes(res.status),
      `${method.toUpperCase()} ${template} (${opts.label || 'request'}): want one of ${opts.expect}, got ${res.status}: ${JSON.stringify(res.json)}`);
  } else if (opts.expect !== undefined) {
    assert.equal(res.status, opts.expect,
      `${method.toUpperCase()} ${template} (${opts.label || 'request'}): want ${opts.expect}, got ${res.status}: ${JSON.stringify(res.json)}`);
  }
  return res;
}

const admin = () => ctx.hookd.adminKey;

async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  ctx.receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      ctx.hits.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const status = req.url === '/gone' ? 410 : req.url === '/fail' ? 500 : 204;
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise((r) => ctx.receiver.listen(0, '127.0.0.1', r));
  ctx.rx = `http://127.0.0.1:${ctx.receiver.address().port}`;
  ctx.hookd = await startHookd('contract');
});

after(async () => {
  if (ctx.hookd) {
    const exit = await ctx.hookd.stop();
    if (exit && exit !== 'exit 0') console.log(`hookd: ${exit}\n${ctx.hookd.logTail()}`);
  }
  if (ctx.receiver) {
    ctx.receiver.closeAllConnections();
    await new Promise((r) => ctx.receiver.close(r));
  }
});

test('docs/openapi.json is a valid OpenAPI 3.1 document, and /openapi.json serves it', async () => {
  const parsed = await SwaggerParser.validate(structuredClone(doc));
  assert.equal(parsed.openapi, '3.1.0');
  const res = await fetch(`${ctx.hookd.base}/openapi.json`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), DOC_TEXT);
});

test('every example in the document matches its own schema', () => {
  const bad = [];
  const one = (at, media) => {
    if (!media?.schema || media.example === undefined) return;
    const v = validatorFor(`${at}/${pointer('schema')}`);
    if (!v(media.example)) bad.push(`${at}: ${ajv.errorsText(v.errors)}`);
  };
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const base = `#/${pointer('paths', template, method)}`;
      one(`${base}/${pointer('requestBody', 'content', 'application/json')}`, op.requestBody?.content?.['application/json']);
      for (const [status, r] of Object.entries(op.responses)) {
        if (r.$ref) continue;
        one(`${base}/${pointer('responses', status, 'content', 'application/json')}`, r.content?.['application/json']);
      }
    }
  }
  for (const [name, r] of Object.entries(doc.components.responses)) {
    one(`#/${pointer('components', 'responses', name, 'content', 'application/json')}`, r.content?.['application/json']);
  }
  assert.deepEqual(bad, [], 'examples that contradict their schema');
});

test('every operation answers as documented, success and errors', async () => {
  const ids = ctx.ids;
  /* operations */
  await call('get', '/healthz', { expect: 200 });
  await call('get', '/readyz', { expect: 200 });
  await call('get', '/metrics', { expect: 200 });
  await call('get', '/openapi.json', { expect: 200 });
  await call('get', '/v1/portal/config', { expect: 200 });
  await call('get', '/v1/me', { token: admin(), expect: 200 });

  /* tenants, keys, sessions */
  const t = await call('post', '/v1/tenants', { token: admin(), body: { name: 'Contract', metadata: { plan: 'pro' } }, expect: 201 });
  ids.tid = t.json.id;
  const other = await call('post', '/v1/tenants', { token: admin(), body: { name: 'Other' }, expect: 201 });
  ids.otherTid = other.json.id;
  await call('get', '/v1/tenants', { token: admin(), query: { limit: '1' }, expect: 200 });
  await call('get', '/v1/tenants/{tid}', { token: admin(), expect: 200 });
  await call('patch', '/v1/tenants/{tid}', { token: admin(), body: { name: 'Contract Inc.' }, expect: 200 });
  const k = await call('post', '/v1/tenants/{tid}/api-keys', { token: admin(), body: { name: 'ci' }, expect: 201 });
  ids.kid = k.json.id;
  ctx.key = k.json.key;
  const ok2 = await call('post', '/v1/tenants/{tid}/api-keys', { token: admin(), ids: { tid: other.json.id }, body: { name: 'other' }, expect: 201 });
  ctx.otherKey = ok2.json.key;
  await call('get', '/v1/tenants/{tid}/api-keys', { token: admin(), expect: 200 });
  const ws = await call('post', '/v1/tenants/{tid}/portal-sessions', { token: admin(), expect: 201, label: 'no body' });
  ctx.writeSession = ws.json.token;
  const rs = await call('post', '/v1/tenants/{tid}/portal-sessions', { token: admin(), body: { ttl_seconds: 600, scope: 'read' }, expect: 201 });
  ctx.readSession = rs.json.token;
  ids.sid = rs.json.id;
  await call('get', '/v1/tenants/{tid}/portal-sessions', { token: admin(), expect: 200 });
  await call('get', '/v1/me', { token: ctx.key, expect: 200, label: 'tenant key' });
  await call('get', '/v1/me', { token: ctx.readSession, expect: 200, label: 'read session' });

  /* event types */
  ids.name = 'contract.paid';
  await call('post', '/v1/event-types', { token: admin(), body: { name: ids.name, description: 'paid', example: { amount: 1 } }, expect: 201 });
  await call('post', '/v1/event-types', { token: admin(), body: { name: ids.name }, expect: 409, label: 'the name exists' });
  await call('get', '/v1/event-types', { token: ctx.readSession, query: { include_archived: 'true' }, expect: 200 });
  await call('patch', '/v1/event-types/{name}', { token: admin(), body: { description: 'paid in full' }, expect: 200 });

  /* endpoints */
  const e = await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.key,
    body: { url: `${ctx.rx}/ok`, description: 'ok', event_types: ['contract.*'], headers: { 'X-Env': 'test' }, max_concurrency: 5, rate_limit: 100 }, expect: 201 });
  ids.eid = e.json.id;
  await call('get', '/v1/tenants/{tid}/endpoints', { token: ctx.readSession, expect: 200 });
  await call('get', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.readSession, expect: 200 });
  await call('patch', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.writeSession, body: { description: 'the ok receiver', rate_limit: null }, expect: 200 });
  await call('get', '/v1/tenants/{tid}/endpoints/{eid}/secret', { token: ctx.key, expect: 200 });
  await call('post', '/v1/tenants/{tid}/endpoints/{eid}/secret/rotate', { token: ctx.key, expect: 200, label: 'no body' });
  await call('post', '/v1/tenants/{tid}/endpoints/{eid}/test', { token: ctx.key, body: { event_type: 'hookd.ping' }, expect: 202 });

  /* events and deliveries */
  const ev = await call('post', '/v1/tenants/{tid}/events', { token: ctx.key, headers: { 'Idempotency-Key': 'order-1' },
    body: { event_type: ids.name, payload: { amount: 42 } }, expect: 202 });
  ids.evid = ev.json.id;
  await call('post', '/v1/tenants/{tid}/events', { token: ctx.key, headers: { 'Idempotency-Key': 'order-1' },
    body: { event_type: ids.name, payload: { amount: 42 } }, expect: 200, label: 'the same key again' });
  await call('post', '/v1/tenants/{tid}/events', { token: ctx.key, headers: { 'Idempotency-Key': 'order-1' },
    body: { event_type: ids.name, payload: { amount: 43 } }, expect: 409, label: 'the key with another payload' });
  await call('post', '/v1/tenants/{tid}/events', { token: ctx.key, headers: { 'Idempotency-Key': 'bad key\u0001' },
    body: { event_type: ids.name, payload: {} }, expect: 400, label: 'a malformed Idempotency-Key' }).catch((err) => {
    /* fetch refuses control characters in a header: send one it allows */
    if (!(err instanceof TypeError)) throw err;
    return call('post', '/v1/tenants/{tid}/events', { token: ctx.key, headers: { 'Idempotency-Key': 'x'.repeat(256) },
      body: { event_type: ids.name, payload: {} }, expect: 400, label: 'a 256-character Idempotency-Key' });
  });
  await call('get', '/v1/tenants/{tid}/events', { token: ctx.readSession, query: { event_type: ids.name }, expect: 200 });
  await call('get', '/v1/tenants/{tid}/events/{evid}', { token: ctx.readSession, expect: 200 });
  const d = await waitFor('the delivery to succeed', async () => {
    const r = await call('get', '/v1/tenants/{tid}/deliveries', { token: ctx.key, query: { event_id: ids.evid }, expect: 200 });
    return r.json.data.find((x) => x.status === 'succeeded');
  });
  ids.did = d.id;
  await call('get', '/v1/tenants/{tid}/deliveries', { token: ctx.readSession,
    query: { status: 'succeeded', endpoint_id: ids.eid, event_type: ids.name, created_after: '2020-01-01T00:00:00Z', created_before: '2999-01-01T00:00:00Z', limit: '10' }, expect: 200 });
  await call('get', '/v1/tenants/{tid}/deliveries/{did}', { token: ctx.readSession, expect: 200 });
  await call('get', '/v1/tenants/{tid}/deliveries/{did}/attempts', { token: ctx.readSession, expect: 200 });
  await call('post', '/v1/tenants/{tid}/deliveries/{did}/replay', { token: ctx.key, expect: 202, label: 'no body' });
  await call('post', '/v1/tenants/{tid}/endpoints/{eid}/recover', { token: ctx.key, body: { since: '2020-01-01T00:00:00Z' }, expect: 202 });
  await call('get', '/v1/tenants/{tid}/stats', { token: ctx.readSession, query: { endpoint_id: ids.eid }, expect: 200 });
  const ch = await call('get', '/v1/tenants/{tid}/changes', { token: ctx.readSession, expect: 200, label: 'no cursor' });
  await call('post', '/v1/tenants/{tid}/endpoints/{eid}/test', { token: ctx.key, expect: 202, label: 'no body' });
  await call('get', '/v1/tenants/{tid}/changes', { token: ctx.readSession, query: { cursor: ch.json.cursor, wait: '5' }, expect: 200, label: 'a change' });

  /* a tenant's limits: endpoints, payload size and event rate */
  await call('patch', '/v1/tenants/{tid}', { token: admin(), ids: { tid: ids.otherTid },
    body: { limits: { max_endpoints: 1, events_per_second: 1, max_payload_bytes: 64 } }, expect: 200, label: 'its limits' });
  await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.otherKey, ids: { tid: ids.otherTid }, body: { url: `${ctx.rx}/ok` }, expect: 201, label: 'the last one its limit allows' });
  await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.otherKey, ids: { tid: ids.otherTid }, body: { url: `${ctx.rx}/ok` }, expect: 409, label: 'one over its limit' });
  await call('post', '/v1/tenants/{tid}/events', { token: ctx.otherKey, ids: { tid: ids.otherTid },
    body: { event_type: ids.name, payload: { note: 'x'.repeat(100) } }, expect: 413, label: 'a payload over its limit' });
  let limited = null;
  for (let i = 0; i < 20 && !limited; i++) {
    const r = await call('post', '/v1/tenants/{tid}/events', { token: ctx.otherKey, ids: { tid: ids.otherTid },
      body: { event_type: ids.name, payload: { n: i } }, expect: [202, 429], label: 'posting faster than its rate' });
    if (r.status === 429) limited = r;
  }
  assert.ok(limited, 'posting 20 events at once at 1 event/s was never refused');
  assert.match(limited.headers.get('retry-after') || '', /^[1-9][0-9]*$/, 'a 429 says when to try again');

  /* a gone receiver: the endpoint is disabled, and its replay and
   * recovery conflict */
  const g = await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.key, body: { url: `${ctx.rx}/gone` }, expect: 201, label: 'the gone receiver' });
  const gt = await call('post', '/v1/tenants/{tid}/endpoints/{eid}/test', { token: ctx.key, ids: { eid: g.json.id }, expect: 202, label: 'to the gone receiver' });
  await waitFor('the gone endpoint to be disabled', async () => {
    const r = await call('get', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, ids: { eid: g.json.id }, expect: 200, label: 'the gone receiver' });
    return r.json.enabled === false && r.json.disabled_reason;
  });
  await call('post', '/v1/tenants/{tid}/deliveries/{did}/replay', { token: ctx.key, ids: { did: gt.json.id }, expect: 409, label: 'its endpoint is disabled' });
  await call('post', '/v1/tenants/{tid}/endpoints/{eid}/recover', { token: ctx.key, ids: { eid: g.json.id }, body: { since: '2020-01-01T00:00:00Z' }, expect: 409, label: 'the endpoint is disabled' });

  /* ordered delivery: a fifo endpoint whose receiver fails shows the
   * delivery it waits behind; skipping that delivery ends it, and a
   * delivery that is not pending cannot be skipped */
  await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.key, body: { url: `${ctx.rx}/fail`, ordering: 'lifo' }, expect: 422, label: 'an unknown ordering' });
  const f = await call('post', '/v1/tenants/{tid}/endpoints', { token: ctx.key, body: { url: `${ctx.rx}/fail`, ordering: 'fifo' }, expect: 201, label: 'a fifo endpoint' });
  assert.equal(f.json.ordering, 'fifo');
  assert.equal(f.json.blocked_by, null);
  await call('patch', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, ids: { eid: f.json.id }, body: { ordering: 'unordered' }, expect: 200, label: 'back to unordered' });
  await call('patch', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, ids: { eid: f.json.id }, body: { ordering: 'FIFO' }, expect: 422, label: 'an ordering in capitals' });
  const fp = await call('patch', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, ids: { eid: f.json.id }, body: { ordering: 'fifo' }, expect: 200, label: 'fifo again' });
  assert.equal(fp.json.ordering, 'fifo');
  const ft = await call('post', '/v1/tenants/{tid}/endpoints/{eid}/test', { token: ctx.key, ids: { eid: f.json.id }, expect: 202, label: 'to the failing fifo receiver' });
  const blocked = await waitFor('the fifo endpoint to be blocked', async () => {
    const r = await call('get', '/v1/tenants/{tid}/endpoints', { token: ctx.readSession, expect: 200, label: 'with a blocked endpoint' });
    return r.json.data.find((x) => x.id === f.json.id)?.blocked_by;
  });
  assert.equal(blocked.delivery_id, ft.json.id);
  assert.equal(blocked.last_status_code, 500);
  const sk = await call('post', '/v1/tenants/{tid}/deliveries/{did}/skip', { token: ctx.writeSession, ids: { did: ft.json.id }, expect: 200, label: 'the delivery it waits behind' });
  assert.equal(sk.json.status, 'failed');
  assert.equal(sk.json.last_error, 'skipped');
  await call('post', '/v1/tenants/{tid}/deliveries/{did}/skip', { token: ctx.key, ids: { did: ft.json.id }, expect: 409, label: 'a delivery that has failed' });
  await waitFor('the replayed delivery to succeed again', async () => {
    const r = await call('get', '/v1/tenants/{tid}/deliveries/{did}', { token: ctx.key, expect: 200 });
    return r.json.status === 'succeeded';
  });
  await call('post', '/v1/tenants/{tid}/deliveries/{did}/skip', { token: ctx.key, expect: 409, label: 'a delivery that succeeded' });
  const unblocked = await call('get', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, ids: { eid: f.json.id }, expect: 200, label: 'after the skip' });
  assert.equal(unblocked.json.blocked_by, null);

  /* the documented errors every operation can give, from the document */
  const big = JSON.stringify({ name: 'x'.repeat(300 * 1024) });
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const statuses = Object.keys(op.responses);
      const needs = (s) => statuses.includes(s);
      const sec = op.security || doc.security || [];
      const pick = (s) => sec.find((r) => r[s] !== undefined);
      const token = pick('adminKey') ? admin() : ctx.key;
      const label = (what) => ({ label: what });
      const example = op.requestBody?.content['application/json'].example;
      if (needs('401')) await call(method, template, { ...label('no token'), expect: 401 });
      if (needs('403')) {
        if (template === '/v1/me/session') {
          await call(method, template, { token: ctx.key, ...label('an API key'), expect: 403 });
        } else if (sec.length === 1 && pick('adminKey')) {
          await call(method, template, { token: ctx.key, ...label('a tenant key'), expect: 403 });
        } else {
          assert.deepEqual(pick('portalSession').portalSession, ['write'], `${method} ${template}: why 403?`);
          await call(method, template, { token: ctx.readSession, ...label('a read session'), expect: 403 });
        }
      }
      if (needs('404')) {
        if (template === '/v1/event-types/{name}') {
          await call(method, template, { token: admin(), ids: { name: 'no.such.type' }, body: example, ...label('no such type'), expect: 404 });
        } else if (sec.length === 1) {
          await call(method, template, { token: admin(), ids: { tid: crypto.randomUUID() }, body: example, ...label('no such tenant'), expect: 404 });
        } else {
          await call(method, template, { token: ctx.otherKey, ...label('another tenant\'s key'), expect: 404 });
        }
      }
      if (needs('422')) {
        await call(method, template, { token: sec.length ? token : undefined, query: { no_such_parameter: '1' }, ...label('an unknown query parameter'), expect: 422 });
      }
      if (op.requestBody) {
        if (needs('400')) await call(method, template, { token, raw: '{"a":', ...label('broken JSON'), expect: 400 });
        if (needs('415')) await call(method, template, { token, raw: '{}', type: 'text/plain', ...label('text/plain'), expect: 415 });
        if (needs('413')) await call(method, template, { token, raw: big, ...label('a body over HOOKD_MAX_BODY'), expect: 413 });
      }
    }
  }

  /* sign-out and deletes, last */
  await call('delete', '/v1/me/session', { token: ctx.writeSession, expect: 204 });
  await call('get', '/v1/me', { token: ctx.writeSession, expect: 401, label: 'a signed-out session' });
  await call('delete', '/v1/tenants/{tid}/portal-sessions/{sid}', { token: admin(), expect: 204 });
  await call('delete', '/v1/tenants/{tid}/endpoints/{eid}', { token: ctx.key, expect: 204 });
  await call('delete', '/v1/tenants/{tid}/api-keys/{kid}', { token: admin(), expect: 204 });
  await call('delete', '/v1/tenants/{tid}', { token: admin(), expect: 204 });
  await call('get', '/v1/tenants/{tid}', { token: admin(), expect: 404, label: 'a deleted tenant' });

  /* every documented status was seen */
  const missing = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const got = seen.get(`${method} ${template}`) || new Set();
      for (const s of Object.keys(item[method].responses)) {
        if (!UNPROVOKABLE.has(s) && !got.has(s)) missing.push(`${method.toUpperCase()} ${template} ${s}`);
      }
    }
  }
  assert.deepEqual(missing, [], 'documented answers the test never saw');
});
