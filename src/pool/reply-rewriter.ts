// Where php-fpm's reply differs from php-cgi's, what Child sends the web
// server instead. Pure: it works on the chunks Child reads from php-cgi and on
// the RecordScanner callbacks for them, and returns what to write.
//
// - FCGI_STDERR records: their text becomes php-fpm's (reply-stderr.ts). The
//   content length changes, so each piece of a STDERR record's content in a
//   chunk goes out as a record of its own, where the original was.
// - php-cgi's 404 for an unknown script (first STDOUT record `Status: 404 Not
//   Found\r\n...\r\n\r\nNo input file specified.\n`): php-fpm's `Primary
//   script unknown` STDERR record, then the same headers with the body `File
//   not found.\n` (php-fpm8.2 sends exactly that, X-Powered-By included, for a
//   request without SCRIPT_FILENAME and for a missing file).
// - fastcgi_finish_request()'s marks (src/php/finish-request.ts): their
//   STDERR records are dropped like any other, and a token takes their place
//   in the output (HOLD_AT, END_AT), for the request's FinishCut
//   (src/pool/finish-cut.ts, created at the first mark) to cut the reply there.
//
// The common path costs nothing: a chunk without STDERR records is written as
// it came (end() returns null), no copy, no allocation. Only a record header
// cut by the chunk's end whose type is STDERR or not known yet (one byte of
// it in the chunk) is held back until the next chunk completes it.
import type { RecordScanner } from '../fastcgi/scanner.js';
import { RecordType } from '../fastcgi/constants.js';
import { encodeRecord, encodeStream } from '../fastcgi/encoder.js';
import { StderrMessages, type FinishMark } from './reply-stderr.js';
import { FinishCut, HOLD_AT, END_AT } from './finish-cut.js';

const STATUS_404 = Buffer.from('Status: 404 Not Found\r\n', 'latin1');
const NO_INPUT = Buffer.from('\r\n\r\nNo input file specified.\n', 'latin1');
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
const FILE_NOT_FOUND = Buffer.from('File not found.\n', 'latin1');
const EMPTY = Buffer.alloc(0);

export class ReplyRewriter {
  /** Child passes every record header to header() while set; else only STDERR ones. */
  active = true;
  /** Call begin() with the next chunk (a held header or a rewritten record continues in it). */
  pending = false;
  /** This chunk's output so far once it differs from the chunk; null on the common path. */
  out: Buffer[] | null = null;
  /** Set once the script called fastcgi_finish_request(): every later chunk's output goes through it. */
  finish: FinishCut | null = null;
  /** A finish mark seen by `messages`, its token not placed in `out` yet. */
  private mark: FinishMark | null = null;

  /** messages: the pool's (log_limit cut, error-log copy: src/pool/worker-output.ts). */
  constructor(readonly messages = new StderrMessages()) {
    messages.onFinish = (what) => { this.mark = what; };
  }

  /** Start of this chunk's bytes not yet in `out`. */
  private from = 0;
  /** Bytes of a rewritten record (content, padding) still to come in later chunks. */
  private skip = 0;
  /** A record header cut by the previous chunk's end was not forwarded (scanner.header has it). */
  private held = false;
  private firstStdout = true;
  private id = 0;
  /** Set once anything but the first-STDOUT check happened in this request. */
  private used = false;

  /** A new request. */
  reset(): void {
    this.active = true;
    this.firstStdout = true;
    if (this.used) {
      // The previous reply had STDERR records or held headers (or was cut off mid-record).
      this.used = false;
      this.pending = false;
      this.out = null;
      this.from = 0;
      this.skip = 0;
      this.held = false;
      this.messages.reset();
      this.finish = null;
      this.mark = null;
    }
  }

