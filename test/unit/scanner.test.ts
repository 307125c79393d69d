// RecordScanner: the zero-copy framer of the relay's hot path. Every expectation
// is derived from a model of the byte stream (where each record's header,
// content and padding lie), so the tests hold for any chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordScanner, type ScanSink } from '../../src/fastcgi/scanner.js';
import {
  FastCgiProtocolError,
  RecordType,
  Role,
  encodeBeginRequest,
  encodeEndRequest,
  encodeHeader,
  encodeParams,
  encodeRecord,
  encodeStream,
  type FastCgiErrorCode,
} from '../../src/fastcgi/index.js';
import { prng } from '../helpers/prng.js';


interface ModelRecord {
  offset: number; // absolute offset of the header in the stream
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  content: Buffer;
}

/** Records of a well-formed stream, read straight from the bytes. */
function model(stream: Buffer): ModelRecord[] {
  const out: ModelRecord[] = [];
  let at = 0;
  while (at < stream.length) {
    const contentLength = stream.readUInt16BE(at + 4);
    const paddingLength = stream[at + 6];
    out.push({
      offset: at,
      type: stream[at + 1],
      requestId: stream.readUInt16BE(at + 2),
      contentLength,
      paddingLength,
      content: stream.subarray(at + 8, at + 8 + contentLength),
    });
    at += 8 + contentLength + paddingLength;
  }
  assert.equal(at, stream.length, 'model: stream must end on a record boundary');
  return out;
}

interface SeenHeader {
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  chunkIndex: number;
  headerStart: number;
  afterHeader: number;
  headerBytes: Buffer; // copied from the chunk (headerStart >= 0) or scanner.header
}

class Recorder implements ScanSink {
  headers: SeenHeader[] = [];
  contents: Buffer[][] = [];
  ends: number[] = [];
  chunkIndex = 0;
  chunk: Buffer = Buffer.alloc(0);
  scanner: RecordScanner | null = null;
  stopAfter: (type: number, n: number) => boolean = () => false;

  onHeader(type: number, requestId: number, contentLength: number, paddingLength: number, headerStart: number, afterHeader: number): void {
    const headerBytes = headerStart >= 0
      ? Buffer.from(this.chunk.subarray(headerStart, headerStart + 8))
      : Buffer.from(this.scanner!.header);
    this.headers.push({ type, requestId, contentLength, paddingLength, chunkIndex: this.chunkIndex, headerStart, afterHeader, headerBytes });
    this.contents.push([]);
  }

  onContent(chunk: Buffer, start: number, end: number): void {
    assert.ok(start < end, `empty onContent(${start}, ${end})`);
    assert.ok(start >= 0 && end <= chunk.length);
    this.contents[this.contents.length - 1].push(Buffer.from(chunk.subarray(start, end)));
  }

  onRecordEnd(type: number): boolean {
    this.ends.push(type);
    return !this.stopAfter(type, this.ends.length);
  }
}

