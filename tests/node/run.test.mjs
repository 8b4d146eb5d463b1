/*
 * run.test.mjs - `make run` as a new user meets it: scripts/run.sh in a
 * throwaway data folder, its own PostgreSQL port and a free API port. The
 * first start creates the Demo tenant and prints a portal link that signs
 * in as it (a 24-hour write session) and the admin key; a second start
 * keeps the same tenant and prints a new link. The script is stopped with
 * SIGTERM and its cluster with scripts/pg.sh whatever happens.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SOURCE_DIR = process.env.HOOKD_SOURCE_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const START_TIMEOUT_MS = 90000;
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'hookd-run-'));
fs.chmodSync(data, 0o755);

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

let child = null;

/* Starts run.sh and resolves with its output once it printed the link. */
function start(apiPort, pgPort) {
  return new Promise((resolve, reject) => {
    child = spawn('bash', ['scripts/run.sh'], {
      cwd: SOURCE_DIR,
      env: { ...process.env, HOOKD_DATA_DIR: data,
             HOOKD_LISTEN: `127.0.0.1:${apiPort}`,
             HOOKD_PG_PORT: String(pgPort), HOOKD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`run.sh printed no link in time:\n${out}`)),
      START_TIMEOUT_MS);
    const onData = (b) => {
      out += b;
      if (/admin key: \S+/.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (b) => { out += b; });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`run.sh exited ${code} before the link:\n${out}`));
    });
  });
}

function stop() {
  return new Promise((resolve) => {
    if (child === null || child.exitCode !== null) return resolve(null);
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

after(async () => {
  await stop();
  try {
    execFileSync('scripts/pg.sh', ['stop', path.join(data, 'pg')],
                 { cwd: SOURCE_DIR, stdio: 'ignore' });
  } catch { /* not started */ }
  fs.rmSync(data, { recursive: true, force: true });
});

async function me(base, token) {
  const r = await fetch(`${base}/v1/me`,
                        { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

test('make run prints a portal link that signs in as the Demo tenant', async () => {
  const apiPort = await freePort();
  const pgPort = await freePort();
  const base = `http://127.0.0.1:${apiPort}`;
  const out = await start(apiPort, pgPort);
  const link = out.match(/portal:\s+(\S+)/)[1];
  const admin = out.match(/admin key: (\S+)/)[1];
  assert.match(link, new RegExp(`^${base}/portal/#token=hps_[A-Za-z0-9]+$`));
  const token = link.split('#token=')[1];
  const m = await me(base, token);
  assert.equal(m.status, 200);
  assert.equal(m.body.tenant_name, 'Demo');
  assert.equal(m.body.session.scope, 'write');
  const left = Date.parse(m.body.session.expires_at) - Date.now();
  assert.ok(left > 23.9 * 3600e3 && left <= 24 * 3600e3 + 60e3,
            `session ends in ${left} ms, not 24 hours`);
  const page = await fetch(link.split('#')[0]);
  assert.equal(page.status, 200);
  assert.equal((await me(base, admin)).body.role, 'admin');
  const demo = fs.readFileSync(path.join(data, 'demo_tenant'), 'utf8').trim();
  assert.equal(m.body.tenant_id, demo);
  assert.equal(await stop(), 0);

  /* a second start: the same tenant, a new link */
  const out2 = await start(apiPort, pgPort);
  const link2 = out2.match(/portal:\s+(\S+)/)[1];
  assert.notEqual(link2, link);
  const m2 = await me(base, link2.split('#token=')[1]);
  assert.equal(m2.status, 200);
  assert.equal(m2.body.tenant_id, demo);
  const tenants = await fetch(`${base}/v1/tenants?limit=250`,
                              { headers: { Authorization: `Bearer ${admin}` } });
  const names = (await tenants.json()).data.map((t) => t.name);
  assert.deepEqual(names.filter((n) => n === 'Demo'), ['Demo']);
  assert.equal(await stop(), 0);
});
