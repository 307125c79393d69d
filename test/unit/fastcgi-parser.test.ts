import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLAG_KEEP_CONN,
  FastCgiProtocolError,
  RecordParser,
  RecordType,
  Role,
  answerGetValues,
  decodeBeginRequest,
  decodeEndRequest,
  decodeParams,
  encodeBeginRequest,
  encodeEndRequest,
  encodeHeader,
  encodeParams,
  encodeRecord,
  encodeStream,
  type FastCgiErrorCode,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';
import { prng } from '../helpers/prng.js';


function collect(chunks: Buffer[]): FcgiRecord[] {
  const out: FcgiRecord[] = [];
  const p = new RecordParser((r) => out.push({ ...r, content: Buffer.from(r.content) }));
  for (const c of chunks) p.execute(c);
  p.end();
  return out;
}

function chop(buf: Buffer, rand: () => number, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const n = 1 + Math.floor(rand() * maxPiece);
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

const isCode = (code: FastCgiErrorCode) => (e: unknown): boolean =>
  e instanceof FastCgiProtocolError && e.code === code;

/** A conversation using every record type, both directions, two request ids. */
function conversation(rand: () => number): { bytes: Buffer; expected: Array<[number, number, Buffer]> } {
  const bigValue = 'x'.repeat(70_000);
  const params = encodeParams([['SCRIPT_FILENAME', '/srv/www/index.php'], ['HTTP_COOKIE', bigValue]]);
  const stdin = Buffer.alloc(150_000);
  for (let i = 0; i < stdin.length; i++) stdin[i] = Math.floor(rand() * 256);
  const parts: Buffer[] = [];
  const expected: Array<[number, number, Buffer]> = [];
  const add = (type: number, id: number, content: Buffer, wire: Buffer): void => {
    parts.push(wire);
    expected.push([type, id, content]);
  };
  const addStream = (type: number, id: number, data: Buffer): void => {
    for (let at = 0; at < data.length; at += 0xfff8) {
      const piece = data.subarray(at, at + 0xfff8);
      add(type, id, piece, encodeRecord(type, id, piece));
    }
    add(type, id, Buffer.alloc(0), encodeStream(type, id, Buffer.alloc(0)));
  };
  const gv = encodeParams([['FCGI_MPXS_CONNS', '']]);
  add(RecordType.GET_VALUES, 0, gv, encodeRecord(RecordType.GET_VALUES, 0, gv));
  const gvr = answerGetValues(gv);
  add(RecordType.GET_VALUES_RESULT, 0, gvr.subarray(8, 8 + gvr.readUInt16BE(4)), gvr);
  const begin = encodeBeginRequest(1, Role.RESPONDER, FLAG_KEEP_CONN);
  add(RecordType.BEGIN_REQUEST, 1, begin.subarray(8), begin);
  addStream(RecordType.PARAMS, 1, params);
  addStream(RecordType.STDIN, 1, stdin);
  addStream(RecordType.DATA, 1, Buffer.from('filter data'));
  add(RecordType.ABORT_REQUEST, 1, Buffer.alloc(0), encodeRecord(RecordType.ABORT_REQUEST, 1, Buffer.alloc(0)));
  addStream(RecordType.STDOUT, 1, Buffer.from('Status: 404 Not Found\r\n\r\nFile not found.\n'));
  addStream(RecordType.STDERR, 1, Buffer.from('Primary script unknown'));
  const end = encodeEndRequest(1, 0, 0);
  add(RecordType.END_REQUEST, 1, end.subarray(8), end);
  const unk = Buffer.from([200, 0, 0, 0, 0, 0, 0, 0]);
  add(RecordType.UNKNOWN_TYPE, 0, unk, encodeRecord(RecordType.UNKNOWN_TYPE, 0, unk));
  // A type outside the spec and the largest request id still parse.
  add(200, 0xffff, Buffer.from('?'), encodeRecord(200, 0xffff, Buffer.from('?')));
  // Padding other than php-fpm's (0 and 255 are both legal for other peers).
  const odd = Buffer.concat([encodeHeader(RecordType.STDOUT, 2, 3, 255), Buffer.from('abc'), Buffer.alloc(255, 0xee)]);
  add(RecordType.STDOUT, 2, Buffer.from('abc'), odd);
  const max = Buffer.alloc(65535, 7);
  add(RecordType.STDOUT, 2, max, Buffer.concat([encodeHeader(RecordType.STDOUT, 2, 65535, 0), max]));
  return { bytes: Buffer.concat(parts), expected };
}

function assertRecords(got: FcgiRecord[], expected: Array<[number, number, Buffer]>, label: string): void {
  assert.equal(got.length, expected.length, label);
  for (let i = 0; i < got.length; i++) {
    const [type, id, content] = expected[i]!;
    assert.equal(got[i]!.type, type, `${label} record ${i}`);
    assert.equal(got[i]!.requestId, id, `${label} record ${i}`);
    assert.ok(got[i]!.content.equals(content), `${label} record ${i} content`);
  }
}

test('every record type parses from one chunk, and typed bodies decode', () => {
  const { bytes, expected } = conversation(prng(1));
  const got = collect([bytes]);
  assertRecords(got, expected, 'whole');
  assert.deepEqual(decodeBeginRequest(got[2]!.content), { role: 1, flags: 1, keepConn: true });
  const paramBody = Buffer.concat(got.filter((r) => r.type === RecordType.PARAMS).map((r) => r.content));
  assert.equal(decodeParams(paramBody)[1]![1].length, 70_000, 'a pair spanning PARAMS records');
  assert.deepEqual(decodeEndRequest(got.find((r) => r.type === RecordType.END_REQUEST)!.content), {
    appStatus: 0,
    protocolStatus: 0,
  });
});

test('round trip under random chunking (seeded)', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rand = prng(seed);
    const { bytes, expected } = conversation(rand);
    const maxPiece = [1, 3, 9, 100, 5000, 70000][seed % 6]!;
    // Bytes one at a time are slow on 500 KB; cap that case to the first records.
    const input = maxPiece === 1 ? bytes.subarray(0, 4096) : bytes;
    const chunks = chop(input, rand, maxPiece);
    if (maxPiece === 1) {
      const got: FcgiRecord[] = [];
      const p = new RecordParser((r) => got.push({ ...r, content: Buffer.from(r.content) }));
      for (const c of chunks) p.execute(c);
      assert.ok(got.length >= 3, `seed ${seed}`);
      assertRecords(got, expected.slice(0, got.length), `seed ${seed}`);
      continue;
    }
    assertRecords(collect(chunks), expected, `seed ${seed} maxPiece ${maxPiece}`);
  }
});

