// daemonize = yes (php-fpm's default, and Debian's stock config): the launcher
// exits 0 once the master runs, 70 when it failed; the master keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TSFPM_BIN } from '../helpers/daemon.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

function conf(dir: string, listen: string): string {
  const path = join(dir, 'php-fpm.conf');
  writeFileSync(path, `[global]\npid = ${dir}/fpm.pid\nerror_log = ${dir}/error.log\n[www]\nlisten = ${listen}\npm = static\npm.max_children = 1\n`);
  return path;
}

test('daemonize: the launcher exits 0, the master (another pid) serves and writes the pid file', async () => {
  const dir = makeTempDir('tsfpm-daemon-');
  writeFileSync(join(dir, 'hello.php'), '<?php echo "Hello, World!\\n";');
  const r = spawnSync(process.execPath, [TSFPM_BIN, '-R', '-y', conf(dir, `${dir}/www.sock`)], { encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(readFileSync(join(dir, 'fpm.pid'), 'utf8'));
  assert.ok(pid > 0 && pid !== r.pid && isAlive(pid), `pid file says ${pid}`);
  try {
    const res = await fcgiRequest({ path: join(dir, 'www.sock') }, scriptParams(dir, '/hello.php'));
    assert.equal(res.body.toString(), 'Hello, World!\n');
    assert.match(readFileSync(join(dir, 'error.log'), 'utf8'), /NOTICE: ready to handle connections/);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  await waitFor(() => !isAlive(pid), 5000);
  assert.equal(existsSync(join(dir, 'fpm.pid')), false);
});

test('daemonize: a master that fails to start makes the launcher exit 70, with the error on its stderr', async () => {
  const dir = makeTempDir('tsfpm-daemon-');
  const port = await freePort();
  const blocker = createServer().listen(port, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    const r = spawnSync(process.execPath, [TSFPM_BIN, '-R', '-y', conf(dir, `127.0.0.1:${port}`)], { encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 70, r.stderr);
    assert.match(r.stderr, new RegExp(`unable to bind listening socket for address '127.0.0.1:${port}': Address already in use \\(98\\)`));
    assert.match(r.stderr, /FPM initialization failed/);
  } finally {
    blocker.close();
  }
});
