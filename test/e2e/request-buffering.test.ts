// tsfpm.request_buffering (src/body): a pool with it on reads each request
// whole before it engages a child (up to 1 MiB in memory, the rest in an
// unlinked spool file), checks multipart bodies as they stream in against the
// pool's effective upload limits and answers 413 before any PHP runs. Real
// nginx (with fastcgi_request_buffering off, so that nginx streams bodies as
// they come), cgi-fcgi, raw FastCGI clients and php-cgi children. The pool
// `stream` has the default (off) and is the control: what php-fpm does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { httpRequest } from '../helpers/http.js';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { fcgiRequest, parseCgiResponse, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { RecordParser, RecordType, Role, encodeBeginRequest, encodeParams, encodeStream } from '../../src/fastcgi/index.js';

const docroot = makeTempDir('tsfpm-bodies-');
const marks = join(docroot, 'marks');
// Each run of up.php leaves a mark: a 413 must leave none.
writeFileSync(join(docroot, 'up.php'), `<?php
@mkdir('${marks}');
touch('${marks}/' . basename($_GET['tag'] ?? 'none'));
$out = [];
foreach ($_FILES as $k => $f) {
  $out[$k] = ['name' => $f['name'], 'size' => $f['size'], 'error' => $f['error'],
    'uploaded' => is_uploaded_file($f['tmp_name']), 'md5' => $f['error'] === 0 ? md5_file($f['tmp_name']) : null];
}
echo json_encode(['files' => $out, 'post' => count($_POST)]);
`);
writeFileSync(join(docroot, 'echo.php'), '<?php $b = file_get_contents("php://input"); echo strlen($b), " ", md5($b);');
writeFileSync(join(docroot, 'when.php'), '<?php echo "ok";');
writeFileSync(join(docroot, 'count.php'), `<?php
$t = microtime(true);
$in = fopen('php://input', 'rb');
$h = hash_init('md5');
$n = 0;
while (($b = fread($in, 1 << 20)) !== false && $b !== '') { $n += strlen($b); hash_update($h, $b); }
printf('%.6f %d %s', $t, $n, hash_final($h));
`);
// Dies before reading its input: the master is then still sending the spooled body.
writeFileSync(join(docroot, 'die.php'), '<?php posix_kill(getmypid(), 9);');

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const POOL = (name: string, buffering: boolean): string => `[${name}]
listen = {dir}/${name}.sock
pm = static
pm.max_children = 1
${buffering ? 'tsfpm.request_buffering = yes\n' : ''}php_admin_value[upload_max_filesize] = 2M
php_admin_value[post_max_size] = 8M
php_admin_value[max_file_uploads] = 5
php_admin_value[max_multipart_body_parts] = 10
`;
const CONF = `[global]\nerror_log = {dir}/error.log\n${POOL('buf', true)}${POOL('stream', false)}`;

let d: Tsfpm;
let nginx: Nginx;
let buf: { path: string };
let stream: { path: string };

before(async () => {
  d = await startTsfpm({ conf: CONF });
  buf = { path: join(d.dir, 'buf.sock') };
  stream = { path: join(d.dir, 'stream.sock') };
  nginx = await startNginx({
    upstream: `unix:${buf.path}`, docroot,
    extraServer: '    client_max_body_size 0;\n    fastcgi_request_buffering off;\n',
  });
});

after(async () => {
  await nginx?.stop();
  assert.equal(await d.stop(), 0, d.output());
});

const BOUNDARY = '----tsfpmE2eBoundary';
function multipart(parts: Array<{ name: string; filename?: string; data: Buffer | string }>): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const fn = p.filename !== undefined ? `; filename="${p.filename}"` : '';
    out.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"${fn}\r\n${p.filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`));
    out.push(typeof p.data === 'string' ? Buffer.from(p.data) : p.data);
    out.push(Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(out);
}
const MP = `multipart/form-data; boundary=${BOUNDARY}`;

interface UpReply { files: Record<string, { name: string; size: number; error: number; uploaded: boolean; md5: string | null }>; post: number }

/** POST through nginx to up.php?tag=TAG. */
async function upload(tag: string, body: Buffer): Promise<{ status: number; body: string }> {
  const r = await httpRequest(nginx.url(`/up.php?tag=${tag}`), { method: 'POST', headers: { 'content-type': MP }, body, timeoutMs: 20_000 });
  return { status: r.status, body: r.body };
}
const ran = (tag: string): boolean => existsSync(join(marks, tag));

/** The master's descriptors open on spool files (unlinked: "... /bodies/body-... (deleted)"). */
function spoolFds(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try { if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes('/bodies/body-')) n++; } catch { /* closed meanwhile */ }
  }
  return n;
}
const masterPid = (): number => d.proc.pid!;

