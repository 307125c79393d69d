// access.log as php-fpm writes it: the same requests through real nginx (and
// libfcgi's cgi-fcgi for what nginx will not send) to real php-fpm8.2 and to
// tsfpm with real php-cgi children, the same access.format on both; the
// lines must be equal but for times, pids and durations. Then
// access.suppress_path, USR1 after a logrotate-style rename, the 1024-byte
// line limit with php-fpm's NOTICE, and the format checks at start.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { TSFPM_BIN, startTsfpm } from '../helpers/daemon.js';
import { startForeground } from '../helpers/foreground.js';
import { httpRequest } from '../helpers/http.js';
import { NGINX_BIN, startNginx, type Nginx } from '../helpers/nginx.js';
import { PHP_FPM_BIN } from '../helpers/php-fpm.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const skip = (!existsSync(PHP_FPM_BIN) && `${PHP_FPM_BIN} is not installed`) || (!existsSync(NGINX_BIN) && `${NGINX_BIN} is not installed`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let docroot: string;

const SCRIPTS: Record<string, string> = {
  'index.php': '<?php echo "ok";',
  'code.php': '<?php http_response_code((int) ($_GET["c"] ?? 200)); echo "ok";',
  'nocontent.php': '<?php http_response_code(204);',
  'loc.php': '<?php header("Location: /elsewhere"); echo "ok";',
  'headers.php': '<?php setcookie("k", "v"); header("X-Custom: yes"); header("Content-Type: text/plain"); echo "ok";',
  // Past output_buffering (4096 in php-fpm's php.ini): PHP had sent its headers, its default Content-type among them.
  'big.php': '<?php echo str_repeat("x", 5000);',
  // The response code changes after the headers went out: php-fpm logs the new one.
  'late.php': '<?php echo "ok"; ob_flush(); http_response_code(500);',
  'mem.php': '<?php $x = str_repeat("y", 10_000_000); echo "ok";',
  'post.php': '<?php echo strlen(file_get_contents("php://input"));',
  'fatal.php': '<?php undefined_function();',
};

before(() => {
  docroot = makeTempDir('tsfpm-docroot-');
  for (const [name, body] of Object.entries(SCRIPTS)) writeFileSync(join(docroot, name), body);
});

interface Server {
  name: string;
  dir: string;
  listen: string;
  accessLog(): string;
  errorLog(): string;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<unknown>;
}

