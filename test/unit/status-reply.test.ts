// The FastCGI replies for the ping and status pages as php-fpm 8.2's worker
// writes them: header order, PHP's Content-Type rewriting, HEAD, records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordType } from '../../src/fastcgi/constants.js';
import { DEFAULT_SAPI, notFoundReply, pingReply, sapiHeaders, statusReply, type SapiHeaders } from '../../src/status/reply.js';

interface Rec { type: number; id: number; content: string }
function records(b: Buffer): Rec[] {
  const out: Rec[] = [];
  for (let at = 0; at < b.length;) {
    const len = b.readUInt16BE(at + 4);
    assert.equal((len + b[at + 6]) % 8, 0, 'padded to 8 bytes');
    out.push({ type: b[at + 1], id: b.readUInt16BE(at + 2), content: b.toString('latin1', at + 8, at + 8 + len) });
    at += 8 + len + b[at + 6];
  }
  return out;
}
const stdout = (b: Buffer): string => records(b).filter((r) => r.type === RecordType.STDOUT).map((r) => r.content).join('');
const NO_CACHE = 'Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n';
const EXPOSE: SapiHeaders = { poweredBy: 'PHP/8.2.36', charset: 'UTF-8', mimetype: 'text/html' };

test('ping: Content-Type first, then the cache headers, the response without newline', () => {
  const b = pingReply(7, 'pong', false, DEFAULT_SAPI);
  const recs = records(b);
  assert.deepEqual(recs.map((r) => [r.type, r.id]), [[RecordType.STDOUT, 7], [RecordType.END_REQUEST, 7]], 'no empty STDOUT, as php-fpm');
  assert.equal(recs[1].content, '\0\0\0\0\0\0\0\0');
  assert.equal(stdout(b), `Content-type: text/plain;charset=UTF-8\r\n${NO_CACHE}\r\npong`);
  assert.equal(stdout(pingReply(1, 'pong', true, EXPOSE)), `X-Powered-By: PHP/8.2.36\r\nContent-type: text/plain;charset=UTF-8\r\n${NO_CACHE}\r\n`);
});

test('status: cache headers, then the format\'s type (text/* with default_charset)', () => {
  assert.equal(stdout(statusReply(1, 'text', 'x', DEFAULT_SAPI)), `${NO_CACHE}Content-type: text/plain;charset=UTF-8\r\n\r\nx`);
  assert.equal(stdout(statusReply(1, 'html', 'x', DEFAULT_SAPI)), `${NO_CACHE}Content-type: text/html;charset=UTF-8\r\n\r\nx`);
  assert.equal(stdout(statusReply(1, 'xml', 'x', DEFAULT_SAPI)), `${NO_CACHE}Content-type: text/xml;charset=UTF-8\r\n\r\nx`);
  assert.equal(stdout(statusReply(1, 'json', 'x', DEFAULT_SAPI)), `${NO_CACHE}Content-Type: application/json\r\n\r\nx`);
  assert.equal(stdout(statusReply(1, 'openmetrics', 'x', DEFAULT_SAPI)),
    `${NO_CACHE}Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\r\nx`);
  assert.equal(stdout(statusReply(1, 'json', 'x', EXPOSE)), `X-Powered-By: PHP/8.2.36\r\n${NO_CACHE}Content-Type: application/json\r\n\r\nx`);
});

test('status HEAD: no body and PHP\'s default content type', () => {
  assert.equal(stdout(statusReply(1, 'json', null, DEFAULT_SAPI)), `${NO_CACHE}Content-type: text/html; charset=UTF-8\r\n\r\n`);
  assert.equal(stdout(statusReply(1, 'text', null, { poweredBy: null, charset: '', mimetype: 'text/html' })), `${NO_CACHE}Content-type: text/html\r\n\r\n`);
  assert.equal(stdout(statusReply(1, 'text', null, { poweredBy: null, charset: 'latin1', mimetype: 'application/x-foo' })), `${NO_CACHE}Content-type: application/x-foo\r\n\r\n`);
});

test('no default_charset: text types keep the spelling fpm_status.c gives them', () => {
  const none: SapiHeaders = { poweredBy: null, charset: '', mimetype: 'text/html' };
  assert.equal(stdout(statusReply(1, 'text', 'x', none)), `${NO_CACHE}Content-Type: text/plain\r\n\r\nx`);
  assert.equal(stdout(pingReply(1, 'pong', false, none)), `Content-Type: text/plain\r\n${NO_CACHE}\r\npong`);
});

test('404: Primary script unknown on STDERR, then php-fpm\'s page', () => {
  const recs = records(notFoundReply(3, false, EXPOSE));
  assert.deepEqual(recs.map((r) => r.type), [RecordType.STDERR, RecordType.STDOUT, RecordType.END_REQUEST]);
  assert.equal(recs[0].content, 'Primary script unknown');
  assert.equal(recs[1].content, 'Status: 404 Not Found\r\nX-Powered-By: PHP/8.2.36\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n');
  assert.equal(records(notFoundReply(3, true, DEFAULT_SAPI))[1].content, 'Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\n');
});

test('the ini settings behind the headers', () => {
  assert.deepEqual(sapiHeaders({ expose_php: '1', default_charset: 'UTF-8', default_mimetype: 'text/html' }, '8.2.36'), EXPOSE);
  assert.equal(sapiHeaders({ expose_php: '', default_charset: 'UTF-8', default_mimetype: 'text/html' }, '8.2.36').poweredBy, null, 'Off');
  assert.equal(sapiHeaders({ expose_php: 'On' }, '8.2.1').poweredBy, 'PHP/8.2.1');
  assert.equal(sapiHeaders({ expose_php: '1' }, null).poweredBy, null, 'version unknown');
  assert.equal(sapiHeaders({ default_mimetype: '' }, null).mimetype, 'text/html');
});

test('a large page spans several STDOUT records', () => {
  const body = 'x'.repeat(200_000);
  const recs = records(statusReply(1, 'text', body, DEFAULT_SAPI));
  assert.ok(recs.filter((r) => r.type === RecordType.STDOUT).length >= 4);
  assert.equal(stdout(statusReply(1, 'text', body, DEFAULT_SAPI)).endsWith(body), true);
});
