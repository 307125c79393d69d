// Per-pool isolation with real php-cgi children (issue 9): chroot (the script
// sees the jail, not the host; $prefix; chdir; SCRIPT_FILENAME inside the
// jail; the jail is not written), rlimit_files/rlimit_core, process.priority,
// the [global] rlimits and priority, apparmor_hat refused at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startTsfpm, TSFPM_BIN } from '../helpers/daemon.js';
import { phpWorkers, waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';

const root = process.geteuid?.() === 0;
const asRoot = { skip: root ? false : 'needs root (chroot, user, priority)' };
const user = spawnSync('getent', ['passwd', 'www-data']).status === 0 ? 'www-data' : 'nobody';

const PROBE = `<?php
$r = posix_getrlimit();
echo json_encode([
  'shadow' => file_exists('/etc/shadow'), 'secret' => @file_get_contents(getenv('SECRET') ?: '/nonexistent') !== false,
  'root' => scandir('/'), 'cwd' => getcwd(), 'uid' => posix_getuid(), 'groups' => posix_getgroups(),
  'sf' => $_SERVER['SCRIPT_FILENAME'], 'pi' => $_SERVER['PATH_INFO'] ?? null, 'nofile' => $r['soft openfiles'], 'core' => $r['soft core'],
  'opcache' => function_exists('opcache_get_status') && (opcache_get_status(false)['opcache_enabled'] ?? false),
]);`;

interface Probe { shadow: boolean; secret: boolean; root: string[]; cwd: string; uid: number; groups: number[]; sf: string; pi: string | null; nofile: number | string; core: number | string; opcache: boolean }

async function probe(sock: string, params: Record<string, string>): Promise<Probe> {
  const r = await fcgiRequest({ path: sock }, params);
  try {
    return JSON.parse(r.body.toString()) as Probe;
  } catch {
    throw new Error(`not JSON: ${r.body.toString()} ${r.stderr?.toString() ?? ''}`);
  }
}

function jailParams(uri: string, extra: Record<string, string> = {}): Record<string, string> {
  return scriptParams('/htdocs', uri, extra);
}

test('chroot: the script sees the jail only, $prefix and chdir work, paths are the jail\'s, the jail is not written', asRoot, async () => {
  const prefix = makeTempDir('tsfpm-jail-');
  chmodSync(prefix, 0o755);
  const jail = join(prefix, 'jail');
  mkdirSync(join(jail, 'htdocs'), { recursive: true, mode: 0o755 });
  writeFileSync(join(jail, 'htdocs', 'probe.php'), PROBE, { mode: 0o644 });
  symlinkSync('/htdocs', join(jail, 'current'));         // absolute: resolves inside the jail, as under php-fpm
  const secret = join(prefix, 'secret.txt');
  writeFileSync(secret, 'host only', { mode: 0o644 });
  const listing = (): string[] => readdirSync(jail).sort();
  const before = listing();
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\n' +
      `[jailed]\nprefix = ${prefix}\nlisten = {dir}/jailed.sock\nuser = ${user}\nchroot = $prefix/jail\nchdir = /htdocs\n` +
      `rlimit_files = 1234\nenv[SECRET] = ${secret}\ncatch_workers_output = yes\npm = dynamic\npm.max_children = 2\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 1\n` +
      `[open]\nlisten = {dir}/open.sock\nuser = ${user}\nenv[SECRET] = ${secret}\npm = static\npm.max_children = 1\n`,
  });
  try {
    const jailed = join(d.dir, 'jailed.sock');
    const p = await probe(jailed, jailParams('/probe.php'));
    assert.equal(p.shadow, false, '/etc/shadow is visible in the jail');
    assert.equal(p.secret, false, 'a host file is readable from the jail');
    assert.ok(p.root.includes('htdocs') && p.root.includes('current'), p.root.join(' '));
    assert.ok(!p.root.includes('etc') && !p.root.includes('home') && !p.root.includes('proc'), p.root.join(' '));
    assert.equal(p.cwd, '/htdocs');
    assert.equal(p.sf, '/htdocs/probe.php');
    assert.equal(String(p.nofile), '1234');
    assert.equal(p.opcache, true, 'opcache runs in the jail');
    // The same user and groups as a pool without chroot (groups resolved on the host).
    const open = await probe(join(d.dir, 'open.sock'), scriptParams(join(jail, 'htdocs'), '/probe.php'));
    assert.equal(open.secret, true);
    assert.equal(open.shadow, true);
    assert.equal(p.uid, open.uid);
    assert.deepEqual(p.groups, open.groups);
    // The master looks paths up inside the jail too: an absolute symlink, PATH_INFO.
    assert.equal((await probe(jailed, jailParams('/probe.php', { SCRIPT_FILENAME: '/current/probe.php' }))).sf, '/current/probe.php');
    // php-fpm8.2 in the same jail: script /htdocs/probe.php, PATH_INFO as sent (empty). The master walks
    // the path back to the script inside the jail; looked up on the host it would be a 404.
    const pi = await probe(jailed, jailParams('/probe.php/extra/path', { SCRIPT_FILENAME: '/htdocs/probe.php/extra/path', PATH_INFO: '' }));
    assert.deepEqual([pi.sf, pi.pi], ['/htdocs/probe.php', '']);
    const missing = await fcgiRequest({ path: jailed }, jailParams('/nope.php'));
    assert.match(missing.body.toString(), /File not found\./);
    assert.deepEqual(listing(), before, 'tsfpm wrote into the jail');
    assert.doesNotMatch(d.output(), /said into stderr|exited with code/, d.output());
  } finally {
    assert.equal(await d.stop(), 0, d.output());
  }
  // Nothing mounted on the host: the jail is intact, the run directory gone.
  assert.deepEqual(listing(), before);
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(jail), false, 'a jail mount shows on the host');
});

