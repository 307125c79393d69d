// access.format token by token, as php-fpm 8.2's fpm_log.c reads and prints
// it. Expected messages and truncated lines were checked against php-fpm8.2
// (`php-fpm8.2 -t` with each format; long %{HTTP_X}e values through a real
// worker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cFixed, compileAccessFormat, findHeader, renderAccessLine, type AccessFormat, type AccessRecord,
} from '../../src/log/access-format.js';

function fmt(source: string): AccessFormat {
  const c = compileAccessFormat(source);
  if (!c.ok) throw new Error(c.warning);
  return c.format;
}

const ENV: Record<string, string> = { REMOTE_ADDR: '10.1.2.3', HTTP_HOST: 'example', EMPTY: '', NUL: 'ab\0cd' };

function rec(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    pool: 'www', pid: 4242, masterPid: 4200, remote: '127.0.0.1',
    acceptedSec: 1796076966, nowSec: 1796076967, durationUs: 1_234_567,
    cpuUser: 30, cpuSystem: 10, memory: 2_097_152, status: 200,
    headers: ['X-Powered-By: PHP/8.2.36', 'Set-Cookie: k=v', 'Content-type: text/plain;charset=UTF-8'],
    method: 'GET', uri: '/index.php', query: 'a=1', contentLength: 0n, user: '', script: '/srv/index.php',
    env: (n) => ENV[n],
    ...over,
  };
}

/** The line without its '\n'. */
function line(source: string, over: Partial<AccessRecord> = {}): string | null {
  const out = renderAccessLine(fmt(source), rec(over));
  return out === null ? null : out.line.slice(0, -1);
}

test('php-fpm refuses the same formats with the same words', () => {
  const cases: Array<[string, string]> = [
    ['%Z', 'Invalid token in the access.format (%Z)'],
    ['%{ab}z', 'Invalid token in the access.format (%z)'],
    ['%{abc', 'missing closing embrace in the access.format'],
    ['%{abc}', 'missing closing embrace in the access.format'],
    ['%e', 'the name of the environment variable must be set between embraces for %e'],
    ['%{}e', 'the name of the environment variable must be set between embraces for %e'],
    ['%o', 'the name of the header must be set between embraces for %o'],
    ['%{x}m', 'embrace is not allowed for modifier %m'],
    ['%{x}%', 'embrace is not allowed for modifier %%'],
    ['%{foo}C', "only 'total', 'user' or 'system' are allowed as a modifier for %C ('foo')"],
    ['%{foo}d', "only 'seconds', 'milli', 'milliseconds', 'micro' or 'microseconds' are allowed as a modifier for %d ('foo')"],
    ['%{foo}M', "only 'bytes', 'kilo', 'kilobytes', 'mega' or 'megabytes' are allowed as a modifier for %M ('foo')"],
  ];
  for (const [source, warning] of cases) assert.deepEqual(compileAccessFormat(source), { ok: false, warning }, source);
  // Accepted by php-fpm8.2 -t as well.
  for (const ok of ['%{}m %{}t', '%{MILLI}d %{Kilo}M %{USER}C', '%', '%{a}{b}e', '%R - %u %t "%m %r" %s',
    '%R - %u %t "%m %r%Q%q" %s %f %{milli}d %{kilo}M %C%%']) {
    assert.equal(compileAccessFormat(ok).ok, true, ok);
  }
});

test('the default format over TCP and over a unix socket (%R is -, an empty %u leaves two spaces)', () => {
  const f = '%R - %u %t "%m %r" %s';
  process.env.TZ = 'UTC';
  assert.equal(line(f), '127.0.0.1 -  30/Nov/2026:22:16:06 +0000 "GET /index.php" 200');
  assert.equal(line(f, { remote: null, user: 'alice' }), '- - alice 30/Nov/2026:22:16:06 +0000 "GET /index.php" 200');
});

test('%% %n %p %P %q %Q %r %s %u %l', () => {
  assert.equal(line('%%|%n|%p|%P|%q|%Q|%r|%s|%u|%l'), '%|www|4242|4200|a=1|?|/index.php|200||0');
  assert.equal(line('%Q%q|%l', { query: '', contentLength: 18446744073709551615n }), '|18446744073709551615');
  assert.equal(line('%n', { pool: '' }), '-');
});

test('%m and %f print - when PHP had none', () => {
  assert.equal(line('%m %f'), 'GET /srv/index.php');
  assert.equal(line('%m %f', { method: '', script: '' }), '- -');
});

test('%{NAME}e: the FastCGI param, - when absent, empty when empty, cut at a NUL', () => {
  assert.equal(line('%{REMOTE_ADDR}e|%{HTTP_HOST}e|%{NOPE}e|%{EMPTY}e|%{NUL}e|%{a}{REMOTE_ADDR}e'), '10.1.2.3|example|-||ab|10.1.2.3');
});

test('%d in seconds, milliseconds and microseconds (printf %.3f rounds half to even)', () => {
  assert.equal(line('%d|%{seconds}d|%{milli}d|%{miliseconds}d|%{MICRO}d|%{microseconds}d'),
    '1.235|1.235|1234.567|1234.567|1234567|1234567');
  // 0.0625 s is exact in binary: glibc keeps the even 0.062, toFixed would say 0.063.
  assert.equal(line('%d', { durationUs: 62_500 }), '0.062');
  assert.equal(line('%d', { durationUs: 187_500 }), '0.188');
  assert.equal(line('%d|%{milli}d|%{micro}d', { durationUs: 0 }), '0.000|0.000|0');
});

