// src/body: the multipart check on real bodies (cut anywhere), the spool
// file (bytes back exactly, pieces reused, descriptor closed), and the
// intake that holds one request's records and hands them to a child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { bodyLimits, type BodyLimits } from '../../src/body/limits.js';
import { MultipartCheck } from '../../src/body/multipart-check.js';
import { PartTally, type Refusal, type UploadPlan } from '../../src/body/upload-rules.js';
import { Spool, type BodySink } from '../../src/body/spool.js';
import { PIECE, MEMORY_MAX, memoryHeld } from '../../src/body/pieces.js';
import { BodyIntake } from '../../src/body/intake.js';
import type { Retainer, FrontSocket } from '../../src/net/front-socket.js';
import { RecordType, Role, encodeBeginRequest, encodeParams, encodeStream } from '../../src/fastcgi/index.js';
import { makeTempDir } from '../helpers/tmp.js';

const limits = (over: Partial<BodyLimits> = {}): BodyLimits => ({ ...bodyLimits({ max_multipart_body_parts: '-1' }), ...over });

const B = '----tsfpmBoundary7MA4YWxk';
function multipart(parts: Array<{ disposition?: string; data: Buffer | string }>, boundary = B): Buffer {
  const out: Buffer[] = [Buffer.from('preamble ignored\r\n')];
  for (const p of parts) {
    out.push(Buffer.from(`--${boundary}\r\n${p.disposition !== undefined ? `Content-Disposition: ${p.disposition}\r\n` : ''}Content-Type: application/octet-stream\r\n\r\n`));
    out.push(typeof p.data === 'string' ? Buffer.from(p.data) : p.data);
    out.push(Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

function runCheck(body: Buffer, l: BodyLimits, step: number, contentLength = body.length): Refusal | null {
  const c = new MultipartCheck(B, contentLength, new PartTally(l));
  let r: Refusal | null = null;
  for (let i = 0; i < body.length; i += step) r = c.write(body, i, Math.min(body.length, i + step)) ?? r;
  return r;
}

test('MultipartCheck: a body within the limits passes, however it is cut', () => {
  const body = multipart([
    { disposition: 'form-data; name="title"', data: 'hello' },
    { disposition: 'form-data; name="f"; filename="a.bin"', data: randomBytes(5000) },
    { disposition: 'form-data; name="g"; filename="b.bin"', data: randomBytes(4096) },
  ]);
  for (const step of [1, 7, 100, 4096, body.length]) assert.equal(runCheck(body, limits({ uploadMaxFilesize: 5000 }), step), null, `step ${step}`);
});

test('MultipartCheck: upload_max_filesize, max_file_uploads, max_multipart_body_parts, however the body is cut', () => {
  const big = multipart([{ disposition: 'form-data; name="f"; filename="a.bin"', data: randomBytes(5001) }]);
  for (const step of [1, 13, 65536]) {
    const r = runCheck(big, limits({ uploadMaxFilesize: 5000 }), step);
    assert.equal(r?.limit, 'upload_max_filesize', `step ${step}`);
    assert.ok(r !== null && r.size > 5000 && r.field === 'f' && r.filename === 'a.bin');
  }
  const files = multipart(Array.from({ length: 6 }, (_, i) => ({ disposition: `form-data; name="f${i}"; filename="x${i}"`, data: 'x' })));
  assert.deepEqual(runCheck(files, limits({ maxFileUploads: 5 }), 10), { limit: 'max_file_uploads', value: 5, size: 6, field: 'f5', filename: 'x5' });
  assert.equal(runCheck(files, limits({ maxFileUploads: 6 }), 10), null);
  const parts = multipart(Array.from({ length: 30 }, (_, i) => ({ disposition: `form-data; name="p${i}"`, data: 'v' })));
  assert.deepEqual(runCheck(parts, limits({ maxBodyParts: 10, bodyPartsDerived: false }), 3), { limit: 'max_multipart_body_parts', value: 10, size: 11, derived: false });
  const noCd = multipart(Array.from({ length: 30 }, () => ({ data: 'v' })));
  assert.equal(runCheck(noCd, limits({ maxBodyParts: 10 }), 3), null, 'parts without Content-Disposition do not count');
});

test('MultipartCheck: only the Content-Length bytes PHP reads are looked at', () => {
  const body = multipart([{ disposition: 'form-data; name="f"; filename="a.bin"', data: randomBytes(5001) }]);
  assert.equal(runCheck(body, limits({ uploadMaxFilesize: 5000 }), 512, 1000), null);
  assert.equal(runCheck(body, limits({ uploadMaxFilesize: 5000 }), 512, body.length)?.limit, 'upload_max_filesize');
});

test('MultipartCheck: a malformed body is left to PHP', () => {
  assert.equal(runCheck(Buffer.from('no boundary anywhere'.repeat(1000)), limits({ maxBodyParts: 0 }), 100), null);
  const cut = multipart([{ disposition: 'form-data; name="f"; filename="a"', data: 'abc' }]).subarray(0, 60);
  assert.equal(runCheck(cut, limits(), 5), null);
});

/** A child connection: collects bytes, full after `cap` bytes until drain() is called. */
class FakeSink implements BodySink {
  out: Buffer[] = [];
  private waiting: Array<() => void> = [];
  private since = 0;
  constructor(private readonly cap = Infinity, private readonly async = false) {}
  writeBody(bufs: Buffer[], keeper: Retainer): boolean {
    for (const b of bufs) { this.out.push(Buffer.from(b)); this.since += b.length; }
    if (this.async) keeper.retain();
    return this.since < this.cap;
  }
  onceBodyDrained(cb: () => void): void { this.waiting.push(cb); }
  drain(): boolean {
    const w = this.waiting;
    this.waiting = [];
    this.since = 0;
    for (const cb of w) cb();
    return w.length > 0;
  }
  get bytes(): Buffer { return Buffer.concat(this.out); }
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

async function pumpAll(sink: FakeSink, done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) { await tick(); sink.drain(); }
}

test('Spool: bytes come back exactly, through a sink that fills up and holds pieces; the file is already unlinked', async () => {
  const dir = path.join(makeTempDir('tsfpm-spool-'), 'bodies');
  const s = new Spool(dir);
  assert.deepEqual(fs.readdirSync(dir), [], 'no name left on disk');
  const data = randomBytes(5 * PIECE + 12345);
  let paused = 0;
  for (let i = 0; i < data.length; i += 40_000) if (!s.append(data.subarray(i, i + 40_000))) paused++;
  assert.equal(s.bytes, data.length);
  await new Promise<void>((resolve, reject) => s.flush((e) => (e === null ? resolve() : reject(e))));
  const sink = new FakeSink(100_000, true);
  let finished: Error | null | undefined;
  s.pipeTo(sink, (e) => { finished = e; });
  await pumpAll(sink, () => finished !== undefined);
  assert.equal(finished, null);
  assert.ok(sink.bytes.equals(data));
  s.close();
  s.close();
  assert.ok(paused >= 0);
});

/** This process's descriptors open on files under `dir` (unlinked ones read "... (deleted)"). */
function openUnder(dir: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try { if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

test('Spool: close() during a transfer stops it and releases the descriptor', async () => {
  const dir = path.join(makeTempDir('tsfpm-spool-'), 'b');
  const s = new Spool(dir);
  assert.equal(openUnder(dir), 1);
  s.append(randomBytes(3 * PIECE));
  await new Promise<void>((r) => s.flush(() => r()));
  const sink = new FakeSink(PIECE / 2);
  let called = false;
  s.pipeTo(sink, () => { called = true; });
  await tick();
  s.close();
  sink.drain();
  await tick();
  await tick();
  assert.equal(called, false);
  assert.equal(openUnder(dir), 0);
});

/** The records a web server sends for one request with this body (STDIN cut into records of `rec` bytes). */
function request(id: number, params: Record<string, string>, body: Buffer, rec = 65535): Buffer {
  const parts = [encodeBeginRequest(id, Role.RESPONDER, 1), encodeStream(RecordType.PARAMS, id, encodeParams(Object.entries(params))), encodeStream(RecordType.PARAMS, id, Buffer.alloc(0))];
  for (let i = 0; i < body.length; i += rec) parts.push(encodeStream(RecordType.STDIN, id, body.subarray(i, i + rec)));
  parts.push(encodeStream(RecordType.STDIN, id, Buffer.alloc(0)));
  return Buffer.concat(parts);
}

class FakeSource {
  paused = 0;
  resumed = 0;
  pause(): void { this.paused++; }
  resume(): void { this.resumed++; }
}

function intake(plan: UploadPlan, l: BodyLimits | null = limits(), dir = path.join(makeTempDir('tsfpm-intake-'), 'bodies')) {
  const events: string[] = [];
  const refusals: Refusal[] = [];
  const src = new FakeSource();
  const it = new BodyIntake(plan as Exclude<UploadPlan, { kind: 'refuse' }>, l, dir, src as unknown as FrontSocket, {
    ready: () => events.push('ready'),
    refused: (r) => { events.push('refused'); refusals.push(r); },
    failed: (e) => events.push(`failed ${e.message}`),
  });
  return { it, events, refusals, src };
}

async function whenReady(events: string[]): Promise<void> {
  for (let i = 0; i < 1000 && events.length === 0; i++) await tick();
}

test('BodyIntake: a small request stays in memory and is delivered byte for byte, ready at once', () => {
  const wire = request(1, { REQUEST_METHOD: 'POST' }, Buffer.from('a=1&b=2'));
  assert.ok(wire.length <= MEMORY_MAX);
  const { it, events } = intake({ kind: 'pass' });
  it.take([wire.subarray(0, 30), wire.subarray(30)]);
  assert.deepEqual(events, ['ready']);
  const sink = new FakeSink();
  let done: Error | null | undefined;
  it.deliver(sink, (e) => { done = e; });
  assert.equal(done, null);
  assert.ok(it.delivered);
  assert.ok(sink.bytes.equals(wire));
  assert.equal(memoryHeld(), 0, 'the memory budget is back');
});

test('BodyIntake: a large request is spooled, the source paused while the disk lags, and delivered exactly', async () => {
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const wire = request(3, { REQUEST_METHOD: 'PUT' }, body, 8000);
  const { it, events, src } = intake({ kind: 'pass' });
  // The socket's read buffer is reused: the intake must copy what it keeps.
  const view = Buffer.alloc(128 * 1024);
  for (let i = 0; i < wire.length; i += view.length) {
    const n = wire.copy(view, 0, i, i + view.length);
    it.take([view.subarray(0, n)]);
    view.fill(0xee);
  }
  await whenReady(events);
  assert.deepEqual(events, ['ready']);
  assert.equal(src.paused, src.resumed, 'every pause was undone');
  const sink = new FakeSink(200_000, true);
  let done: Error | null | undefined;
  it.deliver(sink, (e) => { done = e; });
  await pumpAll(sink, () => done !== undefined);
  assert.equal(done, null);
  assert.ok(sink.bytes.equals(wire));
  assert.equal(memoryHeld(), 0);
});

test('BodyIntake: a multipart body over upload_max_filesize is refused as it streams in; nothing is delivered', async () => {
  const body = multipart([{ disposition: 'form-data; name="f"; filename="big.bin"', data: randomBytes(300_000) }]);
  const wire = request(1, {}, body, 4096);
  const { it, events, refusals } = intake({ kind: 'check', boundary: B, contentLength: body.length }, limits({ uploadMaxFilesize: 100_000 }));
  for (let i = 0; i < wire.length; i += 10_000) it.take([wire.subarray(i, i + 10_000)]);
  assert.deepEqual(events, ['refused']);
  assert.equal(refusals[0].limit, 'upload_max_filesize');
  assert.ok(refusals[0].size > 100_000 && refusals[0].size < 120_000, `refused at ${refusals[0].size}`);
  const sink = new FakeSink();
  it.deliver(sink, () => assert.fail('a refused request is never delivered'));
  assert.equal(sink.out.length, 0);
  assert.equal(memoryHeld(), 0);
});

test('BodyIntake: dispose() while receiving drops the spool and resumes a paused source', async () => {
  const { it, events, src } = intake({ kind: 'pass' });
  const chunk = request(1, {}, randomBytes(2 * 1024 * 1024), 60_000);
  it.take([chunk.subarray(0, chunk.length - 8)]); // all but the end record
  it.dispose();
  assert.equal(src.paused, src.resumed);
  await tick();
  assert.deepEqual(events, []);
  assert.equal(it.receiving, false);
  assert.equal(memoryHeld(), 0);
});

test('BodyIntake: all held requests together keep at most MEMORY_TOTAL in memory; past it, bodies go to spool files', async () => {
  const dir = path.join(makeTempDir('tsfpm-intake-'), 'bodies');
  const open: ReturnType<typeof intake>[] = [];
  const part = request(1, {}, randomBytes(MEMORY_MAX - 4096), 60_000);
  for (let i = 0; i < 40; i++) {
    const x = intake({ kind: 'pass' }, limits(), dir);
    x.it.take([part.subarray(0, part.length - 8)]); // not complete: held
    open.push(x);
  }
  assert.ok(memoryHeld() * PIECE <= 32 * 1024 * 1024, `${memoryHeld()} pieces held`);
  assert.ok(memoryHeld() * PIECE > 30 * 1024 * 1024);
  assert.ok(openUnder(dir) >= 7, `${openUnder(dir)} spool files`);
  for (const x of open) x.it.dispose();
  assert.equal(memoryHeld(), 0);
  await tick();
  assert.equal(openUnder(dir), 0);
});
