import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FastCgiProtocolError, decodeParams, encodeParams, findParam } from '../../src/fastcgi/index.js';

const isOverrun = (e: unknown): boolean => e instanceof FastCgiProtocolError && e.code === 'FCGI_ERR_PARAMS_OVERRUN';

test('short names and values use 1-byte lengths', () => {
  assert.deepEqual([...encodeParams([['AB', 'xyz']])], [2, 3, 0x41, 0x42, 0x78, 0x79, 0x7a]);
});

test('lengths of 128 and more use 4 bytes with the top bit set', () => {
  const name = 'N'.repeat(127);
  const value = 'v'.repeat(128);
  const buf = encodeParams([[name, value]]);
  assert.equal(buf[0], 127);
  assert.deepEqual([...buf.subarray(1, 5)], [0x80, 0, 0, 128]);
  assert.equal(buf.length, 1 + 4 + 127 + 128);
  assert.deepEqual(decodeParams(buf), [[name, value]]);
  const longName = 'K'.repeat(300);
  const buf2 = encodeParams([[longName, '']]);
  assert.deepEqual([...buf2.subarray(0, 5)], [0x80, 0, 0x01, 0x2c, 0]);
  assert.deepEqual(decodeParams(buf2), [[longName, '']]);
});

test('a 200 KB value round-trips', () => {
  let value = '';
  for (let i = 0; i < 200 * 1024; i++) value += String.fromCharCode(32 + (i % 90));
  const buf = encodeParams([['HTTP_COOKIE', value], ['A', 'b']]);
  assert.deepEqual([...buf.subarray(1, 5)], [0x80, 0x03, 0x20, 0x00]);
  assert.deepEqual(decodeParams(buf), [['HTTP_COOKIE', value], ['A', 'b']]);
  assert.equal(findParam(buf, 'HTTP_COOKIE'), value);
  assert.equal(findParam(buf, 'A'), 'b');
});

test('values are bytes: latin1 round trip of 0x00-0xFF and UTF-8 passes through untouched', () => {
  let all = '';
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  const utf8AsLatin1 = Buffer.from('/café/ü.php', 'utf8').toString('latin1');
  const buf = encodeParams([['RAW', all], ['SCRIPT_NAME', utf8AsLatin1]]);
  assert.deepEqual(decodeParams(buf), [['RAW', all], ['SCRIPT_NAME', utf8AsLatin1]]);
  assert.equal(Buffer.from(findParam(buf, 'SCRIPT_NAME')!, 'latin1').toString('utf8'), '/café/ü.php');
});

test('empty names and values, empty block', () => {
  assert.deepEqual(decodeParams(Buffer.alloc(0)), []);
  const buf = encodeParams([['', ''], ['X', '']]);
  assert.deepEqual([...buf], [0, 0, 1, 0, 0x58]);
  assert.deepEqual(decodeParams(buf), [['', ''], ['X', '']]);
  assert.equal(findParam(buf, 'X'), '');
  assert.equal(findParam(buf, ''), '');
});

test('findParam: absent names, prefixes, and last duplicate wins (php-fpm)', () => {
  const buf = encodeParams([
    ['SCRIPT_NAME', '/a.php'],
    ['SCRIPT_FILENAME', '/srv/a.php'],
    ['SCRIPT_NAME', '/b.php'],
  ]);
  assert.equal(findParam(buf, 'SCRIPT_NAME'), '/b.php');
  assert.equal(findParam(buf, 'SCRIPT_FILENAME'), '/srv/a.php');
  assert.equal(findParam(buf, 'SCRIPT'), undefined);
  assert.equal(findParam(buf, 'SCRIPT_NAMEX'), undefined);
  assert.equal(findParam(buf, 'script_name'), undefined);
});

test('encodeParams accepts any iterable (Map, generator)', () => {
  const m = new Map([['A', '1'], ['B', '2']]);
  assert.ok(encodeParams(m).equals(encodeParams([['A', '1'], ['B', '2']])));
  function* gen(): Generator<[string, string]> {
    yield ['A', '1'];
    yield ['B', '2'];
  }
  assert.ok(encodeParams(gen()).equals(encodeParams(m)));
});

test('every truncation of a valid block is an overrun, never a wrong answer', () => {
  const buf = encodeParams([['NAME', 'v'.repeat(130)], ['N'.repeat(140), 'x']]);
  const boundaries = new Set([0, 1 + 4 + 4 + 130, buf.length]);
  for (let cut = 1; cut < buf.length; cut++) {
    if (boundaries.has(cut)) continue;
    const part = buf.subarray(0, cut);
    assert.throws(() => decodeParams(part), isOverrun, `cut ${cut}`);
    assert.throws(() => findParam(part, 'NAME'), isOverrun, `cut ${cut}`);
  }
});

test('oversized declared lengths are overruns', () => {
  // 4-byte name length 0x7fffffff with 3 bytes behind it.
  assert.throws(() => decodeParams(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0x41])), isOverrun);
  assert.throws(() => decodeParams(Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0x41])), isOverrun);
  // A name length with no value length after it.
  assert.throws(() => decodeParams(Buffer.from([0x01])), isOverrun);
  assert.throws(() => findParam(Buffer.from([0x05, 0x01, 0x41]), 'A'), isOverrun);
});
