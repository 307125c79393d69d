// fastcgi_finish_request() and fastcgi.error_header on php-cgi children
// (docs/php-side.md), through real nginx, libfcgi's cgi-fcgi and a raw
// FastCGI client, next to Debian's php-fpm8.2 on the same pools where the
// two are compared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { httpRequest } from '../helpers/http.js';
import { connect, fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/procs.js';

const docroot = makeTempDir('tsfpm-finish-');
const out = (name: string): string => join(docroot, name);

// fin.php?id=&us=: a header, "early", the finish, output and a message after it, a sleep, then a file.
writeFileSync(out('fin.php'), `<?php
$id = $_GET['id'] ?? 'x';
header('X-Finish: ' . $id);
echo 'early';
$r = fastcgi_finish_request();
echo 'LATE-OUTPUT';
error_log("after-finish $id");
$self = array_values(array_filter((fpm_get_status() ?: ['procs' => []])['procs'], fn ($p) => $p['pid'] === getmypid()));
usleep((int) ($_GET['us'] ?? 1500000));
file_put_contents(${JSON.stringify(docroot)} . "/$id.done", json_encode(['r' => $r, 't' => microtime(true), 'state' => $self[0]['state'] ?? null, 'prepend' => defined('POOL_PREPEND')]));
`);
// abort.php?id=&bytes=&iua=: output after the finish, then how far the script got.
writeFileSync(out('abort.php'), `<?php
$f = ${JSON.stringify(docroot)} . '/' . $_GET['id'] . '.abort';
if (!empty($_GET['iua'])) ignore_user_abort(true);
register_shutdown_function(function () use ($f) { file_put_contents($f, "shutdown\\n", FILE_APPEND); });
echo 'x';
fastcgi_finish_request();
echo str_repeat('a', (int) $_GET['bytes']);
file_put_contents($f, "reached\\n", FILE_APPEND);
`);
writeFileSync(out('noout.php'), `<?php header('X-Only: 1'); http_response_code(202); fastcgi_finish_request(); echo 'LATE';`);
writeFileSync(out('hello.php'), '<?php echo "hello";');
writeFileSync(out('fatal.php'), '<?php if (isset($_GET["q"])) { echo "ok"; } else { d(); }');
writeFileSync(out('exists.php'), `<?php echo json_encode([function_exists('fastcgi_finish_request'), defined('POOL_PREPEND')]);`);
// PUT body read only after the finish (PHP reads a PUT body lazily; it reaches the child after the web server has its reply).
writeFileSync(out('upload.php'), `<?php fastcgi_finish_request(); file_put_contents(${JSON.stringify(docroot)} . '/upload.len', strlen(file_get_contents('php://input')));`);
writeFileSync(out('die.php'), `<?php echo 'bye'; fastcgi_finish_request(); usleep(100000); posix_kill(getmypid(), 9);`);
writeFileSync(out('prepend.php'), `<?php define('POOL_PREPEND', 1); header('X-Prepend: 1');`);

function conf(www: number, dyn: number, quiet: number, statusPort: number): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${www}
pm = static
pm.max_children = 1
catch_workers_output = yes
pm.status_path = /status
pm.status_listen = 127.0.0.1:${statusPort}
access.log = {dir}/access.log
access.format = "%r%Q%q %s %{mili}d"
[dyn]
listen = 127.0.0.1:${dyn}
pm = dynamic
pm.max_children = 1
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
php_value[auto_prepend_file] = ${out('prepend.php')}
[quiet]
listen = 127.0.0.1:${quiet}
pm = dynamic
pm.max_children = 1
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
catch_workers_output = yes
php_admin_value[fastcgi.logging] = 0
php_value[fastcgi.error_header] = "HTTP/1.1 503 PHP Oops"
`;
}

interface Server { name: string; www: number; dyn: number; quiet: number; status: number; dir: string; output(): string }
let tsfpm: Tsfpm;
let phpFpm: PhpFpm;
let t: Server;
let f: Server;
let nginx: Nginx;
let nginxKa: Nginx;

before(async () => {
  const p: number[] = [];
  for (let i = 0; i < 8; i++) p.push(await freePort());
  tsfpm = await startTsfpm({ conf: conf(p[0], p[1], p[2], p[3]) });
  phpFpm = await startPhpFpm({ conf: conf(p[4], p[5], p[6], p[7]) });
  t = { name: 'tsfpm', www: p[0], dyn: p[1], quiet: p[2], status: p[3], dir: tsfpm.dir, output: tsfpm.output };
  f = { name: 'php-fpm', www: p[4], dyn: p[5], quiet: p[6], status: p[7], dir: phpFpm.dir, output: phpFpm.output };
  nginx = await startNginx({ upstream: `127.0.0.1:${t.www}`, docroot });
  nginxKa = await startNginx({ upstream: `127.0.0.1:${t.www}`, docroot, keepalive: 4 });
});

after(async () => {
  await nginx?.stop();
  await nginxKa?.stop();
  await phpFpm?.stop();
  assert.equal(await tsfpm?.stop(), 0);
});

interface Done { r: boolean; t: number; state: string | null; prepend: boolean }
const done = (id: string): Promise<Done> => waitFor(() => existsSync(out(`${id}.done`)) && (JSON.parse(readFileSync(out(`${id}.done`), 'utf8')) as Done), 5000);

test('nginx gets the header and "early" at the call; the script runs on; the only child takes the next request when it really ends', async () => {
  const t0 = Date.now();
  const r = await httpRequest(nginx.url('/fin.php?id=n1'));
  const got = Date.now() - t0;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'early');
  assert.equal(r.headers['x-finish'], 'n1');
  assert.ok(got < 1000, `reply after ${got} ms`);
  assert.equal(existsSync(out('n1.done')), false, 'the script is still sleeping');
  // The status page (pm.status_listen: no child needed) shows the child running that request, as php-fpm's scoreboard.
  const st = await fcgiRequest({ host: '127.0.0.1', port: t.status }, scriptParams(docroot, '/status?json&full'));
  const proc = (JSON.parse(st.body.toString()) as { processes: Array<{ state: string; 'request uri': string }> }).processes[0];
  assert.equal(proc.state, 'Finishing', 'php-fpm\'s state once it closed the web server\'s connection');
  assert.match(proc['request uri'], /^\/fin\.php/);
  // pm.max_children = 1: the next request waits for the sleep.
  const h = await httpRequest(nginx.url('/hello.php'));
  const after = Date.now() - t0;
  assert.equal(h.body, 'hello');
  const d = await done('n1');
  assert.ok(after >= 1400, `next request served after ${after} ms`);
  assert.ok(d.t * 1000 <= Date.now());
  assert.equal(d.r, true);
  assert.equal(d.state, 'Finishing', 'fpm_get_status() after the finish');
  // The output after the call reached no one; the message after it is in the pool's log (catch_workers_output), as php-fpm's.
  assert.doesNotMatch(nginx.errorLog(), /after-finish|LATE-OUTPUT/);
  await tsfpm.waitForOutput(/NOTICE: PHP message: after-finish n1/, 3000);
});

test('the access log line is written when the script really ends, with its whole duration, as php-fpm writes it', async () => {
  for (const s of [t, f]) {
    const r = await cgiFcgi(`127.0.0.1:${s.www}`, scriptParams(docroot, `/fin.php?id=al-${s.name}&us=600000`));
    assert.match(r.stdout, /\r\n\r\nearly$/, s.name);
    assert.equal(r.stderr, '', `${s.name}: no message after the finish reaches the web server`);
    const log = (): string => (existsSync(join(s.dir, 'access.log')) ? readFileSync(join(s.dir, 'access.log'), 'latin1') : '');
    assert.doesNotMatch(log(), new RegExp(`al-${s.name}`), `${s.name}: no line before the script ends`);
    assert.equal((await done(`al-${s.name}`)).state, 'Finishing', s.name);
    const line = await waitFor(() => log().split('\n').find((l) => l.includes(`al-${s.name}`)), 3000);
    const m = /^\/fin\.php\?id=al-\S+ 200 (\d+)\.\d+$/.exec(line);
    assert.ok(m !== null, `${s.name}: ${line}`);
    assert.ok(Number(m[1]) >= 600, `${s.name}: duration ${m[1]} ms`);
  }
});

test('output after the call: the script runs on or is ended as php-fpm\'s (out buffer full, ignore_user_abort)', async () => {
  const cases: Array<[number, boolean]> = [[0, false], [100, false], [9000, false], [9000, true]];
  const seen: Record<string, string[]> = {};
  for (const s of [t, f]) {
    for (const [bytes, iua] of cases) {
      const id = `ab-${s.name}-${bytes}-${iua ? 1 : 0}`;
      const r = await cgiFcgi(`127.0.0.1:${s.www}`, scriptParams(docroot, `/abort.php?id=${id}&bytes=${bytes}&iua=${iua ? 1 : ''}`));
      assert.match(r.stdout, /\r\n\r\nx$/, id);
      const text = await waitFor(() => existsSync(out(`${id}.abort`)) && readFileSync(out(`${id}.abort`), 'utf8').includes('shutdown') && readFileSync(out(`${id}.abort`), 'utf8'), 3000);
      (seen[s.name] ??= []).push(`${bytes}/${iua}: ${text.trim().replace(/\n/g, ',')}`);
    }
  }
  assert.deepEqual(seen.tsfpm, seen['php-fpm']);
  assert.deepEqual(seen.tsfpm, ['0/false: reached,shutdown', '100/false: reached,shutdown', '9000/false: shutdown', '9000/true: reached,shutdown']);
});

test('FCGI_KEEP_CONN: the connection carries the next request (served when the child is free); without it the connection closes at the call', async () => {
  const target = { host: '127.0.0.1', port: t.www };
  const sock = await connect(target);
  const t0 = Date.now();
  const a = await fcgiRequest(target, scriptParams(docroot, '/fin.php?id=kc1&us=700000'), { socket: sock, keepConn: true });
  assert.equal(a.body.toString(), 'early');
  assert.ok(Date.now() - t0 < 600);
  const b = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { socket: sock, keepConn: true });
  assert.equal(b.body.toString(), 'hello');
  assert.ok(Date.now() - t0 >= 650, 'the only child was busy until the script ended');
  assert.equal((await done('kc1')).state, 'Running', 'the web server kept the connection: Running, as php-fpm');
  sock.destroy();
  const fpmSock = await connect({ host: '127.0.0.1', port: f.www });
  await fcgiRequest({ host: '127.0.0.1', port: f.www }, scriptParams(docroot, '/fin.php?id=kc-fpm&us=100000'), { socket: fpmSock, keepConn: true });
  assert.equal((await done('kc-fpm')).state, 'Running', 'php-fpm8.2');
  fpmSock.destroy();

  const plain = await connect(target);
  const closed = new Promise<number>((resolve) => plain.once('close', () => resolve(Date.now())));
  const t1 = Date.now();
  const c = await fcgiRequest(target, scriptParams(docroot, '/fin.php?id=kc2&us=700000'), { socket: plain });
  assert.equal(c.body.toString(), 'early');
  assert.ok((await closed) - t1 < 500, 'closed at the finish, not at the script\'s end');
  assert.equal((await done('kc2')).state, 'Finishing');
});

test('nginx keep-alive upstream (fastcgi_keep_conn on) across finished requests', async () => {
  const t0 = Date.now();
  const a = await httpRequest(nginxKa.url('/fin.php?id=ka1&us=500000'));
  assert.equal(a.body, 'early');
  const [b, c] = await Promise.all([httpRequest(nginxKa.url('/hello.php')), httpRequest(nginxKa.url('/fin.php?id=ka2&us=100000'))]);
  assert.equal(b.body, 'hello');
  assert.equal(c.body, 'early');
  assert.ok(Date.now() - t0 >= 450);
  await done('ka1');
  await done('ka2');
  for (let i = 0; i < 5; i++) assert.equal((await httpRequest(nginxKa.url('/hello.php'))).body, 'hello');
  assert.doesNotMatch(nginxKa.errorLog(), /\[(error|crit|alert)\]|upstream sent|prematurely/);
});

test('no output before the call: headers and status alone, for GET and HEAD; later output dropped', async () => {
  for (const method of ['GET', 'HEAD']) {
    const r = await httpRequest(nginx.url('/noout.php'), { method });
    assert.equal(r.status, 202, method);
    assert.equal(r.headers['x-only'], '1', method);
    assert.equal(r.body, '', method);
    const raw = await cgiFcgi(`127.0.0.1:${t.www}`, { ...scriptParams(docroot, '/noout.php'), REQUEST_METHOD: method });
    assert.match(raw.stdout, /^Status: 202 Accepted\r\n/, method);
    assert.ok(raw.stdout.endsWith('\r\n\r\n'), `${method}: ${JSON.stringify(raw.stdout)}`);
  }
});

test('a pool with its own auto_prepend_file (dynamic pool, standalone children): both work', async () => {
  const e = await cgiFcgi(`127.0.0.1:${t.dyn}`, scriptParams(docroot, '/exists.php'));
  assert.match(e.stdout, /\r\n\r\n\[true,true\]$/);
  const t0 = Date.now();
  const r = await cgiFcgi(`127.0.0.1:${t.dyn}`, scriptParams(docroot, '/fin.php?id=dyn1&us=800000'));
  assert.ok(Date.now() - t0 < 700);
  assert.match(r.stdout, /^X-Prepend: 1\r\n/m);
  assert.match(r.stdout, /\r\n\r\nearly$/);
  assert.equal((await done('dyn1')).prepend, true);
});

test('a body the script reads after the call still reaches it; the kept-alive connection then serves the next request', async () => {
  const target = { host: '127.0.0.1', port: t.www };
  const sock = await connect(target);
  const body = Buffer.alloc(600 * 1024, 0x62);
  const params = { ...scriptParams(docroot, '/upload.php'), REQUEST_METHOD: 'PUT', CONTENT_TYPE: 'application/octet-stream', CONTENT_LENGTH: String(body.length) };
  const a = await fcgiRequest(target, params, { socket: sock, keepConn: true, stdin: body });
  assert.equal(a.status, 200);
  const b = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { socket: sock, keepConn: true });
  assert.equal(b.body.toString(), 'hello');
  assert.equal(await waitFor(() => existsSync(out('upload.len')) && readFileSync(out('upload.len'), 'utf8')), String(body.length));
  sock.destroy();
});

test('fastcgi.logging off: no PHP message reaches the web server (logged as php-fpm\'s worker logs them), the finish still works', async () => {
  for (const s of [t, f]) {
    const t0 = Date.now();
    const r = await cgiFcgi(`127.0.0.1:${s.quiet}`, scriptParams(docroot, `/fin.php?id=q-${s.name}&us=800000`));
    assert.ok(Date.now() - t0 < 600, `${s.name}: reply at the call`);
    assert.match(r.stdout, /\r\n\r\nearly$/, s.name);
    assert.equal(r.stderr, '', s.name);
    await done(`q-${s.name}`);
  }
  const w = await cgiFcgi(`127.0.0.1:${t.quiet}`, scriptParams(docroot, '/fatal.php?q=1'));
  assert.equal(w.stderr, '');
  await tsfpm.waitForOutput(/\[pool quiet\] child \d+ said into stderr: "NOTICE: PHP message: after-finish q-tsfpm"/, 3000);
});

test('fastcgi.error_header: the status of a fatal error before any output, not of the next request (php-src gh9981)', async () => {
  for (const s of [t, f]) {
    const bad = await cgiFcgi(`127.0.0.1:${s.quiet}`, scriptParams(docroot, '/fatal.php'));
    assert.match(bad.stdout, /^Status: 503 PHP Oops\r\n/, `${s.name}: ${bad.stdout}`);
    const good = await cgiFcgi(`127.0.0.1:${s.quiet}`, scriptParams(docroot, '/fatal.php?q=1'));
    assert.doesNotMatch(good.stdout, /^Status:/m, s.name);
    assert.match(good.stdout, /\r\n\r\nok$/, s.name);
  }
  assert.doesNotMatch(tsfpm.output(), /Cannot modify header information/);
});

test('a slow client and a child dying after the call cost nothing else', async () => {
  // The client leaves right after sending: the reply, early end included, goes nowhere; the child finishes its script.
  const s = net.connect(t.www, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const { encodeBeginRequest, encodeStream, encodeParams } = await import('../../src/fastcgi/index.js');
  s.end(Buffer.concat([
    encodeBeginRequest(1, 1, 0),
    encodeStream(4, 1, encodeParams(Object.entries(scriptParams(docroot, '/fin.php?id=gone&us=300000')))),
    encodeStream(4, 1, Buffer.alloc(0)), encodeStream(5, 1, Buffer.alloc(0)),
  ]));
  s.destroy();
  await done('gone');
  assert.equal((await httpRequest(nginx.url('/hello.php'))).body, 'hello');
  // A child killed after the call: the web server's connection has its reply and carries on.
  const target = { host: '127.0.0.1', port: t.www };
  const sock = await connect(target);
  const a = await fcgiRequest(target, scriptParams(docroot, '/die.php'), { socket: sock, keepConn: true });
  assert.equal(a.body.toString(), 'bye');
  const b = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { socket: sock, keepConn: true });
  assert.equal(b.body.toString(), 'hello');
  sock.destroy();
});
