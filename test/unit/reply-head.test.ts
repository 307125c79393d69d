// The head of php-cgi's STDOUT read for %s and %{...}o, as php-fpm's SAPI
// held them when its worker wrote the line. The heads are php-cgi 8.2's
// (checked by hand against php-fpm8.2's access lines for the same scripts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyHead, outputBuffering, type ReplyHeadOptions } from '../../src/log/reply-head.js';

const DEFAULT_CT = 'Content-type: text/html; charset=UTF-8';
const opts = (over: Partial<ReplyHeadOptions> = {}): ReplyHeadOptions => ({
  defaultContentType: DEFAULT_CT, outputBuffering: 4096, headers: true, ...over,
});

/** Feeds `text` (latin1) in pieces of `step` bytes, each inside a larger buffer; returns the head and whether it still wanted bytes. */
function read(text: string, o: ReplyHeadOptions = opts(), step = text.length): { head: ReplyHead; wanting: boolean; fed: number } {
  const head = new ReplyHead(o);
  const all = Buffer.from(`XXXX${text}YYYY`, 'latin1');
  let wanting = true;
  let fed = 0;
  for (let at = 4; at < all.length - 4 && wanting; at += step) {
    const end = Math.min(at + step, all.length - 4);
    wanting = head.feed(all, at, end);
    fed = end - 4;
  }
  return { head, wanting, fed };
}

test('status: php-cgi\'s Status line first, else 200; the line is not in PHP\'s header list', () => {
  let r = read(`${DEFAULT_CT}\r\n\r\nok\n`);
  assert.equal(r.head.status, 200);
  assert.deepEqual(r.head.headers(), []);
  r = read(`Status: 302 Found\r\nLocation: /x\r\n${DEFAULT_CT}\r\n\r\n`);
  assert.equal(r.head.status, 302);
  assert.deepEqual(r.head.headers(), ['Location: /x']);
  r = read('Status: 418\r\nX-A: 1\r\n\r\n');
  assert.equal(r.head.status, 418);
  assert.deepEqual(r.head.headers(), ['X-A: 1']);
});

test('a Status header the script set itself after others is in the list and gives the code', () => {
  const r = read(`X-Powered-By: PHP/8.2.36\r\nStatus: 404 Not Found\r\n${DEFAULT_CT}\r\n\r\n`);
  assert.equal(r.head.status, 404);
  assert.deepEqual(r.head.headers(), ['X-Powered-By: PHP/8.2.36', 'Status: 404 Not Found']);
});

test('headers: what PHP keeps, in its order; the implicit Content-type only once PHP had sent the headers', () => {
  const head = `Set-Cookie: k=v\r\nAbc: Set-Cookie\r\nX-Empty:\r\n${DEFAULT_CT}\r\n\r\n`;
  // output_buffering = 4096: a short page was still buffered when php-fpm wrote its line.
  let r = read(`${head}${'x'.repeat(100)}`);
  assert.deepEqual(r.head.headers(), ['Set-Cookie: k=v', 'Abc: Set-Cookie', 'X-Empty:']);
  assert.equal(r.wanting, true, 'the rest of the body may still come');
  r = read(`${head}${'x'.repeat(4095)}`);
  assert.equal(r.head.headers().length, 3);
  r = read(`${head}${'x'.repeat(4096)}`);
  assert.deepEqual(r.head.headers(), ['Set-Cookie: k=v', 'Abc: Set-Cookie', 'X-Empty:', DEFAULT_CT]);
  assert.equal(r.wanting, false, 'decided: nothing more is read');
  // output_buffering = 0: the first byte of output sent them.
  assert.equal(read(`${head}x`, opts({ outputBuffering: 0 })).head.headers().length, 4);
  assert.equal(read(head, opts({ outputBuffering: 0 })).head.headers().length, 3);
  // output_buffering = On (1): unlimited, sent only at the end.
  assert.equal(read(`${head}${'x'.repeat(100_000)}`, opts({ outputBuffering: 1 })).head.headers().length, 3);
  // The shim said PHP had sent them (a flush() in a short page): there.
  assert.equal(read(`${head}x`).head.headers(true).length, 4);
  // A Content-Type the script set is PHP's own header: always there.
  r = read(`Content-Type: text/html; charset=UTF-8\r\n\r\nok`);
  assert.deepEqual(r.head.headers(), ['Content-Type: text/html; charset=UTF-8']);
  assert.equal(r.wanting, false);
});

test('only the status wanted: reading stops at the blank line', () => {
  const r = read(`${DEFAULT_CT}\r\n\r\n${'x'.repeat(10_000)}`, opts({ headers: false }));
  assert.equal(r.wanting, false);
  assert.equal(r.head.status, 200);
});

test('a head cut anywhere across pieces, the blank line too', () => {
  const text = `Status: 503 Service Unavailable\r\nX-A: 1\r\nX-B: 2\r\n${DEFAULT_CT}\r\n\r\nbody`;
  for (const step of [1, 2, 3, 5, 7, 64]) {
    const r = read(text, opts(), step);
    assert.equal(r.head.status, 503, `step ${step}`);
    assert.deepEqual(r.head.headers(), ['X-A: 1', 'X-B: 2'], `step ${step}`);
  }
});

test('bytes after the piece are not taken for the blank line', () => {
  const head = new ReplyHead(opts());
  const buf = Buffer.from('X-A: 1\r\n\r\n', 'latin1');
  assert.equal(head.feed(buf, 0, 8), true, '"\\r\\n\\r\\n" straddles the end of this piece');
  assert.equal(head.feed(Buffer.from('X-B: 2\r\n\r\n', 'latin1'), 0, 10), false);
  assert.deepEqual(head.headers(), ['X-A: 1', 'X-B: 2']);
});

test('reset() starts the next reply', () => {
  const head = new ReplyHead(opts());
  head.feed(Buffer.from('Status: 404 Not Found\r\n\r\n'), 0, 25);
  head.reset();
  assert.equal(head.status, 200);
  assert.deepEqual(head.headers(), []);
});

test('output_buffering values as PHP reads them', () => {
  assert.equal(outputBuffering({ output_buffering: '4096' }), 4096);
  assert.equal(outputBuffering({ output_buffering: '1' }), 1);
  assert.equal(outputBuffering({ output_buffering: '' }), 0);
  assert.equal(outputBuffering({ output_buffering: null }), 0);
  assert.equal(outputBuffering({ output_buffering: '8K' }), 8192);
});
