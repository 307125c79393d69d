// emergency_restart_threshold / emergency_restart_interval: php-fpm keeps the
// times of the last `threshold` children that died of SIGSEGV or SIGBUS (a
// corrupted opcode cache, a broken extension) and reloads when all of them
// fall within `interval` seconds (fpm_children_bury(), fpm_children.c). Pure:
// the master feeds it crashes and does the reload.
//
// What counts as a crash (docs/lifecycle.md):
// - a child tsfpm spawned itself (dynamic, ondemand, TSFPM_SHARED_PARENT=0)
//   that exits on SIGSEGV or SIGBUS, as php-fpm counts;
// - a static pool's shared php-cgi parent that exits on SIGSEGV or SIGBUS;
// - a worker of a shared parent that is gone while tsfpm was neither retiring
//   it (pm.max_requests) nor stopping the pool, and not because its parent
//   died: the parent reaps it, so its signal cannot be seen, and a php-cgi
//   worker does not exit on its own (PHP_FCGI_MAX_REQUESTS=0; fatal errors
//   end the request, not the process). An operator's kill or the OOM killer
//   therefore counts there too.

/** The signals php-fpm counts. */
export function isCrashSignal(signal: NodeJS.Signals | null): boolean {
  return signal === 'SIGSEGV' || signal === 'SIGBUS';
}

export class CrashWindow {
  // php-fpm's last_faults[]: a ring of whole seconds, zero until filled (a
  // zero slot is never within the interval, so `threshold` crashes are needed).
  private readonly times: number[];
  private next = 0;

  /** null when either directive is 0 (php-fpm then keeps no ring at all). */
  static create(threshold: number, intervalSeconds: number): CrashWindow | null {
    return threshold > 0 && intervalSeconds > 0 ? new CrashWindow(threshold, intervalSeconds) : null;
  }

  private constructor(readonly threshold: number, readonly interval: number) {
    this.times = new Array<number>(threshold).fill(0);
  }

  /** Records a crash at `nowSeconds` (time(2)); true when the threshold is reached. */
  record(nowSeconds: number): boolean {
    const now = Math.floor(nowSeconds);
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.threshold;
    return this.times.every((t) => now - t <= this.interval);
  }

  /** After the restart: php-fpm's re-exec starts with an empty ring. */
  reset(): void {
    this.times.fill(0);
    this.next = 0;
  }

  /** php-fpm's WARNING. */
  message(): string {
    return `failed processes threshold (${this.threshold} in ${this.interval} sec) is reached, initiating reload`;
  }
}
