// A pool's access.log: the line php-fpm's worker writes after each request
// (fpm_log.c), written here by the master, which sees every request and
// reply. One AccessLog per pool (its compiled format and suppress paths),
// one ChildAccess per child (the reply head it is reading, the /proc
// readings of its process), one AccessFile per path (shared by the pools
// that name it).
//
// Cost: nothing at all for a pool without access.log (Child.access is
// null). With one: the head of each reply is read (reply-head.ts; usually
// a part of the first STDOUT record), the params the format names are
// picked in one walk at the end of the request, and the lines of up to 10 ms
// go out in one write(2) (all of them at exit). %C adds one pread(2) per
// request (proc-usage.ts); %M and %o may add a mark from the shim
// (status-mark.ts).
//
// USR1: every file is reopened (logrotate). php-fpm also makes all its
// workers exit, since each holds the log's fd; tsfpm's children hold none,
// so they keep running.
import * as fs from 'node:fs';
import SonicBoom from 'sonic-boom';
import type { PoolConfig } from '../config/types.js';
import type { Request } from '../pool/request.js';
import type { PathProbe, PathSettings } from '../request-env/fpm-env.js';
import { compileAccessFormat, renderAccessLine, TRUNCATED_NOTICE, type AccessFormat, type AccessRecord } from './access-format.js';
import { FieldReader, suppressed, type RequestFields } from './access-record.js';
import type { ErrorLog, LogLevel } from './error-log.js';
import { ProcUsage, type CpuTicks } from './proc-usage.js';
import { ReplyHead, type ReplyHeadOptions } from './reply-head.js';
import { readMark, type Marked } from './status-mark.js';

// ---- files

const files = new Map<string, AccessFile>();
let exitHooked = false;

/**
 * Lines wait at most this long, or until this much is pending: under load a
 * write(2) per request was most of the log's cost in the master (~85 % of it,
 * profiled with hello at 15k req/s).
 */
const FLUSH_MS = 10;
const FLUSH_BYTES = 64 * 1024;

/** One access log file: lines batched (FLUSH_MS, FLUSH_BYTES), written through sonic-boom (sync, O_APPEND, 0600). */
class AccessFile {
  refs = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly sonic: SonicBoom;

  constructor(readonly path: string) {
    this.sonic = new SonicBoom({ dest: path, append: true, sync: true, mode: 0o600, mkdir: false, contentMode: 'buffer' });
    // A failed write loses its lines, as php-fpm's unchecked write() does.
    this.sonic.on('error', () => { /* ignored */ });
  }

  write(line: string): void {
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pendingBytes = 0;
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'latin1');
    this.pending = [];
    try {
      this.sonic.write(data as unknown as string);
    } catch { /* see the 'error' listener */ }
  }

  /** Reopens the path; the open error when it cannot be opened (the old file is kept then). */
  reopen(): NodeJS.ErrnoException | null {
    this.flush();
    try {
      // Opened first so that a failure leaves sonic-boom on the old file.
      fs.closeSync(fs.openSync(this.path, 'a', 0o600));
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
    this.sonic.reopen();
    return null;
  }

  close(): void {
    this.flush();
    try { this.sonic.end(); } catch { /* already closed */ }
  }
}

function openFile(path: string): AccessFile {
  let f = files.get(path);
  if (f === undefined) {
    f = new AccessFile(path);
    files.set(path, f);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => { for (const file of files.values()) file.flush(); });
    }
  }
  f.refs++;
  return f;
}

function releaseFile(f: AccessFile): void {
  if (--f.refs > 0) return;
  files.delete(f.path);
  f.close();
}

/**
 * SIGUSR1, after the error log: php-fpm's `access log file re-opened`, or
 * its two errors for the first file that cannot be opened; nothing without
 * an access log.
 */
export function reopenAccessLogs(log: ErrorLog): void {
  if (files.size === 0) return;
  for (const f of files.values()) {
    const err = f.reopen();
    if (err !== null) {
      log.syserror('error', `failed to open access log (${f.path})`, err);
      log.error('unable to re-opened access log file');
      return;
    }
  }
  log.notice('access log file re-opened');
}

// ---- per pool

/** zend_memory_peak_usage(1) of a request that ran no script: the Zend heap's first chunk. */
const MIN_PEAK = 2 * 1024 * 1024;

/** php-fpm's scoreboard keeps 31 bytes of the pool name (%n). */
const POOL_NAME = 31;

/**
 * The line php-fpm's worker writes into its stderr when an access line did
 * not fit (the NOTICE from fpm_log_write(), line 171 or 471 in 8.2), or null
 * below its log_level.
 */
