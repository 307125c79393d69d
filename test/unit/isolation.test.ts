// Pool isolation pieces that need no process: the jail's skeleton, the exec
// chain, rlimit options and php-fpm's messages, the path walk inside a jail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planJail, jailedPlan, type Entry } from '../../src/php/jail.js';
import { apparmorRefusal, limitError, poolLimits } from '../../src/php/isolation.js';
import { resolveInJail } from '../../src/request-env/jail-path.js';

const HOST: Entry[] = [
  { name: 'usr', kind: 'dir' },
  { name: 'bin', kind: 'symlink', target: 'usr/bin' },
  { name: 'lib', kind: 'symlink', target: 'usr/lib' },
  { name: 'lib64', kind: 'symlink', target: 'usr/lib64' },
  { name: 'sbin', kind: 'symlink', target: 'usr/sbin' },
];

test('skeleton: one mount point per jail entry, symlinks copied, /usr read-only where the jail has none', () => {
  const plan = planJail('/srv/jail', '/run/t/www.root', [
    { name: 'htdocs', kind: 'dir' },
    { name: 'index.html', kind: 'file' },
    { name: 'current', kind: 'symlink', target: '/releases/5' },
    { name: 'lib', kind: 'dir' },              // the operator's own lib wins over the host's symlink
    { name: 'sock', kind: 'other' },
    { name: '.tsfpm', kind: 'dir' },
  ], HOST);
  assert.deepEqual(plan.make, [
    { op: 'dir', path: '/run/t/www.root/htdocs' },
    { op: 'file', path: '/run/t/www.root/index.html' },
    { op: 'symlink', path: '/run/t/www.root/current', target: '/releases/5' },
    { op: 'dir', path: '/run/t/www.root/lib' },
    { op: 'dir', path: '/run/t/www.root/usr' },
    { op: 'symlink', path: '/run/t/www.root/bin', target: 'usr/bin' },
    { op: 'symlink', path: '/run/t/www.root/lib64', target: 'usr/lib64' },
    { op: 'symlink', path: '/run/t/www.root/sbin', target: 'usr/sbin' },
  ]);
  assert.deepEqual(plan.binds, [
    { how: 'rw', src: '/srv/jail/htdocs', dst: '/run/t/www.root/htdocs' },
    { how: 'rw', src: '/srv/jail/index.html', dst: '/run/t/www.root/index.html' },
    { how: 'rw', src: '/srv/jail/lib', dst: '/run/t/www.root/lib' },
    { how: 'ro', src: '/usr', dst: '/run/t/www.root/usr' },
  ]);
  assert.deepEqual(plan.skipped, ['sock', '.tsfpm']);
});

test('exec chain: private mount namespace, then the jailer, then the plan', () => {
  const p = jailedPlan({ command: '/usr/bin/setpriv', args: ['--', 'php-cgi'], env: { A: '1' } },
    { unshare: '/usr/bin/unshare', perl: '/usr/bin/perl', skel: '/r/www.root', wd: '/htdocs', binds: [{ how: 'ro', src: '/usr', dst: '/r/www.root/usr' }] });
  assert.equal(p.command, '/usr/bin/unshare');
  assert.deepEqual(p.args.slice(0, 6), ['--mount', '--propagation', 'private', '--', '/usr/bin/perl', '-e']);
  assert.match(p.args[6], /O_NOFOLLOW/);
  assert.deepEqual(p.args.slice(7), ['/r/www.root', '/htdocs', 'ro', '/usr', '/r/www.root/usr', '--', '/usr/bin/setpriv', '--', 'php-cgi']);
  assert.deepEqual(p.env, { A: '1' });
});

test('rlimits: prlimit options, 0 = the system\'s, -1 = unlimited core', () => {
  assert.deepEqual(poolLimits({ rlimitFiles: 0, rlimitCore: 0 }), []);
  assert.deepEqual(poolLimits({ rlimitFiles: 1234, rlimitCore: -1 }).map((l) => `${l.flag}=${l.value}`), ['--nofile=1234:1234', '--core=unlimited:unlimited']);
});

test("rlimit failure: php-fpm's message, with errno", () => {
  const [files] = poolLimits({ rlimitFiles: 99999999, rlimitCore: 0 });
  assert.equal(limitError('www', files, 'Operation not permitted'),
    '[pool www] failed to set rlimit_files for this pool. Please check your system limits or decrease rlimit_files. setrlimit(RLIMIT_NOFILE, 99999999): Operation not permitted (1)');
  const [core] = poolLimits({ rlimitFiles: 0, rlimitCore: 5 });
  assert.equal(limitError(null, core, 'Invalid argument'),
    'failed to set rlimit_core for this pool. Please check your system limits or decrease rlimit_core. setrlimit(RLIMIT_CORE, 5): Invalid argument (22)');
});

test('apparmor_hat: refused, with php-fpm\'s message where AppArmor is absent', () => {
  assert.equal(apparmorRefusal({ name: 'www', apparmorHat: null }), null);
  assert.equal(apparmorRefusal({ name: 'www', apparmorHat: 'a' }, () => { throw new Error('no'); }),
    '[pool www] failed to query apparmor confinement. Please check if "/proc/*/attr/current" is read and writeable.');
  assert.match(apparmorRefusal({ name: 'www', apparmorHat: 'a' }, () => 'php-fpm')!, /^\[pool www\] apparmor_hat = 'a' cannot be applied: .*'php-fpm\/\/a'.*Refusing to run the pool unconfined/);
});

test('paths inside a jail: absolute symlinks and .. stay in the jail', () => {
  const fsmap: Record<string, string | null> = {
    '/j/htdocs': null, '/j/htdocs/x.php': null, '/j/current': '/releases/5', '/j/releases': null, '/j/releases/5': null,
    '/j/releases/5/i.php': null, '/j/up': '../../..', '/j/loop': '/loop',
  };
  const links = { readlink(p: string): string | null { if (!(p in fsmap)) throw new Error('ENOENT'); return fsmap[p]; } };
  assert.equal(resolveInJail('/j', '/htdocs/x.php', links), '/j/htdocs/x.php');
  assert.equal(resolveInJail('/j', '/current/i.php', links), '/j/releases/5/i.php');
  assert.equal(resolveInJail('/j', '/htdocs/../../../htdocs/x.php', links), '/j/htdocs/x.php');
  assert.equal(resolveInJail('/j', '/up/htdocs/x.php', links), '/j/htdocs/x.php');
  assert.equal(resolveInJail('/j', '/etc/shadow', links), null);
  assert.equal(resolveInJail('/j', '/loop/x', links), null);
});
