// php-fpm's PHP-side features on php-cgi children (docs/php-side.md):
// fpm_get_status(), the PHP_VALUE / PHP_ADMIN_VALUE params applied to one
// request only, php_admin_value[] that scripts cannot change, php.ini's
// disable_functions kept under a pool's own, open_basedir. Through real nginx
// and libfcgi's cgi-fcgi, tsfpm next to Debian's php-fpm8.2 on the same pools
// and the same php.ini.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { httpRequest } from '../helpers/http.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/procs.js';

const docroot = makeTempDir('tsfpm-phpside-');
const jailed = join(docroot, 'jailed');
mkdirSync(join(docroot, 'pv'));
mkdirSync(join(docroot, 'userini'));
mkdirSync(jailed);

// ini.php?get=a,b&set=name:value,...: the pid, ini_get() of each name, ini_set() results.
const INI_PHP = `<?php
header('Content-Type: application/json');
$out = ['pid' => getmypid(), 'get' => [], 'set' => []];
foreach (array_filter(explode(',', $_GET['get'] ?? '')) as $n) $out['get'][$n] = ini_get($n);
foreach (array_filter(explode(',', $_GET['set'] ?? '')) as $kv) {
  [$k, $v] = explode(':', $kv, 2);
  $out['set'][$k] = [ini_set($k, $v), ini_get($k)];
}
$out['functions'] = array_map('function_exists', ['exec' => 'exec', 'system' => 'system', 'passthru' => 'passthru']);
echo json_encode($out);
`;
writeFileSync(join(docroot, 'ini.php'), INI_PHP);
writeFileSync(join(docroot, 'pv', 'ini.php'), INI_PHP);
writeFileSync(join(docroot, 'userini', 'ini.php'), INI_PHP);
// .user.ini next to the script: what php-fpm lets it override (php_value) and not (php_admin_value).
writeFileSync(join(docroot, 'userini', '.user.ini'), 'memory_limit=64M\nprecision=9\n');
writeFileSync(join(docroot, 'hello.php'), '<?php echo "hello";');
writeFileSync(join(docroot, 'sleep.php'), '<?php usleep((int) $_GET["us"]); echo "slept";');
// The shape of fpm_get_status(): keys in order and gettype() of every value, lists included.
writeFileSync(join(docroot, 'status.php'), `<?php
function shape($v) { if (!is_array($v)) return gettype($v); $o = []; foreach ($v as $k => $x) $o[] = [$k, shape($x)]; return $o; }
$s = fpm_get_status();
header('Content-Type: application/json');
$self = array_values(array_filter($s['procs'], fn ($p) => $p['pid'] === getmypid()));
echo json_encode(['shape' => shape($s), 'status' => $s, 'self' => $self[0] ?? null, 'pid' => getmypid()]);
`);
writeFileSync(join(jailed, 'basedir.php'), `<?php
header('Content-Type: application/json');
echo json_encode([
  'read_outside' => @file_get_contents(${JSON.stringify(join(docroot, 'hello.php'))}) !== false,
  'widen' => ini_set('open_basedir', '/'),
  'status_pool' => (fpm_get_status() ?: ['pool' => null])['pool'],
]);
`);

// php.ini for both servers: PHP's defaults plus a disable_functions of its own.
const phpIni = join(docroot, '..', `${docroot.split('/').pop()}.php.ini`);
writeFileSync(phpIni, 'disable_functions = exec\n');

function conf(www: number, jail: number): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${www}
pm = static
pm.max_children = 1
catch_workers_output = yes
php_admin_value[memory_limit] = 99M
php_admin_value[disable_functions] = system
php_value[precision] = 12
[jail]
listen = 127.0.0.1:${jail}
pm = dynamic
pm.max_children = 2
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
php_admin_value[open_basedir] = ${jailed}
`;
}

// nginx: /pv/ sends two values in one PHP_VALUE (nginx turns "\\n" into a newline).
const PV_LOCATION = `
    location ^~ /pv/ {
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param DOCUMENT_ROOT $document_root;
      fastcgi_param PHP_VALUE "precision=7\\nserialize_precision=5";
      fastcgi_pass tsfpm;
    }`;

interface Server { name: string; www: number; jail: number; nginx: Nginx; output(): string }
let tsfpm: Tsfpm;
let phpFpm: PhpFpm;
const servers: Server[] = [];

before(async () => {
  const [tw, tj, fw, fj] = [await freePort(), await freePort(), await freePort(), await freePort()];
  tsfpm = await startTsfpm({ conf: conf(tw, tj), args: ['-c', phpIni] });
  phpFpm = await startPhpFpm({ conf: conf(fw, fj), args: ['-c', phpIni] });
  servers.push({ name: 'tsfpm', www: tw, jail: tj, nginx: await startNginx({ upstream: `127.0.0.1:${tw}`, docroot, extraServer: PV_LOCATION }), output: tsfpm.output });
  servers.push({ name: 'php-fpm', www: fw, jail: fj, nginx: await startNginx({ upstream: `127.0.0.1:${fw}`, docroot, extraServer: PV_LOCATION }), output: phpFpm.output });
});

after(async () => {
  for (const s of servers) await s.nginx.stop();
  await phpFpm?.stop();
  assert.equal(await tsfpm?.stop(), 0);
});

interface IniReply { pid: number; get: Record<string, string | false>; set: Record<string, [string | false, string | false]>; functions: Record<string, boolean> }

async function viaNginx<T>(s: Server, uri: string): Promise<T> {
  const r = await httpRequest(s.nginx.url(uri));
  assert.equal(r.status, 200, `${s.name} ${uri}: ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** One request through cgi-fcgi with extra params (PHP_VALUE...); the JSON body and the FCGI_STDERR text. */