/** Scans `stream` cut at `cuts` (sorted offsets); checks everything against the model. */
function scanAndCheck(stream: Buffer, cuts: number[], label: string): Recorder {
  const rec = new Recorder();
  const sc = new RecordScanner(rec);
  rec.scanner = sc;
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < stream.length), stream.length];
  const chunkStarts: number[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    if (bounds[i] === bounds[i + 1]) continue;
    const chunk = stream.subarray(bounds[i], bounds[i + 1]);
    rec.chunk = chunk;
    rec.chunkIndex = chunkStarts.length;
    chunkStarts.push(bounds[i]);
    assert.equal(sc.scan(chunk, 0), chunk.length, `${label}: scan stops early`);
    // partialHeaderStart: where an incomplete header began in this chunk.
    const pendingHeader = model(stream).find((r) => r.offset < bounds[i + 1] && r.offset + 8 > bounds[i + 1]);
    const expectedPartial = pendingHeader !== undefined && pendingHeader.offset >= bounds[i] ? pendingHeader.offset - bounds[i] : -1;
    assert.equal(sc.partialHeaderStart, expectedPartial, `${label}: partialHeaderStart after chunk ${rec.chunkIndex}`);
    assert.equal(sc.atBoundary, model(stream).some((r) => r.offset === bounds[i + 1]) || bounds[i + 1] === stream.length, `${label}: atBoundary after chunk ${rec.chunkIndex}`);
  }
  const recs = model(stream);
  assert.equal(rec.headers.length, recs.length, `${label}: header count`);
  assert.deepEqual(rec.ends, recs.map((r) => r.type), `${label}: record ends`);
  for (let i = 0; i < recs.length; i++) {
    const m = recs[i];
    const h = rec.headers[i];
    const where = `${label}: record ${i} (type ${m.type} at ${m.offset})`;
    assert.deepEqual(
      [h.type, h.requestId, h.contentLength, h.paddingLength],
      [m.type, m.requestId, m.contentLength, m.paddingLength],
      where,
    );
    assert.deepEqual(h.headerBytes, stream.subarray(m.offset, m.offset + 8), `${where}: header bytes`);
    const cs = chunkStarts[h.chunkIndex];
    const ce = h.chunkIndex + 1 < chunkStarts.length ? chunkStarts[h.chunkIndex + 1] : stream.length;
    const inChunk = m.offset >= cs && m.offset + 8 <= ce;
    assert.equal(h.headerStart, inChunk ? m.offset - cs : -1, `${where}: headerStart`);
    assert.equal(h.afterHeader, m.offset + 8 - cs, `${where}: afterHeader`);
    assert.deepEqual(Buffer.concat(rec.contents[i]), m.content, `${where}: content`);
  }
  assert.equal(sc.atBoundary, true);
  return rec;
}

/** A request and its reply: every stream type, padding, empty records, a padding-only record. */
function sampleStream(): Buffer {
  const params = encodeParams([['SCRIPT_FILENAME', '/srv/www/index.php'], ['QUERY_STRING', 'a=1'], ['X', 'y'.repeat(300)]]);
  const paddingOnly = Buffer.from([1, RecordType.STDIN, 0, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0]); // 0 content + 5 padding
  const oddPadding = Buffer.concat([encodeHeader(RecordType.STDIN, 1, 3, 200), Buffer.from('abc'), Buffer.alloc(200)]);
  return Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, 1),
    encodeStream(RecordType.PARAMS, 1, params),
    encodeStream(RecordType.PARAMS, 1, Buffer.alloc(0)),
    encodeRecord(RecordType.STDIN, 1, Buffer.from('body-1')),
    paddingOnly,
    oddPadding,
    encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)),
    encodeRecord(RecordType.GET_VALUES, 0, encodeParams([['FCGI_MPXS_CONNS', '']])),
    encodeRecord(RecordType.STDOUT, 1, Buffer.from('Content-type: text/plain\r\n\r\nhi')),
    encodeRecord(RecordType.STDERR, 1, Buffer.from('x')),
    encodeEndRequest(1, 0, 0),
  ]);
}

test('scanner: whole stream in one chunk', () => {
  const s = sampleStream();
  const rec = scanAndCheck(s, [], 'one chunk');
  assert.ok(rec.headers.every((h) => h.headerStart >= 0));
});

test('scanner: stream split in two at every byte offset', () => {
  const s = sampleStream();
  for (let k = 1; k < s.length; k++) scanAndCheck(s, [k], `split at ${k}`);
});

test('scanner: one byte at a time', () => {
  const s = sampleStream();
  const cuts = Array.from({ length: s.length - 1 }, (_, i) => i + 1);
  const rec = scanAndCheck(s, cuts, 'byte by byte');
  // Every 8-byte header spans chunks, so each one comes from scanner.header.
  assert.ok(rec.headers.every((h) => h.headerStart === -1));
});

test('scanner: seeded random chunking of a large stream', () => {
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const s = Buffer.concat([sampleStream(), encodeStream(RecordType.STDOUT, 7, big), encodeStream(RecordType.STDOUT, 7, Buffer.alloc(0)), encodeEndRequest(7, 0, 0)]);
  for (let seed = 1; seed <= 40; seed++) {
    const rand = prng(seed);
    const cuts: number[] = [];
    const maxPiece = seed % 2 === 0 ? 20 : 70_000;
    for (let at = 0; at < s.length; ) {
      at += 1 + Math.floor(rand() * maxPiece);
      cuts.push(at);
    }
    scanAndCheck(s, cuts, `seed ${seed}`);
  }
});

