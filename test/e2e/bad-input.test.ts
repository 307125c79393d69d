// Bad input on a pool's listen socket (issue 4, reference §9): malformed or
// truncated records, oversized lengths, clients that go away mid-request or
// mid-reply. Each time that one connection ends, and the daemon (same pid),
// its two children and every later request carry on; the master leaks no fds.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { connect, fcgiRequest, rawExchange, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { isAlive, waitFor, phpWorkers } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import {
  RecordParser,
  RecordType,
  Role,
  decodeParams,
  encodeBeginRequest,
  encodeHeader,
  encodeParams,
  encodeRecord,
  encodeStream,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';

const CONF = '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 2\n';
const EMPTY = Buffer.alloc(0);

let daemon: Tsfpm;
let target: Target;
let docroot: string;
let masterPid: number;
let fdsBefore = 0;

function phpChildren(): number[] {
  return phpWorkers(masterPid);
}

/** pid, state and kernel wait channel of each php-cgi child, for failure messages. */
function childStates(): string {
  return phpChildren().map((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return `${pid} ${state} ${readFileSync(`/proc/${pid}/wchan`, 'latin1')}`;
    } catch {
      return `${pid} gone`;
    }
  }).join(', ');
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function log(): string {
  let file = '';
  try {
    file = readFileSync(join(daemon.dir, 'error.log'), 'utf8');
  } catch {
    // not written yet
  }
  return `--- output ---\n${daemon.output()}\n--- error.log ---\n${file}`;
}

async function hello(socket?: net.Socket): Promise<void> {
  const res = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { timeoutMs: 5000, ...(socket ? { socket, keepConn: true } : {}) });
  assert.equal(res.status, 200, log());
  assert.equal(res.body.toString(), 'Hello, World!');
}

