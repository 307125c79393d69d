// Process titles (issue 8 B): php-cgi exec'd through perl with argv[0] =
// `php-fpm: pool NAME`, environment untouched, and no title rather than a
// child that cannot start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PERL, procTitle, titledPlan, withTitle } from '../../src/php/proc-title.js';

const perlTest = { skip: PERL === null ? 'no perl' : false };

test('procTitle: php-fpm\'s worker title', () => {
  assert.equal(procTitle('www'), 'php-fpm: pool www');
});

test('withTitle: perl execs the plan\'s command with the title as argv[0] and the plan\'s arguments and environment', () => {
  const plan = { command: 'php-cgi', args: ['-c', '/etc/php.ini', '-d', 'x=1'], env: { A: 'b' } };
  const t = withTitle(plan, '/usr/bin/perl', 'php-fpm: pool www');
  assert.equal(t.command, '/usr/bin/perl');
  assert.deepEqual(t.args.slice(t.args.indexOf('--')), ['--', 'php-cgi', 'php-fpm: pool www', '-c', '/etc/php.ini', '-d', 'x=1']);
  assert.equal(t.env, plan.env);
});

test('titledPlan: what the exec\'d program sees is argv[0] = title, the same arguments, the same environment', perlTest, () => {
  // Names a shell would refuse and bytes beyond ASCII must pass unchanged too.
  const env = { A: 'b', 'a-b.c': 'x y', U: 'é€', PERL_UNICODE: 'SDA' };
  const plan = titledPlan({ command: '/bin/cat', args: ['/proc/self/cmdline', '/proc/self/environ'], env }, 'www');
  assert.ok(!(plan instanceof Error), String(plan));
  const r = spawnSync(plan.command, plan.args, { env: plan.env });
  assert.equal(r.status, 0, r.stderr.toString());
  const [argv, environ] = splitOutput(r.stdout);
  assert.deepEqual(argv, ['php-fpm: pool www', '/proc/self/cmdline', '/proc/self/environ']);
  assert.deepEqual(environ.sort(), Object.entries(env).map(([k, v]) => `${k}=${v}`).sort());
});

test('titledPlan: non-ASCII arguments reach the program as the same bytes, PERL_UNICODE or not', perlTest, () => {
  const env = { PERL_UNICODE: 'SDA', LANG: 'C.UTF-8' };
  const plan = titledPlan({ command: '/bin/echo', args: ['-n', 'é€'], env }, 'www');
  assert.ok(!(plan instanceof Error), String(plan));
  const r = spawnSync(plan.command, plan.args, { env });
  assert.equal(r.stdout.toString('utf8'), 'é€');
});

test('titledPlan: no title when perl fails or complains in the pool\'s environment', perlTest, () => {
  const base = { command: '/bin/true', args: [], env: {} as Record<string, string> };
  const bad = titledPlan({ ...base, env: { PERL5OPT: '-MNo::Such::Module' } }, 'www');
  assert.ok(bad instanceof Error);
  assert.match(bad.message, /exit 2.*Can't locate/);
  const noisy = titledPlan({ ...base, env: { PERL_HASH_SEED_DEBUG: '1' } }, 'www');
  assert.ok(noisy instanceof Error);
  // perl warns about a locale that is not installed at every start.
  const locale = titledPlan({ ...base, env: { LC_ALL: 'xx_YY.UTF-8' } }, 'www');
  assert.ok(locale instanceof Error);
  assert.match(locale.message, /locale/);
  assert.ok(titledPlan(base, 'www', null) instanceof Error);
});

test('titledPlan: a command that cannot be exec\'d fails as under setpriv (status 127)', perlTest, () => {
  const plan = withTitle({ command: '/nonexistent/php-cgi', args: [], env: {} }, PERL!, 'php-fpm: pool www');
  const r = spawnSync(plan.command, plan.args, { env: {}, encoding: 'utf8' });
  assert.equal(r.status, 127);
  assert.match(r.stderr, /failed to execute \/nonexistent\/php-cgi: No such file or directory/);
});

/** cat /proc/self/cmdline /proc/self/environ: the first ends where argv ends (known length). */
function splitOutput(out: Buffer): [string[], string[]] {
  const parts = out.toString('utf8').split('\0');
  parts.pop(); // after the last NUL
  return [parts.slice(0, 3), parts.slice(3)];
}