test('scanner: headerStart / afterHeader exact values', () => {
  const a = encodeRecord(RecordType.STDOUT, 1, Buffer.from('abcde')); // 8 + 5 + 3 pad = 16
  const b = encodeEndRequest(1, 0, 0); // 16
  const s = Buffer.concat([a, b]);
  // Split inside b's header: a's header in-chunk at 0, b's header split (ends at 4 in chunk 2).
  const rec = scanAndCheck(s, [20], 'fixed');
  assert.equal(rec.headers[0].headerStart, 0);
  assert.equal(rec.headers[0].afterHeader, 8);
  assert.equal(rec.headers[1].headerStart, -1);
  assert.equal(rec.headers[1].afterHeader, 4);
  // Split exactly after a: b's header is at 0 of the second chunk.
  const rec2 = scanAndCheck(s, [16], 'fixed2');
  assert.equal(rec2.headers[1].headerStart, 0);
  assert.equal(rec2.headers[1].afterHeader, 8);
});

test('scanner: padding-only and empty records end without onContent', () => {
  const s = Buffer.concat([
    Buffer.from([1, RecordType.STDIN, 0, 1, 0, 0, 7, 0]), Buffer.alloc(7), // 0 + 7 padding
    Buffer.from([1, RecordType.STDIN, 0, 1, 0, 0, 0, 0]), // empty
  ]);
  for (let k = 0; k < s.length; k++) {
    const rec = scanAndCheck(s, [k], `padding-only split ${k}`);
    assert.deepEqual(rec.contents, [[], []]);
    assert.deepEqual(rec.ends, [RecordType.STDIN, RecordType.STDIN]);
  }
});

test('scanner: onRecordEnd returning false stops right after that record (padding included)', () => {
  const first = encodeRecord(RecordType.STDIN, 1, Buffer.from('abc')); // 16 bytes
  const empty = encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)); // 8 bytes, ends at 24
  const next = encodeBeginRequest(2, Role.RESPONDER, 0); // 16 bytes
  const s = Buffer.concat([first, empty, next]);
  const rec = new Recorder();
  const sc = new RecordScanner(rec);
  rec.scanner = sc;
  rec.chunk = s;
  rec.stopAfter = (type, n) => type === RecordType.STDIN && n === 2;
  assert.equal(sc.scan(s, 0), 24);
  assert.equal(sc.atBoundary, true);
  assert.equal(rec.headers.length, 2, 'nothing after the stop is looked at');
  // Resuming from the stop offset picks up the next record.
  assert.equal(sc.scan(s, 24), s.length);
  assert.equal(rec.headers.length, 3);
  assert.equal(rec.headers[2].type, RecordType.BEGIN_REQUEST);
  assert.equal(rec.headers[2].headerStart, 24);
  assert.equal(rec.headers[2].afterHeader, 32);

  // Stop on a record whose padding ends the record: offset is after the padding.
  const rec2 = new Recorder();
  const sc2 = new RecordScanner(rec2);
  rec2.scanner = sc2;
  rec2.chunk = s;
  rec2.stopAfter = (_t, n) => n === 1;
  assert.equal(sc2.scan(s, 0), 16);

  // Stop on a zero-length record that completes a split header.
  const rec3 = new Recorder();
  const sc3 = new RecordScanner(rec3);
  rec3.scanner = sc3;
  rec3.stopAfter = (_t, n) => n === 2;
  rec3.chunk = s.subarray(0, 20);
  assert.equal(sc3.scan(s.subarray(0, 20), 0), 20);
  const tail = s.subarray(20);
  rec3.chunk = tail;
  assert.equal(sc3.scan(tail, 0), 4, 'stops after the empty STDIN whose header ended at 4');
  assert.equal(rec3.headers[1].headerStart, -1);
});

const protocolError = (code: FastCgiErrorCode) => (e: unknown): boolean => {
  assert.ok(e instanceof FastCgiProtocolError, `not a FastCgiProtocolError: ${String(e)}`);
  assert.equal(e.code, code);
  return true;
};

