// php-fpm's request environment (src/request-env): the pure computation and
// what php-cgi is sent. Expected values are php-fpm 8.2's (php-src's
// fcgi-env-* tests and init_request_info), checked against a fake file system.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fpmEnv, isValidPath, needsFpmEnv, pathSettings, DEFAULT_PATH_SETTINGS, type PathProbe } from '../../src/request-env/fpm-env.js';
import { paramsForPhpCgi, replaceParams } from '../../src/request-env/forward.js';
import { decodeParams } from '../../src/fastcgi/params.js';
import { encodeBeginRequest, encodeParams, encodeStream } from '../../src/fastcgi/encoder.js';
import { RecordType } from '../../src/fastcgi/constants.js';

const FILES = new Set(['/srv/www/index.php', '/srv/www/sub/info.php']);
const DIRS = new Set(['/', '/srv', '/srv/www', '/srv/www/sub']);
const probe: PathProbe = {
  resolves: (p) => FILES.has(p) || DIRS.has(p.replace(/\/$/, '') || '/'),
  isFile: (p) => FILES.has(p),
};
const PIF = DEFAULT_PATH_SETTINGS;
const NOPIF = { ...PIF, fixPathinfo: false };
const env = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));
const pick = (m: Map<string, string>, keys: string[]): Record<string, string | undefined> =>
  Object.fromEntries(keys.map((k) => [k, m.get(k)]));
const KEYS = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED', 'ORIG_SCRIPT_NAME', 'ORIG_PATH_INFO', 'ORIG_SCRIPT_FILENAME', 'ORIG_PATH_TRANSLATED'];

