// The request path end to end (issue 4, reference §5 and §10): a real nginx in
// front of a real tsfpm (pm static, 3 php-cgi children) and libfcgi's cgi-fcgi
// straight at the pool. hello, 404, limit_extensions (403, nothing executed),
// PATH_INFO, a large POST body, nginx keep-alive with more connections than
// children, a child SIGKILLed mid-request, and clear_env/env[]/php_admin_value.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { httpGet, httpRequest, type HttpResponse } from '../helpers/http.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { waitFor, phpWorkers } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const CHILDREN = 3;

let docroot: string;
let port: number;
let daemon: Tsfpm;
let nginx: Nginx;
let masterPid: number;

function conf(p: number): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${p}
pm = static
pm.max_children = ${CHILDREN}
clear_env = yes
env[FOO] = bar
php_admin_value[memory_limit] = 77M
`;
}

/**
 * The pool's live php-cgi workers: php-cgi processes below the master that have
 * no php-cgi children of their own. That is the master's direct children when
 * each php-cgi is spawned alone, and the workers (not their parent) when one
 * php-cgi parent forks PHP_FCGI_CHILDREN workers; either way what php-fpm
 * would count as its children.
 */
function phpChildren(): number[] {
  return phpWorkers(masterPid);
}

/** Established connections accepted on 127.0.0.1:port (server side), from /proc/net/tcp. */
function acceptedConnections(p: number): number {
  const local = `0100007F:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '01') n++;
  }
  return n;
}

function diag(): string {
  return `--- tsfpm output ---\n${daemon.output()}\n--- nginx error.log ---\n${nginx.errorLog()}`;
}

before(async () => {
  docroot = makeTempDir('tsfpm-docroot-');
  const files: Record<string, string> = {
    'hello.php': '<?php echo "Hello, World!";\n',
    'pi.php': "<?php echo $_SERVER['PATH_INFO'] ?? '(unset)';\n",
    'post.php': "<?php $b = file_get_contents('php://input'); echo strlen($b), ' ', md5($b);\n",
    'sleep.php': '<?php usleep(100000); echo "slept ", getmypid();\n',
    // Writes its pid before sleeping so the test knows which child to kill.
    'slow.php': `<?php file_put_contents(${JSON.stringify(join(docroot, 'slow.pid'))}, getmypid()); sleep(2); echo "survived";\n`,
    'env.php': "<?php echo json_encode([getenv('FOO'), getenv('PATH'), ini_get('memory_limit')]);\n",
    'upload/evil.jpg': '<?php echo "PWNED";\n',
    'code.txt': '<?php echo "EXECUTED"; ?>\n',
    'x.txt': '<?php echo "EXECUTED"; ?>\n',
  };
  mkdirSync(join(docroot, 'upload'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(docroot, name), text);

  port = await freePort();
  daemon = await startTsfpm({ conf: conf(port) });
  masterPid = daemon.proc.pid ?? -1;
  nginx = await startNginx({ upstream: `127.0.0.1:${port}`, docroot });
});

after(async () => {
  await nginx?.stop();
  await daemon?.stop();
});

test('static pool starts exactly pm.max_children php-cgi children', async () => {
  const kids = await waitFor(() => phpChildren().length === CHILDREN && phpChildren(), 3000);
  assert.equal(kids.length, CHILDREN, diag());
});

test('hello.php through nginx and through cgi-fcgi', async () => {
  const res = await httpGet(nginx.url('/hello.php'));
  assert.equal(res.status, 200, diag());
  assert.equal(res.body, 'Hello, World!');
  assert.match(String(res.headers['content-type']), /^text\/html/);

  const direct = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: join(docroot, 'hello.php'), REQUEST_METHOD: 'GET' });
  assert.equal(direct.code, 0, direct.stderr);
  assert.match(direct.stdout, /^Content-type: text\/html/i);
  assert.match(direct.stdout, /\r\n\r\nHello, World!$/);
});

