// daemonize = yes without fork(): Node cannot fork safely, so the launcher
// re-spawns itself detached and waits for the new master to say whether init
// worked (php-fpm's launcher waits on a pipe the same way): exit 0 or 70.
// Until then the daemon's stderr is relayed to the launcher's, so startup
// errors reach the terminal; afterwards the daemon points fd 2 at error_log
// (or /dev/null), as php-fpm's master does.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Posix } from 'posix-node';
import { EXIT_OK, EXIT_SOFTWARE } from './exit-codes.js';

const MARK = 'TSFPM_DAEMONIZED';

/** True in the daemon a launcher spawned, until it reported how init went. */
export function isDaemonChild(): boolean {
  return process.env[MARK] === '1';
}

/** In the launcher: returns its exit code. In the daemon (or foreground): null. */
export async function daemonizeIfAsked(daemonize: boolean): Promise<number | null> {
  if (!daemonize || process.env[MARK] === '1') return null;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [MARK]: '1' },
  });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  return new Promise((resolve) => {
    const done = (code: number): void => {
      child.stderr?.destroy();
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.once('message', (m) => done(m === 'ready' ? EXIT_OK : EXIT_SOFTWARE));
    child.once('exit', () => done(EXIT_SOFTWARE));
  });
}

/** In the daemon: tell the launcher how init went, detach from it, move stderr off its pipe. */
export function reportReady(ok: boolean, errorLogFd: number | null): void {
  if (process.env[MARK] !== '1' || typeof process.send !== 'function') return;
  delete process.env[MARK];
  process.send(ok ? 'ready' : 'failed', () => {
    if (process.connected) process.disconnect();
    if (!ok) return;
    try {
      const posix = (require('posix-node') as { default: Posix }).default;
      const fd = errorLogFd ?? fs.openSync('/dev/null', 'w');
      posix.dup2?.(fd, 2);
    } catch {
      // stderr stays the launcher's pipe; writes to it fail quietly once it is gone.
    }
  });
}
