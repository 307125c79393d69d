// php-cgi's FCGI_STDERR text turned into php-fpm's, on the fly. Pure: no I/O.
//
// php-cgi (sapi_cgi_log_message) writes every message PHP logs as `MSG\n`;
// php-fpm (zlog_msg with the prefix "PHP message: ", then its external logger
// sapi_cgi_log_fastcgi) writes `PHP message: MSG`, with `; ` before every
// message of a request but the first and no newline. Its own messages
// (`Primary script unknown`, `Access to the script '...' has been denied (see
// security.limit_extensions)`) come through the same logger without the
// prefix. The `; ` state is per request: reset() between requests.
//
// Where one message ends is not in php-cgi's stream: `a\nb\n` is one message
// with an inner newline or two messages. Decided here, from what PHP logs:
// - A message that starts with "PHP " is one of PHP's own errors, which always
//   end `in FILE on line N` ("PHP Warning:  ... in /x.php on line 3"; an
//   uncaught exception spans lines: "Stack trace:", "#0 ...", "  thrown in
//   /x.php on line 3"). Such a message runs until a line that ends with
//   ` on line N`; the newlines inside it are kept, as php-fpm keeps them. A
//   line that starts with "PHP " always starts a new message, so a "PHP "
//   message that never ends that way (Xdebug's "PHP Stack trace:" lines, a user
//   error_log("PHP ...")) swallows no other PHP message.
// - Any other message (error_log() from user code, tsfpm's shim) is one line:
//   a multi-line error_log() text becomes one message per line, i.e. `; PHP
//   message: ` between its lines where php-fpm has `\n`. Nothing is lost, and
//   consecutive one-line error_log() calls, the common case, come out exact.
// - php-cgi writes each message with one write into the STDERR stream, so a
//   STDERR run that a record of another type interrupts ended on a message
//   boundary: boundary() is called before such a record.
// - A message that starts with "Access to the script '" is tsfpm's shim
//   logging php-fpm's security.limit_extensions line: no prefix, as php-fpm.
// - A PHP message is cut where php-fpm's worker cuts it: its zlog buffer holds
//   log_limit - 1 bytes of "NOTICE: " (none below log_level notice, a longer
//   one at debug), "PHP message: " and the message, the last three "..."
//   (`cap` is what is left for the message; php-src log-bm-limit-*). The
//   message's newlines count. php-fpm's own messages are not cut (they are
//   cut at 2048 bytes only, which a path never reaches).
// - Each message, as cut, also goes to `onMessage` when set: php-fpm's worker
//   writes it into its stderr, which the master logs (src/pool/worker-output.ts).
// - A line that starts with the shim's mark (src/log/status-mark.ts) is not a
//   message: fastcgi_finish_request()'s lines go to `onFinish`
//   (src/php/finish-request.ts), the access log's to `onMark`, and nowhere else.
// - `toClient` false (the pool's fastcgi.logging is off): the same work, but
//   nothing for the web server.
import { STATUS_MARK } from '../log/status-mark.js';
import { FINISH_END, FINISH_HOLD } from '../php/finish-request.js';

