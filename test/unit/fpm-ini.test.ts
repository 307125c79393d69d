// Which php.ini the children read (src/php/fpm-ini.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fpmIniFor, chooseIni } from '../../src/php/fpm-ini.js';

test('fpmIniFor: php-fpm php.ini and conf.d when they exist', () => {
  const have = new Set(['/etc/php/8.2/fpm/php.ini', '/etc/php/8.2/fpm/conf.d']);
  assert.deepEqual(fpmIniFor('8.2', (p) => have.has(p)), { phpIni: '/etc/php/8.2/fpm/php.ini', scanDir: '/etc/php/8.2/fpm/conf.d' });
  assert.deepEqual(fpmIniFor('8.2', (p) => p === '/etc/php/8.2/fpm/php.ini'), { phpIni: '/etc/php/8.2/fpm/php.ini', scanDir: null });
  assert.deepEqual(fpmIniFor('8.3', (p) => have.has(p)), { phpIni: null, scanDir: null });
});

test('chooseIni: -c, -n and TSFPM_FPM_INI=0 keep php-cgi to what it was told', () => {
  assert.deepEqual(chooseIni({ phpCgi: 'php-cgi', phpIni: '/x/php.ini', noPhpIni: false }, {}), { phpIni: '/x/php.ini', scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: 'php-cgi', phpIni: null, noPhpIni: true }, {}), { phpIni: null, scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: 'php-cgi', phpIni: null, noPhpIni: false }, { TSFPM_FPM_INI: '0' }), { phpIni: null, scanDir: null });
  assert.deepEqual(chooseIni({ phpCgi: '/nonexistent/php-cgi', phpIni: null, noPhpIni: false }, {}), { phpIni: null, scanDir: null });
});
