// src/body/upload-rules.ts and refusal.ts: what PHP's multipart reader would
// do with a body, decided part by part; the 413 reply and its log line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyLimits, type BodyLimits } from '../../src/body/limits.js';
import { mimeType, multipartBoundary, parseDisposition, PartTally, uploadPlan, validUploadName } from '../../src/body/upload-rules.js';
import { refusalLine, refusalReason, refusalReply } from '../../src/body/refusal.js';
import { RecordParser, RecordType, decodeEndRequest, type FcgiRecord } from '../../src/fastcgi/index.js';

const limits = (over: Partial<BodyLimits> = {}): BodyLimits => ({
  ...bodyLimits({ max_multipart_body_parts: '-1' }), ...over,
});

test('mimeType and multipartBoundary read the Content-Type as SAPI.c and rfc1867.c do', () => {
  assert.equal(mimeType('Multipart/Form-Data; boundary=x'), 'multipart/form-data');
  assert.equal(mimeType('multipart/form-data,boundary=x'), 'multipart/form-data');
  assert.equal(mimeType(' multipart/form-data'), '');
  assert.equal(multipartBoundary('multipart/form-data; boundary=AbC'), 'AbC');
  assert.equal(multipartBoundary('multipart/form-data; boundary="a;b c"; x=y'), 'a;b c');
  assert.equal(multipartBoundary('multipart/form-data; BOUNDARY=zz; charset=x'), 'zz');
  assert.equal(multipartBoundary('multipart/form-data; boundary=a,b'), 'a');
  assert.equal(multipartBoundary('multipart/form-data; boundary= sp'), ' sp');
  assert.equal(multipartBoundary('multipart/form-data'), null);
  assert.equal(multipartBoundary('multipart/form-data; boundary'), null);
  assert.equal(multipartBoundary('multipart/form-data; boundary="open'), null);
  assert.equal(multipartBoundary(`multipart/form-data; boundary=${'x'.repeat(5117)}`), null);
});