test('a 1.5 MB upload through nginx: $_FILES holds it, is_uploaded_file() is true, same bytes', async () => {
  const file = randomBytes(1_500_000);
  const r = await upload('ok1', multipart([{ name: 'title', data: 'hello' }, { name: 'doc', filename: 'a.bin', data: file }]));
  assert.equal(r.status, 200, r.body);
  const j = JSON.parse(r.body) as UpReply;
  assert.deepEqual(j.files.doc, { name: 'a.bin', size: file.length, error: 0, uploaded: true, md5: md5(file) });
  assert.equal(j.post, 1);
  assert.ok(ran('ok1'));
});

test('the same upload with cgi-fcgi (libfcgi) straight to the pool', async () => {
  const file = randomBytes(1_500_000);
  const body = multipart([{ name: 'doc', filename: 'c.bin', data: file }]);
  const r = await cgiFcgi(buf.path, {
    SCRIPT_FILENAME: join(docroot, 'up.php'), REQUEST_METHOD: 'POST', QUERY_STRING: 'tag=cgi1', CONTENT_TYPE: MP,
    CONTENT_LENGTH: String(body.length), REDIRECT_STATUS: '200',
  }, body);
  const j = JSON.parse(parseCgiResponse(Buffer.from(r.stdout, 'latin1')).body.toString()) as UpReply;
  assert.deepEqual(j.files.doc, { name: 'c.bin', size: file.length, error: 0, uploaded: true, md5: md5(file) });
});

test('over upload_max_filesize: 413 and a WARNING, PHP never ran; the pool without buffering runs it with UPLOAD_ERR_INI_SIZE (php-fpm)', async () => {
  const body = multipart([{ name: 'doc', filename: 'big.bin', data: randomBytes(3 * 1024 * 1024) }]);
  const from = d.output().length;
  const r = await upload('big1', body);
  assert.equal(r.status, 413, r.body);
  assert.match(r.body, /413 Content Too Large/);
  assert.equal(ran('big1'), false, 'up.php ran');
  await d.waitForOutput(/WARNING: \[pool buf\] script '.*\/up\.php' \(request: "POST \/up\.php\?tag=big1"\) refused with 413 before any PHP ran: file 'doc' \("big\.bin"\) is over upload_max_filesize \(2097152 bytes\): \d+ bytes of it received/, 3000, from);
  const c = await fcgiRequest(stream, scriptParams(docroot, '/up.php?tag=big2', { REQUEST_METHOD: 'POST', CONTENT_TYPE: MP, CONTENT_LENGTH: String(body.length) }), { stdin: body });
  assert.equal(c.status, 200);
  assert.equal((JSON.parse(c.body.toString()) as UpReply).files.doc.error, 1);
  assert.ok(ran('big2'));
  assert.equal(spoolFds(masterPid()), 0);
});

test('too many files, too many parts, Content-Length over post_max_size: 413 before PHP runs', async () => {
  // As php-src's ghsa-54hq-v5wp-fqgv tests send them: PHP itself would keep 5 of 10 files, 10 of 30 fields.
  const files = multipart(Array.from({ length: 10 }, (_, i) => ({ name: `f${i}`, filename: `x${i}.txt`, data: `file ${i}` })));
  const parts = multipart(Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, data: `v${i}` })));
  const huge = multipart([{ name: 'doc', filename: 'h.bin', data: Buffer.alloc(9 * 1024 * 1024, 1) }]);
  const from = d.output().length;
  for (const [tag, body] of [['files', files], ['parts', parts], ['post', huge]] as const) {
    const r = await upload(tag, body);
    assert.equal(r.status, 413, `${tag}: ${r.body}`);
    assert.equal(ran(tag), false, `${tag}: up.php ran`);
  }
  const log = d.output().slice(from);
  assert.match(log, /"POST \/up\.php\?tag=files"\) refused with 413 before any PHP ran: file 'f5' \("x5\.txt"\) is file 6, over max_file_uploads \(5\)/);
  assert.match(log, /"POST \/up\.php\?tag=parts"\) refused with 413 before any PHP ran: part 11 is over max_multipart_body_parts \(10\)/);
  assert.match(log, new RegExp(`"POST /up\\.php\\?tag=post"\\) refused with 413 before any PHP ran: Content-Length ${huge.length} is over post_max_size \\(8388608 bytes\\)`));
  // Within the limits, the same pool serves them.
  const five = multipart(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, filename: `x${i}.txt`, data: `file ${i}` })));
  const r = await upload('five', five);
  assert.equal(r.status, 200);
  assert.equal(Object.keys((JSON.parse(r.body) as UpReply).files).length, 5);
});