test('rlimit_files = 1234, rlimit_core, process.priority reach the children (static and dynamic)', asRoot, async () => {
  const docroot = makeTempDir('tsfpm-limits-');
  chmodSync(docroot, 0o755);
  writeFileSync(join(docroot, 'probe.php'), PROBE, { mode: 0o644 });
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\n' +
      `[s]\nlisten = {dir}/s.sock\nuser = ${user}\nrlimit_files = 1234\nrlimit_core = unlimited\nprocess.priority = 7\npm = static\npm.max_children = 1\n` +
      `[d]\nlisten = {dir}/d.sock\nuser = ${user}\nrlimit_files = 1234\nrlimit_core = 0\npm = ondemand\npm.max_children = 1\n`,
  });
  try {
    const s = await probe(join(d.dir, 's.sock'), scriptParams(docroot, '/probe.php'));
    assert.equal(String(s.nofile), '1234');
    assert.equal(String(s.core), 'unlimited');
    const dyn = await probe(join(d.dir, 'd.sock'), scriptParams(docroot, '/probe.php'));
    assert.equal(String(dyn.nofile), '1234');
    const nice = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ')[16]);
    const workers = await waitFor(() => phpWorkers(d.proc.pid ?? -1), 5000);
    assert.ok(workers.some((w) => nice(w) === 7), `no child at nice 7: ${workers.map(nice).join(',')}`);
  } finally {
    await d.stop();
  }
});

test("a limit that cannot be set: php-fpm's line from the child (catch_workers_output), the child serves on", async () => {
  const docroot = makeTempDir('tsfpm-limits-');
  chmodSync(docroot, 0o755);
  writeFileSync(join(docroot, 'probe.php'), PROBE, { mode: 0o644 });
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\nrlimit_files = 99999999\ncatch_workers_output = yes\n' +
      'pm = dynamic\npm.max_children = 1\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 1\n',
  });
  try {
    const p = await probe(join(d.dir, 'www.sock'), scriptParams(docroot, '/probe.php'));
    assert.notEqual(String(p.nofile), '99999999');
    await d.waitForOutput(/WARNING: \[pool www\] child \d+ said into stderr: "ERROR: \[pool www\] failed to set rlimit_files for this pool\. Please check your system limits or decrease rlimit_files\. setrlimit\(RLIMIT_NOFILE, 99999999\): Operation not permitted \(1\)"/, 5000);
  } finally {
    await d.stop();
  }
});

test('[global] rlimit_files and process.priority: the master\'s own, inherited by the children', asRoot, async () => {
  const docroot = makeTempDir('tsfpm-limits-');
  chmodSync(docroot, 0o755);
  writeFileSync(join(docroot, 'probe.php'), PROBE, { mode: 0o644 });
  const d = await startTsfpm({
    conf: `[global]\nerror_log = {dir}/error.log\nrlimit_files = 2048\nprocess.priority = 3\n[www]\nlisten = {dir}/www.sock\nuser = ${user}\npm = static\npm.max_children = 1\n`,
  });
  try {
    const limits = readFileSync(`/proc/${d.proc.pid}/limits`, 'utf8');
    assert.match(limits, /Max open files\s+2048\s+2048/);
    assert.equal(String((await probe(join(d.dir, 'www.sock'), scriptParams(docroot, '/probe.php'))).nofile), '2048');
    const stat = readFileSync(`/proc/${d.proc.pid}/stat`, 'latin1');
    assert.equal(Number(stat.split(') ')[1].split(' ')[16]), 3);
  } finally {
    await d.stop();
  }
});

