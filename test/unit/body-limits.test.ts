// src/body/limits.ts: ini values converted as PHP 8.2 converts them. The
// expected numbers were read from php8.2 itself (ini_parse_quantity(), and
// ini_get() after -d for the INI_INT settings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyLimits, iniBool, iniLong, iniQuantity } from '../../src/body/limits.js';

test('iniQuantity: zend_ini_parse_quantity, suffixes, bases, the lenient cases', () => {
  const cases: Array<[string, number]> = [
    ['8M', 8388608], ['2m', 2097152], ['1G', 1073741824], ['2g', 2147483648], ['100k', 102400], ['100', 100],
    ['0', 0], ['', 0], ['  ', 0], [' 8 M', 8388608], ['-1', -1], ['+5', 5],
    ['010', 8], ['0x10', 16], ['0X1k', 1024], ['0o17', 15], ['0b11k', 3072], ['0M', 0],
    ['1.5M', 1048576], ['abc', 0], ['5q', 5], ['0z', 0], ['0x', 0], ['0x 1', 0], ['0x0x1', 0],
    ['9999999999G', -7709325834783293440],
  ];
  for (const [s, n] of cases) assert.equal(iniQuantity(s, -99), n, JSON.stringify(s));
  assert.equal(iniQuantity(null, 42), 42);
  assert.equal(iniQuantity(undefined, 42), 42);
});

test('iniLong: strtol(s, NULL, 0) as INI_INT reads it', () => {
  const cases: Array<[string, number]> = [
    ['20', 20], [' 20', 20], ['-1', -1], ['0x10', 16], ['010', 8], ['09', 0], ['5k', 5], ['abc', 0], ['', 0], ['+7', 7],
  ];
  for (const [s, n] of cases) assert.equal(iniLong(s, -99), n, JSON.stringify(s));
  assert.equal(iniLong(null, 20), 20);
});

test('iniBool: zend_ini_parse_bool', () => {
  for (const v of ['1', 'On', 'on', 'TRUE', 'yes', '2', ' 3']) assert.equal(iniBool(v, false), true, v);
  for (const v of ['', '0', 'off', 'no', 'false', 'none', 'abc']) assert.equal(iniBool(v, true), false, v);
  assert.equal(iniBool(null, true), true);
});

test('bodyLimits: PHP defaults, Debian-style values, max_multipart_body_parts -1 and absent', () => {
  const d = bodyLimits({});
  assert.deepEqual(d, {
    postMaxSize: 8 << 20, uploadMaxFilesize: 2 << 20, maxFileUploads: 20, maxBodyParts: Infinity,
    bodyPartsDerived: false, fileUploads: true, postDataReading: true,
  });
  const l = bodyLimits({
    post_max_size: '8M', upload_max_filesize: '2M', max_file_uploads: '20', max_multipart_body_parts: '-1',
    max_input_vars: '1000', file_uploads: '1', enable_post_data_reading: '1',
  });
  assert.equal(l.maxBodyParts, 1020);
  assert.equal(l.bodyPartsDerived, true);
  const c = bodyLimits({ max_multipart_body_parts: '10', max_file_uploads: '5', file_uploads: '', enable_post_data_reading: '0', post_max_size: '0' });
  assert.equal(c.maxBodyParts, 10);
  assert.equal(c.bodyPartsDerived, false);
  assert.equal(c.maxFileUploads, 5);
  assert.equal(c.fileUploads, false);
  assert.equal(c.postDataReading, false);
  assert.equal(c.postMaxSize, 0);
});
