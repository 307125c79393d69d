// error_log = syslog: php-fpm's messages on the real syslog socket (/dev/log),
// as php-fpm sends them (zlog.c vzlog, main/php_syslog.c): openlog(ident,
// LOG_PID | LOG_CONS, facility), each message `[NOTICE] text` (debug:
// `[NOTICE] fn(), line N: text`), no timestamp of its own.
//
// php-fpm's quirks, kept: the priority is the configured log_level's, not the
// message's (php_syslog(syslog_priorities[zlog_level], ...)), so with
// log_level = notice an ERROR arrives as facility.notice; php_syslog's default
// filter (syslog.filter = no-ctrl) writes control characters as `\xNN` and
// sends each line of a multi-line message as a message of its own.
//
// Node has no unix datagram sockets (/dev/log is one for rsyslog and
// journald alike), so the datagrams are sent by util-linux's logger (Debian's
// bsdutils, Essential), one long-lived process fed `<PRI>text` lines: it
// sends what glibc's syslog() sends, `<PRI>Nov 30 22:25:18 ident[PID]: text`
// with the master's pid (--id). Without logger the lines go to stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import type { LogLevel } from './error-log.js';
import { FACILITIES } from '../config/directives.js';

/** syslog(3) priorities of php-fpm's levels (zlog.c syslog_priorities). */
const PRIORITY: Record<LogLevel, number> = { debug: 7, notice: 5, warning: 4, error: 3, alert: 1 };

/** `<PRI>` value: facility | priority of the configured log_level. */
export function syslogPri(facility: string, logLevel: LogLevel): number {
  return (FACILITIES[facility.toUpperCase()] ?? FACILITIES.DAEMON) | PRIORITY[logLevel];
}

/**
 * php_syslog_str with syslog.filter = no-ctrl: printable ASCII and bytes
 * >= 0x80 pass, other control bytes become `\xNN`, each '\n' ends a message.
 * Returns the messages (latin1 strings of the UTF-8 bytes).
 */
export function syslogMessages(text: string): string[] {
  const bytes = Buffer.from(text);
  const out: string[] = [];
  let cur = '';
  for (const c of bytes) {
    if ((c >= 0x20 && c <= 0x7e) || c >= 0x80) cur += String.fromCharCode(c);
    else if (c === 0x0a) { out.push(cur); cur = ''; }
    else cur += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  out.push(cur);
  return out;
}

export interface SyslogOptions {
  ident: string;
  facility: string;
  /** The socket (tests point it elsewhere). */
  socket?: string;
  /** Where lines go when logger cannot run. */
  fallback: (line: string) => void;
}

export class Syslog {
  private proc: ChildProcess | null = null;
  private failed = false;

  constructor(private readonly o: SyslogOptions) {
    this.start();
  }

  /** Sends `[LEVEL] text` (already formatted, log_limit applied) at `pri`. */
  send(pri: number, line: string): void {
    const msgs = syslogMessages(line);
    if (this.failed || this.proc === null || this.proc.stdin === null) {
      for (const m of msgs) this.o.fallback(m);
      return;
    }
    this.proc.stdin.write(Buffer.from(msgs.map((m) => `<${pri}>${m}\n`).join(''), 'latin1'));
  }

  close(): void {
    this.proc?.stdin?.end();
    this.proc = null;
  }

  private start(): void {
    const args = [
      '--prio-prefix', '-t', this.o.ident, `--id=${process.pid}`, '-u', this.o.socket ?? '/dev/log',
      // php-fpm's lines go up to log_limit (or 2048) bytes; logger's default cuts at 1024.
      '--size', '65536', '--socket-errors=off',
    ];
    let proc: ChildProcess;
    try {
      proc = spawn('logger', args, { stdio: ['pipe', 'ignore', 'ignore'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    } catch {
      this.failed = true;
      return;
    }
    proc.on('error', () => { this.failed = true; });
    proc.on('exit', () => { if (this.proc === proc) this.failed = true; });
    proc.stdin?.on('error', () => { this.failed = true; });
    // The master must not wait for it: it ends when its stdin closes (the master exits).
    proc.unref();
    (proc.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.proc = proc;
  }
}