function answers(listen: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const m = /^127\.0\.0\.1:(\d+)$/.exec(listen);
    const c = m !== null ? connect(Number(m[1]), '127.0.0.1', () => { c.destroy(); resolve(true); }) : connect(listen, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

function conf(listen: string, pool: string): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = ${listen}
pm = static
pm.max_children = 1
access.log = {dir}/access.log
php_admin_flag[expose_php] = on
${pool}
`;
}

/** `listen` may name a path in the server's directory as `{dir}/...`. */
async function phpFpm(listen: string, pool: string): Promise<Server> {
  const dir = makeTempDir('tsfpm-phpfpm-');
  const real = listen.replaceAll('{dir}', dir);
  writeFileSync(join(dir, 'php-fpm.conf'), conf(listen, pool).replaceAll('{dir}', dir));
  const fg = await startForeground({
    name: 'php-fpm8.2', cmd: PHP_FPM_BIN,
    args: ['-F', '-y', join(dir, 'php-fpm.conf'), ...(isRoot ? ['--allow-to-run-as-root'] : [])],
    cwd: dir, env: process.env, ready: () => answers(real),
    logs: [join(dir, 'error.log')], stopSignals: [['SIGTERM', 5000]],
  });
  return {
    name: 'php-fpm8.2', dir, listen: real,
    accessLog: () => readFileSync(join(dir, 'access.log'), 'latin1'),
    errorLog: () => readFileSync(join(dir, 'error.log'), 'latin1'),
    signal: (sig) => fg.proc.kill(sig),
    stop: () => fg.stop(),
  };
}

async function tsfpm(listen: string, pool: string): Promise<Server> {
  const t = await startTsfpm({ conf: conf(listen, pool), logToFile: true, noWait: true });
  const real = listen.replaceAll('{dir}', t.dir);
  for (let i = 0; !(await answers(real)); i++) {
    if (i > 500) { await t.stop(); throw new Error(`tsfpm did not listen on ${real}:\n${t.output()}`); }
    await sleep(20);
  }
  return {
    name: 'tsfpm', dir: t.dir, listen: real,
    accessLog: () => readFileSync(join(t.dir, 'access.log'), 'latin1'),
    errorLog: () => readFileSync(join(t.dir, 'error.log'), 'latin1'),
    signal: (sig) => t.signal(sig),
    stop: () => t.stop(),
  };
}

/** Both servers with the same pool lines (listening on `listen[0]` and `listen[1]`), each behind its own nginx. */
async function pair(listen: [string, string], pool: string, extraServer = ''): Promise<{ servers: Server[]; nginxes: Nginx[]; stop(): Promise<void> }> {
  const servers = [await phpFpm(listen[0], pool), await tsfpm(listen[1], pool)];
  const nginxes: Nginx[] = [];
  const stop = async (): Promise<void> => { await Promise.allSettled([...nginxes.map((n) => n.stop()), ...servers.map((s) => s.stop())]); };
  try {
    for (const s of servers) nginxes.push(await startNginx({ upstream: s.listen.startsWith('/') ? `unix:${s.listen}` : s.listen, docroot, extraServer }));
  } catch (e) {
    await stop();
    throw e;
  }
  return { servers, nginxes, stop };
}

/** Two loopback addresses that were free a moment ago. */
async function tcp(): Promise<[string, string]> {
  return [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
}

/** The log's lines, with what differs between any two runs replaced by `mask`. */
function lines(log: string, mask: (l: string) => string = (l) => l): string[] {
  return log.split('\n').slice(0, -1).map(mask);
}

const TIME = /\d\d\/\w\w\w\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}/g;

interface Req { path: string; method?: string; body?: string; headers?: Record<string, string> }

const REQUESTS: Req[] = [
  { path: '/index.php' },
  { path: '/index.php?a=1&b=2' },
  { path: '/missing.php' },
  { path: '/code.php?c=418' },
  { path: '/loc.php' },
  { path: '/headers.php' },
  { path: '/big.php' },
  { path: '/late.php' },
  { path: '/mem.php' },
  { path: '/fatal.php' },
  { path: '/post.php', method: 'POST', body: 'x'.repeat(300), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  { path: '/index.php', method: 'HEAD' },
  { path: '/index.php', headers: { authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` } },
];

async function send(n: Nginx, reqs: Req[]): Promise<number[]> {
  const codes: number[] = [];
  for (const r of reqs) {
    const res = await httpRequest(n.url(r.path), { method: r.method ?? 'GET', body: r.body, headers: r.headers });
    codes.push(res.status);
  }
  return codes;
}

/** Waits until the access log has `n` lines (tsfpm writes at the end of the event loop turn; php-fpm's worker right away). */
async function waitLines(s: Server, n: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    let log = '';
    try { log = s.accessLog(); } catch { /* not there yet */ }
    if (log.split('\n').length - 1 >= n) return log;
    await sleep(20);
  }
  return s.accessLog();
}

test('the default format: the same lines as php-fpm8.2 behind nginx', { skip }, async () => {
  const p = await pair(await tcp(), '');
  try {
    for (let i = 0; i < 2; i++) assert.deepEqual(await send(p.nginxes[i], REQUESTS), [200, 200, 404, 418, 302, 200, 200, 200, 200, 500, 200, 200, 200]);
    const [fpm, ts] = await Promise.all(p.servers.map((s) => waitLines(s, REQUESTS.length)));
    const mask = (l: string): string => l.replace(TIME, 'TIME');
    assert.deepEqual(lines(ts, mask), lines(fpm, mask), `tsfpm:\n${ts}\nphp-fpm8.2:\n${fpm}`);
    assert.equal(lines(ts, mask)[0], '127.0.0.1 -  TIME "GET /index.php" 200');
    assert.equal(lines(ts, mask)[12], '127.0.0.1 - alice TIME "GET /index.php" 200');
    // Created by the master as php-fpm's: 0600.
    assert.equal(statSync(join(p.servers[1].dir, 'access.log')).mode & 0o777, 0o600);
  } finally {
    await p.stop();
  }
});

// Every token; what cannot be the same in two runs (times, pids, durations, CPU) masked.
const CUSTOM = '%R|%u|%t|%m|%r|%Q%q|%s|%f|%l|%n|%{HTTP_HOST}e|%{REQUEST_URI}e|%{SCRIPT_NAME}e|%{NOPE}e|' +
  '%{Content-type}o|%{X-Powered-By}o|%{Set-Cookie}o|%{Location}o|%{X-Custom}o|%{Status}o|%M|%{kilo}M|%{mega}M|' +
  '%C|%{user}C|%{system}C|%d|%{milli}d|%{micro}d|%T|%{%Y-%m-%d %H:%M:%S %z}t|%p|%P|%%';

