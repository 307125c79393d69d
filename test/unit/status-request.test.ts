// What the status page says about a request: php-fpm's request_uri (the key
// of the status and ping pages), and the scoreboard fields of ?full with
// their fixed sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fpmEnv, quickRequestUri, DEFAULT_PATH_SETTINGS, type PathProbe } from '../../src/request-env/fpm-env.js';
import { atolSize, authUser, requestInfo } from '../../src/status/request-info.js';

const FILES = new Set(['/srv/www/index.php']);
const probe: PathProbe = { resolves: (p) => FILES.has(p) || p === '/srv/www' || p === '/srv' || p === '/', isFile: (p) => FILES.has(p) };
const PIF = DEFAULT_PATH_SETTINGS;
const NOPIF = { ...PIF, fixPathinfo: false };
const env = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));
const uri = (o: Record<string, string>, s = PIF): string | null => fpmEnv(env(o), s, probe).requestUri;

test('request_uri: SCRIPT_NAME, whether the script exists or not', () => {
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/status', SCRIPT_NAME: '/status' }), '/status');
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', REQUEST_URI: '/x' }), '/index.php');
  assert.equal(uri({ PATH_TRANSLATED: '/srv/www/status', SCRIPT_NAME: '/status' }), '/status', 'PATH_TRANSLATED stands in');
});

test('request_uri: none without a script path or SCRIPT_NAME', () => {
  assert.equal(uri({ SCRIPT_NAME: '/status' }), null);
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/status' }), null);
});

test('request_uri: PATH_INFO walk cuts SCRIPT_NAME; Apache proxy; mod_fastcgi REDIRECT_URL; cgi.fix_pathinfo=0 takes PATH_INFO', () => {
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/index.php/status', SCRIPT_NAME: '/index.php/status', PATH_INFO: '/index.php/status' }), '/index.php');
  assert.equal(uri({ SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/srv/www/index.php/x', SCRIPT_NAME: '/index.php/x' }), '/index.php');
  assert.equal(uri({ SCRIPT_FILENAME: '/usr/bin/php', PATH_TRANSLATED: '/srv/www/index.php', SCRIPT_NAME: '/cgi/php', REDIRECT_URL: '/status' }), '/status');
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/status' }, NOPIF), '/status');
  assert.equal(uri({ SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php' }, NOPIF), '/index.php');
});

test('the quick path agrees with the full computation where it answers', () => {
  const cases: Array<Record<string, string>> = [
    { SCRIPT_FILENAME: '/srv/www/status', SCRIPT_NAME: '/status' },
    { SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '' },
    { SCRIPT_FILENAME: '', SCRIPT_NAME: '/status' },
    { PATH_TRANSLATED: '/srv/www/x', SCRIPT_NAME: '/ping' },
    { SCRIPT_FILENAME: '/usr/bin/php', PATH_TRANSLATED: '/srv/www/index.php', SCRIPT_NAME: '/cgi/php', REDIRECT_URL: '/status' },
    { SCRIPT_FILENAME: '/srv/www/status' },
    {},
  ];
  for (const s of [PIF, NOPIF]) {
    for (const c of cases) {
      const quick = quickRequestUri(s, c.SCRIPT_FILENAME, c.PATH_TRANSLATED, c.SCRIPT_NAME, c.PATH_INFO, c.REDIRECT_URL);
      assert.equal(quick, fpmEnv(env(c), s, probe).requestUri, JSON.stringify([s.fixPathinfo, c]));
    }
  }
  assert.equal(quickRequestUri(PIF, '/usr/bin/php', '/srv/www/index.php', '/cgi/php', '/x', '/status'), undefined, 'left to fpmEnv');
});

test('scoreboard fields: method, URI, query, content length, user, script, cut as strlcpy cuts them', () => {
  const info = requestInfo(env({
    SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', REQUEST_METHOD: 'POST', QUERY_STRING: 'a=1',
    CONTENT_LENGTH: '12', HTTP_AUTHORIZATION: `Basic ${Buffer.from('bob:secret').toString('base64')}`,
  }), PIF, probe);
  assert.deepEqual(info, { method: 'POST', uri: '/index.php', query: 'a=1', contentLength: 12n, user: 'bob', script: '/srv/www/index.php' });
  const long = requestInfo(env({ SCRIPT_FILENAME: '/srv/www/x', SCRIPT_NAME: `/${'u'.repeat(200)}`, QUERY_STRING: 'q'.repeat(600), REQUEST_METHOD: 'M'.repeat(20) }), PIF, probe);
  assert.equal(long.uri.length, 127);
  assert.equal(long.query.length, 511);
  assert.equal(long.method.length, 15);
  assert.equal(long.script, '-', 'no such script');
  assert.deepEqual(requestInfo(env({ SCRIPT_NAME: '/x', QUERY_STRING: 'a' }), PIF, probe), { method: '-', uri: '', query: '', contentLength: 0n, user: '-', script: '-' });
});

test('atol as size_t, Basic auth user', () => {
  assert.equal(atolSize('  42abc'), 42n);
  assert.equal(atolSize(''), 0n);
  assert.equal(atolSize('-1'), 18446744073709551615n);
  assert.equal(authUser(`basic ${Buffer.from('a:b').toString('base64')}`), 'a');
  assert.equal(authUser(`Basic ${Buffer.from('nocolon').toString('base64')}`), '');
  assert.equal(authUser('Digest x'), '');
});
