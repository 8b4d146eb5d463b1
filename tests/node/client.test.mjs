/*
 * client.test.mjs - a client generated from docs/openapi.json works: the
 * types are generated with openapi-typescript, tests/client/walkthrough.mts
 * (the README's five minutes, through openapi-fetch) type-checks with
 * `tsc --noEmit`, and the compiled program runs against a real hookd with a
 * receiver of its own. Everything runs from tests/node_modules, offline.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startHookd, SOURCE_DIR } from './harness.mjs';

const TESTS = path.join(SOURCE_DIR, 'tests');
const CLIENT = path.join(TESTS, 'client');
const MODULES = path.join(TESTS, 'node_modules');
let hookd = null;

function node(args, options = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: TESTS, timeout: 180000, ...options }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

after(async () => {
  if (hookd) {
    const exit = await hookd.stop();
    if (exit && exit !== 'exit 0') console.log(`hookd: ${exit}\n${hookd.logTail()}`);
  }
});

test('types generated from the document type-check the walkthrough, which runs against hookd', async () => {
  fs.rmSync(path.join(CLIENT, 'generated'), { recursive: true, force: true });
  fs.rmSync(path.join(CLIENT, 'dist'), { recursive: true, force: true });
  /* the command the README gives users, on the checked-in document */
  const gen = await node([path.join(MODULES, 'openapi-typescript', 'bin', 'cli.js'),
    path.join(SOURCE_DIR, 'docs', 'openapi.json'), '--default-non-nullable=false',
    '-o', path.join(CLIENT, 'generated', 'openapi.d.ts')]);
  assert.equal(gen.code, 0, `openapi-typescript failed:\n${gen.out}`);
  const tsc = path.join(MODULES, 'typescript', 'bin', 'tsc');
  const check = await node([tsc, '--noEmit', '-p', CLIENT]);
  assert.equal(check.code, 0, `tsc --noEmit found errors:\n${check.out}`);
  const build = await node([tsc, '-p', CLIENT]);
  assert.equal(build.code, 0, `tsc failed:\n${build.out}`);

  hookd = await startHookd('client');
  const run = await node([path.join(CLIENT, 'dist', 'walkthrough.mjs')], {
    env: { PATH: process.env.PATH, HOOKD_URL: hookd.base, HOOKD_ADMIN_KEY: hookd.adminKey },
    timeout: 60000,
  });
  assert.equal(run.code, 0, `the walkthrough failed:\n${run.out}\n${hookd.logTail()}`);
  for (let step = 1; step <= 6; step++) {
    assert.match(run.out, new RegExp(`^${step}\\. `, 'm'), `step ${step} is missing:\n${run.out}`);
  }
  assert.match(run.out, /delivery succeeded, attempt 204, signature verified/);
  assert.match(run.out, /signed in as Acme Corp/);
});