  /** Before scanning a chunk, when `pending`. */
  begin(chunk: Buffer): void {
    this.used = true;
    this.out = [];
    this.from = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.from = n;
      this.skip -= n;
    }
  }

  /** Scanner onHeader, for STDERR records and while `active`. */
  header(
    chunk: Buffer, scanner: RecordScanner, type: number, requestId: number,
    contentLength: number, padding: number, headerStart: number, afterHeader: number,
  ): void {
    // Small enough to be inlined: the first STDOUT record of an ordinary reply
    // (no STDERR before it, not "Status: 404"), after which nothing is looked at.
    if (type === RecordType.STDOUT && this.firstStdout && !this.used && chunk[afterHeader + 8] !== 0x34 /* '4' */) {
      this.firstStdout = false;
      this.active = false;
      return;
    }
    this.rewrite(chunk, scanner, type, requestId, contentLength, padding, headerStart, afterHeader);
  }

  private rewrite(
    chunk: Buffer, scanner: RecordScanner, type: number, requestId: number,
    contentLength: number, padding: number, headerStart: number, afterHeader: number,
  ): void {
    const wasHeld = this.held;
    this.held = false;
    this.id = requestId;
    if (type === RecordType.STDERR && contentLength > 0) {
      // Dropped here; its content goes out through content().
      this.cut(chunk, headerStart, wasHeld);
      const end = afterHeader + contentLength + padding;
      if (end <= chunk.length) this.from = end;
      else {
        this.from = chunk.length;
        this.skip = end - chunk.length;
      }
    } else if (type === RecordType.STDOUT && this.firstStdout && this.is404(chunk, contentLength, padding, afterHeader)) {
      this.firstStdout = false;
      this.cut(chunk, headerStart, wasHeld);
      const out = this.out as Buffer[];
      out.push(encodeStream(RecordType.STDERR, requestId, this.messages.external('Primary script unknown')));
      const headEnd = afterHeader + contentLength - NO_INPUT.length + BLANK_LINE.length;
      out.push(encodeRecord(RecordType.STDOUT, requestId, Buffer.concat([chunk.subarray(afterHeader, headEnd), FILE_NOT_FOUND])));
      this.from = afterHeader + contentLength + padding;
    } else {
      if (type === RecordType.STDOUT) this.firstStdout = false;
      // php-cgi writes a message in one go: another record type means the
      // STDERR stream ended on a message boundary.
      const text = this.messages.pending ? this.messages.boundary() : EMPTY;
      if (text.length > 0 || wasHeld || this.mark !== null) {
        this.cut(chunk, headerStart, wasHeld);
        const out = this.out as Buffer[];
        if (text.length > 0) out.push(encodeStream(RecordType.STDERR, requestId, text));
        if (this.mark !== null) this.placeMark(out);
        if (wasHeld) {
          out.push(Buffer.from(scanner.header));
          this.from = afterHeader;
        } else this.from = headerStart;
      }
    }
    this.active = this.firstStdout || this.messages.pending;
  }

  /** Scanner onContent of a STDERR record passed to header(). */
  content(chunk: Buffer, start: number, end: number): void {
    const text = this.messages.feed(chunk, start, end);
    if (text.length > 0) (this.out as Buffer[]).push(encodeStream(RecordType.STDERR, this.id, text));
    // After the text: the shim's mark ends its record (flush() follows it), so whatever this piece said came before it.
    if (this.mark !== null) this.placeMark(this.out as Buffer[]);
    this.active = this.firstStdout || this.messages.pending;
  }

  private placeMark(out: Buffer[]): void {
    this.finish ??= new FinishCut(this.id);
    out.push(this.mark === 'hold' ? HOLD_AT : END_AT);
    this.mark = null;
  }

  /**
   * After scanning chunk up to `stop`, when `out` is set or a header is cut at
   * the chunk's end (scanner.partialHeaderStart >= 0). Returns the bytes to
   * write instead of chunk[0, stop), or null when that is chunk[0, stop) as it is.
   */
  end(chunk: Buffer, scanner: RecordScanner, stop: number): Buffer[] | null {
    let to = stop;
    const p = scanner.partialHeaderStart;
    if (p >= 0) {
      // The record's type is its header's second byte.
      if (this.active || chunk.length - p < 2 || chunk[p + 1] === RecordType.STDERR) {
        to = p;
        this.held = true;
      }
    } else if (this.held) {
      to = this.from; // the held header is still not complete: the whole chunk is part of it
    }
    this.pending = this.held || this.skip > 0;
    if (this.held) {
      this.active = true;
      this.used = true;
    }
    let out = this.out;
    this.out = null;
    if (out === null) {
      if (to === stop) return null;
      out = [];
    }
    if (to > this.from) out.push(chunk.subarray(this.from, to));
    this.from = 0;
    return out;
  }

  /** Ends the raw bytes of the chunk before a header that is replaced or preceded by new records. */
  private cut(chunk: Buffer, headerStart: number, wasHeld: boolean): void {
    this.used = true;
    if (this.out === null) this.out = [];
    if (!wasHeld && headerStart > this.from) this.out.push(chunk.subarray(this.from, headerStart));
  }

  /** php-cgi's "No input file specified." 404, whole in this chunk. */
  private is404(chunk: Buffer, contentLength: number, padding: number, at: number): boolean {
    const end = at + contentLength;
    if (chunk[at + 8] !== 0x34 /* '4' */ || contentLength < STATUS_404.length + NO_INPUT.length - 2 || end + padding > chunk.length) return false;
    if (chunk.compare(STATUS_404, 0, STATUS_404.length, at, at + STATUS_404.length) !== 0) return false;
    const body = end - NO_INPUT.length;
    if (chunk.compare(NO_INPUT, 0, NO_INPUT.length, body, end) !== 0) return false;
    // The blank line that ends the headers is that one.
    return chunk.indexOf(BLANK_LINE, at) === body;
  }
}
