// The shim's fastcgi_finish_request() and fastcgi.error_header, run by the real
// php-cgi in plain CGI mode: there error_log(..., 4) goes to php-cgi's stderr,
// so the marks the master would read can be seen in order with the output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildShim } from '../../src/php/shim.js';
import { FINISH_BYTE, FINISH_END, FINISH_HOLD, FPM_OUT_ROOM } from '../../src/php/finish-request.js';
import { errorHeaderPhp } from '../../src/php/error-header.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('tsfpm-finish-php-');
after(() => rmSync(dir, { recursive: true, force: true }));

const shimPath = join(dir, 'shim.php');
writeFileSync(shimPath, buildShim({ limitExtensions: [], userPrependFile: null, finishRequest: true, errorHeader: 'HTTP/1.1 550 PHP Error' }));

let n = 0;
function run(code: string, ini: string[] = [], method = 'GET'): { stdout: string; stderr: string; file: string } {
  const script = join(dir, `s${++n}.php`);
  const file = join(dir, `s${n}.out`);
  writeFileSync(script, code.replaceAll('%OUT%', JSON.stringify(file)));
  const args = ['-d', `auto_prepend_file=${shimPath}`, '-d', 'display_errors=1', '-d', 'output_buffering=0', ...ini.flatMap((d) => ['-d', d])];
  const r = spawnSync('php-cgi', args, {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SCRIPT_FILENAME: script, REDIRECT_STATUS: '200', REQUEST_METHOD: method, GATEWAY_INTERFACE: 'CGI/1.1' },
    encoding: 'latin1',
    timeout: 10_000,
  });
  assert.equal(r.error, undefined, String(r.error));
  return { stdout: r.stdout, stderr: r.stderr, file: existsSync(file) ? readFileSync(file, 'latin1') : '' };
}

test('output before the call, then the end mark; the script runs on, later output is dropped in PHP', () => {
  const r = run('<?php header("X-A: 1"); echo "early"; var_dump(fastcgi_finish_request()); echo "late"; file_put_contents(%OUT%, var_export(fastcgi_finish_request(), true));');
  assert.match(r.stdout, /^X-A: 1\r\n/m);
  assert.ok(r.stdout.endsWith('\r\n\r\nearly'), JSON.stringify(r.stdout));
  assert.equal(r.stderr, `${FINISH_END}\n`);
  assert.equal(r.file, 'false', 'a second call returns false, as php-fpm\'s on a closed request');
});

test('no output before the call: the hold mark, one byte that makes PHP send its headers, then the end mark', () => {
  const r = run('<?php http_response_code(202); fastcgi_finish_request(); echo "late";');
  assert.match(r.stdout, /^Status: 202 Accepted\r\n/);
  assert.ok(r.stdout.endsWith(`\r\n\r\n${String.fromCharCode(FINISH_BYTE)}`), JSON.stringify(r.stdout));
  assert.equal(r.stderr, `${FINISH_HOLD}\n${FINISH_END}\n`);
  // HEAD: PHP sends the headers and drops the byte (the master then takes nothing out).
  const head = run('<?php header("X-H: 1"); fastcgi_finish_request(); echo "late";', [], 'HEAD');
  assert.ok(head.stdout.startsWith('X-H: 1\r\n') && head.stdout.endsWith('\r\n\r\n'), JSON.stringify(head.stdout));
  assert.equal(head.stderr, `${FINISH_HOLD}\n${FINISH_END}\n`);
});

test('every output buffer is flushed in order (callbacks run); a non-removable one makes it return false and change nothing', () => {
  const r = run('<?php ob_start(fn ($b) => strtoupper($b)); echo "one "; ob_start(); echo "two"; fastcgi_finish_request(); file_put_contents(%OUT%, ob_get_level());');
  assert.ok(r.stdout.endsWith('\r\n\r\nONE TWO'), JSON.stringify(r.stdout));
  assert.equal(r.file, '1', 'the shim\'s own buffer (php-fpm: 0)');
  const nr = run('<?php ob_start(null, 0, PHP_OUTPUT_HANDLER_STDFLAGS & ~PHP_OUTPUT_HANDLER_REMOVABLE); echo "kept"; file_put_contents(%OUT%, var_export(fastcgi_finish_request(), true) . ob_get_level());');
  assert.equal(nr.file, 'false1');
  assert.equal(nr.stderr, '');
  assert.ok(nr.stdout.endsWith('kept'));
});

test('php-fpm\'s arguments check', () => {
  const r = run('<?php try { fastcgi_finish_request(1); } catch (ArgumentCountError $e) { echo $e->getMessage(); }');
  assert.ok(r.stdout.endsWith('fastcgi_finish_request() expects exactly 0 arguments, 1 given'), r.stdout);
});

test('output after the call: the script ends once php-fpm\'s out buffer would have filled, unless ignore_user_abort()', () => {
  const code = (iua: boolean): string => `<?php ${iua ? 'ignore_user_abort(true);' : ''} register_shutdown_function(fn () => file_put_contents(%OUT%, "shutdown\\n", FILE_APPEND));
    echo "x"; fastcgi_finish_request();
    echo str_repeat("a", ${FPM_OUT_ROOM - 1}); file_put_contents(%OUT%, "below\\n", FILE_APPEND);
    echo "b"; file_put_contents(%OUT%, "over\\n", FILE_APPEND);`;
  assert.equal(run(code(false)).file, 'below\nshutdown\n');
  assert.equal(run(code(true)).file, 'below\nover\nshutdown\n');
});

test('fastcgi.logging off in the child after all (a php.ini [PATH=] section can do that), or error_log() disabled: returns false, output untouched', () => {
  for (const ini of ['fastcgi.logging=0', 'disable_functions=error_log']) {
    const r = run('<?php echo "a"; file_put_contents(%OUT%, var_export(fastcgi_finish_request(), true)); echo "b";', [ini]);
    assert.equal(r.file, 'false', ini);
    assert.ok(r.stdout.endsWith('ab'), ini);
  }
});

test('fastcgi.error_header: set on a fatal error or an uncaught exception while no header went out; not otherwise', () => {
  const fatal = run('<?php ob_start(); echo "x"; d();');
  assert.match(fatal.stdout, /^Status: 550 PHP Error\r\n/);
  const exc = run('<?php ob_start(); throw new Exception("boom");');
  assert.match(exc.stdout, /^Status: 550 PHP Error\r\n/);
  const userError = run('<?php ob_start(); trigger_error("u", E_USER_ERROR);');
  assert.match(userError.stdout, /^Status: 550 PHP Error\r\n/);
  // Headers already sent (no buffer): nothing, and no "Cannot modify header information".
  const sent = run('<?php echo "x"; d();');
  assert.doesNotMatch(sent.stdout, /^Status: 550/);
  assert.doesNotMatch(sent.stdout + sent.stderr, /Cannot modify header information/);
  // A warning is not fatal; a fatal error after fastcgi_finish_request() finds the headers sent (php-src bug68207).
  assert.doesNotMatch(run('<?php ob_start(); echo $undefined;').stdout, /^Status:/);
  const after68207 = run('<?php echo 1; fastcgi_finish_request(); d();');
  assert.doesNotMatch(after68207.stdout + after68207.stderr, /Status: 550|Cannot modify header information/);
  assert.deepEqual(errorHeaderPhp(''), []);
});
