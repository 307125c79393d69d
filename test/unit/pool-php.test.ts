// Which environment variables of a php-cgi child php-fpm's worker would not have (src/php/pool-php.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsfpmOnlyEnv } from '../../src/php/pool-php.js';
import { defaultPool } from '../../src/config/directives.js';

const child = { PHP_FCGI_MAX_REQUESTS: '0', PHP_INI_SCAN_DIR: '/etc/php/8.2/fpm/conf.d', PATH: '/bin' };

test('tsfpmOnlyEnv: php-cgi switches and a scan dir php-fpm would have compiled in', () => {
  assert.deepEqual(tsfpmOnlyEnv({ ...defaultPool('www'), clearEnv: true }, child, { PHP_INI_SCAN_DIR: '/x' }, false), ['PHP_FCGI_MAX_REQUESTS', 'PHP_INI_SCAN_DIR']);
  assert.deepEqual(tsfpmOnlyEnv({ ...defaultPool('www'), clearEnv: true }, child, {}, true), ['PHP_FCGI_MAX_REQUESTS', 'PHP_FCGI_CHILDREN', 'PHP_INI_SCAN_DIR']);
});

test('tsfpmOnlyEnv: what php-fpm would pass on (clear_env = no, env[]) stays', () => {
  assert.deepEqual(tsfpmOnlyEnv({ ...defaultPool('www'), clearEnv: false }, child, { PHP_INI_SCAN_DIR: '/x' }, false), ['PHP_FCGI_MAX_REQUESTS']);
  assert.deepEqual(tsfpmOnlyEnv({ ...defaultPool('www'), clearEnv: true, env: { PHP_INI_SCAN_DIR: '/y' } }, child, {}, false), ['PHP_FCGI_MAX_REQUESTS']);
  assert.deepEqual(tsfpmOnlyEnv({ ...defaultPool('www'), clearEnv: true }, { PHP_FCGI_MAX_REQUESTS: '0' }, {}, false), ['PHP_FCGI_MAX_REQUESTS']);
});
