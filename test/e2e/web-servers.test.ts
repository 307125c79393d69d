// PHP sees the same request through every common web server as through real php-fpm.
// Front ends: nginx (fastcgi_split_path_info + PATH_INFO), Apache httpd 2.4 with
// mod_proxy_fcgi in both usual forms (SetHandler "proxy:fcgi://..." as Debian's
// php8.2-fpm conf does, and ProxyPassMatch), and Caddy's php_fastcgi. Each front end
// runs twice, once in front of Debian's php-fpm8.2 (the reference) and once in front
// of tsfpm, both on the same pool settings and the same php.ini; the same requests go
// through both, and the status, selected headers and what PHP reports (selected
// $_SERVER keys, getenv, $_GET, $_POST, the body; and in one request the whole
// $_SERVER but the clocks and the client port) must be equal.
//
// TSFPM_DUMP_PARAMS=1 adds a diagnostic test that prints the raw FastCGI params each
// front end sends (through a capture responder that runs no PHP).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { APACHE_BIN, startApache, type ApacheForm } from '../helpers/apache.js';
import { CADDY_BIN, startCaddy } from '../helpers/caddy.js';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startFcgiCapture } from '../helpers/fcgi-capture.js';
import { httpRequest, type HttpResponse } from '../helpers/http.js';
import { NGINX_BIN, startNginx } from '../helpers/nginx.js';
import { PHP_FPM_BIN, startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

/** The same pool for both: tsfpm is a drop-in, so php-fpm8.2 reads the very same lines. */
function conf(port: number): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${port}
pm = static
pm.max_children = 4
clear_env = yes
security.limit_extensions = .php
php_admin_value[memory_limit] = 77M
php_admin_flag[display_errors] = off
`;
}

const SERVER_KEYS = [
  'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'PATH_TRANSLATED', 'PHP_SELF',
  'ORIG_PATH_INFO', 'ORIG_SCRIPT_NAME', 'ORIG_SCRIPT_FILENAME', 'ORIG_PATH_TRANSLATED',
  'DOCUMENT_ROOT', 'REQUEST_URI', 'QUERY_STRING', 'REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH',
];

// Unset keys are left out (not null), so a missing or extra key shows as such in a diff.
const ENV_PHP = `<?php
$server = [];
foreach (${JSON.stringify(SERVER_KEYS).replaceAll('"', "'")} as $k) {
    if (array_key_exists($k, $_SERVER)) $server[$k] = $_SERVER[$k];
}
$input = file_get_contents('php://input');
header('Content-Type: application/json');
echo json_encode([
    'file' => __FILE__,
    'server' => $server,
    'getenv' => ['SCRIPT_NAME' => getenv('SCRIPT_NAME'), 'PATH_INFO' => getenv('PATH_INFO')],
    'get' => $_GET,
    'post' => $_POST,
    'input' => ['length' => strlen($input), 'md5' => md5($input)],
], JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\\n";
`;

// Everything PHP puts in $_SERVER (environment included) but the per-request clocks and client port.
const DUMP_PHP = `<?php
$s = $_SERVER;
foreach (['REQUEST_TIME', 'REQUEST_TIME_FLOAT', 'REMOTE_PORT'] as $k) unset($s[$k]);
ksort($s);
header('Content-Type: application/json');
echo json_encode($s, JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\\n";
`;

const STATUS_PHP = `<?php
http_response_code(418);
header('X-Tsfpm-Test: teapot');
header('Content-Type: text/plain; charset=utf-8');
echo "I'm a teapot\\n";
`;

// The source never contains the word its execution would print.
const EVIL_TXT = '<?php echo "EXEC" . "UTED"; ?>\n';

const COMPARED_HEADERS = ['content-type', 'x-tsfpm-test'];

const BINARY = randomBytes(200 * 1024);
const FORM = 'a=1&b%5B%5D=x&b%5B%5D=y&s=h%C3%A9llo+w%26rld';

interface Req {
  name: string;
  path: string;
  method?: string;
  body?: Buffer | string;
  contentType?: string;
}

const REQUESTS: Req[] = [
  { name: 'GET /env.php', path: '/env.php' },
  { name: 'GET with a query string', path: '/env.php?a=1&b=two' },
  { name: 'PATH_INFO in a subdirectory', path: '/sub/env.php/extra/path?x=y' },
  { name: 'POST urlencoded', path: '/env.php?q=1', method: 'POST', body: FORM, contentType: 'application/x-www-form-urlencoded' },
  { name: 'POST 200 KiB binary', path: '/sub/env.php', method: 'POST', body: BINARY, contentType: 'application/octet-stream' },
  { name: 'status 418 and a custom header', path: '/status.php' },
  { name: 'missing script', path: '/missing.php' },
  { name: 'limit_extensions: /evil.txt/x.php', path: '/evil.txt/x.php' },
  { name: 'the whole $_SERVER', path: '/sub/dump.php/extra/path?x=y' },
];

/** What is compared: the status, selected headers, the body (parsed when it is JSON). */
interface View {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

function view(res: HttpResponse, frontPort: number): View {
  const headers: Record<string, string | undefined> = {};
  for (const h of COMPARED_HEADERS) {
    const v = res.headers[h];
    headers[h] = Array.isArray(v) ? v.join(', ') : v;
  }
  // The two instances of a front end listen on different ports: their own pages and
  // SERVER_PORT/HTTP_HOST name them.
  const text = res.body
    .replaceAll(`:${frontPort}`, ':{port}')
    .replaceAll(`Port ${frontPort}`, 'Port {port}')
    .replaceAll(`"${frontPort}"`, '"{port}"');
  let body: unknown = text;
  if (String(headers['content-type']).startsWith('application/json')) {
    try {
      body = JSON.parse(text);
    } catch {
      // compared as text
    }
  }
  return { status: res.status, headers, body };
}

interface Front {
  port: number;
  url(path: string): string;
  stop(): Promise<void>;
  log(): string;
}

interface FrontKind {
  name: string;
  bin: string;
  start(upstream: string): Promise<Front>;
}

let docroot: string;
let fpm: PhpFpm;
let tsfpm: Tsfpm;
let fpmPort: number;
let tsfpmPort: number;

function apacheKind(form: ApacheForm): FrontKind {
  return {
    name: `apache ${form}`,
    bin: APACHE_BIN,
    start: async (upstream) => {
      const a = await startApache({ upstream, docroot, form });
      return { port: a.port, url: a.url, stop: a.stop, log: a.errorLog };
    },
  };
}

const KINDS: FrontKind[] = [
  {
    name: 'nginx',
    bin: NGINX_BIN,
    start: async (upstream) => {
      const n = await startNginx({ upstream, docroot });
      return { port: n.port, url: n.url, stop: n.stop, log: n.errorLog };
    },
  },
  apacheKind('handler'),
  apacheKind('proxypass'),
  {
    name: 'caddy',
    bin: CADDY_BIN,
    start: async (upstream) => {
      const c = await startCaddy({ upstream, docroot });
      return { port: c.port, url: c.url, stop: c.stop, log: c.log };
    },
  },
];

const noFpm = !existsSync(PHP_FPM_BIN) && `${PHP_FPM_BIN} is not installed (bin/setup.sh installs php8.2-fpm)`;

function send(front: Front, r: Req): Promise<HttpResponse> {
  return httpRequest(front.url(r.path), {
    method: r.method ?? 'GET',
    ...(r.body !== undefined ? { body: r.body } : {}),
    headers: r.contentType !== undefined ? { 'content-type': r.contentType } : {},
  });
}

/** Starts every front end in the list, stopping those that did start if one fails. */
async function startAll(starts: Array<() => Promise<Front>>): Promise<Front[]> {
  const settled = await Promise.allSettled(starts.map((s) => s()));
  const up = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(up.map((f) => f.stop()));
    throw failed.reason;
  }
  return up;
}

before(async () => {
  docroot = makeTempDir('tsfpm-docroot-');
  // Apache's children run as www-data when the test runs as root.
  chmodSync(docroot, 0o755);
  mkdirSync(join(docroot, 'sub'));
  chmodSync(join(docroot, 'sub'), 0o755);
  const files: Record<string, string> = {
    'env.php': ENV_PHP,
    'sub/env.php': ENV_PHP,
    'status.php': STATUS_PHP,
    'sub/dump.php': DUMP_PHP,
    'evil.txt': EVIL_TXT,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(docroot, name), text, { mode: 0o644 });

  if (noFpm) return;
  [fpmPort, tsfpmPort] = [await freePort(), await freePort()];
  const [f, t] = await Promise.allSettled([startPhpFpm({ conf: conf(fpmPort) }), startTsfpm({ conf: conf(tsfpmPort) })]);
  if (f.status === 'fulfilled') fpm = f.value;
  if (t.status === 'fulfilled') tsfpm = t.value;
  if (f.status === 'rejected') throw f.reason;
  if (t.status === 'rejected') throw t.reason;
});

after(async () => {
  await Promise.allSettled([fpm?.stop(), tsfpm?.stop()]);
});

for (const kind of KINDS) {
  const skip = noFpm || (!existsSync(kind.bin) && `${kind.bin} is not installed (bin/setup.sh installs it)`);
  test(`${kind.name}: PHP sees through tsfpm what it sees through php-fpm8.2`, { skip }, async (t: TestContext) => {
    // One tsfpm serves the whole file: a master that died under an earlier front end says so here.
    assert.ok(tsfpm.proc.exitCode === null && tsfpm.proc.signalCode === null,
      `tsfpm exited (${tsfpm.proc.exitCode ?? tsfpm.proc.signalCode}) before this test\n${tsfpm.output().split('\n').slice(-30).join('\n')}`);
    const [viaFpm, viaTsfpm] = await startAll([
      () => kind.start(`127.0.0.1:${fpmPort}`),
      () => kind.start(`127.0.0.1:${tsfpmPort}`),
    ]) as [Front, Front];
    try {
      const logFrom = tsfpm.output().length;
      // Both sides at once, one request after the other: if tsfpm breaks, the first
      // failing subtest is the request that broke it.
      const results: Array<{ r: Req; fpm: View; tsfpm: View; rawFpm: HttpResponse; rawTsfpm: HttpResponse }> = [];
      for (const r of REQUESTS) {
        const [a, b] = await Promise.all([send(viaFpm, r), send(viaTsfpm, r)]);
        results.push({ r, fpm: view(a, viaFpm.port), tsfpm: view(b, viaTsfpm.port), rawFpm: a, rawTsfpm: b });
      }

      // The reference itself must make sense, or equality would prove nothing.
      const ref = (name: string): View => results.find((x) => x.r.name === name)!.fpm;
      assert.equal(ref('GET /env.php').status, 200, `php-fpm8.2 behind ${kind.name}: ${JSON.stringify(ref('GET /env.php'))}\n${viaFpm.log()}`);
      const bin = ref('POST 200 KiB binary').body as { input?: { length: number; md5: string } };
      assert.deepEqual(bin.input, { length: BINARY.length, md5: createHash('md5').update(BINARY).digest('hex') });

      for (const x of results) {
        await t.test(x.r.name, () => {
          for (const [who, res] of [['php-fpm8.2', x.rawFpm], ['tsfpm', x.rawTsfpm]] as const) {
            assert.doesNotMatch(res.body, /EXECUTED/, `${who} executed evil.txt`);
          }
          try {
            assert.deepEqual(x.tsfpm, x.fpm);
          } catch (e) {
            const err = e as Error;
            err.message += `\n--- ${x.r.method ?? 'GET'} ${x.r.path} through ${kind.name}; tsfpm output since the test started ---\n`
              + tsfpm.output().slice(logFrom).split('\n').slice(-20).join('\n');
            throw err;
          }
        });
      }
    } finally {
      await Promise.allSettled([viaFpm.stop(), viaTsfpm.stop()]);
    }
  });
}

const DUMPED: Req[] = [
  { name: 'PATH_INFO', path: '/sub/env.php/extra/path?x=y' },
  { name: 'POST', path: '/env.php?q=1', method: 'POST', body: FORM, contentType: 'application/x-www-form-urlencoded' },
  { name: 'missing', path: '/missing.php' },
  { name: 'evil', path: '/evil.txt/x.php' },
];

test('raw FastCGI params each front end sends (diagnostic)', {
  skip: process.env['TSFPM_DUMP_PARAMS'] !== '1' && 'set TSFPM_DUMP_PARAMS=1 to print them',
}, async (t: TestContext) => {
  const capture = await startFcgiCapture();
  try {
    for (const kind of KINDS) {
      if (!existsSync(kind.bin)) continue;
      const [front] = await startAll([() => kind.start(`127.0.0.1:${capture.port}`)]) as [Front];
      try {
        for (const r of DUMPED) {
          const res = await send(front, r);
          t.diagnostic(`${kind.name}: ${r.method ?? 'GET'} ${r.path} -> ${res.status}`);
          let lines = res.body.split('\n');
          try {
            const got = JSON.parse(res.body) as { params: Array<[string, string]>; stdinBytes: number };
            lines = [...got.params.map(([k, v]) => `${k}=${v}`), `(${got.stdinBytes} bytes of body)`];
          } catch {
            // not from the capture responder: the web server answered itself
          }
          for (const l of lines) t.diagnostic(`    ${l}`);
        }
      } finally {
        await front.stop();
      }
    }
  } finally {
    await capture.close();
  }
});