test('[global] rlimit_files that cannot be set: php-fpm\'s error, exit 78', async () => {
  const dir = makeTempDir('tsfpm-limits-');
  const confPath = join(dir, 'php-fpm.conf');
  writeFileSync(confPath, `[global]\nerror_log = ${dir}/error.log\nrlimit_files = 99999999\n[www]\nlisten = ${dir}/www.sock\npm = static\npm.max_children = 1\n`);
  const r = spawnSync(process.execPath, [TSFPM_BIN, '-F', '-R', '-O', '-y', confPath], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 78, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /ERROR: failed to set rlimit_files for this pool\. Please check your system limits or decrease rlimit_files\. setrlimit\(RLIMIT_NOFILE, 99999999\): Operation not permitted \(1\)\n.*ERROR: FPM initialization failed/);
});

test('apparmor_hat: refused at start with a clear error (php-cgi cannot change hat), exit 78', async () => {
  const dir = makeTempDir('tsfpm-apparmor-');
  const confPath = join(dir, 'php-fpm.conf');
  writeFileSync(confPath, `[global]\nerror_log = ${dir}/error.log\n[www]\nlisten = ${dir}/www.sock\napparmor_hat = a\npm = static\npm.max_children = 1\n`);
  // -t accepts it, as php-fpm's does.
  assert.equal(spawnSync(process.execPath, [TSFPM_BIN, '-t', '-R', '-y', confPath], { encoding: 'utf8' }).status, 0);
  const r = spawnSync(process.execPath, [TSFPM_BIN, '-F', '-R', '-O', '-y', confPath], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 78, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /ERROR: \[pool www\] (failed to query apparmor confinement|apparmor_hat = 'a' cannot be applied: .*Refusing to run the pool unconfined)/);
  assert.doesNotMatch(r.stdout + r.stderr, /ready to handle connections/);
});

test('process.dumpable: no (default) → children not dumpable for the pool user, as php-fpm\'s after setuid; yes → dumpable', asRoot, async () => {
  const docroot = makeTempDir('tsfpm-dumpable-');
  chmodSync(docroot, 0o755);
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();', { mode: 0o644 });
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\n' +
      `[no]\nlisten = {dir}/no.sock\nuser = ${user}\npm = static\npm.max_children = 1\n` +
      `[yes]\nlisten = {dir}/yes.sock\nuser = ${user}\nprocess.dumpable = yes\npm = dynamic\npm.max_children = 1\npm.start_servers = 1\npm.min_spare_servers = 1\npm.max_spare_servers = 1\n` +
      `[jailed]\nlisten = {dir}/jailed.sock\nuser = ${user}\nchroot = ${docroot}\npm = ondemand\npm.max_children = 1\n`,
  });
  try {
    const owner = async (sock: string, script: string): Promise<number> => {
      const pid = Number((await fcgiRequest({ path: join(d.dir, sock) }, scriptParams(docroot, '/pid.php', { SCRIPT_FILENAME: script }))).body.toString());
      assert.ok(pid > 0);
      return statSync(`/proc/${pid}/environ`).uid;   // root: not dumpable
    };
    const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout);
    assert.equal(await owner('no.sock', join(docroot, 'pid.php')), 0);
    assert.equal(await owner('jailed.sock', '/pid.php'), 0);
    assert.equal(await owner('yes.sock', join(docroot, 'pid.php')), uid);
  } finally {
    await d.stop();
  }
});

test('apparmor_hat added by a reload: refused with file and line, the running configuration serves on', async () => {
  const docroot = makeTempDir('tsfpm-apparmor-');
  chmodSync(docroot, 0o755);
  writeFileSync(join(docroot, 'pid.php'), '<?php echo getmypid();', { mode: 0o644 });
  const conf = '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n';
  const d = await startTsfpm({ conf });
  try {
    writeFileSync(d.confPath, `${conf.replaceAll('{dir}', d.dir)}apparmor_hat = a\n`);
    const from = d.output().length;
    d.signal('SIGUSR2');
    await d.waitForOutput(/ERROR: reloading failed \([^)]*php-fpm\.conf:7\): the running configuration stays in force/, 10_000, from);
    assert.match(d.output().slice(from), /ERROR: \[pool www\] (failed to query apparmor confinement|apparmor_hat = 'a' cannot be applied)/);
    const r = await fcgiRequest({ path: join(d.dir, 'www.sock') }, scriptParams(docroot, '/pid.php'));
    assert.ok(Number(r.body.toString()) > 0);
  } finally {
    await d.stop();
  }
});