test('%C: CPU ticks over the wall time, per cent, total/user/system', () => {
  // 40 ticks = 0.4 s of CPU over 1.234567 s.
  assert.equal(line('%C|%{total}C|%{user}C|%{SYSTEM}C'), '32.40|32.40|24.30|8.10');
  assert.equal(line('%C', { cpuUser: 0, cpuSystem: 0 }), '0.00');
  // No time at all: php-fpm divides 0 by 0.
  assert.equal(line('%C', { durationUs: 0, cpuUser: 0, cpuSystem: 0 }), '-nan');
  assert.equal(line('%C', { durationUs: 0 }), 'inf');
});

test('%M in bytes, kilobytes and megabytes (integer division)', () => {
  assert.equal(line('%M|%{bytes}M|%{kilo}M|%{kilobytes}M|%{mega}M|%{MEGABYTES}M', { memory: 52_101_120 }),
    '52101120|52101120|50880|50880|49|49');
});

test('%t is the accept time, %T the time of writing, with strftime formats', () => {
  process.env.TZ = 'UTC';
  assert.equal(line('%t|%T|%{%s %Z %a}t|%{%Y-%m-%dT%H:%M:%S}T'),
    '30/Nov/2026:22:16:06 +0000|30/Nov/2026:22:16:07 +0000|1796076966 UTC Mon|2026-11-30T22:16:07');
  // strftime's result must fit php-fpm's 128-byte buffer: a longer one is not printed.
  assert.equal(line(`[%{${'%Y'.repeat(31)}}t]`), `[${'2026'.repeat(31)}]`);
  assert.equal(line(`[%{${'%Y'.repeat(32)}}t]`), '[]');
});

test('%{Name}o: PHP\'s header list, case-sensitive, php-fpm\'s strstr match', () => {
  const headers = ['X-Powered-By: PHP/8.2.36', 'Abc: Set-Cookie', 'X-Sp:', 'Content-type: text/plain;charset=UTF-8', 'Set-Cookie: k=v'];
  assert.equal(line('%{Content-type}o|%{Content-Type}o|%{X-Powered-By}o|%{Set-Cookie}o|%{X-Sp}o|%{Nope}o', { headers }),
    'text/plain;charset=UTF-8|-|PHP/8.2.36|k=v|-|-');
  // The name is searched anywhere in the line, then `: ` is wanted after as many bytes as it has.
  assert.equal(findHeader(headers, 'Set'), 'Set-Cookie');
  assert.equal(findHeader(headers, 'Abc'), 'Set-Cookie');
  assert.equal(findHeader([], 'Abc'), null);
});

test('an empty line is not written at all', () => {
  assert.equal(line('%q', { query: '' }), null);
  assert.equal(line('%u%q', { query: '', user: '' }), null);
  assert.equal(line('%'), null);
});

test('the 1024-byte buffer: cut lines as php-fpm8.2 writes them, and where its NOTICE comes from', () => {
  const f = fmt('%{X}e%%%{Y}e');
  const run = (x: number, y: number): [string, string | false] => {
    const env: Record<string, string> = { X: 'a'.repeat(x), Y: 'b'.repeat(y) };
    const out = renderAccessLine(f, rec({ env: (n) => env[n] }))!;
    return [out.line, out.truncated];
  };
  const a = (n: number): string => 'a'.repeat(n);
  // `%%` fills the last byte: no NUL, php-fpm's check after the token notices.
  assert.deepEqual(run(1023, 0), [`${a(1023)}%\n`, 'token']);
  assert.deepEqual(run(1022, 0), [`${a(1022)}%\n`, false]);
  // A value that does not fit: snprintf leaves its NUL in the last byte, and the line is written with it.
  assert.deepEqual(run(1024, 0), [`${a(1023)}\0\n`, 'token']);
  assert.deepEqual(run(1500, 0), [`${a(1023)}\0\n`, 'token']);
  assert.deepEqual(run(1022, 3), [`${a(1022)}%\0\n`, 'token']);
  assert.deepEqual(run(1021, 3), [`${a(1021)}%b\0\n`, 'token']);
  assert.deepEqual(run(1023, 3), [`${a(1023)}%\n`, 'token']);
  assert.deepEqual(run(0, 0), ['%\n', false]);
  // Literal text: cut at 1024 bytes; noticed only when format is left over.
  assert.deepEqual(renderAccessLine(fmt('x'.repeat(1024)), rec()), { line: `${'x'.repeat(1024)}\n`, truncated: false });
  assert.deepEqual(renderAccessLine(fmt(`${'x'.repeat(1024)}%s`), rec()), { line: `${'x'.repeat(1024)}\n`, truncated: 'text' });
  assert.deepEqual(renderAccessLine(fmt('x'.repeat(1030)), rec()), { line: `${'x'.repeat(1024)}\n`, truncated: 'text' });
});

test('cFixed is printf %.Nf', () => {
  assert.equal(cFixed(0.0625, 3), '0.062');
  assert.equal(cFixed(0.0635, 3), '0.064'); // not exact in binary: no tie
  assert.equal(cFixed(0.125, 2), '0.12');
  assert.equal(cFixed(0.375, 2), '0.38');
  assert.equal(cFixed(2.5, 0), '2');
  assert.equal(cFixed(3.5, 0), '4');
  assert.equal(cFixed(1234.567, 3), '1234.567');
  assert.equal(cFixed(Number.NaN, 2), '-nan');
});