test('uploadPlan: only a multipart POST PHP would parse is checked; Content-Length over post_max_size is refused at once', () => {
  const l = limits();
  const ct = 'multipart/form-data; boundary=b0';
  assert.deepEqual(uploadPlan(l, 'POST', ct, '100'), { kind: 'check', boundary: 'b0', contentLength: 100 });
  assert.deepEqual(uploadPlan(l, 'PUT', ct, '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(l, 'post', ct, '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(l, 'POST', 'application/x-www-form-urlencoded', '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(l, 'POST', undefined, '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(limits({ postDataReading: false }), 'POST', ct, '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(l, 'POST', 'multipart/form-data', '100'), { kind: 'pass' }, 'no boundary: PHP reads nothing');
  assert.deepEqual(uploadPlan(l, 'POST', 'multipart/form-data; boundary=caf\u00e9', '100'), { kind: 'pass' });
  assert.deepEqual(uploadPlan(l, 'POST', ct, String(8 << 20)), { kind: 'check', boundary: 'b0', contentLength: 8 << 20 });
  assert.deepEqual(uploadPlan(l, 'POST', ct, String((8 << 20) + 1)), {
    kind: 'refuse', refusal: { limit: 'post_max_size', value: 8 << 20, size: (8 << 20) + 1 },
  });
  assert.equal(uploadPlan(limits({ postMaxSize: 0 }), 'POST', ct, '99999999999').kind, 'check');
  assert.deepEqual(uploadPlan(l, 'POST', ct, 'junk'), { kind: 'check', boundary: 'b0', contentLength: 0 });
  assert.deepEqual(uploadPlan(l, 'POST', ct, undefined), { kind: 'check', boundary: 'b0', contentLength: 0 });
});

test('parseDisposition: php_ap_getword/getword_conf, quotes, escapes, case-insensitive keys', () => {
  assert.deepEqual(parseDisposition('form-data; name="f"; filename="a.bin"'), { name: 'f', filename: 'a.bin' });
  assert.deepEqual(parseDisposition('form-data; NAME=f; FileName='), { name: 'f', filename: '' });
  assert.deepEqual(parseDisposition('form-data; name="a;b"; filename="x\\"y"'), { name: 'a;b', filename: 'x"y' });
  assert.deepEqual(parseDisposition("form-data; name='q'"), { name: 'q', filename: null });
  assert.deepEqual(parseDisposition('form-data; name=plain text'), { name: 'plain', filename: null });
  assert.deepEqual(parseDisposition('form-data; filename*=UTF-8\'\'x'), { name: null, filename: null });
  assert.deepEqual(parseDisposition('attachment'), { name: null, filename: null });
});

test('validUploadName: brackets as rfc1867.c accepts them', () => {
  for (const n of ['f', 'f[]', 'f[a][b]', 'f[0]', '']) assert.equal(validUploadName(n), true, n);
  for (const n of ['f]', 'f[', 'f[a]b', 'f[[a]', ']f[']) assert.equal(validUploadName(n), false, n);
});

const file = (name: string, filename: string): string => `form-data; name="${name}"; filename="${filename}"`;

test('PartTally: upload_max_filesize counts each stored file on its own', () => {
  const t = new PartTally(limits({ uploadMaxFilesize: 10 }));
  assert.equal(t.part(file('a', 'a.txt')), null);
  assert.equal(t.data(6), null);
  assert.equal(t.data(4), null);
  assert.equal(t.part('form-data; name="field"'), null);
  assert.equal(t.data(1000), null, 'a field is not a file');
  assert.equal(t.part(file('b', 'b.txt')), null);
  assert.equal(t.data(10), null);
  assert.deepEqual(t.data(1), { limit: 'upload_max_filesize', value: 10, size: 11, field: 'b', filename: 'b.txt' });
  assert.equal(t.part(file('c', 'c.txt')), null, 'nothing more after a refusal');
  assert.equal(t.data(100), null);
});

test('PartTally: upload_max_filesize 0 is no limit; a file PHP skips is not measured', () => {
  const t = new PartTally(limits({ uploadMaxFilesize: 0 }));
  assert.equal(t.part(file('a', 'a')), null);
  assert.equal(t.data(1 << 30), null);
  const off = new PartTally(limits({ uploadMaxFilesize: 5, fileUploads: false }));
  assert.equal(off.part(file('a', 'a')), null);
  assert.equal(off.data(100), null);
  const empty = new PartTally(limits({ uploadMaxFilesize: 5 }));
  assert.equal(empty.part(file('a', '')), null);
  assert.equal(empty.data(100), null, 'no file chosen: UPLOAD_ERR_NO_FILE, nothing read');
  const bad = new PartTally(limits({ uploadMaxFilesize: 5 }));
  assert.equal(bad.part(file('a]x', 'a')), null);
  assert.equal(bad.data(100), null, 'a malformed name: skipped by PHP');
});

test('PartTally: max_file_uploads counts stored files only (not empty or skipped ones)', () => {
  const t = new PartTally(limits({ maxFileUploads: 2 }));
  assert.equal(t.part(file('a', 'a')), null);
  assert.equal(t.part(file('e', '')), null);
  assert.equal(t.part(file('x]', 'x')), null);
  assert.equal(t.part(file('b', 'b')), null);
  assert.equal(t.part(file('e2', '')), null, 'an empty file input past the limit loses nothing');
  assert.deepEqual(t.part(file('c', 'c.bin')), { limit: 'max_file_uploads', value: 2, size: 3, field: 'c', filename: 'c.bin' });
  const none = new PartTally(limits({ maxFileUploads: 0 }));
  assert.deepEqual(none.part('form-data; filename="anon"'), { limit: 'max_file_uploads', value: 0, size: 1, field: '', filename: 'anon' });
});

test('PartTally: max_multipart_body_parts counts parts with a Content-Disposition; a garbled part ends the count', () => {
  const t = new PartTally(limits({ maxBodyParts: 3, bodyPartsDerived: false }));
  assert.equal(t.part('form-data; name="a"'), null);
  assert.equal(t.part(undefined), null, 'no Content-Disposition: not counted');
  assert.equal(t.part('form-data; name="b"'), null);
  assert.equal(t.part(file('c', 'c')), null);
  assert.deepEqual(t.part('form-data; name="d"'), { limit: 'max_multipart_body_parts', value: 3, size: 4, derived: false });
  const g = new PartTally(limits({ maxBodyParts: 2 }));
  assert.equal(g.part('form-data'), null, 'neither name nor filename: PHP stops reading');
  assert.equal(g.part('form-data; name="x"'), null);
  assert.equal(g.part('form-data; name="y"'), null);
});

test('refusalReply: a FastCGI reply with Status 413 and END_REQUEST for the request id', () => {
  const recs: FcgiRecord[] = [];
  new RecordParser((r) => recs.push({ ...r, content: Buffer.from(r.content) })).execute(refusalReply(7));
  // As php-fpm's own replies (and the status pages): STDOUT, then END_REQUEST.
  assert.deepEqual(recs.map((r) => [r.type, r.requestId]), [[RecordType.STDOUT, 7], [RecordType.END_REQUEST, 7]]);
  const out = recs[0].content.toString('latin1');
  assert.match(out, /^Status: 413 Content Too Large\r\nContent-Type: text\/plain; charset=UTF-8\r\n\r\n\S/);
  assert.deepEqual(decodeEndRequest(recs[1].content), { appStatus: 0, protocolStatus: 0 });
});

test('refusalLine: pool, script, request, limit and size', () => {
  assert.equal(
    refusalLine('www', '/srv/up.php', 'POST', '/up.php?x=1', { limit: 'upload_max_filesize', value: 2097152, size: 2103480, field: 'doc', filename: 'big.pdf' }),
    `[pool www] script '/srv/up.php' (request: "POST /up.php?x=1") refused with 413 before any PHP ran: file 'doc' ("big.pdf") is over upload_max_filesize (2097152 bytes): 2103480 bytes of it received`,
  );
  assert.equal(refusalReason({ limit: 'post_max_size', value: 8388608, size: 9000000 }), 'Content-Length 9000000 is over post_max_size (8388608 bytes)');
  assert.equal(refusalReason({ limit: 'max_file_uploads', value: 5, size: 6, field: 'f6', filename: 'x' }), `file 'f6' ("x") is file 6, over max_file_uploads (5)`);
  assert.equal(refusalReason({ limit: 'max_multipart_body_parts', value: 1020, size: 1021, derived: true }), 'part 1021 is over max_multipart_body_parts (1020 = max_input_vars + max_file_uploads)');
});
