// php-fpm's escaping of request URIs on the status page: php_json_encode_string
// with JSON_INVALID_UTF8_IGNORE, and php_escape_html_entities_ex with
// ENT_DISALLOWED | ENT_XML1 | ENT_COMPAT (htmlentities with those flags). The
// differential test compares with the php CLI on random byte strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nextUtf8, phpHtmlEscape, phpJsonEscape, plainJson, plainMarkup } from '../../src/status/escape.js';

const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1'); // bytes as the params carry them

test('json: slashes, quotes, controls, non-ASCII as \\u, invalid UTF-8 dropped', () => {
  assert.equal(phpJsonEscape('/status?a=b"c'), '\\/status?a=b\\"c');
  assert.equal(phpJsonEscape('a\\b\n\t\x01\x7f<&>\''), 'a\\\\b\\n\\t\\u0001\x7f<&>\'');
  assert.equal(phpJsonEscape(utf8('é€😀')), '\\u00e9\\u20ac\\ud83d\\ude00');
  assert.equal(phpJsonEscape('a\xffb\xc3'), 'ab');
  assert.equal(phpJsonEscape('\xe2\x82'), '');
});

test('html/xml: & " < > as entities, apostrophe kept, disallowed characters as U+FFFD, invalid UTF-8 empties the string', () => {
  assert.equal(phpHtmlEscape('/<script>alert(1)</script>'), '/&lt;script&gt;alert(1)&lt;/script&gt;');
  assert.equal(phpHtmlEscape('a&b"c\'d'), 'a&amp;b&quot;c\'d');
  assert.equal(phpHtmlEscape('a&amp;'), 'a&amp;amp;', 'double_encode');
  assert.equal(phpHtmlEscape('a\x01b\tc'), 'a\xef\xbf\xbdb\tc');
  assert.equal(phpHtmlEscape(utf8('é\u{FFFE}')), utf8('é\u{FFFD}'));
  assert.equal(phpHtmlEscape('ok\xff'), '');
});

test('UTF-8 reader skips like PHP: no byte that could start a character', () => {
  assert.deepEqual(nextUtf8('\xe2\x41', 0), { cp: 0, next: 1, ok: false });
  assert.deepEqual(nextUtf8('\xe2\x82\x41', 0), { cp: 0, next: 2, ok: false });
  assert.deepEqual(nextUtf8('\xc0\x80', 0), { cp: 0, next: 1, ok: false });
  assert.deepEqual(nextUtf8('\xed\xa0\x80', 0), { cp: 0, next: 3, ok: false }, 'surrogate');
  assert.deepEqual(nextUtf8('\xf4\x90\x80\x80', 0), { cp: 0, next: 4, ok: false }, 'above U+10FFFF');
  assert.deepEqual(nextUtf8('\xf0\x9f\x98\x80', 0), { cp: 0x1f600, next: 4, ok: true });
});

test('strings php-fpm prints raw: unchanged unless they would break the format', () => {
  assert.equal(plainJson('/var/www/index.php'), '/var/www/index.php');
  assert.equal(plainJson('a"b\\c\n'), 'a\\"b\\\\c\\n');
  assert.equal(plainMarkup('/var/www/index.php'), '/var/www/index.php');
  assert.equal(plainMarkup('<x>&"'), '&lt;x&gt;&amp;&quot;');
});

const PHP = '/usr/bin/php';
test('same bytes as PHP for random byte strings', { skip: !existsSync(PHP) && 'no php CLI' }, () => {
  let seed = 42;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const bytes = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x22, 0x26, 0x27, 0x2f, 0x3c, 0x3e, 0x41, 0x5c, 0x7f, 0x80, 0xbf, 0xc0, 0xc1,
    0xc2, 0xc3, 0xa9, 0xdf, 0xe0, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0xef, 0xbf, 0xbe, 0xbd, 0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x8f, 0xf5, 0xff];
  const inputs: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let k = Math.floor(rnd() * 12); k > 0; k--) s += String.fromCharCode(bytes[Math.floor(rnd() * bytes.length)]);
    inputs.push(s);
  }
  const script = '$o=[];foreach(json_decode(stream_get_contents(STDIN)) as $b){$s=base64_decode($b);' +
    '$o[]=[base64_encode(substr(json_encode($s,JSON_INVALID_UTF8_IGNORE),1,-1)),' +
    'base64_encode(htmlentities($s,ENT_DISALLOWED|ENT_XML1|ENT_COMPAT,"UTF-8",true))];}echo json_encode($o);';
  const out = JSON.parse(execFileSync(PHP, ['-n', '-r', script], { input: JSON.stringify(inputs.map((s) => Buffer.from(s, 'latin1').toString('base64'))) }).toString()) as string[][];
  inputs.forEach((s, i) => {
    assert.equal(phpJsonEscape(s), Buffer.from(out[i][0], 'base64').toString('latin1'), `json ${JSON.stringify(s)}`);
    assert.equal(phpHtmlEscape(s), Buffer.from(out[i][1], 'base64').toString('latin1'), `html ${JSON.stringify(s)}`);
  });
});