/** The daemon is fine: same master, two php-cgi children, both able to serve at once. */
async function assertHealthy(label: string, settleMs = 0): Promise<void> {
  assert.equal(daemon.proc.exitCode, null, `${label}: master exited\n${log()}`);
  assert.equal(isAlive(masterPid), true, `${label}: master gone`);
  await waitFor(() => phpChildren().length === 2, 5000).catch((e: Error) => {
    throw new Error(`${label}: children ${JSON.stringify(phpChildren())}: ${e.message}\n${log()}`);
  });
  // More concurrent requests than children: all are served (queued in order if need be).
  try {
    await Promise.all([hello(), hello(), hello(), hello()]);
  } catch (e) {
    throw new Error(`${label}: hello after bad input failed: ${(e as Error).message}\n${log()}`);
  }
  // Both children take a request at the same time: none is left busy or wedged.
  // A child still running a script whose client left may take up to settleMs to free.
  const deadline = Date.now() + settleMs;
  let pids: string[];
  for (;;) {
    try {
      const both = await Promise.all([0, 1].map(() => fcgiRequest(target, scriptParams(docroot, '/pid.php'), { timeoutMs: 5000 })));
      pids = both.map((r) => r.body.toString()).sort();
    } catch (e) {
      throw new Error(`${label}: two concurrent requests failed: ${(e as Error).message}\n${log()}`);
    }
    if (pids[0] !== pids[1] || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.notEqual(pids[0], pids[1], `${label}: both concurrent requests ran in child ${pids[0]}: the other child stays busy (${childStates()})\n${log()}`);
  assert.deepEqual(pids, phpChildren().map(String).sort(), `${label}: children after the requests`);
}

function params(uri: string, extra: Record<string, string> = {}): Buffer {
  return encodeStream(RecordType.PARAMS, 1, encodeParams(Object.entries(scriptParams(docroot, uri, extra))));
}

const begin = (flags = 0, role: number = Role.RESPONDER): Buffer => encodeBeginRequest(1, role, flags);

/** A complete hello request (no FCGI_KEEP_CONN). */
function helloBytes(): Buffer {
  return Buffer.concat([begin(), params('/hello.php'), encodeStream(RecordType.PARAMS, 1, EMPTY), encodeStream(RecordType.STDIN, 1, EMPTY)]);
}

async function expectClosed(bytes: Buffer, label: string, expectNoData = true): Promise<Buffer> {
  const r = await rawExchange(target, bytes, 3000);
  assert.equal(r.closed, true, `${label}: connection left open\n${log()}`);
  if (expectNoData) assert.equal(r.data.length, 0, `${label}: unexpected answer ${JSON.stringify(r.data.toString('latin1'))}`);
  return r.data;
}

/** Writes bytes, then closes our end (or resets it) without waiting for anything. */
async function sendAndHangUp(bytes: Buffer, how: 'end' | 'destroy', delayMs = 100): Promise<void> {
  const sock = await connect(target);
  sock.on('error', () => { /* the daemon may reset */ });
  sock.write(bytes);
  await new Promise((r) => setTimeout(r, delayMs));
  if (how === 'end') sock.end();
  else sock.destroy();
  await new Promise((r) => setTimeout(r, 100));
  sock.destroy();
}

before(async () => {
  docroot = makeTempDir('tsfpm-bad-input-');
  writeFileSync(join(docroot, 'hello.php'), '<?php echo "Hello, World!";\n');
  writeFileSync(join(docroot, 'input.php'), '<?php $d = file_get_contents("php://input"); echo "got ", strlen($d);\n');
  // Holds its child long enough for a second request to need the other child.
  writeFileSync(join(docroot, 'pid.php'), '<?php usleep(300000); echo getmypid();\n');
  // 1 MiB in 64 KiB pieces over ~1.3 s.
  writeFileSync(
    join(docroot, 'big.php'),
    '<?php $s = str_repeat("x", 16384); for ($i = 0; $i < 64; $i++) { echo $s; flush(); usleep(20000); }\n',
  );
  daemon = await startTsfpm({ conf: CONF });
  assert.ok(daemon.proc.pid !== undefined);
  masterPid = daemon.proc.pid;
  target = { path: join(daemon.dir, 'www.sock') };
  await waitFor(() => phpChildren().length === 2, 5000);
  // Warm up: both children connected, every lazy resource of the master allocated.
  for (let i = 0; i < 3; i++) await Promise.all([hello(), hello(), hello()]);
  fdsBefore = fdCount(masterPid);
});

after(async () => {
  await daemon?.stop();
});

test('version-0 record: connection closed', async () => {
  const b = begin();
  b[0] = 0;
  await expectClosed(b, 'version 0 BEGIN_REQUEST');
  // Inside a request too.
  const p = params('/hello.php');
  p[0] = 0;
  await expectClosed(Buffer.concat([begin(), p]), 'version 0 PARAMS');
  await assertHealthy('version 0');
});

test('content+padding over 65535: connection closed', async () => {
  await expectClosed(Buffer.concat([begin(), encodeHeader(RecordType.PARAMS, 1, 65535, 1), Buffer.alloc(1000)]), 'oversize PARAMS');
  await expectClosed(Buffer.concat([begin(), params('/hello.php'), encodeStream(RecordType.PARAMS, 1, EMPTY), encodeHeader(RecordType.STDIN, 1, 65530, 255)]), 'oversize STDIN');
  await expectClosed(encodeHeader(RecordType.BEGIN_REQUEST, 1, 65535, 8), 'oversize BEGIN_REQUEST');
  await assertHealthy('oversize');
});

test('PARAMS stream over 1 MiB (no web server sends that): connection closed', async () => {
  const records: Buffer[] = [begin()];
  // 20 records of 60000 bytes each, never ending the PARAMS stream.
  for (let i = 0; i < 20; i++) records.push(encodeRecord(RecordType.PARAMS, 1, Buffer.alloc(60000, 0x41)));
  await expectClosed(Buffer.concat(records), 'params flood');
  await assertHealthy('params flood');
});

test('a record type that cannot start a request: connection closed', async () => {
  for (const [label, bytes] of [
    ['PARAMS', params('/hello.php')],
    ['STDIN with data', encodeRecord(RecordType.STDIN, 1, Buffer.from('x'))],
    ['STDOUT', encodeRecord(RecordType.STDOUT, 1, Buffer.from('x'))],
    ['END_REQUEST', encodeRecord(RecordType.END_REQUEST, 1, Buffer.alloc(8))],
    ['ABORT_REQUEST', encodeHeader(RecordType.ABORT_REQUEST, 1, 0, 0)],
    ['unknown type 42', encodeRecord(42, 1, Buffer.from('abc'))],
  ] as const) {
    await expectClosed(Buffer.concat([bytes, helloBytes()]), label);
  }
  await assertHealthy('bad first record');
});

test('empty STDIN records before BEGIN_REQUEST are skipped (php-fpm)', async () => {
  const r = await rawExchange(target, Buffer.concat([encodeStream(RecordType.STDIN, 1, EMPTY), encodeStream(RecordType.STDIN, 1, EMPTY), helloBytes()]), 3000);
  assert.equal(r.closed, true);
  assert.match(r.data.toString('latin1'), /Hello, World!/, log());
});

test('unknown role: connection closed without an answer', async () => {
  for (const role of [0, 4, 0xffff]) {
    await expectClosed(Buffer.concat([begin(0, role), params('/hello.php'), encodeStream(RecordType.PARAMS, 1, EMPTY), encodeStream(RecordType.STDIN, 1, EMPTY)]), `role ${role}`);
  }
  await assertHealthy('unknown role');
});

test('short BEGIN_REQUEST body: connection closed', async () => {
  await expectClosed(Buffer.concat([encodeRecord(RecordType.BEGIN_REQUEST, 1, Buffer.from([0, 1, 0])), helloBytes()]), 'BEGIN_REQUEST of 3 bytes');
  await assertHealthy('short begin');
});

test('malformed GET_VALUES body: connection closed', async () => {
  // Name length 100 with 3 bytes of data.
  await expectClosed(encodeRecord(RecordType.GET_VALUES, 0, Buffer.from([100, 0, 65, 66, 67])), 'GET_VALUES overrun');
  await assertHealthy('bad GET_VALUES');
});

test('truncated record, then the client closes', async () => {
  const full = helloBytes();
  const beginLen = 16;
  const paramsEnd = full.length - 16; // before the empty PARAMS and STDIN
  for (const [label, cut] of [
    ['inside the BEGIN_REQUEST header', 5],
    ['inside the BEGIN_REQUEST body', 12],
    ['inside a PARAMS header', beginLen + 3],
    ['inside PARAMS content', beginLen + 40],
    ['inside the closing PARAMS header', paramsEnd + 4],
    ['inside the closing STDIN header', full.length - 3],
  ] as const) {
    await sendAndHangUp(full.subarray(0, cut), 'end');
    await sendAndHangUp(full.subarray(0, cut), 'destroy', 10);
    await assertHealthy(`truncated ${label}`);
  }
});

test('BEGIN_REQUEST inside a request: connection closed', async () => {
  // While PARAMS are still coming.
  await expectClosed(Buffer.concat([begin(), params('/hello.php'), encodeBeginRequest(2, Role.RESPONDER, 0)]), 'BEGIN inside PARAMS');
  // After PARAMS (the request is already with a child), before the end of STDIN.
  const r = await rawExchange(
    target,
    Buffer.concat([
      begin(),
      params('/input.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }),
      encodeStream(RecordType.PARAMS, 1, EMPTY),
      encodeRecord(RecordType.STDIN, 1, Buffer.from('abc')),
      encodeBeginRequest(2, Role.RESPONDER, 0),
    ]),
    3000,
  );
  assert.equal(r.closed, true, log());
  assert.doesNotMatch(r.data.toString('latin1'), /got/, 'the request must not be answered');
  await assertHealthy('BEGIN inside a request');
});

test('client disconnects mid-request (after PARAMS, before the end of STDIN)', async () => {
  for (const how of ['end', 'destroy'] as const) {
    await sendAndHangUp(
      Buffer.concat([
        begin(),
        params('/input.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100000', CONTENT_TYPE: 'application/octet-stream' }),
        encodeStream(RecordType.PARAMS, 1, EMPTY),
        encodeStream(RecordType.STDIN, 1, Buffer.alloc(1000, 0x61)),
      ]),
      how,
      300,
    );
    await assertHealthy(`mid-request ${how}`);
  }
  // With FCGI_KEEP_CONN, as nginx keepalive sends it.
  await sendAndHangUp(
    Buffer.concat([
      begin(1),
      params('/input.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5000' }),
      encodeStream(RecordType.PARAMS, 1, EMPTY),
      encodeStream(RecordType.STDIN, 1, Buffer.alloc(100, 0x61)),
    ]),
    'destroy',
    300,
  );
  await assertHealthy('mid-request keep-conn');
  // And the same script still reads a whole body.
  const res = await fcgiRequest(target, scriptParams(docroot, '/input.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3000' }), { stdin: Buffer.alloc(3000, 0x62) });
  assert.equal(res.body.toString(), 'got 3000');
});

