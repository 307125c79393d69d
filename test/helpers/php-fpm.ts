// The reference implementation: Debian's real php-fpm8.2 in the foreground on a
// generated php-fpm.conf, reading the same php.ini as tsfpm's children
// (/etc/php/8.2/fpm/php.ini; no -n).
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { READY_RE } from './daemon.js';
import { startForeground } from './foreground.js';
import { makeTempDir } from './tmp.js';

export const PHP_FPM_BIN = '/usr/sbin/php-fpm8.2';

export interface PhpFpmOptions {
  /** php-fpm.conf text; every `{dir}` is replaced by the temp dir. */
  conf: string;
  /** Added to php-fpm's command line (e.g. `-c php.ini`). */
  args?: string[];
}

export interface PhpFpm {
  proc: ChildProcess;
  dir: string;
  confPath: string;
  /** stdout and stderr so far (-O: the log goes there too). */
  output(): string;
  stop(): Promise<void>;
}

/** `php-fpm8.2 -F -O -y CONF` (plus --allow-to-run-as-root as root); resolves once it is ready. */
export async function startPhpFpm(opts: PhpFpmOptions): Promise<PhpFpm> {
  const dir = makeTempDir('tsfpm-phpfpm-');
  const confPath = join(dir, 'php-fpm.conf');
  writeFileSync(confPath, opts.conf.replaceAll('{dir}', dir));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const fg = await startForeground({
    name: 'php-fpm8.2',
    cmd: PHP_FPM_BIN,
    args: ['-F', '-O', '-y', confPath, ...(isRoot ? ['--allow-to-run-as-root'] : []), ...(opts.args ?? [])],
    cwd: dir,
    env: process.env,
    ready: (out) => READY_RE.test(out),
    logs: [join(dir, 'error.log')],
    // TERM: php-fpm's fast shutdown (QUIT would wait for requests).
    stopSignals: [['SIGTERM', 5000]],
  });
  return { proc: fg.proc, dir, confPath, output: fg.output, stop: fg.stop };
}
