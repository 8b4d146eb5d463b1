#!/usr/bin/env node
/*
 * verify-signatures.mjs - checks webhook requests that hookd sent with an
 * implementation of Standard Webhooks that is not hookd's: the official
 * `standardwebhooks` npm package (tests/node_modules). test_signatures.c
 * writes the requests a receiver got, each with its endpoint's secret, to a
 * JSON file; this script verifies every one with Webhook(secret).verify(),
 * and checks that a tampered body, a changed webhook-id or timestamp, and
 * another endpoint's secret are each rejected. Exit status: 0 when all
 * hold, 1 when one does not, 2 when the input or the package is missing.
 *
 * Input: {"messages": [{"label", "secret", "other_secret"?, "headers":
 * {lower-case name: value}, "body": "<exact text>"}]}
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../package.json', import.meta.url));

function load() {
    try {
        return require('standardwebhooks');
    } catch (e) {
        console.error('verify-signatures: cannot load the standardwebhooks ' +
            'package from tests/node_modules (run `cd tests && npm install`): ' +
            e.message);
        process.exit(2);
    }
}

const { Webhook, WebhookVerificationError } = load();

if (process.argv.length !== 3) {
    console.error('usage: node verify-signatures.mjs FILE.json');
    process.exit(2);
}

let input;
try {
    input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (e) {
    console.error(`verify-signatures: cannot read ${process.argv[2]}: ${e.message}`);
    process.exit(2);
}
const messages = Array.isArray(input?.messages) ? input.messages : null;
if (messages === null || messages.length === 0) {
    console.error('verify-signatures: no "messages" in the input');
    process.exit(2);
}

const failures = [];
let checks = 0;

/* true when verify() throws the library's verification error */
function rejects(secret, body, headers) {
    try {
        new Webhook(secret).verify(body, headers);
        return false;
    } catch (e) {
        if (!(e instanceof WebhookVerificationError))
            throw e;
        return true;
    }
}

/* The same body with one character of the payload changed. */
function tamper(body) {
    const at = body.lastIndexOf('}') - 1;
    const c = body[at] === '0' ? '1' : '0';
    return body.slice(0, at) + c + body.slice(at + 1);
}

for (const [i, m] of messages.entries()) {
    const name = m.label ?? `message ${i}`;
    const fail = (why) => failures.push(`${name}: ${why}`);
    if (typeof m.secret !== 'string' || typeof m.body !== 'string' ||
        typeof m.headers !== 'object' || m.headers === null) {
        fail('malformed entry');
        continue;
    }
    checks++;
    let parsed;
    try {
        parsed = new Webhook(m.secret).verify(m.body, m.headers);
    } catch (e) {
        fail(`the official verifier rejects it: ${e.message}`);
        continue;
    }
    if (parsed === undefined || typeof parsed.type !== 'string' ||
        typeof parsed.timestamp !== 'string' || !('data' in parsed))
        fail(`verified, but the body is not {type, timestamp, data}: ${m.body}`);

    checks++;
    if (!rejects(m.secret, tamper(m.body), m.headers))
        fail('a tampered body still verifies');
    checks++;
    if (!rejects(m.secret, m.body,
        { ...m.headers, 'webhook-id': m.headers['webhook-id'] + 'x' }))
        fail('a changed webhook-id still verifies');
    checks++;
    const ts = String(Number(m.headers['webhook-timestamp']) + 1);
    if (!rejects(m.secret, m.body, { ...m.headers, 'webhook-timestamp': ts }))
        fail('a changed webhook-timestamp still verifies');
    if (typeof m.other_secret === 'string') {
        checks++;
        if (!rejects(m.other_secret, m.body, m.headers))
            fail("another endpoint's secret verifies it");
    }
}

for (const f of failures)
    console.error(`verify-signatures: ${f}`);
console.error(`verify-signatures: ${messages.length} messages, ${checks} ` +
    `checks, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