test('GET_VALUES is answered FCGI_MPXS_CONNS=0 and the connection stays usable', async () => {
  const sock = await connect(target);
  try {
    const records: FcgiRecord[] = [];
    const parser = new RecordParser((r) => records.push({ ...r, content: Buffer.from(r.content) }));
    const onData = (c: Buffer): void => parser.execute(c);
    sock.on('data', onData);
    sock.write(encodeRecord(RecordType.GET_VALUES, 0, encodeParams([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', '']])));
    await waitFor(() => records.length > 0, 3000);
    sock.off('data', onData);
    assert.equal(records.length, 1);
    assert.equal(records[0].type, RecordType.GET_VALUES_RESULT);
    assert.equal(records[0].requestId, 0);
    assert.deepEqual(decodeParams(records[0].content), [['FCGI_MPXS_CONNS', '0']]);
    assert.equal(sock.destroyed, false);
    // A request on the same connection, kept alive, then another.
    await hello(sock);
    await hello(sock);
  } finally {
    sock.destroy();
  }
  await assertHealthy('GET_VALUES');
});

/** Requests big.php, waits for some reply bytes, then (optionally stops reading and) hangs up. */
async function bigThenHangUp(stallMs: number): Promise<number> {
  const sock = await connect(target);
  sock.on('error', () => { /* reset is fine */ });
  let got = 0;
  const firstBytes = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      got += c.length;
      if (got > 30_000) resolve();
    });
  });
  sock.write(Buffer.concat([begin(1), params('/big.php'), encodeStream(RecordType.PARAMS, 1, EMPTY), encodeStream(RecordType.STDIN, 1, EMPTY)]));
  await firstBytes;
  if (stallMs > 0) {
    // A client that stops reading: tsfpm's writes to it back up before it hangs up.
    sock.pause();
    await new Promise((r) => setTimeout(r, stallMs));
  }
  sock.destroy();
  return got;
}

