// systemd Type=notify: what php-fpm's systemd build sends on $NOTIFY_SOCKET
// (fpm_systemd.c) — READY=1 with STATUS=Ready to handle connections and
// MAINPID once serving, then every systemd_interval READY=1 and a STATUS line
// with the pools' figures (WATCHDOG=1 too when the unit has WatchdogSec=) —
// plus what php-fpm does not send: RELOADING=1 … READY=1 around a reload and
// STOPPING=1 when a stop begins.
//
// Node cannot send a unix datagram (dgram has no AF_UNIX, posix-node's
// connect() truncates the path to 14 bytes), so each notification is one run
// of systemd's own systemd-notify(1), spawned without blocking the master,
// one at a time so they arrive in order. systemd 252 (Debian 12) sends it with
// its parent's pid (the master's) in SCM_CREDENTIALS when it runs as root,
// and waits until systemd has read it (BARRIER=1), so the message is
// attributed to the unit even though the sender exits at once; its barrier
// message comes from its own pid, hence NotifyAccess=all in conf/tsfpm.service.
// One notification per systemd_interval (10 s by default): nothing on the
// request path. Without $NOTIFY_SOCKET nothing is sent (php-fpm's sd_notify() does
// nothing either), but the start-up NOTICE is logged as php-fpm logs it.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const NOTIFY = ['/usr/bin/systemd-notify', '/bin/systemd-notify'].find((p) => fs.existsSync(p)) ?? null;

export interface Figures { active: number; idle: number; requests: number; slow: number }

/** php-fpm's heartbeat STATUS (requests since the last one, per second of the interval). */
export function statusMessage(f: Figures, lastRequests: number, intervalMs: number, watchdog: boolean): string {
  const traffic = ((f.requests - lastRequests) * 1000) / intervalMs;
  return `READY=1\n${watchdog ? 'WATCHDOG=1\n' : ''}STATUS=Processes active: ${f.active}, idle: ${f.idle}, Requests: ${f.requests}, slow: ${f.slow}, Traffic: ${traffic.toFixed(2)}req/sec`;
}

export interface Heartbeat {
  intervalMs: number;           // 0: no heartbeat
  watchdog: boolean;
  lines: Array<{ level: 'notice' | 'warning' | 'debug'; text: string }>;
}

/**
 * php-fpm's fpm_systemd_conf() and the NOTICE its heartbeat logs at start:
 * WATCHDOG_USEC (from WatchdogSec=) wins, at half the period, when over 1 s.
 */
export function heartbeat(systemdIntervalSeconds: number, watchdogUsec: string | undefined): Heartbeat {
  const lines: Heartbeat['lines'] = [];
  let ms = 0;
  if (watchdogUsec !== undefined) {
    ms = Math.trunc(Number.parseInt(watchdogUsec, 10) / 2000) || 0;
    lines.push({ level: 'debug', text: `WATCHDOG_USEC=${watchdogUsec}, interval=${ms}` });
  }
  if (ms > 1000) {
    // php-fpm warns when the directive was set; tsfpm sees only values other than its default.
    if (systemdIntervalSeconds > 0 && systemdIntervalSeconds !== 10) lines.push({ level: 'warning', text: 'systemd_interval option ignored' });
    lines.push({ level: 'notice', text: `systemd watchdog configured to ${g3(ms / 1000)}sec` });
    lines.push({ level: 'notice', text: `systemd monitor interval set to ${ms}ms` });
    return { intervalMs: ms, watchdog: true, lines };
  }
  ms = Math.round(systemdIntervalSeconds * 1000);
  lines.push({ level: 'notice', text: ms > 0 ? `systemd monitor interval set to ${ms}ms` : 'systemd monitor disabled' });
  return { intervalMs: ms, watchdog: false, lines };
}

/** printf's %.3g for the positive values above. */
function g3(x: number): string {
  return String(Number(x.toPrecision(3)));
}

