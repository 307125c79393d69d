// php-fpm's error log (reference §7): `[25-Nov-2026 19:55:34] NOTICE: msg`.
// formatLine() is pure; ErrorLog owns the destinations. The file writer is
// sonic-boom, pino's destination (what `pino.destination()` returns), used
// directly: O_APPEND, synchronous (a master log line must survive an immediate
// process.exit), reopenable for SIGUSR1. Loading all of pino costs the master
// ~8 MiB, so pino itself is loaded only for TSFPM_LOG_FORMAT=json, where its
// JSON lines are the point.
import SonicBoom from 'sonic-boom';
import type { Logger } from 'pino';
import { Syslog, syslogPri } from './syslog.js';
import fs from 'node:fs';
import os from 'node:os';

export type LogLevel = 'debug' | 'notice' | 'warning' | 'error' | 'alert';

const RANK: Record<LogLevel, number> = { debug: 1, notice: 2, warning: 3, error: 4, alert: 5 };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface FormatOptions {
  debug?: boolean;            // log_level = debug: microseconds + `pid N, fn(), line L: `
  limit?: number;             // log_limit: max chars without the trailing '\n'
  pid?: number;
  usec?: number;              // sub-second part in µs for the debug form (Date has only ms)
  func?: string;              // php-fpm prints the C function; we print the caller's label
  line?: number;
  syserror?: boolean;         // the message ends with `: strerror (errno)` (ZLOG_SYSERROR)
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `25-Nov-2026 19:55:34` in local time, as strftime("%d-%b-%Y %H:%M:%S"). */
export function formatDate(date: Date): string {
  return `${pad(date.getDate())}-${MONTHS[date.getMonth()]}-${date.getFullYear()} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** One log line including its '\n'. */
export function formatLine(level: LogLevel, msg: string, date: Date, opts: FormatOptions = {}): string {
  let stamp = formatDate(date);
  let body = msg;
  if (opts.debug) {
    const usec = opts.usec ?? date.getMilliseconds() * 1000;
    stamp += `.${pad(usec, 6)}`;
    body = `pid ${opts.pid ?? process.pid}, ${opts.func ?? 'tsfpm'}(), line ${opts.line ?? 0}: ${msg}`;
  }
  return truncate(`[${stamp}] ${level.toUpperCase()}: ${body}`, opts.limit, opts.syserror) + '\n';
}

/** php-fpm formats a log line into a buffer of this size (zlog.c MAX_BUF_LENGTH). */
export const LINE_BUFFER = 2048;

/**
 * log_limit as php-fpm applies it to its own lines (zlog.c vzlog): a line is
 * cut only when it does not fit php-fpm's 2048-byte buffer, or, for a line
 * with `: strerror (errno)` appended (`syserror`), when it reaches log_limit;
 * then it keeps min(log_limit, 2048) - 1 characters, the last three `...`.
 * A 1500-character line under log_limit = 1024 is written whole (checked
 * against php-fpm8.2).
 */
export function truncate(line: string, limit?: number, syserror = false): string {
  const len = Buffer.byteLength(line);
  const over = len >= LINE_BUFFER || (syserror && limit !== undefined && len >= limit);
  if (!over) return line;
  const keep = Math.min(limit ?? LINE_BUFFER, LINE_BUFFER) - 1;
  if (keep <= 3) return line;
  return Buffer.from(line).subarray(0, keep - 3).toString() + '...';
}

/**
 * errno after a getpwnam()/getgrnam() that found no entry: 0, which php-fpm's
 * ZLOG_SYSERROR lines print as `: Success (0)`.
 */
export const LOOKUP_ERRNO: NodeJS.ErrnoException = Object.freeze(Object.assign(new Error('Success'), { errno: 0 }));

/** `: No such file or directory (2)`, php-fpm's zlog suffix for system errors. */
export function strerrorSuffix(err: NodeJS.ErrnoException): string {
  const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : 0;
  const code = err.code ?? '';
  if (errno === 0 && code === '') return ': Success (0)';
  const text = STRERROR[code] ?? err.message.replace(/^[A-Z]+: /, '').replace(/, .*$/, '');
  return `: ${text} (${errno || (os.constants.errno as Record<string, number>)[code] || 0})`;
}

// glibc strerror() texts for the errors a master meets; Node's messages differ.
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory', EACCES: 'Permission denied', EEXIST: 'File exists',
  EISDIR: 'Is a directory', ENOTDIR: 'Not a directory', EPERM: 'Operation not permitted',
  EADDRINUSE: 'Address already in use', EADDRNOTAVAIL: 'Cannot assign requested address',
  ECONNREFUSED: 'Connection refused', EINVAL: 'Invalid argument', EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device', EROFS: 'Read-only file system', ESRCH: 'No such process',
  EAGAIN: 'Resource temporarily unavailable', EPIPE: 'Broken pipe', ECHILD: 'No child processes',
  ENAMETOOLONG: 'File name too long', ELOOP: 'Too many levels of symbolic links',
};

export interface ErrorLogTarget {
  errorLog: string;           // absolute path or 'syslog'
  logLevel?: LogLevel;
  logLimit?: number;
  logBuffering?: boolean;     // log_buffering (worker output records, src/log/zlog-stream.ts)
  syslogIdent?: string;       // syslog.ident, syslog.facility (error_log = syslog)
  syslogFacility?: string;
  daemonize: boolean;
  forceStderr?: boolean;      // -O
}

type Writer = { write(s: string | Buffer): unknown; reopen?(): void; flushSync?(): void; destroy?(): void; fd?: number };

/**
 * Destinations (§7): before configure() everything goes to stderr. After it:
 * daemonize=no with a TTY stderr or -O → stderr only; otherwise error_log,
 * and until startupDone() (called before `fpm is running`) NOTICE+ lines are
 * copied to stderr as well.
 */
export class ErrorLog {
  private level: LogLevel = 'notice';
  private limit: number | undefined;
  private buffering = true;
  private file: (Writer & { reopen(): void }) | null = null;
  private toStderr = true;
  /** error_log = syslog (not in the foreground on a TTY or with -O): src/log/syslog.ts. */
  private syslog: Syslog | null = null;
  private syslogFacility = 'DAEMON';
  private launched = false;
  private readonly stderr: Writer;
  private readonly now: () => Date;

  constructor(opts: { stderr?: Writer; now?: () => Date } = {}) {
    this.stderr = opts.stderr ?? process.stderr;
    this.now = opts.now ?? (() => new Date());
  }

  /** Switch to the configured destination; throws the open error (caller reports it). */
  configure(t: ErrorLogTarget, stderrIsTty = Boolean(process.stderr.isTTY)): void {
    if (t.logLevel) this.level = t.logLevel;
    this.limit = t.logLimit;
    if (t.logBuffering !== undefined) this.buffering = t.logBuffering;
    const foregroundStderr = !t.daemonize && (stderrIsTty || Boolean(t.forceStderr));
    if (foregroundStderr) {
      this.closeFile();
      this.toStderr = true;
      return;
    }
    if (t.errorLog === 'syslog') {
      this.closeFile();
      const stderr = this.stderr;
      this.syslogFacility = t.syslogFacility ?? 'DAEMON';
      this.syslog = new Syslog({ ident: t.syslogIdent ?? 'php-fpm', facility: this.syslogFacility, fallback: (l) => stderr.write(`${l}\n`) });
      this.toStderr = false;
      return;
    }
    const dest = new SonicBoom({ dest: t.errorLog, append: true, sync: true, mode: 0o600, mkdir: false });
    this.closeFile();
    this.file = dest;
    this.toStderr = false;
  }

  /**
   * TSFPM_LOG_FORMAT=json: the same messages as pino JSON lines
   * (`{"level":"notice","time":…,"pid":…,"msg":…}`), for log shippers.
   */
  useJson(): void {
    const pino = require('pino') as typeof import('pino');
    const levels = { debug: 20, notice: 30, warning: 40, error: 50, alert: 60 };
    this.json = pino.default({
      customLevels: levels, useOnlyCustomLevels: true, level: this.level,
      base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label: string) => ({ level: label }) },
    }, (this.file ?? this.stderr) as NodeJS.WritableStream) as unknown as Logger<LogLevel>;
  }

  private json: Logger<LogLevel> | null = null;

  setLevel(level: LogLevel): void {
    this.level = level;
    if (this.json !== null) this.json.level = level;
  }
  getLevel(): LogLevel { return this.level; }
  /** log_limit, as soon as php-fpm applies it (before error_log is open). */
  setLimit(limit: number | undefined): void { this.limit = limit; }
  /** log_limit in force (php-fpm's default 1024 until configured). */
  getLimit(): number { return this.limit ?? 1024; }
  /** log_buffering in force. */
  getBuffering(): boolean { return this.buffering; }
  /** A line at `level` would be written (php-fpm: level >= log_level). */
  enabled(level: LogLevel): boolean { return RANK[level] >= RANK[this.level]; }
  /** The error_log fd (for pointing a daemon's stderr at it), or null when logging to stderr. */
  get fd(): number | null { return this.file?.fd ?? null; }

  /** Just before `fpm is running` (php-fpm's zlog_set_launched()): stop copying NOTICE+ to stderr. */
  startupDone(): void { this.launched = true; }

  /** A reload logs like php-fpm's re-exec'd image: NOTICE+ copied to stderr again until startupDone(). */
  relaunch(): void { this.launched = false; }

  /** SIGUSR1: reopen error_log (logrotate moved it). */
  reopen(): void { this.file?.reopen(); }

  debug(msg: string): void { this.log('debug', msg); }
  notice(msg: string): void { this.log('notice', msg); }
  warning(msg: string): void { this.log('warning', msg); }
  error(msg: string): void { this.log('error', msg); }
  alert(msg: string): void { this.log('alert', msg); }

  /** zlog(ZLOG_SYSERROR): message + `: <strerror> (<errno>)`. */
  syserror(level: LogLevel, msg: string, err: NodeJS.ErrnoException): void {
    this.log(level, msg + strerrorSuffix(err), true);
  }

  log(level: LogLevel, msg: string, syserror = false): void {
    if (RANK[level] < RANK[this.level]) return;
    if (this.json !== null) { this.json[level](truncate(msg, this.limit, syserror)); return; }
    if (this.syslog !== null) { this.toSyslog(level, msg, syserror); return; }
    const date = this.now();
    const line = formatLine(level, msg, date, { debug: this.level === 'debug', limit: this.limit, syserror });
    this.writeLine(line, RANK[level] >= RANK.notice);
  }

  /** `[LEVEL] msg` (debug: `[LEVEL] fn(), line N: msg`), at log_level's priority; NOTICE+ copied to stderr until started. */
  private toSyslog(level: LogLevel, msg: string, syserror: boolean): void {
    const head = `[${level.toUpperCase()}] ${this.level === 'debug' ? 'tsfpm(), line 0: ' : ''}`;
    const line = truncate(head + msg, this.limit, syserror);
    (this.syslog as Syslog).send(syslogPri(this.syslogFacility, this.level), line);
    if (!this.launched && RANK[level] >= RANK.notice) this.stderr.write(`${line}\n`);
  }

  /**
   * The start of a record of a zlog stream (worker output): php-fpm's
   * zlog_buf_prefix, `[25-Nov-2026 19:55:34] WARNING: `; at log_level = debug
   * `[… .135514] WARNING: pid 42, (null)(), line 0: ` (a worker-output stream
   * has no function name, and php-fpm prints NULL as glibc does). Empty in
   * JSON mode, where workerRecord() adds level and time.
   */
  streamPrefix(level: LogLevel): string {
    if (this.json !== null) return '';
    const date = this.now();
    let p = `[${formatDate(date)}`;
    if (this.level === 'debug') p += `.${pad(date.getMilliseconds() * 1000, 6)}] ${level.toUpperCase()}: pid ${process.pid}, (null)(), line 0: `;
    else p += `] ${level.toUpperCase()}: `;
    return p;
  }

  /**
   * Bytes of worker-output records (latin1: one char per byte, as the
   * workers wrote them), where php-fpm's master writes them: its stderr,
   * which is error_log once started (/dev/null with error_log = syslog), or
   * the terminal in the foreground. Not copied to stderr before start-up ends.
   */
  workerRecord(bytes: string): void {
    if (this.json !== null) {
      // The workers' bytes are UTF-8 more often than not; JSON wants text.
      for (const line of Buffer.from(bytes, 'latin1').toString().split('\n')) if (line !== '') this.json.warning(line);
      return;
    }
    // With error_log = syslog php-fpm's stderr is /dev/null: worker output is lost there.
    if (this.syslog !== null) return;
    const data = Buffer.from(bytes, 'latin1');
    if (this.toStderr || !this.file) { this.stderr.write(data); return; }
    const fd = this.file.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    try { fs.writeSync(fd, data); } catch { /* as php-fpm's zend_quiet_write */ }
  }


  /** Bare line without timestamp, e.g. the empty line after `test is successful`. */
  plain(text: string): void { this.writeLine(text + '\n', true); }

  flush(): void { this.file?.flushSync?.(); }
  close(): void { this.closeFile(); this.toStderr = true; }

  private writeLine(line: string, copyBeforeLaunch: boolean): void {
    if (this.syslog !== null) { this.syslog.send(syslogPri(this.syslogFacility, this.level), line.replace(/\n$/, '')); return; }
    if (this.toStderr || !this.file) { this.stderr.write(line); return; }
    this.file.write(line);
    if (!this.launched && copyBeforeLaunch) this.stderr.write(line);
  }

  private closeFile(): void {
    this.syslog?.close();
    this.syslog = null;
    if (!this.file) return;
    try { this.file.flushSync?.(); } catch { /* nothing buffered */ }
    this.file.destroy?.();
    this.file = null;
  }
}
