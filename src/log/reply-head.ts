// Pure: what php-fpm's SAPI knew about a reply when its worker wrote the
// access line (after the script, before request shutdown), read from the
// head of php-cgi's STDOUT: the status code (%s) and the header list (%o).
//
// php-cgi prints a `Status:` line first when PHP's response code is not
// 200 (http_response_code(), header('HTTP/1.1 ...'), Location, a fatal
// error, php-fpm's own 404/403), then PHP's header list in order, then, when
// the script set no Content-Type, the default one PHP appends to that list
// as it sends the headers. What is fed is only the head (and, when the
// default Content-Type is there, as much of the body as decides whether PHP
// had sent its headers before the script ended); nothing is copied beyond it.
//
// Where it cannot match php-fpm exactly:
// - a script that sets a raw `Status:` header itself: php-fpm logs 200 (its
//   SAPI code did not change) though the web server sends that status; here
//   the first Status line gives the code. Apps that pick header('Status: …')
//   because PHP_SAPI is 'cgi-fcgi' under php-cgi would have used
//   header('HTTP/1.1 …') under php-fpm, whose line then says that code too.
// - the default Content-Type is in php-fpm's list only if PHP had sent the
//   headers before the line was written. The shim says so when it ran
//   (status-mark.ts); else (php-fpm's own 404 and 403, fastcgi.logging off)
//   the body tells: it reached output_buffering (any output when it is 0,
//   never when it is 1 = unlimited).

const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');

/** The ini setting behind ReplyHeadOptions.outputBuffering (asked of php-cgi with the pool's others). */
export const ACCESS_INI = ['output_buffering'] as const;

/** output_buffering as PHP reads it (a quantity: `4096`, `4K`; On = 1, Off = 0). */
export function outputBuffering(ini: Record<string, string | null>): number {
  const m = /^\s*([+-]?\d+)\s*([kmg]?)/i.exec(ini.output_buffering ?? '');
  if (m === null) return 0;
  const n = Number.parseInt(m[1], 10);
  const unit = m[2].toLowerCase();
  return n * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}
/** A head larger than this is not PHP's; what was read is used. */
const MAX_HEAD = 64 * 1024;

export interface ReplyHeadOptions {
  /** `Content-type: text/html; charset=UTF-8`: the line PHP adds when a script set none; null when unknown. */
  defaultContentType: string | null;
  /** output_buffering (0 off, 1 unlimited, else the buffer size). */
  outputBuffering: number;
  /** The headers are wanted (%o), not only the status. */
  headers: boolean;
}

export class ReplyHead {
  private head = '';
  private done = false;
  /** Body bytes seen while deciding whether the default Content-Type was sent. */
  private body = 0;
  /** Body bytes at which PHP had sent its headers (Infinity: only at the end). */
  private readonly sentAt: number;

  constructor(private readonly opts: ReplyHeadOptions) {
    const ob = opts.outputBuffering;
    this.sentAt = ob === 0 ? 1 : ob === 1 ? Infinity : ob;
  }

  reset(): void {
    this.head = '';
    this.done = false;
    this.body = 0;
  }

  /** A piece of STDOUT content; false once nothing more is needed. */
  feed(chunk: Buffer, start: number, end: number): boolean {
    if (this.done) return this.countBody(end - start);
    const before = this.head.length;
    // The blank line may straddle pieces: look from a few bytes back.
    let at = -1;
    if (before === 0) {
      at = chunk.indexOf(CRLF2, start);
      if (at >= end - 3) at = -1;
      if (at >= 0) {
        this.head = chunk.toString('latin1', start, at);
        this.done = true;
        return this.afterHead(end - at - 4);
      }
      this.head = chunk.toString('latin1', start, end);
    } else {
      this.head += chunk.toString('latin1', start, end);
    }
    at = this.head.indexOf('\r\n\r\n', Math.max(0, before - 3));
    if (at >= 0) {
      const bodyBytes = this.head.length - at - 4;
      this.head = this.head.slice(0, at);
      this.done = true;
      return this.afterHead(bodyBytes);
    }
    if (this.head.length > MAX_HEAD) {
      this.done = true;
      return false;
    }
    return true;
  }

  private afterHead(bodyBytes: number): boolean {
    if (!this.opts.headers || !this.endsWithDefault()) return false;
    return this.countBody(bodyBytes);
  }

  private countBody(n: number): boolean {
    this.body += n;
    return this.body < this.sentAt;
  }

  private endsWithDefault(): boolean {
    const d = this.opts.defaultContentType;
    return d !== null && (this.head === d || this.head.endsWith(`\r\n${d}`));
  }

  /** %s: the first Status line's code (atoi), else 200. */
  get status(): number {
    const h = this.head;
    for (let at = 0; ;) {
      // `Status:` in any case; the slice only for a line that starts with s and has ':' at 6.
      if (at + 7 <= h.length && (h.charCodeAt(at) | 0x20) === 0x73 && h.charCodeAt(at + 6) === 0x3a && h.slice(at, at + 6).toLowerCase() === 'status') {
        let i = at + 7;
        while (h.charCodeAt(i) === 0x20 || h.charCodeAt(i) === 0x09) i++;
        let n = 0;
        let digits = 0;
        for (let c = h.charCodeAt(i); c >= 0x30 && c <= 0x39 && digits < 9; c = h.charCodeAt(++i), digits++) n = n * 10 + (c - 0x30);
        return digits === 0 ? 200 : n;
      }
      const nl = h.indexOf('\r\n', at);
      if (nl < 0) return 200;
      at = nl + 2;
    }
  }

  /** %o: PHP's header list as php-fpm's worker saw it; `sent`: the shim said PHP had sent it. */
  headers(sent = false): string[] {
    if (this.head === '') return [];
    const lines = this.head.split('\r\n');
    // php-cgi's own Status line is not in PHP's list.
    if (lines[0].startsWith('Status: ')) lines.shift();
    if (!sent && this.endsWithDefault() && this.body < this.sentAt) lines.pop();
    return lines;
  }
}