test('nginx with split PATH_INFO: nothing changes', () => {
  const p = env({ SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/a/b', DOCUMENT_ROOT: '/srv/www' });
  const r = fpmEnv(p, PIF, probe);
  assert.equal(r.script, '/srv/www/index.php');
  assert.deepEqual([...r.env], [...p]);
  assert.equal(paramsForPhpCgi(r, PIF), null, 'php-cgi computes the same: forwarded as it came');
});

test('Apache SetHandler: proxy:fcgi:// prefix stripped, PATH_INFO kept', () => {
  const r = fpmEnv(env({
    SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/srv/www/index.php', SCRIPT_NAME: '/index.php',
    PATH_INFO: '/pinfo', PATH_TRANSLATED: '/srv/www/pinfo', DOCUMENT_ROOT: '/srv/www',
  }), PIF, probe);
  assert.equal(r.apache, true);
  assert.equal(r.script, '/srv/www/index.php');
  assert.deepEqual(pick(r.env, KEYS), {
    SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/pinfo', PATH_TRANSLATED: '/srv/www/pinfo',
    ORIG_SCRIPT_NAME: undefined, ORIG_PATH_INFO: undefined, ORIG_SCRIPT_FILENAME: undefined, ORIG_PATH_TRANSLATED: undefined,
  });
});

test('Apache ProxyPassMatch: PATH_INFO recovered from the path and cut off SCRIPT_NAME', () => {
  const r = fpmEnv(env({
    SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/srv/www/sub/info.php/x/y', SCRIPT_NAME: '/sub/info.php/x/y', DOCUMENT_ROOT: '/srv/www',
  }), PIF, probe);
  assert.equal(r.script, '/srv/www/sub/info.php');
  assert.deepEqual(pick(r.env, KEYS), {
    SCRIPT_FILENAME: '/srv/www/sub/info.php', SCRIPT_NAME: '/sub/info.php', PATH_INFO: '/x/y', PATH_TRANSLATED: '/srv/www/x/y',
    ORIG_SCRIPT_NAME: '/sub/info.php/x/y', ORIG_PATH_INFO: undefined,
    ORIG_SCRIPT_FILENAME: '/srv/www/sub/info.php/x/y', ORIG_PATH_TRANSLATED: undefined,
  });
});

test('Apache ProxyPassMatch: URL-encoded path info in SCRIPT_NAME (fcgi-env-pif-apache-pp-sn-strip-encoded)', () => {
  const r = fpmEnv(env({
    SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/srv/www/index.php/1%202', SCRIPT_NAME: '/index.php/1 2', DOCUMENT_ROOT: '/srv/www',
  }), PIF, probe);
  assert.equal(r.env.get('SCRIPT_NAME'), '/index.php');
  assert.equal(r.env.get('PATH_INFO'), '/1%202');
  // A SCRIPT_NAME that does not end with the path info is left alone.
  const bad = fpmEnv(env({
    SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/srv/www/index.php/pinfoy', SCRIPT_NAME: '/index.php/pinfox', DOCUMENT_ROOT: '/srv/www',
  }), PIF, probe);
  assert.equal(bad.env.get('SCRIPT_NAME'), '/index.php/pinfox');
  assert.equal(bad.env.get('PATH_INFO'), '/pinfoy');
});

test('proxy:balancer:// and a query string from a RewriteRule are stripped; no path: value kept', () => {
  assert.equal(fpmEnv(env({ SCRIPT_FILENAME: 'proxy:balancer://app/srv/www/index.php' }), PIF, probe).script, '/srv/www/index.php');
  assert.equal(fpmEnv(env({ SCRIPT_FILENAME: 'PROXY:FCGI://h:1/srv/www/index.php?q=1' }), PIF, probe).script, '/srv/www/index.php');
  const noPath = fpmEnv(env({ SCRIPT_FILENAME: 'proxy:fcgi://host?x' }), NOPIF, probe);
  assert.equal(noPath.apache, false);
  assert.equal(noPath.env.get('SCRIPT_FILENAME'), 'proxy:fcgi://host');
});

test('missing script: SCRIPT_FILENAME removed, ORIG_ kept, script unknown', () => {
  const r = fpmEnv(env({ SCRIPT_FILENAME: 'proxy:fcgi://h:1/srv/www/nope.php', SCRIPT_NAME: '/nope.php' }), PIF, probe);
  assert.equal(r.script, null);
  assert.equal(r.env.has('SCRIPT_FILENAME'), false);
  assert.equal(r.env.get('ORIG_SCRIPT_FILENAME'), '/srv/www/nope.php');
  const fwd = new Map(paramsForPhpCgi(r, PIF));
  assert.equal(fwd.has('SCRIPT_FILENAME') || fwd.has('PATH_TRANSLATED'), false, 'php-cgi gets no script to run');
  assert.equal(fpmEnv(env({ REQUEST_METHOD: 'GET' }), PIF, probe).script, null, 'no SCRIPT_FILENAME at all');
});

test('CVE-2019-11043: a PATH_INFO shorter than the cut-off tail is refused, and php-cgi is not asked to compute it', () => {
  const p = env({ SCRIPT_FILENAME: `/srv/www/index.php/${'A'.repeat(35)}`, PATH_INFO: '', SCRIPT_NAME: '/index.php' });
  const r = fpmEnv(p, PIF, probe);
  assert.equal(r.underflow, true);
  assert.equal(r.script, '/srv/www/index.php');
  assert.equal(r.env.get('PATH_INFO'), '', 'PATH_INFO untouched, as php-fpm leaves it');
  const fwd = new Map(paramsForPhpCgi(r, PIF));
  assert.equal(fwd.get('SCRIPT_FILENAME'), '/srv/www/index.php', 'php-cgi gets a path that resolves: no walk, no underflow');
});

test('nginx without split_path_info (cgi.fix_pathinfo walks): PATH_INFO and PATH_TRANSLATED from DOCUMENT_ROOT', () => {
  const r = fpmEnv(env({ SCRIPT_FILENAME: '/srv/www/index.php/foo/bar', SCRIPT_NAME: '/index.php/foo/bar', PATH_INFO: '/index.php/foo/bar', DOCUMENT_ROOT: '/srv/www/' }), PIF, probe);
  assert.deepEqual(pick(r.env, ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED']), {
    SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/foo/bar', PATH_TRANSLATED: '/srv/www/foo/bar',
  });
  assert.equal(r.underflow, false);
});

test('Apache mod_fastcgi Action: REDIRECT_URL and PATH_TRANSLATED name the script', () => {
  const r = fpmEnv(env({
    SCRIPT_FILENAME: '/usr/lib/cgi-bin/php-cgi', SCRIPT_NAME: '/cgi-bin/php', PATH_TRANSLATED: '/srv/www/index.php', REDIRECT_URL: '/index.php', PATH_INFO: '/index.php',
  }), PIF, probe);
  assert.equal(r.script, '/srv/www/index.php');
  assert.deepEqual(pick(r.env, ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'ORIG_PATH_INFO', 'ORIG_SCRIPT_NAME', 'PATH_TRANSLATED']), {
    SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: undefined, ORIG_PATH_INFO: '/index.php',
    ORIG_SCRIPT_NAME: '/cgi-bin/php', PATH_TRANSLATED: undefined,
  });
});

test('Apache with a rewrite: REDIRECT_URL is kept from php-cgi only when it would move PATH_INFO', () => {
  const r = fpmEnv(env({ SCRIPT_FILENAME: 'proxy:fcgi://h:1/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/a', REDIRECT_URL: '/a' }), PIF, probe);
  assert.equal(r.env.get('PATH_INFO'), '/a', 'php-fpm skips the REDIRECT_URL rule for Apache proxy requests');
  assert.equal(new Map(paramsForPhpCgi(r, PIF)).has('REDIRECT_URL'), false);
});

test('cgi.fix_pathinfo=0: PATH_TRANSLATED is the script unless cgi.discard_path', () => {
  const p = env({ SCRIPT_FILENAME: '/srv/www/index.php/pinfo', PATH_TRANSLATED: '/srv/www/index.php', PATH_INFO: '/pinfo' });
  assert.equal(fpmEnv(p, NOPIF, probe).script, '/srv/www/index.php');
  assert.equal(fpmEnv(p, { ...NOPIF, discardPath: true }, probe).script, '/srv/www/index.php/pinfo');
  assert.deepEqual([...fpmEnv(p, NOPIF, probe).env], [...p], 'nothing rewritten');
});

test('IIS: PATH_INFO with SCRIPT_NAME in front is fixed on every platform', () => {
  const r = fpmEnv(env({ SERVER_SOFTWARE: 'Microsoft-IIS/10.0', SCRIPT_FILENAME: '/srv/www/index.php', SCRIPT_NAME: '/index.php', PATH_INFO: '/index.php/x' }), PIF, probe);
  assert.equal(r.iis, true);
  assert.equal(r.env.get('PATH_INFO'), '/x');
  assert.equal(r.env.get('ORIG_PATH_INFO'), '/index.php/x');
});

test('is_valid_path: a .. segment anywhere is refused', () => {
  for (const p of ['..', '/a/../b', '/a/..', '../x']) assert.equal(isValidPath(p), false, p);
  for (const p of ['/a..b/c', '/a/b..', '/..a', '/srv/x.php', '']) assert.equal(isValidPath(p), true, p);
  assert.equal(fpmEnv(env({ SCRIPT_FILENAME: '/srv/www/../www/index.php' }), NOPIF, probe).script, null);
});

test('needsFpmEnv: only proxy prefixes, IIS and PATH_INFO look further', () => {
  assert.equal(needsFpmEnv('/srv/www/index.php', undefined, 'nginx/1.22.1'), false);
  assert.equal(needsFpmEnv('proxy:fcgi://x/a.php', undefined, undefined), true);
  assert.equal(needsFpmEnv('Proxy:balancer://x/a.php', undefined, undefined), true);
  assert.equal(needsFpmEnv('/a.php', '', undefined), true);
  assert.equal(needsFpmEnv('/a.php', undefined, 'Microsoft-IIS/10.0'), true);
});

test('pathSettings: PHP booleans as ini_get reports them', () => {
  assert.deepEqual(pathSettings({}), DEFAULT_PATH_SETTINGS);
  assert.deepEqual(pathSettings({ 'cgi.fix_pathinfo': '', 'cgi.discard_path': '1', doc_root: '/d' }), { fixPathinfo: false, discardPath: true, docRoot: '/d' });
  assert.equal(pathSettings({ 'cgi.fix_pathinfo': 'On' }).fixPathinfo, true);
  assert.equal(pathSettings({ 'cgi.fix_pathinfo': '0' }).fixPathinfo, false);
});

test('replaceParams: BEGIN_REQUEST kept, PARAMS replaced, STDIN bytes kept', () => {
  const begin = encodeBeginRequest(7, 1, 1);
  const params = encodeStream(RecordType.PARAMS, 7, encodeParams([['SCRIPT_FILENAME', 'proxy:fcgi://h/a.php'], ['X', 'y'.repeat(70000)]]));
  const stdin = encodeStream(RecordType.STDIN, 7, Buffer.from('body'));
  const head = Buffer.concat([begin, params, encodeStream(RecordType.PARAMS, 7, Buffer.alloc(0)), stdin.subarray(0, 10)]);
  const out = Buffer.concat(replaceParams(head, 7, [['SCRIPT_FILENAME', '/a.php']]));
  assert.deepEqual(out.subarray(0, 16), begin);
  const body = out.subarray(24, 24 + out.readUInt16BE(16 + 4));
  assert.deepEqual(decodeParams(body), [['SCRIPT_FILENAME', '/a.php']]);
  assert.deepEqual(out.subarray(out.length - 10), stdin.subarray(0, 10), 'the start of STDIN follows untouched');
  const endParams = out.subarray(out.length - 18, out.length - 10);
  assert.equal(endParams[1], RecordType.PARAMS);
  assert.equal(endParams.readUInt16BE(4), 0, 'empty PARAMS ends the stream');
});
