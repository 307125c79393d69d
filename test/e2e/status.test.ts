// The status and ping pages (src/status): answered by the master, read
// through a real nginx and libfcgi's cgi-fcgi, every format parsed by a real
// parser, figures checked after known traffic, ?full during sleeping scripts,
// the listen queue while requests wait, pm.status_listen, and the shape of
// every format compared with Debian's php-fpm8.2 on the same pool.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { connect, fcgiRequest, parseCgiResponse, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { httpRequest } from '../helpers/http.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { phpWorkers, waitFor } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const docroot = makeTempDir('tsfpm-status-');
writeFileSync(join(docroot, 'hello.php'), '<?php echo "hello";');
writeFileSync(join(docroot, 'sleep.php'), '<?php usleep((int)$_GET["us"]); echo "slept";');

const CHILDREN = 3;
/** The same pool for tsfpm and php-fpm8.2. */
function conf(port: number): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${port}
pm = static
pm.max_children = ${CHILDREN}
pm.status_path = /status
pm.status_listen = {dir}/status.sock
ping.path = /ping
ping.response = pong
`;
}

// What nginx's stock fastcgi_params send, for the two exact locations.
const PARAMS = `
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param DOCUMENT_ROOT $document_root;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param SERVER_SOFTWARE nginx/$nginx_version;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param HTTP_AUTHORIZATION $http_authorization;
      fastcgi_pass tsfpm;`;
const STATUS_LOCATIONS = `
    location = /status {${PARAMS}
    }
    location = /ping {${PARAMS}
    }`;

let d: Tsfpm;
let nginx: Nginx;
let port: number;
let pool: Target;
let statusPath: string;
let statusSock: Target;

before(async () => {
  port = await freePort();
  d = await startTsfpm({ conf: conf(port) });
  pool = { host: '127.0.0.1', port };
  statusPath = join(d.dir, 'status.sock');
  statusSock = { path: statusPath };
  nginx = await startNginx({ upstream: `127.0.0.1:${port}`, docroot, extraServer: STATUS_LOCATIONS });
  // The shared php-cgi parent's workers have told their pids.
  await waitFor(async () => (await statusJson(statusSock)).processes?.length === CHILDREN, 5000);
});

after(async () => {
  await nginx?.stop();
  assert.equal(await d.stop(), 0, d.output());
});

interface StatusJson extends Record<string, unknown> { processes?: Array<Record<string, unknown>> }

const pageParams = (uri: string, query = '', method = 'GET'): Record<string, string> =>
  ({ ...scriptParams(docroot, uri), QUERY_STRING: query, REQUEST_METHOD: method, REQUEST_URI: query === '' ? uri : `${uri}?${query}` });

async function statusJson(t: Target, query = 'json&full'): Promise<StatusJson> {
  const r = await fcgiRequest(t, pageParams('/status', query));
  return JSON.parse(r.body.toString()) as StatusJson;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sleep = (t: Target, us: number): Promise<unknown> => fcgiRequest(t, scriptParams(docroot, '/sleep.php', { QUERY_STRING: `us=${us}` }), { timeoutMs: 15_000 });
const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'latin1'));

test('ping through nginx: pong with php-fpm\'s headers; HEAD: headers only', async () => {
  const r = await httpRequest(nginx.url('/ping'));
  assert.equal(r.status, 200);
  assert.equal(r.body, 'pong');
  assert.match(String(r.headers['content-type']), /^text\/plain;charset=UTF-8$/);
  assert.equal(r.headers.expires, 'Thu, 01 Jan 1970 00:00:00 GMT');
  assert.equal(r.headers['cache-control'], 'no-cache, no-store, must-revalidate, max-age=0');
  const h = await httpRequest(nginx.url('/ping'), { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.raw.length, 0);
});

test('status after known traffic: every format through nginx, each read by a real parser', async () => {
  const before = (await httpRequest(nginx.url('/status?json'))).body;
  const a0 = (JSON.parse(before) as Record<string, number>)['accepted conn'];
  for (let i = 0; i < 5; i++) assert.equal((await httpRequest(nginx.url('/hello.php'))).body, 'hello');
  await httpRequest(nginx.url('/ping'));

  // json: the status request itself is being served by one of the children, as in php-fpm.
  const jr = await httpRequest(nginx.url('/status?json'));
  assert.equal(jr.headers['content-type'], 'application/json');
  const j = JSON.parse(jr.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ['pool', 'process manager', 'start time', 'start since', 'accepted conn', 'listen queue',
    'max listen queue', 'listen queue len', 'idle processes', 'active processes', 'total processes', 'max active processes',
    'max children reached', 'slow requests']);
  assert.equal(j.pool, 'www');
  assert.equal(j['process manager'], 'static');
  assert.equal(j['accepted conn'], a0 + 7, '5 scripts, a ping and this page');
  assert.equal(j['listen queue'], 0);
  assert.equal(j['listen queue len'], Math.min(65535, somaxconn), 'listen.backlog -1: the kernel\'s maximum');
  assert.deepEqual([j['idle processes'], j['active processes'], j['total processes']], [CHILDREN - 1, 1, CHILDREN]);
  assert.equal(j['slow requests'], 0);
  assert.ok(Math.abs((j['start time'] as number) + (j['start since'] as number) - Date.now() / 1000) < 3);

  const xr = await httpRequest(nginx.url('/status?xml&full'));
  assert.equal(xr.headers['content-type'], 'text/xml;charset=UTF-8');
  assert.equal(XMLValidator.validate(xr.body), true);
  const x = (new XMLParser().parse(xr.body) as { status: Record<string, unknown> & { processes: { process: Array<Record<string, unknown>> } } }).status;
  assert.equal(x['accepted-conn'], a0 + 8);
  assert.equal(x['total-processes'], CHILDREN);
  assert.equal(x.processes.process.length, CHILDREN);
  assert.deepEqual(x.processes.process.map((p) => p.state).sort(), ['Idle', 'Idle', 'Running']);
  assert.equal(x.processes.process.find((p) => p.state === 'Running')?.['request-uri'], '/status?xml&full');

  const hr = await httpRequest(nginx.url('/status?html&full'));
  assert.equal(hr.headers['content-type'], 'text/html;charset=UTF-8');
  assert.equal(XMLValidator.validate(hr.body), true, 'well-formed XHTML');
  const html = new XMLParser().parse(hr.body) as { html: { head: { title: string }; body: { table: Array<{ tr: unknown[] }> } } };
  assert.equal(html.html.head.title, 'PHP-FPM Status Page');
  assert.equal(html.html.body.table[0].tr.length, 14);
  assert.equal(html.html.body.table[1].tr.length, 1 + CHILDREN);

  const or = await httpRequest(nginx.url('/status?openmetrics'));
  assert.equal(or.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.ok(or.body.endsWith('\n# EOF\n'));
  const samples = new Map<string, number>();
  for (const line of or.body.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ') || line === '# EOF') continue;
    const m = /^(phpfpm_[a-z_]+) (\d+)$/.exec(line);
    assert.ok(m !== null, `not an OpenMetrics sample: ${line}`);
    samples.set(m[1], Number(m[2]));
  }
  assert.equal(samples.get('phpfpm_up'), 1);
  assert.equal(samples.get('phpfpm_accepted_connections'), a0 + 10);
  assert.equal(samples.get('phpfpm_total_processes'), CHILDREN);

  const tr = await httpRequest(nginx.url('/status'));
  assert.equal(tr.headers['content-type'], 'text/plain;charset=UTF-8');
  const text = new Map(tr.body.trimEnd().split('\n').map((l) => [l.slice(0, 22).replace(/:\s*$/, ''), l.slice(22)]));
  assert.equal(text.get('pool'), 'www');
  assert.equal(text.get('accepted conn'), String(a0 + 11));
  assert.match(text.get('start time') ?? '', /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$/);

  // HEAD: headers only; an unknown query: the text page.
  const head = await httpRequest(nginx.url('/status?json'), { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.raw.length, 0);
  assert.equal(head.headers['content-type'], 'text/html; charset=UTF-8', 'PHP\'s default type: php-fpm sets none for HEAD');
  assert.match((await httpRequest(nginx.url('/status?nothing'))).body, /^pool: {17}www\n/);
});

test('?full lists each child with its pid and the request a sleeping script is running', async () => {
  const sleeping = [sleep(pool, 1_500_000), sleep(pool, 1_500_000)];
  await tick(300);
  const s = await statusJson(pool);
  const pids = phpWorkers(d.proc.pid!);
  assert.deepEqual(s.processes!.map((p) => p.pid).sort(), [...pids].sort(), 'one entry per php-cgi worker');
  const running = s.processes!.filter((p) => p['request uri'] === '/sleep.php?us=1500000');
  assert.equal(running.length, 2);
  for (const p of running) {
    assert.equal(p.state, 'Running');
    assert.equal(p['request method'], 'GET');
    assert.equal(p.script, join(docroot, 'sleep.php'));
    assert.ok((p['request duration'] as number) >= 200_000, `duration ${String(p['request duration'])} µs`);
  }
  assert.deepEqual([s['active processes'], s['idle processes']], [CHILDREN, 0], 'two scripts and this page');
  await Promise.all(sleeping);
  const after = await statusJson(statusSock);
  const done = after.processes!.filter((p) => p['request uri'] === '/sleep.php?us=1500000');
  assert.equal(done.length, 2, 'an idle child keeps showing its last request');
  for (const p of done) {
    assert.equal(p.state, 'Idle');
    assert.ok((p['request duration'] as number) >= 1_500_000 && (p['request duration'] as number) < 3_000_000);
  }
});

test('listen queue counts the requests waiting for a child; pm.status_listen answers meanwhile', { timeout: 20_000 }, async () => {
  const busy = Array.from({ length: CHILDREN }, () => sleep(pool, 1_000_000));
  await tick(200);
  const waiting = [sleep(pool, 1000), sleep(pool, 1000)];
  await tick(200);
  const t0 = Date.now();
  const s = await statusJson(statusSock, 'json');
  assert.ok(Date.now() - t0 < 500, 'the status socket needs no child');
  assert.equal(s['listen queue'], 2);
  assert.ok((s['max listen queue'] as number) >= 2);
  assert.deepEqual([s['active processes'], s['idle processes']], [CHILDREN, 0]);
  await Promise.all([...busy, ...waiting]);
  const later = await statusJson(statusSock, 'json');
  assert.equal(later['listen queue'], 0);
  assert.ok((later['max listen queue'] as number) >= 2);
  assert.equal(later['max active processes'], CHILDREN);
});

test('pm.status_listen: status and ping of the main pool, php-fpm\'s 404 for anything else, no child', async () => {
  const ping = await cgiFcgi(statusPath, pageParams('/ping'));
  assert.equal(parseCgiResponse(Buffer.from(ping.stdout, 'latin1')).body.toString(), 'pong');
  const s = await statusJson(statusSock, 'json');
  assert.equal(s.pool, 'www', 'the main pool\'s figures');
  assert.equal(s['active processes'], 0, 'nothing borrowed: the request is not the pool\'s');
  const other = await fcgiRequest(statusSock, scriptParams(docroot, '/hello.php'));
  assert.equal(other.status, 404);
  assert.equal(other.body.toString(), 'File not found.\n');
  assert.equal(other.stderr, 'Primary script unknown');
  assert.doesNotMatch(d.output(), /www_status\] child/, 'no child started for the status pool');
});

test('cgi-fcgi: status body of a POST is read and dropped; the kept connection serves the next request', async () => {
  const sock = await connect(pool);
  const body = Buffer.alloc(300_000, 0x61);
  const r = await fcgiRequest(pool, { ...pageParams('/status', 'json', 'POST'), CONTENT_LENGTH: String(body.length) }, { socket: sock, keepConn: true, stdin: body });
  assert.equal((JSON.parse(r.body.toString()) as Record<string, unknown>).pool, 'www');
  const next = await fcgiRequest(pool, scriptParams(docroot, '/hello.php'), { socket: sock, keepConn: true });
  assert.equal(next.body.toString(), 'hello');
  sock.destroy();
  const viaCli = await cgiFcgi(`127.0.0.1:${port}`, pageParams('/status', 'openmetrics'));
  assert.match(viaCli.stdout, /\n# EOF\n$/);
});

test('a Prometheus exporter\'s request (hipages/php-fpm_exporter\'s params) gets every field with the type its decoder expects', async () => {
  // What the exporter sends (phpfpm/phpfpm.go, through fcgi_client's Get).
  const r = await fcgiRequest(pool, { SCRIPT_FILENAME: '/status', SCRIPT_NAME: '/status', SERVER_SOFTWARE: 'go / php-fpm_exporter', REMOTE_ADDR: '127.0.0.1', QUERY_STRING: 'json&full', REQUEST_METHOD: 'GET', CONTENT_LENGTH: '0' });
  const j = JSON.parse(r.body.toString()) as StatusJson;
  const ints = ['start time', 'start since', 'accepted conn', 'listen queue', 'max listen queue', 'listen queue len', 'idle processes',
    'active processes', 'total processes', 'max active processes', 'max children reached', 'slow requests'];
  for (const k of ints) assert.ok(Number.isInteger(j[k]), k);
  assert.equal(typeof j.pool, 'string');
  assert.equal(typeof j['process manager'], 'string');
  assert.equal(j.processes!.length, CHILDREN);
  for (const p of j.processes!) {
    for (const k of ['pid', 'start time', 'start since', 'requests', 'request duration', 'content length', 'last request memory']) assert.ok(Number.isInteger(p[k]), k);
    for (const k of ['state', 'request method', 'request uri', 'user', 'script']) assert.equal(typeof p[k], 'string', k);
    assert.equal(typeof p['last request cpu'], 'number');
    assert.ok(['Idle', 'Running', 'Reading headers'].includes(p.state as string));
  }
});

/** Every number as N; for the processes of ?full, only their shape. */
const shape = (s: string): string => s.replace(/\d+/g, 'N');

test('the same shape as php-fpm8.2\'s on the same pool, every format', { timeout: 30_000 }, async () => {
  const refPort = await freePort();
  const ref: PhpFpm = await startPhpFpm({ conf: conf(refPort) });
  try {
    const mine: Target = pool;
    const theirs: Target = { host: '127.0.0.1', port: refPort };
    const get = async (t: Target, uri: string, q: string, method = 'GET'): Promise<string> => (await fcgiRequest(t, pageParams(uri, q, method))).stdout.toString('latin1');
    for (const t of [mine, theirs]) await fcgiRequest(t, scriptParams(docroot, '/hello.php'));
    for (const q of ['', 'json', 'xml', 'html', 'openmetrics', 'openmetrics&full', 'j', 'fu&x']) {
      const a = await get(mine, '/status', q);
      const b = await get(theirs, '/status', q);
      if (/full|fu/.test(q)) {
        // Idle children show different last requests; compare the page without the process entries.
        const strip = (s: string): string => shape(s).replace(/<process>.*<\/process>\n/g, '').replace(/\n\n\*{24}\n[^]*?(?=\n\n\*|$)/g, '');
        assert.equal(strip(a), strip(b), `?${q}`);
      } else {
        assert.equal(shape(a), shape(b), `?${q}`);
      }
    }
    for (const q of ['json&full', 'xml&full', 'html&full', 'full']) {
      const a = await get(mine, '/status', q);
      const b = await get(theirs, '/status', q);
      const keys = (s: string): string[] => [...new Set(shape(s).match(/"[a-z ]+":|<[a-z-]+>|<th>[a-z ]+<\/th>|^[a-zA-Z ]+:/gm))];
      assert.deepEqual(keys(a), keys(b), `?${q}`);
      if (q === 'json&full') {
        const [ja, jb] = [JSON.parse(a.slice(a.indexOf('\r\n\r\n') + 4)) as StatusJson, JSON.parse(b.slice(b.indexOf('\r\n\r\n') + 4)) as StatusJson];
        assert.deepEqual(Object.keys(ja.processes![0]), Object.keys(jb.processes![0]));
        assert.deepEqual(ja.processes!.map((p) => typeof p['last request cpu']), jb.processes!.map((p) => typeof p['last request cpu']));
      }
    }
    for (const [uri, q, m] of [['/ping', '', 'GET'], ['/ping', '', 'HEAD'], ['/status', 'json', 'HEAD'], ['/status', '', 'HEAD']]) {
      assert.equal(await get(mine, uri, q, m), await get(theirs, uri, q, m), `${m} ${uri}?${q}`);
    }
  } finally {
    await ref.stop();
  }
});
