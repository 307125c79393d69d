// Which status page a query string selects: php-fpm 8.2 takes a $_GET key as a
// keyword when the key is a prefix of it (fpm_php_get_string_from_table), with
// PHP's own key parsing. The differential test runs PHP's parse_str on random
// query strings when the php CLI is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseStatusQuery, phpKey, queryKeys, urlDecode } from '../../src/status/query.js';

test('plain query: text, no processes', () => {
  assert.deepEqual(parseStatusQuery(''), { format: 'text', full: false });
  assert.deepEqual(parseStatusQuery(undefined), { format: 'text', full: false });
  assert.deepEqual(parseStatusQuery('foo&bar=1'), { format: 'text', full: false });
});

test('each keyword and its prefixes, case-sensitive', () => {
  for (const [q, format] of [['json', 'json'], ['j', 'json'], ['jso', 'json'], ['json=0', 'json'], ['xml', 'xml'], ['x', 'xml'],
    ['html', 'html'], ['h', 'html'], ['openmetrics', 'openmetrics'], ['o', 'openmetrics'], ['JSON', 'text'], ['jsonx', 'text'], ['json_', 'text']] as const) {
    assert.equal(parseStatusQuery(q).format, format, q);
  }
});

test('precedence: html > xml > json > openmetrics, whatever the order', () => {
  assert.equal(parseStatusQuery('json&html').format, 'html');
  assert.equal(parseStatusQuery('openmetrics&json&xml').format, 'xml');
  assert.equal(parseStatusQuery('openmetrics&json').format, 'json');
});

test('full, also abbreviated, with any value', () => {
  assert.deepEqual(parseStatusQuery('full'), { format: 'text', full: true });
  assert.deepEqual(parseStatusQuery('json&full'), { format: 'json', full: true });
  assert.deepEqual(parseStatusQuery('fu=no&x'), { format: 'xml', full: true });
  assert.deepEqual(parseStatusQuery('f'), { format: 'text', full: true });
  assert.deepEqual(parseStatusQuery('fully'), { format: 'text', full: false });
});

test('keys are PHP keys: decoded, arrays cut, dots and spaces mangled, numbers skipped', () => {
  assert.equal(parseStatusQuery('%6Aso%6E').format, 'json');
  assert.equal(parseStatusQuery('json[]=1').format, 'json');
  assert.equal(parseStatusQuery('json[a][b]=1').format, 'json');
  assert.equal(parseStatusQuery('+json').format, 'json', 'a leading space is dropped');
  assert.equal(parseStatusQuery('js.on').format, 'text', 'js_on');
  assert.equal(parseStatusQuery('json%00x').format, 'json', 'the name ends at NUL');
  assert.equal(parseStatusQuery('=json').format, 'text', 'empty name');
  assert.equal(phpKey('[json]'), null);
  assert.equal(phpKey('a[b'), 'a_b');
  assert.equal(phpKey('a.b[c'), 'a_b_c');
  assert.equal(phpKey('123'), null);
  assert.equal(phpKey('0123'), '0123');
  assert.deepEqual(queryKeys('a&&b&a'), ['a', 'b', 'a']);
  assert.equal(urlDecode('a+b%2Fc%zz%4'), 'a b/c%zz%4');
});

test('keys past max_input_vars (1000) are not registered', () => {
  assert.equal(parseStatusQuery(`${'a&'.repeat(1000)}json`).format, 'text');
  assert.equal(parseStatusQuery(`${'a&'.repeat(999)}json`).format, 'json');
});

const PHP = '/usr/bin/php';
test('same keys as PHP parse_str for random query strings', { skip: !existsSync(PHP) && 'no php CLI' }, () => {
  let seed = 7;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const parts = ['json', 'full', 'x', '=', '&', '&&', '[', ']', '[]', '.', ' ', '+', '%20', '%5B', '%5D', '%00', '%2', '%6A', 'a', '0', '1', '-1', '01', '\t', 'h'];
  const inputs: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let k = Math.floor(rnd() * 8); k > 0; k--) s += parts[Math.floor(rnd() * parts.length)];
    inputs.push(s);
  }
  const script = '$o=[];foreach(json_decode(stream_get_contents(STDIN)) as $b){parse_str(base64_decode($b),$a);$k=[];' +
    'foreach($a as $key=>$v)if(is_string($key))$k[]=base64_encode($key);$o[]=$k;}echo json_encode($o);';
  const out = JSON.parse(execFileSync(PHP, ['-n', '-r', script], { input: JSON.stringify(inputs.map((s) => Buffer.from(s, 'latin1').toString('base64'))) }).toString()) as string[][];
  inputs.forEach((s, i) => {
    const want = out[i].map((b) => Buffer.from(b, 'base64').toString('latin1'));
    assert.deepEqual([...new Set(queryKeys(s))], want, JSON.stringify(s));
  });
});