test('content inside one chunk is a zero-copy view of it', () => {
  const buf = Buffer.concat([encodeRecord(RecordType.STDOUT, 1, Buffer.from('hello')), encodeRecord(RecordType.STDOUT, 1, Buffer.from('world!!!'))]);
  const got: FcgiRecord[] = [];
  new RecordParser((r) => got.push(r)).execute(buf);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.content.buffer, buf.buffer);
  assert.equal(got[0]!.content.byteOffset, buf.byteOffset + 8);
  assert.equal(got[1]!.content.toString(), 'world!!!');
});

test('idle and end(): truncated input is reported at every cut', () => {
  const rec = encodeRecord(RecordType.STDOUT, 1, Buffer.from('hello'));
  for (let cut = 1; cut < rec.length; cut++) {
    const p = new RecordParser(() => {});
    p.execute(rec.subarray(0, cut));
    assert.equal(p.idle, false, `cut ${cut}`);
    assert.throws(() => p.end(), isCode('FCGI_ERR_TRUNCATED'), `cut ${cut}`);
    assert.throws(() => p.execute(rec.subarray(cut)), isCode('FCGI_ERR_PARSER_FAILED'));
  }
  const p = new RecordParser(() => {});
  p.execute(rec);
  assert.equal(p.idle, true);
  p.end();
});

test('version 0 is refused, versions 1 and 2 accepted (php-fpm)', () => {
  const bad = encodeRecord(RecordType.STDIN, 1, Buffer.from('x'));
  bad[0] = 0;
  const p = new RecordParser(() => assert.fail('no record'));
  assert.throws(() => p.execute(bad), isCode('FCGI_ERR_VERSION'));
  assert.equal(p.failed, true);
  assert.throws(() => p.execute(encodeRecord(RecordType.STDIN, 1, Buffer.from('x'))), isCode('FCGI_ERR_PARSER_FAILED'));
  const v2 = encodeRecord(RecordType.STDIN, 1, Buffer.from('x'));
  v2[0] = 2;
  assert.equal(collect([v2]).length, 1);
  // The bad header arriving byte by byte fails at its last byte.
  const q = new RecordParser(() => {});
  for (let i = 0; i < 7; i++) q.execute(bad.subarray(i, i + 1));
  assert.throws(() => q.execute(bad.subarray(7, 8)), isCode('FCGI_ERR_VERSION'));
});

test('content + padding over 65535 is refused before any content is read', () => {
  const p = new RecordParser(() => assert.fail('no record'));
  assert.throws(() => p.execute(encodeHeader(RecordType.STDIN, 1, 65535, 1)), isCode('FCGI_ERR_TOO_LONG'));
  assert.throws(() => new RecordParser(() => {}).execute(encodeHeader(RecordType.PARAMS, 1, 65400, 255)), isCode('FCGI_ERR_TOO_LONG'));
  assert.equal(collect([encodeHeader(RecordType.STDIN, 1, 0, 255), Buffer.alloc(255)]).length, 1);
});

test('records before a failure are still delivered', () => {
  const good = encodeRecord(RecordType.STDOUT, 1, Buffer.from('ok'));
  const bad = encodeHeader(RecordType.STDOUT, 1, 65535, 8);
  const got: FcgiRecord[] = [];
  assert.throws(() => new RecordParser((r) => got.push(r)).execute(Buffer.concat([good, bad])), isCode('FCGI_ERR_TOO_LONG'));
  assert.equal(got.length, 1);
});
