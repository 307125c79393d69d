// Start-up log lines as php-fpm 8.2 writes them (issue 8 item 4): which lines
// appear before `fpm is running`, at which level, and where they go (stderr,
// error_log or both). Each expectation was checked against php-fpm8.2 8.2.36 on
// the same config (php-src tests named where one covers the case).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TSFPM_BIN } from '../helpers/daemon.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const READY = /NOTICE: ready to handle connections/;
const strip = (text: string): string[] => text.split('\n').filter(Boolean).map((l) => l.replace(/^\[[^\]]+\] /, ''));
const START_SERVERS = "NOTICE: [pool www] pm.start_servers is not set. It's been set to 2.";

/** A dynamic pool without pm.start_servers (its NOTICE is a pre-launch line). */
function conf(dir: string, listen: string, extra = '', global = ''): string {
  const path = join(dir, 'php-fpm.conf');
  writeFileSync(path, `[global]\npid = ${dir}/fpm.pid\nerror_log = ${dir}/error.log\n${global}[www]\nlisten = ${listen}\n${extra}` +
    'pm = dynamic\npm.max_children = 5\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n');
  return path;
}

/**
 * Runs tsfpm in the foreground until `ready` is in error.log or its output (or,
 * `quiet`, 300 ms after the pid file appeared), then SIGTERM; resolves with its
 * stdout+stderr and error.log.
 */
function runUntilReady(cmd: string, args: string[], dir: string, quiet = false): Promise<{ code: number | null; out: string; log: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const log = (): string => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '');
    let pidSeen = 0;
    const ready = (): boolean => {
      if (!quiet) return READY.test(log()) || READY.test(out);
      if (pidSeen === 0 && existsSync(join(dir, 'fpm.pid'))) pidSeen = Date.now();
      return pidSeen > 0 && Date.now() - pidSeen > 300;
    };
    const timer = setInterval(() => { if (ready()) p.kill('SIGTERM'); }, 50);
    const hard = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearInterval(timer);
      clearTimeout(hard);
      resolve({ code, out, log: log() });
    });
  });
}

test('daemonize: the launcher prints the pre-launch lines once and nothing from `fpm is running` on (php-src gh9754)', async () => {
  const dir = makeTempDir('tsfpm-startup-');
  const r = spawnSync(process.execPath, [TSFPM_BIN, '-R', '-y', conf(dir, `${dir}/www.sock`)], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(readFileSync(join(dir, 'fpm.pid'), 'utf8'));
  try {
    assert.equal(r.stdout, '');
    // php-fpm 8.2.36: the launcher's terminal gets only the NOTICE of post-processing, once.
    assert.deepEqual(strip(r.stderr), [START_SERVERS]);
    await waitFor(() => READY.test(readFileSync(join(dir, 'error.log'), 'utf8')), 5000);
    assert.deepEqual(strip(readFileSync(join(dir, 'error.log'), 'utf8')).slice(0, 3), [
      START_SERVERS, `NOTICE: fpm is running, pid ${pid}`, 'NOTICE: ready to handle connections',
    ]);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  await waitFor(() => !isAlive(pid), 5000);
});

test('-F without -O, stderr not a tty: pre-launch lines on stderr and in error_log, the rest in error_log only', async () => {
  const dir = makeTempDir('tsfpm-startup-');
  const r = await runUntilReady(process.execPath, [TSFPM_BIN, '-F', '-R', '-y', conf(dir, `${dir}/www.sock`)], dir);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(strip(r.out), [START_SERVERS]);
  const log = strip(r.log);
  assert.equal(log[0], START_SERVERS);
  assert.match(log[1], /^NOTICE: fpm is running, pid \d+$/);
  assert.equal(log[2], 'NOTICE: ready to handle connections');
});

test('log_level = warning: no NOTICE at all, pm.start_servers included (php-src bug68458)', async () => {
  const dir = makeTempDir('tsfpm-startup-');
  const r = await runUntilReady(process.execPath, [TSFPM_BIN, '-F', '-R', '-y', conf(dir, `${dir}/www.sock`, '', 'log_level = warning\n')], dir, true);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out, '');
  assert.equal(r.log, '');
});

test("not root: 'user' and 'group' ignored with a NOTICE before `fpm is running` (php-src proc-user-ignored)", async (t) => {
  if (process.geteuid?.() !== 0) {
    t.skip('needs root to start tsfpm as nobody');
    return;
  }
  const setpriv = spawnSync('setpriv', ['--version']);
  if (setpriv.status !== 0) {
    t.skip('setpriv (util-linux) not installed');
    return;
  }
  const dir = makeTempDir('tsfpm-startup-');
  chmodSync(dir, 0o777);
  const port = await freePort();
  const path = conf(dir, `127.0.0.1:${port}`, 'user = foo\ngroup = bar\npm.start_servers = 1\n');
  chmodSync(path, 0o644);
  const r = await runUntilReady('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--',
    process.execPath, TSFPM_BIN, '-F', '-O', '-y', path], dir);
  assert.equal(r.code, 0, r.out);
  // php-fpm 8.2.36 as nobody, verbatim:
  const lines = strip(r.out);
  assert.deepEqual(lines.slice(0, 3), [
    "NOTICE: [pool www] 'user' directive is ignored when FPM is not running as root",
    "NOTICE: [pool www] 'group' directive is ignored when FPM is not running as root",
    lines[2].startsWith('NOTICE: fpm is running, pid ') ? lines[2] : 'NOTICE: fpm is running, pid N',
  ]);
});
