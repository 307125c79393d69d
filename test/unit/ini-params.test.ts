// PHP_VALUE / PHP_ADMIN_VALUE (src/php/ini-params.ts): the file the shim
// requires, run by the PHP CLI with the params in $_SERVER and a stand-in
// master on the shim socket; the master's once-per-directive log lines; and
// the pool-level pieces that keep php_admin_value[] where php-fpm has them
// (src/php/admin-lock.ts, src/php/pool-ini.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { IniParamNotes, iniParamsGuard, iniParamsPhp, noteText } from '../../src/php/ini-params.js';
import { iniLine, lockIni, lockable, withScanDir } from '../../src/php/admin-lock.js';
import { mergeDisables, withBasedirFiles } from '../../src/php/pool-ini.js';
import { defaultPool } from '../../src/config/directives.js';
import type { PoolConfig } from '../../src/config/types.js';
import { makeTempDir } from '../helpers/tmp.js';

function php(args: string[], env: Record<string, string>): Promise<{ out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('php', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', () => resolve({ out, err }));
  });
}

test('the params file: php-fpm\'s ini parsing, set per directive, unknown ones on stderr, the rest reported to the master', async () => {
  const dir = makeTempDir('tsfpm-iniparams-');
  const sock = join(dir, 's.sock');
  const got: string[] = [];
  const server = net.createServer((c) => {
    let d = '';
    c.setEncoding('latin1');
    c.on('data', (x: string) => { d += x; });
    c.on('end', () => { got.push(d); c.end(); });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const file = join(dir, 'p.php');
  writeFileSync(file, iniParamsPhp({ socketRef: sock, locked: [], inEnv: [] }));
  const main = join(dir, 'main.php');
  writeFileSync(main, `<?php ${iniParamsGuard(file)}
echo json_encode(array_map('ini_get', ['precision' => 'precision', 'error_reporting' => 'error_reporting', 'display_errors' => 'display_errors', 'max_input_vars' => 'max_input_vars', 'html_errors' => 'html_errors']));`);
  const r = await php(['-n', main], {
    // nginx's usual spacing around "\\n", an INI constant expression, On/Off, a PHP_INI_PERDIR one, an array entry, extension.
    PHP_VALUE: 'precision=7 \n error_reporting = E_ALL & ~E_NOTICE\nhtml_errors=Off\nmax_input_vars=5\nlist[]=1\nno.such=1\nextension=nothing.so',
    PHP_ADMIN_VALUE: 'display_errors=On\nopen_basedir=/',
  });
  assert.deepEqual(JSON.parse(r.out), { precision: '7', error_reporting: String(32767 & ~8), display_errors: '1', max_input_vars: '1000', html_errors: '' });
  assert.equal(r.err, "Passing INI directive through FastCGI: only classic entries are allowed\nPassing INI directive through FastCGI: unable to set 'no.such'\n");
  await new Promise<void>((r2) => server.close(() => r2()));
  assert.deepEqual(got, ['ini\tPHP_VALUE\tperdir\tmax_input_vars\nini\tPHP_VALUE\textension\textension\n']);
});

test('the params file: nothing to do without the params; a param equal to the environment\'s is the environment\'s', async () => {
  const dir = makeTempDir('tsfpm-iniparams-');
  const file = join(dir, 'p.php');
  writeFileSync(file, iniParamsPhp({ socketRef: join(dir, 'none.sock'), locked: [], inEnv: ['PHP_VALUE'] }));
  const main = join(dir, 'main.php');
  writeFileSync(main, `<?php ${iniParamsGuard(file)} echo ini_get('precision'), ' ', implode(',', get_included_files());`);
  const none = await php(['-n', main], {});
  assert.equal(none.out, `14 ${main}`);
  // A syntax error on line 2: line 1 applied, nothing after, no warning (php-fpm: the same, its warning goes to the worker's stderr).
  const bad = join(dir, 'bad.php');
  writeFileSync(bad, iniParamsPhp({ socketRef: join(dir, 'none.sock'), locked: [], inEnv: [] }));
  const badMain = join(dir, 'bad-main.php');
  writeFileSync(badMain, `<?php ${iniParamsGuard(bad)} echo ini_get('precision'), ' ', ini_get('serialize_precision');`);
  const syntax = await php(['-n', badMain], { PHP_VALUE: 'precision=8\nmemory_limit=(\nserialize_precision=3' });
  assert.deepEqual(syntax, { out: '8 -1', err: '' });
  // In the CLI the environment is also getenv(..., true): taken for the children's environment, not a param.
  const env = await php(['-n', main], { PHP_VALUE: 'precision=3' });
  assert.equal(env.out.split(' ')[0], '14');
});

test('the master logs each directive once per pool, param and reason', () => {
  const lines: string[] = [];
  const notes = new IniParamNotes('www', (l) => lines.push(l));
  for (let i = 0; i < 3; i++) {
    notes.note(['PHP_VALUE', 'perdir', 'upload_max_filesize']);
    notes.note(['PHP_ADMIN_VALUE', 'perdir', 'upload_max_filesize']);
  }
  notes.note(['PHP_VALUE', 'bogus', 'x']);
  notes.note(['OTHER', 'perdir', 'x']);
  notes.note(['PHP_VALUE', 'system', 'bad\nname']);
  assert.deepEqual(lines, [
    "[pool www] PHP_VALUE 'upload_max_filesize' cannot take effect per request with php-cgi (PHP_INI_PERDIR: a script cannot set it once PHP started the request), ignored: use php_value[upload_max_filesize] in the pool",
    "[pool www] PHP_ADMIN_VALUE 'upload_max_filesize' cannot take effect per request with php-cgi (PHP_INI_PERDIR: a script cannot set it once PHP started the request), ignored: use php_admin_value[upload_max_filesize] in the pool",
    "[pool www] PHP_VALUE 'bad?name' cannot take effect per request with php-cgi (PHP_INI_SYSTEM: a script cannot set it once PHP started the request), ignored: use php_value[bad?name] in the pool",
  ]);
  assert.match(noteText('www', 'PHP_VALUE', 'locked', 'memory_limit'), /php_admin_value\[memory_limit\] is locked/);
  assert.match(noteText('www', 'PHP_ADMIN_VALUE', 'basedir', 'open_basedir'), /may only narrow open_basedir/);
});

test('admin lock: which values, quoted as php-cgi quotes -d, one [PATH=] section per top-level directory', () => {
  assert.deepEqual(lockable({ memory_limit: '1M', disable_functions: 'x', upload_max_filesize: '2M', extension: 'a.so', nope: '1' },
    { memory_limit: 7, disable_functions: 4, upload_max_filesize: 6, extension: null, nope: null }), ['memory_limit', 'upload_max_filesize']);
  assert.equal(iniLine('memory_limit', '99M'), 'memory_limit=99M');
  assert.equal(iniLine('open_basedir', '/srv/a:/tmp'), 'open_basedir="/srv/a:/tmp"');
  assert.equal(iniLine('error_log', ''), 'error_log=');
  assert.equal(iniLine('x', '"q"'), 'x="q"');
  assert.equal(lockIni('www', [['memory_limit', '99M']], ['srv', 'var']),
    '; generated by tsfpm for pool www: its php_admin_value[] locked for every script (docs/php-side.md)\n[PATH=/srv]\nmemory_limit=99M\n[PATH=/var]\nmemory_limit=99M\n');
  assert.equal(withScanDir(undefined, '/r/www.ini.d'), ':/r/www.ini.d');
  assert.equal(withScanDir('', '/r/www.ini.d'), '/r/www.ini.d');
  assert.equal(withScanDir('/etc/php/8.2/fpm/conf.d', '/r/www.ini.d'), '/etc/php/8.2/fpm/conf.d:/r/www.ini.d');
});

test('the lock file as php-cgi reads it: ini_set() and .user.ini refused, input limits applied before $_GET', async () => {
  const dir = makeTempDir('tsfpm-lock-');
  const scan = join(dir, 'scan');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(scan);
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(scan, 'lock.ini'), lockIni('t', [['memory_limit', '32M'], ['max_input_vars', '3']], [dir.split('/')[1]]));
  writeFileSync(join(dir, 'www', '.user.ini'), 'memory_limit=64M\n');
  writeFileSync(join(dir, 'www', 't.php'), "<?php echo ini_get('memory_limit'), ' ', var_export(ini_set('memory_limit', '10M'), true), ' ', count($_GET);");
  const env = { REDIRECT_STATUS: '1', REQUEST_METHOD: 'GET', QUERY_STRING: 'a=1&b=2&c=3&d=4', SCRIPT_FILENAME: join(dir, 'www', 't.php'), DOCUMENT_ROOT: join(dir, 'www'), PHP_INI_SCAN_DIR: scan };
  const locked = await new Promise<string>((resolve) => {
    const p = spawn('php-cgi', ['-n', '-d', 'memory_limit=32M', '-d', 'error_reporting=0'], { env: { ...env, PHP_INI_SCAN_DIR: '' } });
    let o = '';
    p.stdout.on('data', (d: Buffer) => { o += d.toString(); });
    p.on('close', () => resolve(o.slice(o.indexOf('\r\n\r\n') + 4)));
  });
  // -n reads no ini file at all: a -d value stays changeable and .user.ini wins.
  assert.equal(locked, "64M '64M' 4");
  const withLock = await new Promise<string>((resolve) => {
    const p = spawn('php-cgi', ['-c', join(dir, 'none.ini'), '-d', 'memory_limit=32M', '-d', 'error_reporting=0'], { env });
    let o = '';
    p.stdout.on('data', (d: Buffer) => { o += d.toString(); });
    p.on('close', () => resolve(o.slice(o.indexOf('\r\n\r\n') + 4)));
  });
  assert.equal(withLock, '32M false 3');
});

const pool = (v: Record<string, string>, a: Record<string, string>): PoolConfig => ({ ...defaultPool('www'), phpValues: v, phpAdminValues: a });

test('disable_functions/classes: php.ini\'s list in front of the pool\'s; open_basedir widened by tsfpm\'s files alone', () => {
  const m = mergeDisables(pool({ disable_classes: 'B' }, { disable_functions: 'system' }), { disable_functions: 'exec', disable_classes: 'A' });
  assert.deepEqual([m.phpValues, m.phpAdminValues], [{ disable_classes: 'A,B' }, { disable_functions: 'exec,system' }]);
  const same = pool({}, { disable_functions: 'system' });
  assert.equal(mergeDisables(same, { disable_functions: '' }), same);
  const b = withBasedirFiles(pool({}, { open_basedir: '/srv' }), '/srv', ['/r/www.prepend.php']);
  assert.equal(b.phpAdminValues.open_basedir, '/srv:/r/www.prepend.php');
  assert.deepEqual(withBasedirFiles(pool({}, {}), '/from/php.ini', ['/r/x.php']).phpValues, { open_basedir: '/from/php.ini:/r/x.php' });
  assert.deepEqual(withBasedirFiles(pool({}, {}), '', ['/r/x.php']).phpValues, {});
});
