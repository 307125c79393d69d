// Self-test of the e2e helpers against a plain `php-cgi -b` (no tsfpm involved), so a
// failure in tsfpm's own e2e tests can be told apart from a broken harness.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { httpGet } from '../helpers/http.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { descendants, isAlive, waitFor } from '../helpers/procs.js';
import { freePort, makeTempDir, waitForPort } from '../helpers/tmp.js';

let php: ChildProcess;
let phpAddr: string;
let docroot: string;
let nginx: Nginx | undefined;

before(async () => {
  docroot = makeTempDir('tsfpm-docroot-');
  writeFileSync(join(docroot, 'hello.php'), '<?php echo "Hello, World!";\n');
  const port = await freePort();
  phpAddr = `127.0.0.1:${port}`;
  // PHP_FCGI_CHILDREN=2 gives php-cgi a child per nginx/cgi-fcgi connection to show in descendants().
  php = spawn('php-cgi', ['-b', phpAddr], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PHP_FCGI_MAX_REQUESTS: '0', PHP_FCGI_CHILDREN: '2' },
    stdio: 'ignore',
  });
  await waitForPort(port, 5000);
});

after(async () => {
  await nginx?.stop();
  if (php.exitCode === null) {
    php.kill('SIGTERM');
    await new Promise((r) => php.once('exit', r));
  }
});

test('nginx.ts: GET hello.php through nginx reaches php-cgi', async () => {
  nginx = await startNginx({ upstream: phpAddr, docroot });
  const res = await httpGet(nginx.url('/hello.php'));
  assert.equal(res.status, 200, nginx.errorLog());
  assert.equal(res.body, 'Hello, World!');
  const missing = await httpGet(nginx.url('/nope.php'));
  assert.equal(missing.status, 404);
  await nginx.stop();
  assert.equal(isAlive(nginx.proc.pid ?? -1), false);
  nginx = undefined;
});

test('nginx.ts: keepalive upstream serves repeated requests', async () => {
  const ng = await startNginx({ upstream: phpAddr, docroot, keepalive: 2 });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(ng.url('hello.php'))).body, 'Hello, World!');
  } finally {
    await ng.stop();
  }
});

test('nginx.ts: a bad config rejects with nginx\'s message', async () => {
  await assert.rejects(
    startNginx({ upstream: phpAddr, docroot, extraServer: '    bogus_directive on;' }),
    /unknown directive "bogus_directive"/,
  );
});

test('cgi-fcgi.ts: direct FastCGI request to php-cgi', async () => {
  const res = await cgiFcgi(phpAddr, {
    SCRIPT_FILENAME: join(docroot, 'hello.php'),
    REQUEST_METHOD: 'GET',
  });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^Content-type: text\/html/i);
  assert.match(res.stdout, /\r\n\r\nHello, World!$/);
});

test('procs.ts: php-cgi -b shows its PHP_FCGI_CHILDREN as descendants', async () => {
  const kids = await waitFor(() => {
    const d = descendants(php.pid ?? -1);
    return d.length === 2 ? d : false;
  }, 3000);
  assert.ok(kids.every(isAlive));
});
