// catch_workers_output: what a pool's children write, and what php-fpm's
// workers would have written, in the error log as php-fpm's master writes it
// (fpm_stdio.c): `[pool www] child 42 said into stderr: "..."`.
//
// Per child, one zlog stream (src/log/zlog-stream.ts) for both pipes, as
// php-fpm keeps one: switching between stdout and stderr ends the record.
// What is read is cut into php-fpm's 1023-byte reads; a newline ends a
// record, and so does php-fpm's in-band flush command "\0fscf\0" (its workers
// write it after every request; a script that writes it gets the same
// treatment, php-src log-bwp-msg-flush-split-*). tsfpm's children (php-cgi)
// do not write it: the end of each request finishes the record instead, once
// the pipes' bytes of that poll phase are read (the child wrote them before
// its END_REQUEST). A pipe that closes while its stream is new (first bytes
// and EOF in one go) ends with `, pipe is closed`.
//
// PHP's own messages: php-fpm's worker logs each one as
// `NOTICE: PHP message: MSG` into its stderr (sapi_cgi_log_message, when
// PHP's error_log is unset); php-cgi only sends them to the web server. The
// reply rewriter hands each message over (phpMessage) and the line php-fpm's
// worker would have written goes through the same stream.
//
// Without catch_workers_output, php-fpm's workers write to /dev/null: tsfpm's
// children get no pipes and nothing of this runs.
import { ZlogStream } from '../log/zlog-stream.js';
import type { ErrorLog, LogLevel } from '../log/error-log.js';
import type { MessageKind } from './reply-stderr.js';

/** php-fpm's FPM_STDIO_CMD_FLUSH, with its terminating NUL. */
const FLUSH_CMD = '\0fscf\0';
/** php-fpm reads a child's pipe 1023 bytes at a time (char buf[1024], read(sizeof - 1)). */
const READ = 1023;
const PIPE_CLOSED = ', pipe is closed';

// php-fpm 8.2's worker zlog prefixes at log_level = debug (function, line of fpm_main.c / fpm_php.c).
const DEBUG_PHP = 'NOTICE: sapi_cgi_log_message(), line 632: ';
const DEBUG_ACCESS = 'NOTICE: fpm_php_limit_extensions(), line 269: ';
const DEBUG_UNKNOWN = 'DEBUG: main(), line 1893: ';
const PHP_MESSAGE = 'PHP message: ';

/**
 * The line php-fpm's worker writes into its stderr for a message its PHP
 * logged (already cut to log_limit, as reply-stderr.ts cuts it for the web
 * server too), or null when it writes none. Below NOTICE (log_level warning
 * and up) zlog leaves the `NOTICE: ` prefix out but still writes the
 * message; at debug a short message (buffer smaller than the prefix) gets
 * the prefix's terminating NUL too (checked against php-fpm8.2).
 */
export function workerLine(kind: MessageKind, text: string, level: LogLevel): string | null {
  const notice = level === 'debug' || level === 'notice';
  if (kind === 'php') {
    if (!notice) return `${PHP_MESSAGE}${text}\n`;
    if (level !== 'debug') return `NOTICE: ${PHP_MESSAGE}${text}\n`;
    const nul = DEBUG_PHP.length + 1 > text.length + PHP_MESSAGE.length ? '\0' : '';
    return `${DEBUG_PHP}${nul}${PHP_MESSAGE}${text}\n`;
  }
  // php-fpm's own zlog() calls in the worker (vzlog): written only at their level.
  if (kind === 'access') return !notice ? null : `${level === 'debug' ? DEBUG_ACCESS : 'NOTICE: '}${text}\n`;
  return level === 'debug' ? `${DEBUG_UNKNOWN}${text}\n` : null;
}

/**
 * How long a PHP message may be before php-fpm's worker cuts it: its zlog
 * buffer holds log_limit - 1 bytes of prefix, "PHP message: " and message.
 */
export function messageCap(limit: number, level: LogLevel): number {
  const prefix = level === 'debug' ? DEBUG_PHP.length : level === 'notice' ? 'NOTICE: '.length : 0;
  return limit - prefix - PHP_MESSAGE.length - 1;
}

interface ChildStream {
  stream: ZlogStream | null;
  stdout: boolean;
  /** The stream was created in this poll phase (php-fpm: in this read callback). */
  fresh: boolean;
  /** Pipes seen closing. */
  ended: number;
  /** Pipes this pid has (0: a shared parent's worker, known only by its messages). */
  piped: boolean;
  exited: boolean;
  /** A request ended: finish the record after this poll phase. */
  flush: boolean;
}

export class WorkerOutput {
  private readonly kids = new Map<number, ChildStream>();
  private flushing = false;

  constructor(private readonly log: ErrorLog, private readonly pool: string, private readonly decorate: boolean) {}

  /** Bytes from a child's stdout or stderr pipe; `null` when the pipe closed. */
  write(pid: number, stream: 'stdout' | 'stderr', data: Buffer | null): void {
    const st = this.state(pid);
    st.piped = true;
    if (data === null) {
      const s = this.select(st, pid, stream === 'stdout');
      if (s.created || st.fresh) {
        s.stream.setFinalSuffix(PIPE_CLOSED);
        s.stream.finish();
      }
      this.out(s.stream);
      if (++st.ended >= 2) this.drop(pid, st);
      return;
    }
    this.said(pid, st, stream === 'stdout', data.toString('latin1'));
  }