const PREFIX = Buffer.from('PHP message: ', 'latin1');
const SEP = Buffer.from('; ', 'latin1');
const SEP_PREFIX = Buffer.from('; PHP message: ', 'latin1');
const NL = Buffer.from('\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const PHP_SP = Buffer.from('PHP ', 'latin1');
const ACCESS = Buffer.from("Access to the script '", 'latin1');
const MARK = Buffer.from(STATUS_MARK, 'latin1');
const DOTS = Buffer.from('...', 'latin1');
const ON_LINE = / on line \d+$/;
// Enough of a line's end for ON_LINE: " on line " and a 32-bit line number.
const TAIL = 24;

const enum Mode {
  /** Between messages: the next byte starts one (possibly after a lookahead). */
  Start,
  /** Inside a message's line. */
  In,
  /** After a newline inside an unfinished "PHP " message: continuation or a new "PHP " message. */
  Newline,
}

/** What a message is: one PHP logged, php-fpm's limit_extensions line, its "Primary script unknown". */
export type MessageKind = 'php' | 'access' | 'unknown';

/** fastcgi_finish_request()'s marks: hold the output that follows, end the web server's reply. */
export type FinishMark = 'hold' | 'end';

/** php-fpm's defaults: log_limit 1024, log_level notice ("NOTICE: " prefix). */
export const DEFAULT_CAP = 1024 - 'NOTICE: '.length - 'PHP message: '.length - 1;

export class StderrMessages {
  private mode = Mode.Start;
  /** The message being sent: its kind, or null between messages. */
  private kind: MessageKind | null = null;
  /** Bytes of the current PHP message so far (up to `cap` + 1). */
  private msgLen = 0;
  /** The current message was cut: the rest of it is dropped. */
  private cut = false;
  /** The bytes of the message that "..." replaces if it goes on (its last 3 before `cap`). */
  private window = '';
  /** The current message as sent, for onMessage. */
  private text = '';
  /** A message went out in this request: the next one gets "; ". */
  private started = false;
  /** The current message is one of PHP's ("PHP " ...). */
  private php = false;
  /** Last bytes of the current line (PHP messages only), for ON_LINE. */
  private tail = '';
  /** Lookahead held back at a message or line start: a prefix of `pattern`. */
  private readonly held = Buffer.alloc(Math.max(ACCESS.length, MARK.length));
  private heldLen = 0;
  private pattern: Buffer | null = null;
  /** Inside a mark line: its text so far, else null. */
  private mark: string | null = null;
  /** fastcgi_finish_request()'s marks (set by ReplyRewriter); marks are looked for when this or onMark is set. */
  onFinish: ((what: FinishMark) => void) | null = null;

  /**
   * cap: the longest PHP message php-fpm's worker keeps whole (messageCap()
   * in worker-output.ts); onMessage: each message as cut, when it ends.
   */
  constructor(
    private readonly cap = DEFAULT_CAP,
    private readonly onMessage: ((kind: MessageKind, text: string) => void) | null = null,
    /** A mark line (without its newline), when the pool has an access log. */
    private readonly onMark: ((text: string) => void) | null = null,
    /** False: PHP's messages are kept from the web server (fastcgi.logging off); feed(), boundary() and external() return nothing. */
    readonly toClient = true,
  ) {}

  /** A new request: no message sent yet. */
  reset(): void {
    this.kind = null;
    this.msgLen = 0;
    this.cut = false;
    this.window = '';
    this.text = '';
    this.mode = Mode.Start;
    this.started = false;
    this.php = false;
    this.tail = '';
    this.heldLen = 0;
    this.pattern = null;
    this.mark = null;
  }

  /** True when boundary() would change something (call it before a non-STDERR record). */
  get pending(): boolean {
    return this.mode !== Mode.Start || this.heldLen > 0;
  }

  /**
   * php-cgi's STDERR bytes buf[start, end) in; php-fpm's bytes for them out
   * (possibly empty; possibly a view of buf, to be used before buf changes).
   */
  feed(buf: Buffer, start: number, end: number): Buffer {
    const out: Buffer[] = [];
    let i = start;
    while (i < end) {
      if (this.mode === Mode.In) {
        let j = i;
        while (j < end && buf[j] !== 0x0a) j++;
        if (j > i) {
          this.emit(out, buf.subarray(i, j));
          if (this.php) this.track(buf, i, j);
        }
        if (j === end) break;
        i = j + 1;
        this.endOfLine(out);
        continue;
      }
      // Start or Newline: match the lookahead pattern byte by byte.
      if (this.pattern === null) {
        const c = buf[i];
        if (c === 0x1b && (this.onMark !== null || this.onFinish !== null)) this.pattern = MARK;
        else if (this.mode === Mode.Newline) this.pattern = PHP_SP;
        else this.pattern = c === 0x41 ? ACCESS : c === 0x50 ? PHP_SP : EMPTY;
      }
      const p = this.pattern;
      while (i < end && this.heldLen < p.length && buf[i] === p[this.heldLen]) this.held[this.heldLen++] = buf[i++];
      if (this.heldLen < p.length && i === end) break; // still undecided
      this.resolve(this.heldLen === p.length && p.length > 0, out);
    }
    return out.length === 0 || !this.toClient ? EMPTY : out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /**
   * The STDERR stream is at a message boundary (another record type follows,
   * or the request ends): a pending newline was the message's end, held
   * lookahead bytes go out. Returns what to send (usually nothing).
   */
  boundary(): Buffer {
    const out: Buffer[] = [];
    if (this.heldLen > 0) this.resolve(false, out);
    this.end(out);
    this.mode = Mode.Start;
    this.tail = '';
    return out.length === 0 || !this.toClient ? EMPTY : out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** A message php-fpm logs itself (no "PHP message: " prefix), e.g. "Primary script unknown". */
  external(text: string, kind: MessageKind = 'unknown'): Buffer {
    const before = this.boundary();
    const msg = Buffer.from(text, 'latin1');
    const sep = this.started;
    this.started = true;
    if (this.onMessage !== null) this.onMessage(kind, text);
    if (!this.toClient) return EMPTY;
    return Buffer.concat(sep ? [before, SEP, msg] : [before, msg]);
  }

  /** The lookahead matched (`full`) or not: emit what it decided. */
  private resolve(full: boolean, out: Buffer[]): void {
    const held = this.heldLen > 0 ? Buffer.from(this.held.subarray(0, this.heldLen)) : EMPTY;
    const p = this.pattern;
    this.heldLen = 0;
    this.pattern = null;
    if (full && p === MARK) {
      // Not a message: no separator, no prefix; an unfinished PHP message ended at its newline.
      this.end(out);
      this.mark = held.toString('latin1');
      this.php = false;
      this.mode = Mode.In;
      this.tail = '';
      return;
    }
    if (this.mode === Mode.Newline && !full) {
      // Continuation of the unfinished PHP message: the newline was inside it.
      this.emit(out, NL);
    } else {
      this.end(out);
      const external = full && p === ACCESS;
      this.php = full && p === PHP_SP;
      out.push(this.started ? (external ? SEP : SEP_PREFIX) : external ? EMPTY : PREFIX);
      this.started = true;
      this.kind = external ? 'access' : 'php';
    }
    this.mode = Mode.In;
    this.tail = '';
    if (held.length > 0) {
      this.emit(out, held);
      if (this.php) this.track(held, 0, held.length);
    }
  }

  /** Message bytes out, cut as php-fpm's worker cuts a PHP message. */
  private emit(out: Buffer[], b: Buffer): void {
    if (this.mark !== null) {
      this.mark += b.toString('latin1');
      return;
    }
    if (this.kind !== 'php') {
      out.push(b);
      if (this.onMessage !== null) this.text += b.toString('latin1');
      return;
    }
    if (this.cut) return;
    const n0 = this.msgLen;
    const n1 = n0 + b.length;
    this.msgLen = n1;
    const free = this.cap - 3;
    if (n1 <= free) {
      out.push(b);
      if (this.onMessage !== null) this.text += b.toString('latin1');
      return;
    }
    if (n0 < free) {
      const head = b.subarray(0, free - n0);
      out.push(head);
      if (this.onMessage !== null) this.text += head.toString('latin1');
    }
    if (n1 > this.cap) {
      // Longer than php-fpm keeps: its last three bytes become "...", the rest is dropped.
      this.cut = true;
      this.window = '';
      out.push(DOTS);
      if (this.onMessage !== null) this.text += '...';
      return;
    }
    // Within the last three bytes php-fpm keeps: held until the message ends or goes on.
    this.window += b.toString('latin1', Math.max(0, free - n0));
  }

  /** The current message (if any) ended. */
  private end(out: Buffer[]): void {
    if (this.mark !== null) {
      const text = this.mark;
      this.mark = null;
      if (text === FINISH_END) this.onFinish?.('end');
      else if (text === FINISH_HOLD) this.onFinish?.('hold');
      else this.onMark?.(text);
      return;
    }
    const kind = this.kind;
    if (kind === null) return;
    if (this.window !== '') {
      out.push(Buffer.from(this.window, 'latin1'));
      if (this.onMessage !== null) this.text += this.window;
    }
    if (this.onMessage !== null) this.onMessage(kind, this.text);
    this.kind = null;
    this.msgLen = 0;
    this.cut = false;
    this.window = '';
    this.text = '';
  }

  private track(buf: Buffer, from: number, to: number): void {
    const s = buf.toString('latin1', Math.max(from, to - TAIL), to);
    this.tail = s.length >= TAIL ? s : (this.tail + s).slice(-TAIL);
  }

  private endOfLine(out: Buffer[]): void {
    const open = this.php && !ON_LINE.test(this.tail);
    this.tail = '';
    this.mode = open ? Mode.Newline : Mode.Start;
    if (!open) this.end(out);
  }
}
