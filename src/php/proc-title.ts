// Process titles of php-cgi children. php-fpm's workers show as
// `php-fpm: pool NAME` in ps, and tools find a pool's workers that way
// (`pgrep -f 'php-fpm: pool www'`). php-cgi cannot set its own title, so it is
// exec'd with that string as argv[0]: ps and /proc/PID/cmdline show argv.
//
// The title is `php-fpm: pool NAME`, php-fpm's own ("pool %s" after the
// program name), so that what greps php-fpm's workers finds tsfpm's. php-cgi's
// arguments follow it (`php-fpm: pool www -c /etc/php/8.2/fpm/php.ini ...`);
// php-fpm blanks them. The command name (/proc/PID/comm, `ps -C`, `pgrep
// php-cgi`) stays php-cgi's: it comes from the exec'd file, not from argv[0].
// A static pool's shared php-cgi parent carries the title too (its workers
// are forks and inherit it, so it cannot differ from theirs).
//
// argv[0] has to be set by whoever execs php-cgi, which is setpriv (it execs
// its own argv, argv[0] = the file). So setpriv execs perl (perl-base is
// Essential in Debian), which execs php-cgi with the title as argv[0]
// (`exec {FILE} LIST`): one more exec at spawn time, nothing after it. Perl
// hands the environment on untouched; bash's `exec -a` would add PWD and
// SHLVL to it, and php-cgi shows its environment to PHP; dash has no `-a`.
//
// What php-cgi does with argv[0] in FastCGI mode: it is the binary's location,
// looked up on PATH, so PHP_BINARY becomes '' instead of php-cgi's path (under
// php-fpm it is php-fpm's path; neither is a CLI to run scripts with), and
// the binary's directory drops out of the php.ini search (after -c and PHPRC;
// /usr/bin has none: the same php.ini and conf.d load, checked with and
// without -c). $_SERVER['argv'] comes from the query string either way, and
// opcache is on as before (compared for one request: PHP_BINARY, loaded ini
// files, opcache, $_SERVER and the environment; only PHP_BINARY differs).
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { SpawnPlan } from './spawn-plan.js';

export const PERL = ['/usr/bin/perl', '/bin/perl'].find((p) => fs.existsSync(p)) ?? null;

/** argv[0] of a pool's php-cgi processes. */
export function procTitle(pool: string): string {
  return `php-fpm: pool ${pool}`;
}

// On failure, setpriv's message and exit status.
const EXEC_AS = 'my $f = shift; exec { $f } @ARGV; print STDERR "tsfpm: failed to execute $f: $!\\n"; exit 127;';

/** Pure: the plan with php-cgi exec'd by perl under argv[0] = title. */
export function withTitle(plan: SpawnPlan, perl: string, title: string): SpawnPlan {
  return { command: perl, args: ['-e', EXEC_AS, '--', plan.command, title, ...plan.args], env: plan.env };
}

/**
 * withTitle() when perl runs cleanly in the plan's environment (it reads
 * PERL5OPT and warns about a locale that is not installed, and a child must
 * neither fail to start nor write into the error log for a title); otherwise
 * the reason, and the plan stays as it is. One perl run per pool at start.
 */
export function titledPlan(plan: SpawnPlan, pool: string, perl: string | null = PERL): SpawnPlan | Error {
  if (perl === null) return new Error('perl not found');
  const probe = withTitle({ command: perl, args: ['-e', '0'], env: plan.env }, perl, 'tsfpm: probe');
  const r = spawnSync(probe.command, probe.args, { env: probe.env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000, encoding: 'latin1' });
  if (r.error !== undefined) return r.error;
  if (r.status !== 0 || r.stderr !== '') return new Error(`perl in the pool's environment: exit ${r.status ?? r.signal}${r.stderr !== '' ? `, ${r.stderr.split('\n')[0]}` : ''}`);
  return withTitle(plan, perl, procTitle(pool));
}