  /** Text php-fpm's worker would have written into its stderr itself (tsfpm decides it in the master). */
  says(pid: number, text: string): void {
    this.said(pid, this.state(pid), false, text);
  }

  /** A message php-fpm's worker would have written into its stderr (see workerLine). */
  phpMessage(pid: number, kind: MessageKind, text: string): void {
    const line = workerLine(kind, text, this.log.getLevel());
    if (line !== null && pid > 0) this.said(pid, this.state(pid), false, line);
  }

  /**
   * A request of this child ended (php-fpm's worker writes its flush command
   * then). Called per request with catch_workers_output only: a flag, and one
   * setImmediate per poll phase.
   */
  requestEnded(pid: number): void {
    // Also without a stream yet: the child's bytes may still come in this poll phase.
    this.state(pid).flush = true;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flushEnded());
    }
  }

  /** The child is gone: its last record is finished once its pipes are read to the end. */
  close(pid: number): void {
    const st = this.kids.get(pid);
    if (st === undefined) return;
    st.exited = true;
    if (!st.piped || st.ended >= 2) this.drop(pid, st);
  }

  private flushEnded(): void {
    this.flushing = false;
    for (const st of this.kids.values()) {
      if (!st.flush) continue;
      st.flush = false;
      if (st.stream !== null) {
        st.stream.finish();
        this.out(st.stream);
      }
    }
  }

  private state(pid: number): ChildStream {
    let st = this.kids.get(pid);
    if (st === undefined) {
      st = { stream: null, stdout: false, fresh: false, ended: 0, piped: false, exited: false, flush: false };
      this.kids.set(pid, st);
    }
    return st;
  }

  private drop(pid: number, st: ChildStream): void {
    if (st.stream !== null) {
      st.stream.finish();
      this.out(st.stream);
    }
    this.kids.delete(pid);
  }

  /** The child's stream for `stdout` or stderr (php-fpm: finish and re-prefix on a switch). */
  private select(st: ChildStream, pid: number, stdout: boolean): { stream: ZlogStream; created: boolean } {
    if (st.stream === null) {
      const log = this.log;
      st.stream = new ZlogStream({
        limit: log.getLimit(), buffering: log.getBuffering(), decorate: this.decorate,
        prefix: () => log.streamPrefix('warning'), prefixed: log.enabled('warning'),
      });
      st.stream.setMsgPrefix(this.msgPrefix(pid, stdout));
      st.stdout = stdout;
      st.fresh = true;
      setImmediate(() => { st.fresh = false; });
      return { stream: st.stream, created: true };
    }
    if (st.stdout !== stdout) {
      st.stream.finish();
      st.stream.setMsgPrefix(this.msgPrefix(pid, stdout));
      st.stdout = stdout;
    }
    return { stream: st.stream, created: false };
  }

  private msgPrefix(pid: number, stdout: boolean): string {
    return `[pool ${this.pool}] child ${pid} said into ${stdout ? 'stdout' : 'stderr'}: `;
  }

  /** One read callback of php-fpm's fpm_stdio_child_said over `text` (all that was there to read). */
  private said(pid: number, st: ChildStream, stdout: boolean, text: string): void {
    const s = this.select(st, pid, stdout).stream;
    readChunk(s, text);
    this.out(s);
  }

  private out(s: ZlogStream): void {
    const bytes = s.take();
    if (bytes !== '') this.log.workerRecord(bytes);
  }
}

/**
 * Feeds `text` to the stream as php-fpm's master does: 1023-byte reads,
 * records ended by '\n' or the flush command, a flush command cut by a read's
 * end recognised in the next read only, and dropped when no next read comes.
 */
export function readChunk(s: ZlogStream, text: string): void {
  let cmdPos = 0;
  for (let off = 0; off < text.length; off += READ) {
    const end = Math.min(off + READ, text.length);
    let start = off;
    if (cmdPos > 0) {
      const need = FLUSH_CMD.length - cmdPos;
      if (need <= end - off && text.startsWith(FLUSH_CMD.slice(cmdPos), off)) {
        s.finish();
        start = off + need;
      } else s.str(FLUSH_CMD.slice(0, cmdPos));
      cmdPos = 0;
    }
    let pos = start;
    let split = false;
    for (; pos < end; pos++) {
      const c = text.charCodeAt(pos);
      if (c === 0x0a) {
        s.str(text.slice(start, pos));
        s.finish();
        start = pos + 1;
      } else if (c === 0) {
        if (pos + FLUSH_CMD.length <= end) {
          if (text.startsWith(FLUSH_CMD, pos)) {
            s.str(text.slice(start, pos));
            s.finish();
            start = pos + FLUSH_CMD.length;
            pos = start - 1;
          }
        } else if (FLUSH_CMD.startsWith(text.slice(pos, end))) {
          cmdPos = end - pos;
          s.str(text.slice(start, pos));
          split = true;
          break;
        }
      }
    }
    if (!split && start < pos) s.str(text.slice(start, pos));
  }
}