test('missing script: 404 "File not found." and "Primary script unknown" in nginx\'s log', async () => {
  const res = await httpGet(nginx.url('/nope.php'));
  assert.equal(res.status, 404, diag());
  assert.equal(res.body, 'File not found.\n');
  await waitFor(() => /FastCGI sent in stderr: "Primary script unknown"/.test(nginx.errorLog()), 2000)
    .catch(() => assert.fail(`no "Primary script unknown" in nginx's error log\n${diag()}`));

  // The same through cgi-fcgi: php-cgi's own "No input file specified." must not leak.
  const direct = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: join(docroot, 'nope.php'), REQUEST_METHOD: 'GET' });
  assert.match(direct.stdout, /^Status: 404/m);
  assert.match(direct.stdout, /\r\n\r\nFile not found\.\n$/);
  assert.doesNotMatch(direct.stdout, /No input file specified/);
  assert.match(direct.stderr, /Primary script unknown/);
});

test('/upload/evil.jpg/x.php: 403 "Access denied.", the .jpg never runs, limit_extensions logged', async () => {
  const res = await httpGet(nginx.url('/upload/evil.jpg/x.php'));
  assert.equal(res.status, 403, diag());
  assert.equal(res.body, 'Access denied.\n');
  assert.doesNotMatch(res.body, /PWNED/);
  const want = `Access to the script '${join(docroot, 'upload/evil.jpg')}' has been denied (see security.limit_extensions)`;
  await waitFor(() => nginx.errorLog().includes(want), 2000)
    .catch(() => assert.fail(`nginx's error log lacks: ${want}\n${diag()}`));
  // With PATH_INFO after the .php as well.
  const res2 = await httpGet(nginx.url('/upload/evil.jpg/x.php/more'));
  assert.doesNotMatch(res2.body, /PWNED/);
  assert.notEqual(res2.status, 200, diag());
});

test('a .txt handed to FastCGI is never executed, directly or through PATH_INFO', async () => {
  const direct = await httpGet(nginx.url('/code.txt'));
  assert.equal(direct.status, 403, diag());
  assert.equal(direct.body, 'Access denied.\n');
  for (const uri of ['/x.txt/y.php', '/x.txt/y.php/z']) {
    const res = await httpGet(nginx.url(uri));
    assert.doesNotMatch(res.body, /EXECUTED/, `${uri}\n${diag()}`);
    assert.notEqual(res.status, 200, `${uri}: ${res.status} ${res.body}`);
  }
  const viaPi = await httpGet(nginx.url('/x.txt/y.php'));
  assert.equal(viaPi.status, 403);
  assert.equal(viaPi.body, 'Access denied.\n');
});

test('PATH_INFO: /pi.php/a/b sees /a/b', async () => {
  const res = await httpGet(nginx.url('/pi.php/a/b'));
  assert.equal(res.status, 200, diag());
  assert.equal(res.body, '/a/b');
});