/** A FastCGI request whose records the test sends piece by piece. */
interface OpenRequest {
  send(body: Buffer): Promise<void>;
  end(): Promise<void>;
  destroy(): void;
  /** The reply's body (STDOUT after the CGI head) at END_REQUEST; rejects if the connection closes first. */
  reply: Promise<Buffer>;
}

async function openRequest(target: Target, params: Record<string, string>): Promise<OpenRequest> {
  const sock = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const out: Buffer[] = [];
  const reply = new Promise<Buffer>((resolve, reject) => {
    const parser = new RecordParser((rec) => {
      if (rec.type === RecordType.STDOUT) out.push(Buffer.from(rec.content));
      else if (rec.type === RecordType.END_REQUEST) { resolve(parseCgiResponse(Buffer.concat(out)).body); sock.destroy(); }
    });
    sock.on('data', (c: Buffer) => parser.execute(c));
    sock.on('error', () => { /* close follows */ });
    sock.on('close', () => reject(new Error('connection closed before END_REQUEST')));
  });
  reply.catch(() => { /* awaited by the test when it matters */ });
  const write = (b: Buffer): Promise<void> => new Promise((resolve) => { if (sock.write(b)) resolve(); else sock.once('drain', resolve); });
  await write(Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, 0),
    encodeStream(RecordType.PARAMS, 1, encodeParams(Object.entries(params))),
    encodeStream(RecordType.PARAMS, 1, Buffer.alloc(0)),
  ]));
  return {
    async send(body) { for (let i = 0; i < body.length; i += 0xfff8) await write(encodeStream(RecordType.STDIN, 1, body.subarray(i, i + 0xfff8))); },
    end: () => write(encodeStream(RecordType.STDIN, 1, Buffer.alloc(0))),
    destroy: () => sock.destroy(),
    reply,
  };
}

const echoParams = (body: Buffer, script = '/echo.php'): Record<string, string> =>
  scriptParams(docroot, script, { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(body.length) });

/** A client sends half its body, pauses `pauseMs`, then the rest; meanwhile another asks for a page: how long it waited. */
async function slowClientAndAnother(target: Target, pauseMs: number): Promise<{ waited: number; slow: string; expected: string }> {
  const body = randomBytes(1024 * 1024);
  const slow = await openRequest(target, echoParams(body));
  await slow.send(body.subarray(0, body.length / 2));
  await tick(200);
  const t0 = Date.now();
  const other = fcgiRequest(target, scriptParams(docroot, '/when.php'), { timeoutMs: 15_000 });
  const paused = tick(pauseMs).then(async () => { await slow.send(body.subarray(body.length / 2)); await slow.end(); });
  const r = await other;
  const waited = Date.now() - t0;
  assert.equal(r.body.toString(), 'ok');
  await paused;
  return { waited, slow: (await slow.reply).toString(), expected: `${body.length} ${md5(body)}` };
}

test('pm.max_children = 1: a client that pauses 4 s mid-body does not hold the child; its body arrives whole', { timeout: 30_000 }, async () => {
  const b = await slowClientAndAnother(buf, 4000);
  assert.ok(b.waited < 1500, `the other request waited ${b.waited} ms behind the slow client`);
  assert.equal(b.slow, b.expected);
  // The control: streaming straight to the child (php-fpm's way), the child waits for the slow client.
  const s = await slowClientAndAnother(stream, 4000);
  assert.ok(s.waited >= 3000, `without buffering the other request waited only ${s.waited} ms`);
  assert.equal(s.slow, s.expected);
});