export class SystemdNotifier {
  private queue: string[] = [];
  private running = false;
  private idle: Array<() => void> = [];

  /** null without $NOTIFY_SOCKET; `missing` is set when systemd-notify is not installed. */
  static fromEnv(env: NodeJS.ProcessEnv, onError: (msg: string) => void): SystemdNotifier | null {
    if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return null;
    if (NOTIFY === null) {
      onError('NOTIFY_SOCKET is set but systemd-notify is not installed: systemd is not told anything');
      return null;
    }
    return new SystemdNotifier(NOTIFY, env, onError);
  }

  constructor(private readonly tool: string, private readonly env: NodeJS.ProcessEnv, private readonly onError: (msg: string) => void) {}

  /** Sends `message` (lines VAR=VALUE) after those already queued. */
  send(message: string): void {
    this.queue.push(message);
    if (!this.running) this.next();
  }

  /** Resolves once everything queued was handed to systemd, or after `ms`. */
  flush(ms = 1000): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.idle.push(() => { clearTimeout(t); resolve(); });
    });
  }

  private next(): void {
    const message = this.queue.shift();
    if (message === undefined) {
      this.running = false;
      for (const f of this.idle.splice(0)) f();
      return;
    }
    this.running = true;
    // One argument per line; systemd-notify joins them with '\n' again.
    const p = spawn(this.tool, message.split('\n'), { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let done = false;
    const finish = (why: string | null): void => {
      if (done) return;
      done = true;
      if (why !== null) this.onError(`systemd-notify ${message.split('\n')[0]} failed: ${why}`);
      this.next();
    };
    p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', (e) => finish(e.message));
    p.on('close', (code) => finish(code === 0 ? null : err.trim().split('\n')[0] || `exit ${code}`));
  }
}

/** The master's side: start-up, heartbeat, reload and stop notifications. */
export class SystemdMonitor {
  private timer: NodeJS.Timeout | null = null;
  private lastRequests = 0;
  private hb: Heartbeat | null = null;

  constructor(
    private readonly notifier: SystemdNotifier | null,
    private readonly figures: () => Figures,
    private readonly log: { log(level: 'notice' | 'warning' | 'debug', text: string): void },
  ) {}

  /** php-fpm's fpm_systemd_heartbeat() at start, right after `ready to handle connections`. */
  ready(systemdIntervalSeconds: number, env: NodeJS.ProcessEnv = process.env): void {
    this.hb = heartbeat(systemdIntervalSeconds, env.WATCHDOG_USEC);
    if (this.notifier !== null) {
      this.notifier.send(`READY=1\nSTATUS=Ready to handle connections\nMAINPID=${process.pid}`);
      this.log.log('debug', 'have notify start to systemd');
    }
    // Only under systemd: outside it the line is noise, and php-fpm built
    // without systemd (the build php-src's own tests expect) never logs it.
    if (env.NOTIFY_SOCKET !== undefined && env.NOTIFY_SOCKET !== '') for (const l of this.hb.lines) this.log.log(l.level, l.text);
    if (this.notifier !== null && this.hb.intervalMs > 0) {
      this.timer = setInterval(() => this.beat(), this.hb.intervalMs);
      this.timer.unref();
    }
  }

  private beat(): void {
    if (this.notifier === null || this.hb === null) return;
    const f = this.figures();
    this.notifier.send(statusMessage(f, this.lastRequests, this.hb.intervalMs, this.hb.watchdog));
    this.lastRequests = f.requests;
  }

  reloading(): void {
    this.notifier?.send('RELOADING=1\nSTATUS=Reloading in progress ...');
  }

  /** After a reload, done or refused: serving again. */
  reloaded(): void {
    this.notifier?.send('READY=1\nSTATUS=Ready to handle connections');
  }

  stopping(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.notifier?.send('STOPPING=1');
  }

  /** Waits (at most 1 s) until what was queued reached systemd. */
  flush(): Promise<void> {
    return this.notifier?.flush() ?? Promise.resolve();
  }
}