async function viaCgiFcgi<T>(port: number, script: string, query: string, extra: Record<string, string> = {}): Promise<{ body: T; stderr: string }> {
  const r = await cgiFcgi(`127.0.0.1:${port}`, { ...scriptParams(docroot, `/${script}?${query}`), ...extra });
  const body = r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
  return { body: JSON.parse(body) as T, stderr: r.stderr };
}

type Shape = string | Array<[string | number, Shape]>;
interface StatusReply { shape: Shape; status: Record<string, unknown> & { procs: Array<Record<string, unknown>> }; self: Record<string, unknown>; pid: number }

test('fpm_get_status(): the same keys, order and types as php-fpm8.2\'s on the same pool, procs included', async () => {
  const [t, f] = [await viaNginx<StatusReply>(servers[0], '/status.php?x=1'), await viaNginx<StatusReply>(servers[1], '/status.php?x=1')];
  assert.deepEqual(t.shape, f.shape);
  // One child, serving this very request.
  for (const r of [t, f]) {
    assert.equal(r.status.pool, 'www');
    assert.equal(r.status['process-manager'], 'static');
    assert.deepEqual([r.status['idle-processes'], r.status['active-processes'], r.status['total-processes']], [0, 1, 1]);
    assert.equal(r.status.procs.length, 1);
    assert.equal(r.self.pid, r.pid);
    assert.equal(r.self.state, 'Running');
    assert.equal(r.self['request-method'], 'GET');
    assert.equal(r.self['request-uri'], '/status.php');
    assert.equal(r.self['query-string'], 'x=1');
    assert.equal(r.self.script, join(docroot, 'status.php'));
    assert.equal(r.self.user, '-');
  }
});

test('fpm_get_status(): accepted-conn moves with traffic as php-fpm\'s does', async () => {
  for (const s of servers) {
    const a = (await viaNginx<StatusReply>(s, '/status.php')).status['accepted-conn'] as number;
    for (let i = 0; i < 3; i++) assert.equal((await httpRequest(s.nginx.url('/hello.php'))).body, 'hello');
    const b = await viaNginx<StatusReply>(s, '/status.php');
    assert.equal(b.status['accepted-conn'], a + 4, s.name);
    // The one child has run every one of them, this one included.
    assert.equal(b.self.requests, b.status['accepted-conn'], s.name);
  }
});

test('fpm_get_status() in a pool whose only child is busy with it: answered at once, queued requests in listen-queue', async () => {
  const port = servers[0].www;
  // The single child sleeps 600 ms, then asks; three requests wait behind it meanwhile.
  writeFileSync(join(docroot, 'late-status.php'), '<?php usleep(600000); echo json_encode(fpm_get_status());');
  const started = Date.now();
  const asking = cgiFcgi(`127.0.0.1:${port}`, scriptParams(docroot, '/late-status.php'));
  await new Promise((r) => setTimeout(r, 150));
  const waiting = [1, 2, 3].map(() => fcgiRequest({ host: '127.0.0.1', port }, scriptParams(docroot, '/hello.php')));
  const r = await asking;
  const s = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as Record<string, number>;
  assert.ok(Date.now() - started < 3000);
  assert.equal(s['listen-queue'], 3);
  assert.ok(s['max-listen-queue'] >= 3);
  for (const w of await Promise.all(waiting)) assert.equal(w.body.toString(), 'hello');
});

test('php_admin_value[memory_limit] cannot be changed by ini_set() nor .user.ini; php_value can, as in php-fpm', async () => {
  for (const s of servers) {
    const r = await viaNginx<IniReply>(s, '/ini.php?get=memory_limit&set=memory_limit:10M');
    assert.deepEqual(r.set.memory_limit, [false, '99M'], s.name);
    const u = await viaNginx<IniReply>(s, '/userini/ini.php?get=memory_limit,precision');
    assert.deepEqual(u.get, { memory_limit: '99M', precision: '9' }, s.name);
  }
});