export function truncatedNoticeLine(level: LogLevel, where: 'text' | 'token'): string | null {
  if (level === 'debug') return `NOTICE: fpm_log_write(), line ${where === 'text' ? 171 : 471}: ${TRUNCATED_NOTICE}`;
  return level === 'notice' ? `NOTICE: ${TRUNCATED_NOTICE}` : null;
}

export interface AccessLogHost {
  /** The path facts of the pool's php.ini, and how the master sees the children's files (request_uri, %f). */
  settings: PathSettings;
  probe: PathProbe;
  /** The default Content-Type line PHP adds, and output_buffering: see reply-head.ts. */
  defaultContentType: string | null;
  outputBuffering: number;
  /** php-fpm's worker `pid` would write its "log buffer is full" NOTICE into its stderr (truncatedNoticeLine). */
  workerNotice(pid: number, where: 'text' | 'token'): void;
  /** The file could not be opened (it could when the configuration was checked): the pool logs without it. */
  openFailed(path: string, err: NodeJS.ErrnoException): void;
}

export class AccessLog {
  private readonly file: AccessFile;
  private readonly pool: string;
  private readonly suppress: readonly string[];
  readonly format: AccessFormat;
  private readonly headOpts: ReplyHeadOptions;
  private readonly fields: FieldReader;
  /** One record, refilled for each line (rendering is synchronous). */
  private readonly rec: AccessRecord & { f: RequestFields | null };

  private constructor(cfg: PoolConfig, format: AccessFormat, private readonly host: AccessLogHost) {
    this.format = format;
    this.pool = cfg.name.slice(0, POOL_NAME);
    this.suppress = cfg.accessSuppressPath;
    this.headOpts = { defaultContentType: host.defaultContentType, outputBuffering: host.outputBuffering, headers: format.needs.headers };
    this.fields = new FieldReader(format.needs, this.suppress.length > 0, host.settings, host.probe);
    const rec: AccessRecord & { f: RequestFields | null } = {
      pool: this.pool, pid: 0, masterPid: process.pid, remote: null, acceptedSec: 0, nowSec: 0, durationUs: 0,
      cpuUser: 0, cpuSystem: 0, memory: 0, status: 0, headers: [],
      method: '', uri: '', query: '', contentLength: 0n, user: '', script: '',
      f: null,
      env: (name) => rec.f?.env(name),
    };
    this.rec = rec;
    this.file = openFile(cfg.accessLog as string);
  }

  /**
   * The pool's access log, or null without one. php-fpm's status pool for
   * pm.status_listen has none. The format was checked with the
   * configuration (config/validate.ts).
   */
  static forPool(cfg: PoolConfig, host: AccessLogHost): AccessLog | null {
    if (cfg.accessLog === null || cfg.hidden) return null;
    const c = compileAccessFormat(cfg.accessFormat ?? '');
    if (!c.ok) return null;
    try {
      return new AccessLog(cfg, c.format, host);
    } catch (e) {
      host.openFailed(cfg.accessLog, e as NodeJS.ErrnoException);
      return null;
    }
  }

  /** What the status code and %o need of a reply's STDOUT; null when the format needs neither. */
  newHead(): ReplyHead | null {
    const n = this.format.needs;
    return n.headers || n.status || this.suppress.length > 0 ? new ReplyHead(this.headOpts) : null;
  }

  private readonly children = new Set<ChildAccess>();

  forChild(): ChildAccess {
    const c = new ChildAccess(this);
    this.children.add(c);
    return c;
  }

  /** @internal ChildAccess.close() */
  forget(c: ChildAccess): void {
    this.children.delete(c);
  }

  /**
   * Writes the line for a finished request, unless access.suppress_path
   * hides it. `pid` served it in `durationUs`; `head` read its reply.
   */
  write(req: Request, pid: number, durationUs: number, head: ReplyHead | null, cpu: CpuTicks | null, marked: Marked | null): void {
    const now = Date.now();
    const needs = this.format.needs;
    const status = marked !== null && marked.status !== 0 ? marked.status : head === null ? 200 : head.status;
    const f = this.fields.read(req);
    if (suppressed(this.suppress, f, status)) return;
    const remote = req.client.sock.remoteAddress;
    const rec = this.rec;
    rec.pid = pid;
    // php-fpm prints an IPv4-mapped peer as IPv4 (fcgi_get_last_client_ip).
    rec.remote = remote === undefined ? null : remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
    rec.acceptedSec = Math.floor(req.acceptedAt / 1000);
    rec.nowSec = Math.floor(now / 1000);
    rec.durationUs = durationUs;
    rec.cpuUser = cpu?.user ?? 0;
    rec.cpuSystem = cpu?.system ?? 0;
    // No mark (php-fpm's own 404 or 403, a status page, fastcgi.logging off): PHP's heap is its first 2 MiB chunk.
    rec.memory = marked !== null && marked.memory >= 0 ? marked.memory : MIN_PEAK;
    rec.status = status;
    rec.headers = needs.headers && head !== null ? head.headers(marked?.sent) : [];
    rec.method = f.method;
    rec.uri = f.uri;
    rec.query = f.query;
    rec.contentLength = f.contentLength;
    rec.user = f.user;
    rec.script = f.script;
    rec.f = f;
    const out = renderAccessLine(this.format, rec);
    rec.f = null;
    if (out === null) return;
    this.file.write(out.line);
    if (out.truncated !== false) this.host.workerNotice(pid, out.truncated);
  }

