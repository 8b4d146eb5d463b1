/*
 * harness.mjs - a real hookd for the Node tests that drive its API: a fresh
 * database on make test's throwaway PostgreSQL, `hookd migrate`, then
 * `hookd serve` (the sanitizer build make test names in HOOKD_BIN) on a
 * free port with the default configuration except what a test on one
 * machine needs (private targets allowed, so receivers on 127.0.0.1 can be
 * reached). stop() ends the server and drops the database whatever
 * happened; the server's log is kept under build/test-logs.
 */
import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const SOURCE_DIR = process.env.HOOKD_SOURCE_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

function requireEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through make test`);
  return v;
}

function run(file, args, options) {
  return new Promise((resolve, reject) => {
    execFile(file, args, options, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

function psqlBinary() {
  const pg = '/usr/lib/postgresql/15/bin/psql';
  return fs.existsSync(pg) ? pg : 'psql';
}

function psql(sql) {
  const env = process.env;
  return run(psqlBinary(), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', env.HOOKD_TEST_PGHOST,
    '-p', env.HOOKD_TEST_PGPORT, '-U', env.HOOKD_TEST_PGUSER, '-d', 'postgres', '-c', sql],
  { timeout: 60000 });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* Starts hookd; resolves with { base, adminKey, stop, logTail } once
 * /readyz answers 200. name labels the database and the log. */
export async function startHookd(name, extraEnv = {}) {
  const bin = requireEnv('HOOKD_BIN');
  for (const k of ['HOOKD_TEST_PGHOST', 'HOOKD_TEST_PGPORT', 'HOOKD_TEST_PGUSER']) requireEnv(k);
  if (!fs.existsSync(bin)) throw new Error(`HOOKD_BIN ${bin} does not exist: build it first (make test-build)`);
  const env = process.env;
  const db = `hookd_${name}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const adminKey = `admin-${crypto.randomBytes(16).toString('hex')}`;
  const logDir = path.join(SOURCE_DIR, 'build', 'test-logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `${name}-hookd.log`);
  const henv = {
    PATH: env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOOKD_DATABASE_URL: `postgresql://${env.HOOKD_TEST_PGUSER}@${env.HOOKD_TEST_PGHOST}:${env.HOOKD_TEST_PGPORT}/${db}`,
    HOOKD_LISTEN: `127.0.0.1:${port}`,
    HOOKD_PUBLIC_URL: base,
    HOOKD_ADMIN_KEY: adminKey,
    HOOKD_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
    HOOKD_ALLOW_PRIVATE_TARGETS: '1',
    HOOKD_WEB_DIR: path.join(SOURCE_DIR, 'web'),
    HOOKD_MIGRATIONS_DIR: path.join(SOURCE_DIR, 'migrations'),
    HOOKD_LOG_LEVEL: 'info',
    ...extraEnv,
  };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'HOOKD_TEST_RUN']) if (env[k]) henv[k] = env[k];
  await psql(`CREATE DATABASE ${db}`);
  let server = null;
  let exited = null;
  const log = fs.openSync(logPath, 'w');
  try {
    const m = await run(bin, ['migrate'], { env: henv, timeout: 60000 });
    fs.writeSync(log, `--- hookd migrate\n${m.stdout}${m.stderr}--- hookd serve\n`);
    server = spawn(bin, ['serve'], { env: henv, stdio: ['ignore', log, log] });
    server.on('exit', (code, signal) => { exited = signal ? `signal ${signal}` : `exit ${code}`; });
  } finally {
    fs.closeSync(log);
  }
  const logTail = () => {
    try { return fs.readFileSync(logPath, 'utf8').slice(-6000); } catch { return '(no log)'; }
  };
  const stop = async () => {
    if (server && exited === null) {
      const done = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      const t = setTimeout(() => server.kill('SIGKILL'), 15000);
      await done;
      clearTimeout(t);
    }
    await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    return exited;
  };
  const deadline = Date.now() + 60000;
  for (;;) {
    if (exited !== null) throw new Error(`hookd ended (${exited}) before it was ready:\n${logTail()}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`hookd was not ready within 60 s:\n${logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, adminKey, stop, logTail, exited: () => exited };
}