test('a 300 KiB POST body arrives whole (length and md5)', async () => {
  const body = randomBytes(300 * 1024);
  const res = await httpRequest(nginx.url('/post.php'), {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(res.status, 200, diag());
  assert.equal(res.body, `${body.length} ${createHash('md5').update(body).digest('hex')}`);
});

test('env: clear_env = yes, env[FOO] = bar, php_admin_value[memory_limit] = 77M', async () => {
  const res = await httpGet(nginx.url('/env.php'));
  assert.equal(res.status, 200, diag());
  assert.deepEqual(JSON.parse(res.body), ['bar', false, '77M']);
});

test('nginx keepalive 4, 12 concurrent clients, 3 children: every request served, more connections than children', async (t) => {
  const ka = await startNginx({ upstream: `127.0.0.1:${port}`, docroot, keepalive: 4 });
  try {
    const CLIENTS = 12;
    const PER_CLIENT = 4;
    const BOUND_MS = 8000;
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, acceptedConnections(port));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = Date.now();
    const results: Array<{ res: HttpResponse; ms: number }> = [];
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (let i = 0; i < PER_CLIENT; i++) {
        const s = Date.now();
        const res = await httpGet(ka.url('/sleep.php'), { timeoutMs: BOUND_MS });
        results.push({ res, ms: Date.now() - s });
      }
    }));
    const total = Date.now() - t0;
    sampling = false;
    await sampler;
    assert.equal(results.length, CLIENTS * PER_CLIENT);
    const bad = results.filter((r) => r.res.status !== 200 || !r.res.body.startsWith('slept '));
    assert.equal(bad.length, 0, `${bad.length} failed: ${bad.map((r) => r.res.status).join(',')}\n${ka.errorLog()}`);
    // 48 requests x 100 ms over 3 children is >= 1.6 s; all in well under the bound.
    assert.ok(total < BOUND_MS, `took ${total} ms`);
    const servedBy = new Set(results.map((r) => r.res.body.slice('slept '.length)));
    assert.equal(servedBy.size, CHILDREN, `served by ${[...servedBy].join(',')}`);
    t.diagnostic(`${results.length} requests in ${total} ms, peak ${peak} nginx connections accepted`);
    assert.ok(peak > CHILDREN, `peak ${peak} nginx connections accepted, want more than ${CHILDREN} children`);

    // The kept-alive idle connections pin no child: a burst right after is served at once.
    const s = Date.now();
    const again = await Promise.all(Array.from({ length: CHILDREN }, () => httpGet(ka.url('/hello.php'), { timeoutMs: 3000 })));
    for (const r of again) assert.equal(r.status, 200);
    assert.ok(Date.now() - s < 2000, `burst after keep-alive load took ${Date.now() - s} ms`);
  } finally {
    await ka.stop();
  }
});

test('a child SIGKILLed mid-request costs only that request; the pool is refilled', async (t) => {
  const pidFile = join(docroot, 'slow.pid');
  rmSync(pidFile, { force: true });
  const before = phpChildren();
  assert.equal(before.length, CHILDREN, diag());
  const logFrom = daemon.output().length;

  const slow = httpGet(nginx.url('/slow.php'), { timeoutMs: 10_000 });
  const victim = await waitFor(() => {
    try {
      return Number(readFileSync(pidFile, 'utf8')) || 0;
    } catch {
      return 0;
    }
  }, 5000);
  assert.ok(before.includes(victim), `pid ${victim} from slow.php is not a child of the master (${before.join(',')})`);

  // Two requests in flight on the other children while the victim dies.
  const others = [httpGet(nginx.url('/sleep.php')), httpGet(nginx.url('/sleep.php'))];
  await new Promise((r) => setTimeout(r, 30));
  process.kill(victim, 'SIGKILL');

  const killed = await slow;
  assert.equal(killed.status, 502, `${killed.status} ${killed.body}\n${diag()}`);
  assert.doesNotMatch(killed.body, /survived/);
  for (const o of await Promise.all(others)) {
    assert.equal(o.status, 200, diag());
    assert.notEqual(o.body, `slept ${victim}`);
  }

  const after = await waitFor(() => {
    const k = phpChildren();
    return k.length === CHILDREN && !k.includes(victim) && k;
  }, 5000).catch(() => assert.fail(`pool not back to ${CHILDREN} children: ${phpChildren().join(',')}\n${diag()}`));
  assert.equal(after.filter((p) => !before.includes(p)).length, 1);

  await daemon.waitForOutput(new RegExp(`\\[pool www\\] child ${victim} exited (on signal 9 \\(SIGKILL\\)|unexpectedly) after \\d+\\.\\d{6} seconds from start`), 3000, logFrom);
  const fresh = after.find((p) => !before.includes(p));
  await daemon.waitForOutput(new RegExp(`NOTICE: .*\\[pool www\\] child ${fresh} started`), 3000, logFrom);

  t.diagnostic(`killed ${victim}, replaced by ${fresh}`);
  // And the refilled pool serves.
  const res = await httpGet(nginx.url('/hello.php'));
  assert.equal(res.status, 200);
});
