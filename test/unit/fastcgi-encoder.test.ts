import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLAG_KEEP_CONN,
  MAX_STREAM_CHUNK,
  RecordType,
  Role,
  decodeBeginRequest,
  decodeEndRequest,
  encodeBeginRequest,
  encodeEndRequest,
  encodeHeader,
  encodeRecord,
  encodeStream,
  paddingFor,
  FastCgiProtocolError,
} from '../../src/fastcgi/index.js';

test('header layout is version, type, id, length, padding, reserved', () => {
  assert.deepEqual([...encodeHeader(RecordType.STDOUT, 0x1234, 0xabcd, 3)], [1, 6, 0x12, 0x34, 0xab, 0xcd, 3, 0]);
});

test('records are zero-padded to a multiple of 8 like php-fpm', () => {
  for (let len = 0; len <= 17; len++) {
    const rec = encodeRecord(RecordType.STDERR, 1, Buffer.alloc(len, 0x41));
    assert.equal(rec.length % 8, 0, `len ${len}`);
    assert.equal(rec[6], paddingFor(len));
    assert.equal(rec.length, 8 + len + paddingFor(len));
    assert.ok(rec.subarray(8 + len).every((b) => b === 0));
  }
  assert.equal(paddingFor(0), 0);
  assert.equal(paddingFor(1), 7);
  assert.equal(paddingFor(8), 0);
  assert.equal(paddingFor(65535), 1);
});

test('encodeRecord refuses content over 65535 bytes', () => {
  assert.throws(
    () => encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(65536)),
    (e: unknown) => e instanceof FastCgiProtocolError && e.code === 'FCGI_ERR_TOO_LONG',
  );
  assert.equal(encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(65535)).length, 8 + 65535 + 1);
});

test('encodeStream with empty data is the end-of-stream record', () => {
  assert.deepEqual([...encodeStream(RecordType.STDIN, 7, Buffer.alloc(0))], [1, 5, 0, 7, 0, 0, 0, 0]);
});

test('encodeStream splits into 0xFFF8-byte records, only the last padded', () => {
  const data = Buffer.alloc(MAX_STREAM_CHUNK * 2 + 5);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  const out = encodeStream(RecordType.STDOUT, 2, data);
  let at = 0;
  const lens: number[] = [];
  const pads: number[] = [];
  const parts: Buffer[] = [];
  while (at < out.length) {
    const len = out.readUInt16BE(at + 4);
    const pad = out[at + 6]!;
    assert.equal(out[at + 1], RecordType.STDOUT);
    assert.equal(out.readUInt16BE(at + 2), 2);
    lens.push(len);
    pads.push(pad);
    parts.push(out.subarray(at + 8, at + 8 + len));
    at += 8 + len + pad;
  }
  assert.deepEqual(lens, [0xfff8, 0xfff8, 5]);
  assert.deepEqual(pads, [0, 0, 3]);
  assert.ok(Buffer.concat(parts).equals(data));
  // An exact multiple yields no trailing empty record (that one is the caller's to send).
  assert.equal(encodeStream(RecordType.STDOUT, 1, Buffer.alloc(MAX_STREAM_CHUNK)).length, 8 + MAX_STREAM_CHUNK);
});

test('BEGIN_REQUEST round-trips role and flags', () => {
  const rec = encodeBeginRequest(1, Role.RESPONDER, FLAG_KEEP_CONN);
  assert.deepEqual([...rec], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeBeginRequest(rec.subarray(8)), { role: 1, flags: 1, keepConn: true });
  assert.deepEqual(decodeBeginRequest(encodeBeginRequest(9, Role.FILTER, 0).subarray(8)), {
    role: 3,
    flags: 0,
    keepConn: false,
  });
  assert.throws(
    () => decodeBeginRequest(Buffer.alloc(7)),
    (e: unknown) => e instanceof FastCgiProtocolError && e.code === 'FCGI_ERR_BAD_BODY',
  );
});

test('END_REQUEST carries a 32-bit app status and zeroed reserved bytes', () => {
  const rec = encodeEndRequest(0x0102, 0xfffffffe, 3);
  assert.deepEqual([...rec], [1, 3, 1, 2, 0, 8, 0, 0, 0xff, 0xff, 0xff, 0xfe, 3, 0, 0, 0]);
  assert.deepEqual(decodeEndRequest(rec.subarray(8)), { appStatus: 0xfffffffe, protocolStatus: 3 });
});
