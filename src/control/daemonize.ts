// daemonize = yes without fork(): Node cannot fork safely, so the launcher
// re-spawns itself detached and waits for the new master to say whether init
// worked (php-fpm's launcher waits on a pipe the same way): exit 0 or 70.
import { spawn } from 'node:child_process';

const MARK = 'TSFPM_DAEMONIZED';

/** In the launcher: returns its exit code. In the daemon (or foreground): null. */
export async function daemonizeIfAsked(daemonize: boolean): Promise<number | null> {
  if (!daemonize || process.env[MARK] === '1') return null;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [MARK]: '1' },
  });
  return new Promise((resolve) => {
    child.once('message', (m) => {
      child.disconnect();
      child.unref();
      resolve(m === 'ready' ? 0 : 70);
    });
    child.once('exit', () => resolve(70));
  });
}

/** In the daemon: tell the launcher how init went and detach from it. */
export function reportReady(ok: boolean): void {
  if (process.env[MARK] !== '1' || typeof process.send !== 'function') return;
  process.send(ok ? 'ready' : 'failed', () => {
    if (process.connected) process.disconnect();
  });
  delete process.env[MARK];
}