test('custom tokens (every one of them): the same lines as php-fpm8.2 but for times, pids and durations', { skip }, async () => {
  const p = await pair(await tcp(), `access.format = "${CUSTOM}"`);
  try {
    for (let i = 0; i < 2; i++) await send(p.nginxes[i], REQUESTS);
    const [fpm, ts] = await Promise.all(p.servers.map((s) => waitLines(s, REQUESTS.length)));
    const mask = (l: string): string => {
      const f = l.split('|');
      // %t, HTTP_HOST (each nginx has its port), %C x3, %d x3, %T, the strftime %t, %p, %P
      for (const i of [2, 10, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]) f[i] = '*';
      return f.join('|');
    };
    assert.deepEqual(lines(ts, mask), lines(fpm, mask), `tsfpm:\n${ts}\nphp-fpm8.2:\n${fpm}`);
    const t = lines(ts).map((l) => l.split('|'));
    // Spot checks of what the mask hides: the pids are the child's and the master's, times are times.
    assert.match(t[0][2], /^\d\d\/\w\w\w\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.match(t[0][30], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.match(t[0][26], /^\d+\.\d{3}$/);
    assert.equal(Number(t[0][28]), Math.round(Number(t[0][27]) * 1000), 'micro = milli * 1000');
    assert.match(t[0][23], /^\d+\.\d\d$/);
    assert.notEqual(t[0][31], t[0][32]);
    assert.equal(t[0][33], '%');
    // %M is PHP's own peak: 2 MiB for a page, more for mem.php, as php-fpm's.
    assert.equal(t[0][20], '2097152');
    assert.ok(Number(t[8][20]) > 10_000_000, t[8][20]);
  } finally {
    await p.stop();
  }
});

test('over a unix socket %R is -', { skip }, async () => {
  const p = await pair(['{dir}/php.sock', '{dir}/php.sock'], 'access.format = "%R %m %r %s"');
  try {
    for (let i = 0; i < 2; i++) await send(p.nginxes[i], [{ path: '/index.php' }]);
    const [fpm, ts] = await Promise.all(p.servers.map((s) => waitLines(s, 1)));
    assert.equal(ts, '- GET /index.php 200\n');
    assert.equal(ts, fpm);
  } finally {
    await p.stop();
  }
});

// nginx hands /ping to FastCGI as a site would for its health check.
const PING_LOCATION = `
    location = /ping {
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass tsfpm;
    }`;

test('access.suppress_path: the same requests left out as by php-fpm8.2 (GET/HEAD, no query, no body, 2xx)', { skip }, async () => {
  const p = await pair(await tcp(), [
    'access.format = "%m %r%Q%q %s %l"',
    'access.suppress_path[] = /index.php',
    'access.suppress_path[] = /nocontent.php',
    'access.suppress_path[] = /loc.php',
    'access.suppress_path[] = /post.php',
    'access.suppress_path[] = /ping',
    'ping.path = /ping',
  ].join('\n'), PING_LOCATION);
  const reqs: Req[] = [
    { path: '/index.php' },
    { path: '/index.php', method: 'HEAD' },
    { path: '/index.php?a=1' },
    { path: '/nocontent.php' },
    { path: '/loc.php' },
    { path: '/post.php', method: 'POST', body: 'abc', headers: { 'content-type': 'text/plain' } },
    { path: '/post.php', method: 'POST', headers: { 'content-length': '0' } },
    { path: '/ping' },
    { path: '/ping?full' },
    { path: '/late.php' },
    { path: '/index.php', method: 'OPTIONS' },
  ];
  try {
    for (let i = 0; i < 2; i++) await send(p.nginxes[i], reqs);
    const [fpm, ts] = await Promise.all(p.servers.map((s) => waitLines(s, 7)));
    assert.deepEqual(lines(ts), lines(fpm), `tsfpm:\n${ts}\nphp-fpm8.2:\n${fpm}`);
    assert.deepEqual(lines(ts), [
      'GET /index.php?a=1 200 0',
      'GET /loc.php 302 0',
      'POST /post.php 200 3',
      'POST /post.php 200 0',
      'GET /ping?full 200 0',
      'GET /late.php 500 0',
      'OPTIONS /index.php 200 0',
    ]);
  } finally {
    await p.stop();
  }
});

test('USR1 after a logrotate-style rename: lines go to the new file, and the same NOTICEs as php-fpm8.2', { skip }, async () => {
  const p = await pair(await tcp(), 'access.format = "%m %r%Q%q %s"');
  try {
    for (let i = 0; i < 2; i++) {
      const s = p.servers[i];
      await send(p.nginxes[i], [{ path: '/index.php?before' }]);
      await waitLines(s, 1);
      renameSync(join(s.dir, 'access.log'), join(s.dir, 'access.log.1'));
      await send(p.nginxes[i], [{ path: '/index.php?rotated' }]);
      await sleep(100);
      s.signal('SIGUSR1');
      // php-fpm's workers are replaced after a USR1 (they hold the old fd); tsfpm's keep serving.
      for (let j = 0; j < 100 && !/access log file re-opened/.test(s.errorLog()); j++) await sleep(20);
      await sleep(200);
      assert.deepEqual(await send(p.nginxes[i], [{ path: '/index.php?after' }]), [200]);
      assert.equal(await waitLines(s, 1), 'GET /index.php?after 200\n', s.name);
      assert.equal(readFileSync(join(s.dir, 'access.log.1'), 'latin1'), 'GET /index.php?before 200\nGET /index.php?rotated 200\n', s.name);
      assert.equal(statSync(join(s.dir, 'access.log')).mode & 0o777, 0o600, s.name);
    }
    const notices = (s: Server): string[] => s.errorLog().split('\n').filter((l) => /re-opened/.test(l)).map((l) => l.replace(/^\[[^\]]+\] /, ''));
    assert.deepEqual(notices(p.servers[1]), ['NOTICE: error log file re-opened', 'NOTICE: access log file re-opened']);
    assert.deepEqual(notices(p.servers[1]), notices(p.servers[0]));
  } finally {
    await p.stop();
  }
});

test('a line over 1024 bytes: cut where php-fpm8.2 cuts it (NUL included) and its worker\'s NOTICE in error_log', { skip }, async () => {
  const p = await pair(await tcp(), 'catch_workers_output = yes\naccess.format = "%{HTTP_X}e%%%{HTTP_Y}e"');
  try {
    for (const s of p.servers) {
      for (const [x, y] of [[1023, 0], [1022, 0], [1024, 0], [1022, 3], [5000, 0]]) {
        const r = await cgiFcgi(s.listen, { SCRIPT_FILENAME: join(docroot, 'index.php'), REQUEST_METHOD: 'GET', HTTP_X: 'a'.repeat(x), HTTP_Y: 'b'.repeat(y) });
        assert.match(r.stdout, /ok$/);
      }
    }
    const [fpm, ts] = await Promise.all(p.servers.map((s) => waitLines(s, 5)));
    assert.equal(ts, fpm);
    assert.equal(ts.split('\n')[2], `${'a'.repeat(1023)}\0`);
    await sleep(300);
    const notices = (s: Server): string[] => s.errorLog().split('\n').filter((l) => /buffer is full/.test(l))
      .map((l) => l.replace(/^\[[^\]]+\] /, '').replace(/child \d+/, 'child N'));
    assert.equal(notices(p.servers[1]).length, 4);
    assert.deepEqual(notices(p.servers[1]), notices(p.servers[0]));
    assert.equal(notices(p.servers[1])[0], 'WARNING: [pool www] child N said into stderr: "NOTICE: the log buffer is full (1024). The access log request has been truncated."');
  } finally {
    await p.stop();
  }
});

test('a bad access.format stops the start with php-fpm8.2\'s messages (-t)', { skip }, () => {
  for (const format of ['%Z', '%{abc', '%e', '%{x}m', '%{foo}d']) {
    const dir = makeTempDir('tsfpm-format-');
    writeFileSync(join(dir, 'php-fpm.conf'), conf('127.0.0.1:1', `access.format = "${format}"`).replaceAll('{dir}', dir));
    const args = ['-t', '-y', join(dir, 'php-fpm.conf'), ...(isRoot ? ['-R'] : [])];
    const fpm = spawnSync(PHP_FPM_BIN, args, { encoding: 'latin1' });
    const ts = spawnSync(process.execPath, [TSFPM_BIN, ...args], { encoding: 'latin1' });
    const out = (r: typeof fpm): string => (r.stdout + r.stderr).replace(/^\[[^\]]+\] /gm, '');
    assert.equal(out(ts), out(fpm), format);
    assert.equal(ts.status, fpm.status, format);
    assert.match(out(ts), /wrong format for access\.format/);
  }
});
