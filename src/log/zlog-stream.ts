// A model of php-fpm's zlog stream (sapi/fpm/fpm/zlog.c), the writer behind
// "[pool www] child 42 said into stderr: "..."": the same records, byte for
// byte, including its quirks. Pure: text in (latin1 strings, one char = one
// byte), the bytes php-fpm would write() out through `take()`.
//
// What it reproduces, as php-fpm 8.2 does it (checked against php-fpm8.2):
// - Buffered (log_buffering = yes): a record is collected and written whole;
//   when prefix + text reaches log_limit it is cut at log_limit - 1 bytes
//   (closing quote included), written, and the rest starts a new record with
//   a fresh prefix ("wrapping").
// - Direct (log_buffering = no): pieces are written as they come; at the
//   limit the record is closed the same way, except when the text ends
//   exactly at the limit: then php-fpm writes neither quote nor newline and
//   the next record's prefix follows on the same line.
// - Decoration off: no prefix, no quotes; wrapping still applies.
// - Below log_level (prefix_buffer off) the prefix and opening quote are left
//   out but the closing quote is still written (`msg"`), as php-fpm does.
// - The final suffix (", pipe is closed") is itself wrapped when it does not
//   fit, and the buffered path then ends both records with an empty line.
// The level, time and debug parts of the prefix come from the caller (`prefix`).

export interface ZlogStreamOptions {
  /** log_limit */
  limit: number;
  /** log_buffering */
  buffering: boolean;
  /** decorate_workers_output */
  decorate: boolean;
  /** The record's prefix: `[time] WARNING: ` (php-fpm's zlog_buf_prefix), called per record. */
  prefix: () => string;
  /** The stream's level is at or above log_level (php-fpm's prefix_buffer, before decoration). */
  prefixed: boolean;
}

export class ZlogStream {
  private readonly limit: number;
  private readonly buffered: boolean;
  private readonly decorate: boolean;
  private readonly prefixFn: () => string;
  private readonly prefixBuffer: boolean;
  private quote: boolean;
  private msgPrefix = '';
  private finalSuffix = '';
  /** Bytes of the current record (written or buffered), php-fpm's stream->len. */
  private len = 0;
  private buf = '';
  private finished = false;
  private out = '';

  constructor(o: ZlogStreamOptions) {
    this.limit = o.limit;
    this.buffered = o.buffering;
    this.decorate = o.decorate;
    this.prefixFn = o.prefix;
    this.prefixBuffer = o.prefixed && o.decorate;
    this.quote = o.decorate;
  }

  /** `[pool www] child 42 said into stderr: ` (ignored without decoration). */
  setMsgPrefix(p: string): void { if (this.decorate) this.msgPrefix = p; }

  /** `, pipe is closed` (ignored without decoration). */
  setFinalSuffix(s: string): void { if (this.decorate) this.finalSuffix = s; }

  /** True while a record is started and not finished. */
  get open(): boolean { return !this.finished && this.len > 0; }

  /** zlog_stream_str: more text of the current record. */
  str(s: string): void {
    if (s.length === 0) return;
    if (this.finished) {
      this.finished = false;
      this.len = 0;
    }
    if (this.buffered) this.append(s);
    else this.direct(s);
  }

  /** zlog_stream_finish: ends the current record (newline, closing quote, suffix). */
  finish(): void {
    if (this.finished || this.len === 0) return;
    if (this.buffered) {
      if (this.decorate) this.finishBuffered();
      this.flush();
    } else if (this.decorate) this.finishDirect();
    else this.write('\n');
    this.finished = true;
  }

  /** The bytes to write since the last call (latin1), '' when none. */
  take(): string {
    const s = this.out;
    this.out = '';
    return s;
  }

  private write(s: string): void { this.out += s; }

  /** Starts a record; returns its length so far (0 when the prefix is off). */
  private startRecord(): number {
    if (!this.prefixBuffer) return 0;
    const head = this.prefixFn() + this.msgPrefix + (this.quote ? '"' : '');
    if (this.buffered) {
      this.buf = head;
      this.len = head.length;
    } else this.write(head);
    return head.length;
  }

  private append(s: string): void {
    for (;;) {
      if (this.len === 0) this.len = this.startRecord();
      const reserved = this.len + (this.quote ? 1 : 0);
      if (reserved + s.length < this.limit) {
        this.buf += s;
        this.len += s.length;
        return;
      }
      // Fill the record up to log_limit - 1 bytes (with the closing quote), write it, go on.
      const avail = this.limit - reserved - 1;
      this.buf += s.slice(0, avail);
      if (this.quote) this.buf += '"';
      this.flush();
      this.len = this.startRecord();
      s = s.slice(avail);
    }
  }

  private flush(): void {
    this.write(this.buf + '\n');
    this.buf = '';
    this.len = 0;
  }

  private direct(s: string): void {
    for (;;) {
      if (this.len === 0) this.len = this.startRecord();
      const reserved = this.len + (this.quote ? 1 : 0);
      const required = reserved + s.length;
      if (required < this.limit) {
        this.write(s);
        this.len += s.length;
        return;
      }
      const avail = this.limit - reserved - 1;
      this.write(s.slice(0, avail));
      // php-fpm: exactly at the limit, no closing quote and no newline.
      if (required !== this.limit) this.write(this.quote ? '"\n' : '\n');
      this.len = 0;
      s = s.slice(avail);
    }
  }

  private finishBuffered(): void {
    if (this.quote) { this.buf += '"'; this.len++; }
    const fs = this.finalSuffix;
    if (fs === '') return;
    if (this.len + fs.length < this.limit) {
      this.buf += fs;
      this.len += fs.length;
      return;
    }
    const wrap = this.len + fs.length + 1 - this.limit;
    this.buf += fs.slice(0, fs.length - wrap) + '\n';
    this.flush(); // php-fpm adds its own newline here too: an empty line follows
    const quote = this.quote;
    this.quote = false;
    this.len = this.startRecord();
    this.quote = quote;
    this.buf += fs.slice(fs.length - wrap) + '\n';
    this.len += wrap + 1;
  }

  private finishDirect(): void {
    if (this.quote) { this.write('"'); this.len++; }
    const fs = this.finalSuffix;
    if (fs === '') { this.write('\n'); return; }
    if (this.len + fs.length < this.limit) { this.write(fs + '\n'); return; }
    const wrap = this.len + fs.length + 1 - this.limit;
    this.write(fs.slice(0, fs.length - wrap) + '\n');
    const quote = this.quote;
    this.quote = false;
    this.startRecord();
    this.quote = quote;
    this.write(fs.slice(fs.length - wrap) + '\n');
  }
}
