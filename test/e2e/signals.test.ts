// Master signals that exist so far: QUIT (graceful), TERM, USR1 (reopen logs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, renameSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsfpm } from '../helpers/daemon.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';
import { makeTempDir } from '../helpers/tmp.js';

const docroot = makeTempDir('tsfpm-signals-');
writeFileSync(join(docroot, 'slow.php'), '<?php usleep(800000); echo "finished\\n";');

function conf(pm: string): string {
  return `[global]\nerror_log = {dir}/error.log\npid = {dir}/tsfpm.pid\n[www]\nlisten = {dir}/www.sock\n${pm}\n`;
}

for (const pm of ['pm = static\npm.max_children = 2', 'pm = ondemand\npm.max_children = 2']) {
  test(`SIGQUIT lets the running request finish, then exits 0 (${pm.split('\n')[0]})`, async () => {
    const d = await startTsfpm({ conf: conf(pm) });
    const pidFile = join(d.dir, 'tsfpm.pid');
    assert.equal(readFileSync(pidFile, 'utf8'), String(d.proc.pid));
    const running = fcgiRequest({ path: join(d.dir, 'www.sock') }, scriptParams(docroot, '/slow.php'), { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 250));
    d.signal('SIGQUIT');
    const res = await running;
    assert.equal(res.body.toString(), 'finished\n', d.output());
    assert.equal(await d.exited, 0, d.output());
    assert.match(d.output(), /NOTICE: Finishing \.\.\./);
    assert.match(d.output(), /NOTICE: exiting, bye-bye!/);
    assert.equal(existsSync(pidFile), false, 'pid file left behind');
    assert.equal(existsSync(join(d.dir, 'www.sock')), false, 'socket file left behind');
  });
}

test('SIGTERM: Terminating ..., exit 0, pid file removed', async () => {
  const d = await startTsfpm({ conf: conf('pm = static\npm.max_children = 1') });
  d.signal('SIGTERM');
  assert.equal(await d.exited, 0, d.output());
  assert.match(d.output(), /NOTICE: Terminating \.\.\./);
  assert.equal(existsSync(join(d.dir, 'tsfpm.pid')), false);
});

test('SIGUSR1 reopens the error log (logrotate moved it)', async () => {
  // Without -O the log goes to error_log, where the rotation is visible.
  const d = await startTsfpm({ conf: conf('pm = static\npm.max_children = 1'), logToFile: true });
  const log = join(d.dir, 'error.log');
  const rotated = `${log}.1`;
  try {
    await waitForFile(log);
    renameSync(log, rotated);
    d.signal('SIGUSR1');
    await waitForFile(log);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(readFileSync(log, 'utf8'), /NOTICE: error log file re-opened/);
    assert.doesNotMatch(readFileSync(rotated, 'utf8'), /re-opened/);
  } finally {
    await d.stop();
  }
});

async function waitForFile(p: string): Promise<void> {
  for (let i = 0; i < 50 && !existsSync(p); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(p), `${p} not created`);
}