  /**
   * A reply the master wrote itself (status and ping pages, which php-fpm's
   * worker answers and logs): its STDOUT records are read as php-cgi's.
   */
  local(req: Request, reply: Buffer): void {
    const head = this.newHead();
    if (head !== null) {
      for (let p = 0; p + 8 <= reply.length;) {
        const len = reply.readUInt16BE(p + 4);
        const end = p + 8 + len;
        if (reply[p + 1] === 6 /* STDOUT */ && len > 0 && !head.feed(reply, p + 8, Math.min(end, reply.length))) break;
        p = end + reply[p + 6];
      }
    }
    // php-fpm's worker answers in tens of microseconds; the master's answer took no time of a child.
    this.write(req, process.pid, 0, head, null, null);
  }

  /** The pool stopped: its children's /proc files and its share of the file. */
  close(): void {
    for (const c of [...this.children]) c.close();
    releaseFile(this.file);
  }
}

/** One child's side: the reply head being read and its process's /proc readings. */
export class ChildAccess {
  private readonly head: ReplyHead | null;
  private readonly usage: ProcUsage | null;
  /** %C: the process's ticks when the current request started (its previous end, when it was idle since). */
  private ticksAt: CpuTicks | null = null;
  private ticksPid = -1;
  /** performance.now() at start(): php-fpm's clock starts when its worker takes the request. */
  private startedAt = 0;
  /** The reply's STDOUT is still wanted. */
  wanting = false;
  /** What the shim marked for the current request (status-mark.ts), null when nothing came. */
  private marked: Marked | null = null;

  constructor(private readonly log: AccessLog) {
    this.head = log.newHead();
    this.usage = log.format.needs.cpu ? new ProcUsage() : null;
  }

  /** A request was given to the child (process `pid`); true when its reply's STDOUT is wanted. */
  start(pid: number): boolean {
    this.startedAt = performance.now();
    // Idle php-cgi spends nothing: the ticks read at the previous end are this start's.
    const usage = this.usage;
    if (usage !== null && (this.ticksPid !== pid || this.ticksAt === null)) {
      this.ticksAt = usage.ticks(pid);
      this.ticksPid = pid;
    }
    this.marked = null;
    if (this.head === null) return false;
    this.head.reset();
    this.wanting = true;
    return true;
  }

  /** A piece of STDOUT content of the reply; false once nothing more is needed. */
  content(chunk: Buffer, start: number, end: number): boolean {
    this.wanting = this.head !== null && this.head.feed(chunk, start, end);
    return this.wanting;
  }

  /** A mark line from the reply's STDERR (src/log/status-mark.ts). */
  mark(text: string): void {
    const m = readMark(text);
    if (m !== null) this.marked = m;
  }

  /** END_REQUEST: the line. */
  end(req: Request, pid: number): void {
    this.wanting = false;
    const durationUs = Math.max(0, Math.round((performance.now() - this.startedAt) * 1000));
    let cpu: CpuTicks | null = null;
    const usage = this.usage;
    if (usage !== null) {
      const now = usage.ticks(pid);
      const at = this.ticksAt;
      if (now !== null && at !== null && this.ticksPid === pid) cpu = { user: now.user - at.user, system: now.system - at.system };
      this.ticksAt = now;
      this.ticksPid = pid;
    }
    this.log.write(req, pid, durationUs, this.head, cpu, this.marked);
  }

  /** The reply stream was dropped mid-request: no line (php-fpm's worker died with it). */
  reset(): void {
    this.wanting = false;
    this.head?.reset();
    this.ticksAt = null;
  }

  /** The child is gone. */
  close(): void {
    this.usage?.close();
    this.log.forget(this);
  }
}
