// Which php.ini the children read (src/php/fpm-ini.ts): php-fpm's search order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fpmIniFor, chooseIni, phpCgiVersion } from '../../src/php/fpm-ini.js';

const have = new Set(['/etc/php/8.2/fpm/php.ini', '/etc/php/8.2/fpm/conf.d']);
const exists = (p: string): boolean => have.has(p);
const base = { version: '8.2', cliIni: null, noIni: false, env: {}, exists };

test('fpmIniFor: php-fpm php.ini and conf.d when they exist', () => {
  assert.deepEqual(fpmIniFor(base), { phpIni: '/etc/php/8.2/fpm/php.ini', scanDir: '/etc/php/8.2/fpm/conf.d' });
  assert.deepEqual(fpmIniFor({ ...base, exists: (p) => p === '/etc/php/8.2/fpm/php.ini' }), { phpIni: '/etc/php/8.2/fpm/php.ini', scanDir: null });
  assert.deepEqual(fpmIniFor({ ...base, version: '8.3' }), { phpIni: null, scanDir: null });
  assert.deepEqual(fpmIniFor({ ...base, version: null }), { phpIni: null, scanDir: null });
});

test('fpmIniFor: -c, then PHPRC, then the fpm directory; conf.d is scanned in each case', () => {
  assert.deepEqual(fpmIniFor({ ...base, cliIni: '/x/php.ini', env: { PHPRC: '/y/php.ini' } }), { phpIni: '/x/php.ini', scanDir: '/etc/php/8.2/fpm/conf.d' });
  assert.deepEqual(fpmIniFor({ ...base, env: { PHPRC: '/y/php.ini' } }), { phpIni: '/y/php.ini', scanDir: '/etc/php/8.2/fpm/conf.d' });
  assert.deepEqual(fpmIniFor({ ...base, env: { PHPRC: '' } }), { phpIni: '/etc/php/8.2/fpm/php.ini', scanDir: '/etc/php/8.2/fpm/conf.d' }, 'empty PHPRC is unset');
});

test('fpmIniFor: PHP_INI_SCAN_DIR wins, empty means no scan; -n turns everything off', () => {
  assert.deepEqual(fpmIniFor({ ...base, env: { PHP_INI_SCAN_DIR: '/z' } }).scanDir, '/z');
  assert.deepEqual(fpmIniFor({ ...base, env: { PHP_INI_SCAN_DIR: '' } }).scanDir, '');
  assert.deepEqual(fpmIniFor({ ...base, noIni: true, env: { PHPRC: '/y' } }), { phpIni: null, scanDir: null });
});

test('chooseIni: -n and TSFPM_FPM_INI=0 keep php-cgi to what it was told', () => {
  assert.deepEqual(chooseIni({ phpCgi: 'php-cgi', phpIni: null, noPhpIni: true }, {}), { phpIni: null, scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: 'php-cgi', phpIni: null, noPhpIni: false }, { TSFPM_FPM_INI: '0' }), { phpIni: null, scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: '/nonexistent/php-cgi', phpIni: null, noPhpIni: false }, {}), { phpIni: null, scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: '/nonexistent/php-cgi', phpIni: null, noPhpIni: false }, { PHPRC: 'rel/php.ini' }).phpIni, `${process.cwd()}/rel/php.ini`);
});

test('phpCgiVersion: a CGI request environment does not make the probe run a script', () => {
  // run-tests.php's environment: php-cgi would execute SCRIPT_FILENAME instead of printing -v.
  const env = { ...process.env, REDIRECT_STATUS: '1', SCRIPT_FILENAME: '/etc/passwd', PATH_TRANSLATED: '/etc/passwd', REQUEST_METHOD: 'GET', GATEWAY_INTERFACE: 'CGI/1.1' };
  assert.match(phpCgiVersion('php-cgi', env) ?? 'null', /^\d+\.\d+$/);
});