test('disable_functions: the pool\'s on top of php.ini\'s, as php-fpm; ini_get() shows both lists in tsfpm', async () => {
  for (const s of servers) {
    const r = await viaNginx<IniReply>(s, '/ini.php?get=disable_functions');
    assert.deepEqual(r.functions, { exec: false, system: false, passthru: true }, s.name);
    assert.equal(r.get.disable_functions, s.name === 'tsfpm' ? 'exec,system' : 'system');
  }
});

test('php_admin_value[open_basedir]: scripts run (the shim is let through), nothing outside opens, ini_set() cannot widen it', async () => {
  for (const s of servers) {
    const r = await cgiFcgi(`127.0.0.1:${s.jail}`, { ...scriptParams(jailed, '/basedir.php'), DOCUMENT_ROOT: jailed });
    const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.deepEqual(body, { read_outside: false, widen: false, status_pool: 'jail' }, s.name);
  }
});

// php-fpm keeps what the params set in its one worker: the tests below change it for every later request there.
test('PHP_VALUE (two values, nginx): applied to that request, not to the next one on the same child; php-fpm leaks it', async () => {
  const get = 'get=precision,serialize_precision';
  for (const s of servers) {
    const a = await viaNginx<IniReply>(s, `/pv/ini.php?${get}`);
    assert.deepEqual(a.get, { precision: '7', serialize_precision: '5' }, s.name);
    const b = await viaNginx<IniReply>(s, `/ini.php?${get}`);
    assert.equal(b.pid, a.pid, `${s.name}: the pool has one child`);
    if (s.name === 'tsfpm') assert.deepEqual(b.get, { precision: '12', serialize_precision: '-1' });
    else assert.deepEqual(b.get, { precision: '7', serialize_precision: '5' }, 'php-fpm8.2 keeps the values in the worker');
  }
});

test('PHP_ADMIN_VALUE: per-request values; what php-cgi cannot take per request is logged once', async () => {
  const extra = { PHP_ADMIN_VALUE: 'precision=5\nmax_input_vars=1234\nmemory_limit=77M' };
  const query = 'get=precision,max_input_vars,memory_limit&set=precision:3';
  const [ts, fs] = [servers[0], servers[1]];
  const f = await viaCgiFcgi<IniReply>(fs.www, 'ini.php', query, extra);
  // php-fpm: everything applied, even over the pool's php_admin_value, and locked.
  assert.deepEqual(f.body.get, { precision: '5', max_input_vars: '1234', memory_limit: '77M' });
  assert.deepEqual(f.body.set.precision, [false, '5']);
  for (let i = 0; i < 3; i++) {
    const t = await viaCgiFcgi<IniReply>(ts.www, 'ini.php', query, extra);
    // tsfpm: precision for this request (the script may change it again: ini_set() cannot lock);
    // max_input_vars is PHP_INI_PERDIR, memory_limit is locked by the pool's php_admin_value.
    assert.deepEqual(t.body.get, { precision: '5', max_input_vars: '1000', memory_limit: '99M' });
    assert.deepEqual(t.body.set.precision, ['5', '3']);
  }
  const next = await viaCgiFcgi<IniReply>(ts.www, 'ini.php', 'get=precision');
  assert.equal(next.body.get.precision, '12');
  await waitFor(() => ts.output().includes("PHP_ADMIN_VALUE 'memory_limit' ignored"), 3000);
  const lines = ts.output().split('\n').filter((l) => l.includes('PHP_ADMIN_VALUE'));
  assert.deepEqual(lines.map((l) => l.replace(/^\[[^\]]+\] /, '')), [
    "WARNING: [pool www] PHP_ADMIN_VALUE 'max_input_vars' cannot take effect per request with php-cgi (PHP_INI_PERDIR: a script cannot set it once PHP started the request), ignored: use php_admin_value[max_input_vars] in the pool",
    "WARNING: [pool www] PHP_ADMIN_VALUE 'memory_limit' ignored: the pool's php_admin_value[memory_limit] is locked (php-fpm lets the web server override it)",
  ]);
});

test('PHP_VALUE with an unknown directive: php-fpm\'s "unable to set" message on FCGI_STDERR', async () => {
  for (const s of servers) {
    const r = await viaCgiFcgi<IniReply>(s.www, 'ini.php', 'get=precision', { PHP_VALUE: 'no_such.directive=1\nprecision=8' });
    assert.equal(r.body.get.precision, '8', s.name);
    assert.match(r.stderr, /Passing INI directive through FastCGI: unable to set 'no_such\.directive'/, s.name);
  }
});