test('the same through nginx streaming the body (fastcgi_request_buffering off) from a slow HTTP client', { timeout: 30_000 }, async () => {
  const body = randomBytes(1024 * 1024);
  const sock = net.connect(nginx.port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', r));
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.write(`POST /echo.php HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  sock.write(body.subarray(0, body.length / 2));
  await tick(300);
  const t0 = Date.now();
  const other = await httpRequest(nginx.url('/when.php'), { timeoutMs: 15_000 });
  const waited = Date.now() - t0;
  assert.equal(other.body, 'ok');
  assert.ok(waited < 1500, `a page waited ${waited} ms behind a slow upload`);
  await tick(Math.max(0, 4000 - waited));
  // Not end(): nginx may take the half-close for a client abort before PHP answers
  // (it closes the connection itself after the reply: Connection: close).
  sock.write(body.subarray(body.length / 2));
  await closed;
  const res = Buffer.concat(chunks).toString('latin1');
  assert.match(res, /^HTTP\/1\.1 200 /);
  assert.ok(res.includes(`${body.length} ${md5(body)}`), res.slice(0, 300));
});

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

test('a 1 GiB body: spooled whole before PHP starts, delivered exactly, the master grows by less than 64 MiB', { timeout: 120_000 }, async () => {
  const pid = masterPid();
  const SIZE = 1 << 30;
  const base = vm(pid, 'VmRSS');
  let hwmReset = true;
  try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { hwmReset = false; }
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, vm(pid, 'VmRSS')); }, 20);
  const t0 = Date.now();
  const req = await openRequest(buf, scriptParams(docroot, '/count.php', { REQUEST_METHOD: 'PUT', CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(SIZE) }));
  const hash = createHash('md5');
  const piece = randomBytes(0xfff8);
  let sent = 0;
  let spoolSeen = false;
  while (sent < SIZE) {
    const n = Math.min(piece.length, SIZE - sent);
    piece.writeUInt32LE(sent / 0xfff8, 0); // no two records alike
    const b = piece.subarray(0, n);
    hash.update(b);
    await req.send(b);
    sent += n;
    if (!spoolSeen && sent > 64 << 20) spoolSeen = spoolFds(pid) === 1;
  }
  await req.end();
  const sentAt = Date.now() / 1000;
  const [start, count, sum] = (await req.reply).toString().split(' ');
  clearInterval(sampler);
  const took = Date.now() - t0;
  const hwm = hwmReset ? vm(pid, 'VmHWM') : peak;
  assert.ok(spoolSeen, 'the body went through a spool file');
  assert.equal(Number(count), SIZE);
  assert.equal(sum, hash.digest('hex'));
  assert.ok(Number(start) >= sentAt - 0.05, `PHP started at ${start}, before the client sent its last byte at ${sentAt}`);
  const grew = Math.max(hwm, peak) - base;
  assert.ok(grew < 64 << 20, `master RSS grew by ${(grew / 1048576).toFixed(1)} MiB (from ${(base / 1048576).toFixed(1)} MiB)`);
  await waitFor(() => spoolFds(pid) === 0, 2000);
  console.log(`# 1 GiB through the spool in ${took} ms; master RSS ${(base / 1048576).toFixed(1)} MiB, peak +${(grew / 1048576).toFixed(1)} MiB`);
});

test('spool files go however the request ends: client gone mid-body, child dead mid-delivery', { timeout: 30_000 }, async () => {
  const pid = masterPid();
  const body = randomBytes(4 * 1024 * 1024);
  const gone = await openRequest(buf, echoParams(body));
  await gone.send(body.subarray(0, 2 * 1024 * 1024));
  await waitFor(() => spoolFds(pid) === 1, 3000);
  gone.destroy();
  await waitFor(() => spoolFds(pid) === 0, 3000);

  const big = randomBytes(16 * 1024 * 1024);
  const dies = await openRequest(buf, echoParams(big, '/die.php'));
  await dies.send(big);
  await dies.end();
  await assert.rejects(dies.reply, /closed before END_REQUEST/);
  await waitFor(() => spoolFds(pid) === 0, 3000);
  // The pool serves on, bodies intact.
  const again = randomBytes(300_000);
  const r = await fcgiRequest(buf, echoParams(again), { stdin: again, timeoutMs: 10_000 });
  assert.equal(r.body.toString(), `${again.length} ${md5(again)}`);
});

test('a reload while a body is arriving: the new pool serves it whole; QUIT while one arrives: it is served before the exit', { timeout: 40_000 }, async () => {
  const pid = masterPid();
  const body = randomBytes(2 * 1024 * 1024);
  const r1 = await openRequest(buf, echoParams(body));
  await r1.send(body.subarray(0, body.length / 2));
  const from = d.output().length;
  d.signal('SIGUSR2');
  await d.waitForOutput(/ready to handle connections/, 15_000, from);
  await r1.send(body.subarray(body.length / 2));
  await r1.end();
  assert.equal((await r1.reply).toString(), `${body.length} ${md5(body)}`);
  await waitFor(() => spoolFds(pid) === 0, 3000);

  const q = await startTsfpm({ conf: `[global]\nerror_log = {dir}/error.log\n${POOL('buf', true)}` });
  const t: Target = { path: join(q.dir, 'buf.sock') };
  const r2 = await openRequest(t, echoParams(body));
  await r2.send(body.subarray(0, body.length / 2));
  await tick(100);
  q.signal('SIGQUIT');
  await tick(500);
  await r2.send(body.subarray(body.length / 2));
  await r2.end();
  assert.equal((await r2.reply).toString(), `${body.length} ${md5(body)}`);
  assert.equal(await q.exited, 0, q.output());
});

after(() => { rmSync(marks, { recursive: true, force: true }); });
