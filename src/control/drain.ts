// Graceful stop of a set of pools, as QUIT stops the running configuration
// and a reload the one it replaces: no new requests, queued and running
// requests finish, then the children go. php-fpm SIGQUITs its workers, then
// after process_control_timeout SIGTERMs them, then 1 s later SIGKILLs them;
// with its default timeout 0 that kills running requests at once. tsfpm's
// graceful signal to php-cgi is SIGTERM (it finishes the request it runs, see
// Pool.stop), and only running requests are waited for:
//
// - process_control_timeout > 0: whatever is left after it is SIGKILLed (a
//   php-cgi ignores a second SIGTERM during a request, so TERM is no stronger
//   than the first; KILL is php-fpm's last measure too);
// - any timeout: once nothing runs, waits or holds a child for two ticks in a
//   row (>= 1 s), children still alive ignored their SIGTERM (a script that
//   blocked it, php-src reload-uses-sigkill-as-last-measure) and are SIGKILLed.
//   No request can be lost there.
import type { ErrorLog } from '../log/error-log.js';
import type { Pool } from '../pool/pool.js';

export interface Drain {
  /** Settles when every pool is empty. */
  readonly done: Promise<void>;
  /** Stops the escalation timer (a QUIT or TERM takes over). */
  cancel(): void;
}

const TICK_MS = 1000;

export function drainPools(pools: readonly Pool[], timeoutSec: number, log: ErrorLog): Drain {
  const started = Date.now();
  let quietTicks = 0;
  let timer: NodeJS.Timeout | null = setInterval(() => {
    const over = timeoutSec > 0 && Date.now() - started >= timeoutSec * 1000;
    quietTicks = pools.every((p) => p.quiet) ? quietTicks + 1 : 0;
    if (!over && quietTicks < 2) return;
    for (const p of pools) {
      if (p.children.size === 0) continue;
      log.debug(`[pool ${p.name}] sending SIGKILL to ${p.children.size} child(ren) still alive ${over ? `after process_control_timeout (${timeoutSec}s)` : 'with no request left'}`);
      p.killAll();
    }
  }, TICK_MS);
  timer.unref();
  const cancel = (): void => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const done = Promise.all(pools.map((p) => p.stop(true))).then(cancel);
  return { done, cancel };
}
