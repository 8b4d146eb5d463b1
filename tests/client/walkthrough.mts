/*
 * walkthrough.mts - the README's five minutes, done by a typed client: the
 * types come from docs/openapi.json through openapi-typescript, the calls
 * go through openapi-fetch, so a route, parameter or field the document
 * does not describe does not compile. It creates a tenant, its API key, an
 * event type, an endpoint at a receiver of its own (on 127.0.0.1, so hookd
 * must allow private targets), posts an event with an Idempotency-Key,
 * waits for the delivery to succeed, reads its attempts, checks the
 * receiver's request with the official Standard Webhooks verifier, and
 * ends in the portal: a portal session whose link serves the portal and
 * whose token signs in as the tenant.
 *
 * HOOKD_URL and HOOKD_ADMIN_KEY name the hookd to talk to. Prints one line
 * per step; exits 1 with the reason at the first thing that is not as the
 * README says.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import createClient from 'openapi-fetch';
import { Webhook } from 'standardwebhooks';
import type { components, paths } from './generated/openapi.js';

type Delivery = components['schemas']['Delivery'];

const API = process.env.HOOKD_URL ?? 'http://127.0.0.1:8080';
const ADMIN = process.env.HOOKD_ADMIN_KEY ?? '';

function need<T>(value: T | undefined, what: string, error?: unknown): T {
  if (value === undefined) throw new Error(`${what}: ${JSON.stringify(error)}`);
  return value;
}

/* A receiver that answers 204 and keeps what it got. */
interface Received { headers: Record<string, string>; body: string }
const received: Received[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    received.push({ headers, body: Buffer.concat(chunks).toString() });
    res.writeHead(204);
    res.end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const rxPort = (receiver.address() as AddressInfo).port;

try {
  const admin = createClient<paths>({ baseUrl: API, headers: { Authorization: `Bearer ${ADMIN}` } });

  /* 1. a tenant */
  const t = await admin.POST('/v1/tenants', { body: { name: 'Acme Corp' } });
  const tid = need(t.data, 'create the tenant', t.error).id;
  console.log(`1. tenant ${tid}`);

  /* 2. an API key for it, shown once */
  const k = await admin.POST('/v1/tenants/{tid}/api-keys', { params: { path: { tid } }, body: { name: 'acme backend' } });
  const key = need(k.data, 'create the key', k.error).key;
  console.log(`2. API key ${key.slice(0, 11)}…`);
  const acme = createClient<paths>({ baseUrl: API, headers: { Authorization: `Bearer ${key}` } });

  /* 3. an event type */
  const et = await admin.POST('/v1/event-types', { body: { name: 'invoice.paid', description: 'An invoice was paid' } });
  console.log(`3. event type ${need(et.data, 'create the event type', et.error).name}`);

  /* 4. an endpoint for every invoice.* event, and its secret */
  const ep = await acme.POST('/v1/tenants/{tid}/endpoints', {
    params: { path: { tid } },
    body: { url: `http://127.0.0.1:${rxPort}/webhooks`, event_types: ['invoice.*'] },
  });
  const eid = need(ep.data, 'create the endpoint', ep.error).id;
  const sec = await acme.GET('/v1/tenants/{tid}/endpoints/{eid}/secret', { params: { path: { tid, eid } } });
  const secret = need(sec.data, 'read the secret', sec.error).key;
  console.log(`4. endpoint ${eid}, secret ${secret.slice(0, 6)}…`);

  /* 5. an event; its delivery, its attempts, the receiver's request */
  const ev = await acme.POST('/v1/tenants/{tid}/events', {
    params: { path: { tid }, header: { 'Idempotency-Key': 'inv_123' } },
    body: { event_type: 'invoice.paid', payload: { invoice: 'inv_123' } },
  });
  const event = need(ev.data, 'post the event', ev.error);
  if (ev.response.status !== 202 || event.deliveries !== 1) {
    throw new Error(`the event answered ${ev.response.status} with ${event.deliveries} deliveries`);
  }
  let delivery: Delivery | undefined;
  for (const end = Date.now() + 20000; Date.now() < end && delivery?.status !== 'succeeded';) {
    const l = await acme.GET('/v1/tenants/{tid}/deliveries', { params: { path: { tid }, query: { endpoint_id: eid } } });
    delivery = need(l.data, 'list the deliveries', l.error).data[0];
    if (delivery?.status !== 'succeeded') await new Promise((r) => setTimeout(r, 100));
  }
  if (delivery?.status !== 'succeeded') throw new Error(`the delivery is ${delivery?.status ?? 'missing'}`);
  const at = await acme.GET('/v1/tenants/{tid}/deliveries/{did}/attempts', { params: { path: { tid, did: delivery.id } } });
  const attempts = need(at.data, 'list the attempts', at.error).data;
  if (attempts.length !== 1 || attempts[0].status_code !== 204) {
    throw new Error(`want one attempt answered 204, got ${JSON.stringify(attempts)}`);
  }
  const got = received.find((r) => r.headers['webhook-id'] === event.id);
  if (!got) throw new Error('the receiver did not get the event');
  const verified = new Webhook(secret).verify(got.body, got.headers) as { type: string; data: unknown };
  if (verified.type !== 'invoice.paid' || JSON.stringify(verified.data) !== '{"invoice":"inv_123"}') {
    throw new Error(`the receiver got ${got.body}`);
  }
  console.log(`5. event ${event.id}: delivery ${delivery.status}, attempt ${attempts[0].status_code}, signature verified`);

  /* 6. the portal, signed in as the tenant */
  const ps = await admin.POST('/v1/tenants/{tid}/portal-sessions', { params: { path: { tid } }, body: { ttl_seconds: 3600 } });
  const session = need(ps.data, 'create the portal session', ps.error);
  const page = await fetch(session.url.split('#')[0]);
  const portal = createClient<paths>({ baseUrl: API, headers: { Authorization: `Bearer ${session.token}` } });
  const me = await portal.GET('/v1/me');
  const who = need(me.data, 'sign in with the session', me.error);
  if (page.status !== 200 || who.tenant_id !== tid || who.session?.scope !== 'write') {
    throw new Error(`the portal answered ${page.status}; the session is ${JSON.stringify(who)}`);
  }
  console.log(`6. portal ${session.url.split('#')[0]} signed in as ${who.tenant_name} until ${session.expires_at}`);
} catch (err) {
  console.error(`walkthrough: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  receiver.closeAllConnections();
  receiver.close();
}
