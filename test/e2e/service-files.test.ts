// conf/tsfpm.init and conf/tsfpm.logrotate driving a real tsfpm daemon
// (conf/tsfpm.service is checked in systemd.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, TSFPM_BIN } from '../helpers/daemon.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';

const INIT = join(REPO_ROOT, 'conf', 'tsfpm.init');

function setup(): { dir: string; env: NodeJS.ProcessEnv; run: (arg: string) => { status: number | null; out: string } } {
  const dir = makeTempDir('tsfpm-init-');
  chmodSync(dir, 0o755);
  // The init script's PATH may not have this Node: a wrapper names it.
  const daemon = join(dir, 'tsfpm');
  writeFileSync(daemon, `#!/bin/sh\nexec '${process.execPath}' '${TSFPM_BIN}' "$@"\n`, { mode: 0o755 });
  const conf = join(dir, 'php-fpm.conf');
  writeFileSync(conf, `[global]\npid = ${dir}/run/fpm.pid\nerror_log = ${dir}/error.log\n[www]\nlisten = ${dir}/www.sock\n` +
    `${process.geteuid?.() === 0 ? 'user = nobody\n' : ''}pm = static\npm.max_children = 1\n`);
  const env = { ...process.env, DAEMON: daemon, CONFFILE: conf, TIMEOUT: '5' };
  const run = (arg: string): { status: number | null; out: string } => {
    const r = spawnSync('sh', [INIT, arg], { env, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  return { dir, env, run };
}

test('init script: start, status, reload (same pid), reopen-logs, stop; the pid file from the config', async () => {
  const { dir, run } = setup();
  const pidFile = join(dir, 'run', 'fpm.pid');
  assert.equal(run('status').status, 3);
  const start = run('start');
  assert.equal(start.status, 0, start.out);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    assert.ok(isAlive(pid));
    assert.match(run('status').out, new RegExp(`tsfpm is running \\(pid ${pid}\\)`));
    assert.match(run('start').out, /already running/);
    const log = join(dir, 'error.log');
    assert.equal(run('reload').status, 0);
    await waitFor(() => /reloading: execvp[\s\S]*ready to handle connections/.test(readFileSync(log, 'utf8')), 10_000);
    assert.equal(Number(readFileSync(pidFile, 'utf8')), pid, 'reload kept the master pid');
    renameSync(log, `${log}.1`);
    assert.equal(run('reopen-logs').status, 0);
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('error log file re-opened'), 5000);
    assert.equal(run('configtest').status, 0);
    const stop = run('stop');
    assert.equal(stop.status, 0, stop.out);
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(pidFile), false);
    assert.equal(run('status').status, 3);
  } finally {
    try { process.kill(pid, 'SIGKILL'); } catch { /* stopped */ }
  }
});

test("logrotate snippet: its postrotate command makes the daemon reopen error_log", async () => {
  const { dir, run } = setup();
  const snippet = readFileSync(join(REPO_ROOT, 'conf', 'tsfpm.logrotate'), 'utf8');
  assert.match(snippet, /^\/var\/log\/php8\.2-fpm\.log \{$/m);
  const post = /postrotate\n([\s\S]*?)\n\s*endscript/.exec(snippet)?.[1].trim();
  assert.ok(post !== undefined);
  assert.equal(run('start').status, 0);
  const pid = Number(readFileSync(join(dir, 'run', 'fpm.pid'), 'utf8'));
  try {
    const log = join(dir, 'error.log');
    renameSync(log, `${log}.1`);                       // what logrotate does before postrotate
    const r = spawnSync('sh', ['-c', post.replace('/run/php/php8.2-fpm.pid', join(dir, 'run', 'fpm.pid'))], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('error log file re-opened'), 5000);
    // With no daemon running the command still succeeds (logrotate must not fail).
    assert.equal(spawnSync('sh', ['-c', post.replace('/run/php/php8.2-fpm.pid', join(dir, 'nope.pid'))]).status, 0);
  } finally {
    run('stop');
    try { process.kill(pid, 'SIGKILL'); } catch { /* stopped */ }
  }
});