test('client disconnects mid-reply (1 MiB printed slowly)', async () => {
  const got = await bigThenHangUp(0);
  assert.ok(got < 1024 * 1024, `the whole reply arrived (${got}) before the hang-up; the test proves nothing`);
  // The script runs on (its reply is dropped) for at most ~1.3 s; then its child serves again.
  await assertHealthy('mid-reply', 5000);
});

test('client stops reading, then disconnects mid-reply', async () => {
  const got = await bigThenHangUp(700);
  assert.ok(got < 1024 * 1024, `the whole reply arrived (${got}) before the hang-up; the test proves nothing`);
  await assertHealthy('stalled mid-reply', 5000);
});

test('nothing leaked: master fds back to the count before the bad input', async () => {
  // Sockets the daemon closed may take a moment to be reaped.
  let now = 0;
  await waitFor(() => {
    now = fdCount(masterPid);
    return now <= fdsBefore + 2;
  }, 5000).catch(() => {
    const links = readdirSync(`/proc/${masterPid}/fd`).map((f) => {
      try {
        return `${f} -> ${readlinkSync(`/proc/${masterPid}/fd/${f}`)}`;
      } catch {
        return f;
      }
    });
    throw new Error(`master fds: ${fdsBefore} before, ${now} after\n${links.join('\n')}`);
  });
  assert.ok(now >= fdsBefore - 2, `fds went down from ${fdsBefore} to ${now}?`);
  assert.equal(phpChildren().length, 2);
});

test('SIGTERM: the daemon exits 0', async () => {
  const pids = phpChildren();
  const code = await daemon.stop();
  assert.equal(code, 0, log());
  await waitFor(() => pids.every((p) => !isAlive(p)), 5000);
});