function scanner(): { sc: RecordScanner; rec: Recorder } {
  const rec = new Recorder();
  const sc = new RecordScanner(rec);
  rec.scanner = sc;
  return { sc, rec };
}

test('scanner: version 0 throws FCGI_ERR_VERSION, then FCGI_ERR_PARSER_FAILED', () => {
  const bad = encodeBeginRequest(1, Role.RESPONDER, 0);
  bad[0] = 0;
  for (let k = 0; k <= 8; k++) {
    const { sc, rec } = scanner();
    if (k > 0 && k < 8) {
      rec.chunk = bad.subarray(0, k);
      assert.equal(sc.scan(bad.subarray(0, k)), k);
    }
    const rest = k > 0 && k < 8 ? bad.subarray(k) : bad;
    rec.chunk = rest;
    assert.throws(() => sc.scan(rest), protocolError('FCGI_ERR_VERSION'), `split ${k}`);
    assert.equal(rec.headers.length, 0, 'no onHeader for a rejected header');
    const good = encodeBeginRequest(1, Role.RESPONDER, 0);
    assert.throws(() => sc.scan(good), protocolError('FCGI_ERR_PARSER_FAILED'));
    assert.throws(() => sc.scan(good), protocolError('FCGI_ERR_PARSER_FAILED'));
    assert.equal(rec.headers.length, 0);
  }
  // Version 2 (and 255) are accepted, as in php-fpm.
  for (const v of [2, 255]) {
    const ok = encodeEndRequest(1, 0, 0);
    ok[0] = v;
    const { sc, rec } = scanner();
    rec.chunk = ok;
    assert.equal(sc.scan(ok), ok.length);
    assert.equal(rec.ends.length, 1);
  }
});

test('scanner: content+padding over 65535 throws FCGI_ERR_TOO_LONG, then FCGI_ERR_PARSER_FAILED', () => {
  const { sc, rec } = scanner();
  const good = encodeRecord(RecordType.STDIN, 1, Buffer.from('ok'));
  const over = encodeHeader(RecordType.STDIN, 1, 65535, 1);
  const s = Buffer.concat([good, over]);
  rec.chunk = s;
  assert.throws(() => sc.scan(s), protocolError('FCGI_ERR_TOO_LONG'));
  assert.equal(rec.headers.length, 1, 'the good record before it was reported');
  assert.throws(() => sc.scan(good), protocolError('FCGI_ERR_PARSER_FAILED'));

  // Exactly 65535 is allowed (65528 + 7, and 65535 + 0).
  for (const [c, p] of [[65528, 7], [65535, 0]] as const) {
    const { sc: sc2, rec: rec2 } = scanner();
    const rec = Buffer.concat([encodeHeader(RecordType.STDIN, 1, c, p), Buffer.alloc(c + p)]);
    rec2.chunk = rec;
    assert.equal(sc2.scan(rec), rec.length);
    assert.equal(rec2.ends.length, 1);
  }
  // 0 content + 255 padding is fine; 65535 + 255 is not, even when the header arrives split.
  const { sc: sc3, rec: rec3 } = scanner();
  const h = encodeHeader(RecordType.STDIN, 1, 65535, 255);
  rec3.chunk = h.subarray(0, 3);
  sc3.scan(h.subarray(0, 3));
  rec3.chunk = h.subarray(3);
  assert.throws(() => sc3.scan(h.subarray(3)), protocolError('FCGI_ERR_TOO_LONG'));
});

test('scanner: scan(chunk, from) starts at from', () => {
  const r = encodeRecord(RecordType.STDOUT, 3, Buffer.from('hello'));
  const s = Buffer.concat([Buffer.from('JUNKJUNK!'), r]);
  const { sc, rec } = scanner();
  rec.chunk = s;
  assert.equal(sc.scan(s, 9), s.length);
  assert.equal(rec.headers[0].headerStart, 9);
  assert.equal(rec.headers[0].afterHeader, 17);
  assert.deepEqual(Buffer.concat(rec.contents[0]).toString(), 'hello');
});
