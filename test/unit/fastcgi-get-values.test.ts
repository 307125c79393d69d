import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FastCgiProtocolError,
  RecordParser,
  RecordType,
  answerGetValues,
  decodeParams,
  encodeParams,
  type FcgiRecord,
} from '../../src/fastcgi/index.js';

function parseOne(buf: Buffer): FcgiRecord {
  const out: FcgiRecord[] = [];
  const p = new RecordParser((r) => out.push(r));
  p.execute(buf);
  p.end();
  assert.equal(out.length, 1);
  return out[0]!;
}

test('answers only FCGI_MPXS_CONNS=0 like php-fpm, unknown names omitted', () => {
  const req = encodeParams([
    ['FCGI_MAX_CONNS', ''],
    ['FCGI_MAX_REQS', ''],
    ['FCGI_MPXS_CONNS', ''],
    ['SOMETHING_ELSE', ''],
  ]);
  const rec = answerGetValues(req);
  assert.equal(rec.length % 8, 0);
  assert.equal(rec[0], 1);
  assert.equal(rec.readUInt16BE(2), 0, 'request id 0');
  const parsed = parseOne(rec);
  assert.equal(parsed.type, RecordType.GET_VALUES_RESULT);
  assert.deepEqual(decodeParams(parsed.content), [['FCGI_MPXS_CONNS', '0']]);
});

test('a name asked twice is answered once', () => {
  const rec = answerGetValues(encodeParams([['FCGI_MPXS_CONNS', ''], ['FCGI_MPXS_CONNS', '']]));
  assert.deepEqual(decodeParams(parseOne(rec).content), [['FCGI_MPXS_CONNS', '0']]);
});

test('nothing known gives an empty GET_VALUES_RESULT record', () => {
  assert.deepEqual([...answerGetValues(Buffer.alloc(0))], [1, 10, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...answerGetValues(encodeParams([['FCGI_MAX_CONNS', '']]))], [1, 10, 0, 0, 0, 0, 0, 0]);
});

test('a custom table (php-cgi style) is answered in reverse order of first appearance, as php-cgi does', () => {
  const known = new Map([
    ['FCGI_MAX_CONNS', '1'],
    ['FCGI_MAX_REQS', '1'],
    ['FCGI_MPXS_CONNS', '0'],
  ]);
  const ask = encodeParams([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', ''], ['FCGI_MAX_CONNS', '']]);
  // Observed from php-cgi 8.2 for this request: MPXS_CONNS, MAX_REQS, MAX_CONNS.
  assert.deepEqual(decodeParams(parseOne(answerGetValues(ask, known)).content), [
    ['FCGI_MPXS_CONNS', '0'],
    ['FCGI_MAX_REQS', '1'],
    ['FCGI_MAX_CONNS', '1'],
  ]);
});

test('a malformed request body throws instead of answering', () => {
  assert.throws(
    () => answerGetValues(Buffer.from([0x0f, 0x00, 0x46])),
    (e: unknown) => e instanceof FastCgiProtocolError && e.code === 'FCGI_ERR_PARAMS_OVERRUN',
  );
});
