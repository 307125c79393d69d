// Connections that arrive while every child is busy (src/pool/pool.ts): they
// wait unread, their bytes in the kernel, in arrival order with the requests
// already queued; a child is reserved for the oldest one when it frees up and
// the request streams straight to it. A connection that then sends nothing, or
// leaves, or only asks FCGI_GET_VALUES gives its child back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { connect, fcgiRequest, rawExchange, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { makeTempDir } from '../helpers/tmp.js';
import { RecordType, encodeRecord, encodeParams, decodeParams } from '../../src/fastcgi/index.js';

const docroot = makeTempDir('tsfpm-queue-');
writeFileSync(join(docroot, 'slow.php'), '<?php usleep((int)$_GET["ms"] * 1000); echo "slept";');
writeFileSync(join(docroot, 'when.php'), '<?php echo hrtime(true);');
writeFileSync(join(docroot, 'echo.php'), '<?php $b = file_get_contents("php://input"); echo strlen($b), " ", md5($b);');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let d: Tsfpm;
let target: Target;

before(async () => {
  // One child: every second client has to wait.
  d = await startTsfpm({ conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n' });
  target = { path: join(d.dir, 'www.sock') };
});

after(async () => {
  assert.equal(await d.stop(), 0, d.output());
});

const slow = (ms: number): Promise<unknown> => fcgiRequest(target, scriptParams(docroot, '/slow.php', { QUERY_STRING: `ms=${ms}` }));
const when = (): Promise<bigint> => fcgiRequest(target, scriptParams(docroot, '/when.php')).then((r) => BigInt(r.body.toString()));
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long a new request waits (ms), 20 ms after the clients ahead of it connected. */
async function timedRequest(): Promise<number> {
  await tick(20);
  const t0 = Date.now();
  const r = await fcgiRequest(target, scriptParams(docroot, '/when.php'), { timeoutMs: 5000 });
  assert.match(r.body.toString(), /^\d+$/);
  return Date.now() - t0;
}

test('queueing: waiting clients are served in arrival order, bodies intact', async () => {
  const busy = slow(300);
  await tick(50);
  const order: Promise<bigint>[] = [];
  for (let i = 0; i < 5; i++) { order.push(when()); await tick(15); }
  const body = randomBytes(200 * 1024);
  const upload = fcgiRequest(target, scriptParams(docroot, '/echo.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }), { stdin: body });
  await busy;
  const times = await Promise.all(order);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], `client ${i} served before client ${i - 1}`);
  assert.equal((await upload).body.toString(), `${body.length} ${md5(body)}`);
});

test('queueing: a waiting client that sends nothing holds the child for at most ~2 s', async () => {
  const busy = slow(200);
  await tick(50);
  const silent = await connect(target); // queued behind the busy request, then given the child
  silent.on('error', () => { /* closed at the end */ });
  const waited = await timedRequest();
  await busy;
  assert.ok(waited < 3000, `a request behind a silent connection waited ${waited} ms`);
  assert.ok(waited >= 150, `served in ${waited} ms: it did not wait for the busy child at all?`);
  // The silent connection still works once it speaks.
  const late = await fcgiRequest(target, scriptParams(docroot, '/when.php'), { socket: silent, keepConn: true });
  assert.match(late.body.toString(), /^\d+$/);
  silent.destroy();
});

test('queueing: a waiting client that leaves, and one that only asks GET_VALUES, give the child back', async () => {
  const busy = slow(200);
  await tick(50);
  const leaver = await connect(target);
  leaver.destroy();
  const getValues = rawExchange(target, encodeRecord(RecordType.GET_VALUES, 0, encodeParams([['FCGI_MPXS_CONNS', '']])), 2000);
  const waited = await timedRequest();
  await busy;
  // Served as soon as the busy request ended, not after a reservation timed out.
  assert.ok(waited < 800, `waited ${waited} ms behind a departed client and a GET_VALUES probe`);
  const gv = await getValues;
  assert.equal(gv.data[1], RecordType.GET_VALUES_RESULT);
  const pairs = new Map(decodeParams(gv.data.subarray(8, 8 + gv.data.readUInt16BE(4))));
  assert.equal(pairs.get('FCGI_MPXS_CONNS'), '0');
});

test('queueing: QUIT finishes the running and the waiting requests, and a silent waiting client cannot hold it up', { timeout: 15000 }, async () => {
  const q = await startTsfpm({ conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n' });
  const t: Target = { path: join(q.dir, 'www.sock') };
  const running = fcgiRequest(t, scriptParams(docroot, '/slow.php', { QUERY_STRING: 'ms=300' }));
  await tick(50);
  const silent = await connect(t);
  silent.on('error', () => { /* closed by the exiting master */ });
  const waiting = fcgiRequest(t, scriptParams(docroot, '/when.php'), { timeoutMs: 8000 });
  await tick(20);
  const t0 = Date.now();
  q.signal('SIGQUIT');
  assert.equal((await running).body.toString(), 'slept');
  assert.match((await waiting).body.toString(), /^\d+$/);
  assert.equal(await q.exited, 0, q.output());
  const took = Date.now() - t0;
  silent.destroy();
  assert.ok(took < 4000, `graceful stop took ${took} ms behind a silent connection`);
});
