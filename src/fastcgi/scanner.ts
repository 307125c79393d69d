// A zero-copy record framer for the relay's hot path. Unlike RecordParser it
// never assembles records: it walks raw chunks, reports where each header and
// each piece of content lies, and lets the caller forward the bytes as they
// came. Input may be cut at any byte. Pure: no I/O.
import { FastCgiProtocolError } from './errors.js';
import { HEADER_LEN, MAX_CONTENT } from './constants.js';

export interface ScanSink {
  /**
   * A header is complete. `headerStart` is its offset in the current chunk, or
   * -1 when it was split across chunks (then `scanner.header` holds a copy).
   */
  onHeader(type: number, requestId: number, contentLength: number, paddingLength: number, headerStart: number, afterHeader: number): void;
  /** Content bytes [start, end) of the current record, in the current chunk. */
  onContent(chunk: Buffer, start: number, end: number): void;
  /** Content and padding are consumed; return false to stop scanning here. */
  onRecordEnd(type: number): boolean;
}

const enum State { Header, Content, Padding }

export class RecordScanner {
  readonly header = Buffer.alloc(HEADER_LEN);
  private fill = 0;
  private state = State.Header;
  private type = 0;
  private contentLeft = 0;
  private paddingLeft = 0;
  /** Offset in the current chunk where a still-incomplete header began, or -1. */
  partialHeaderStart = -1;

  constructor(private readonly sink: ScanSink) {}

  /** True between records (no partial header, content or padding pending). */
  get atBoundary(): boolean { return this.state === State.Header && this.fill === 0; }

  /** True while inside a record's content or padding (the next bytes belong to it). */
  get midRecord(): boolean { return this.state !== State.Header; }

  /**
   * Scans chunk[from..]; returns the offset where scanning stopped (chunk.length
   * unless a sink's onRecordEnd returned false). Throws FastCgiProtocolError.
   */
  scan(chunk: Buffer, from = 0): number {
    if (this.failed) throw new FastCgiProtocolError('FCGI_ERR_PARSER_FAILED', 'scanner already failed');
    try {
      return this.walk(chunk, from);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private failed = false;

  private walk(chunk: Buffer, from: number): number {
    const len = chunk.length;
    let pos = from;
    this.partialHeaderStart = -1;
    while (pos < len) {
      if (this.state === State.Header) {
        let start: number;
        let h: Buffer;
        if (this.fill === 0 && len - pos >= HEADER_LEN) {
          start = pos;
          h = chunk;
          pos += HEADER_LEN;
        } else {
          if (this.fill === 0) this.partialHeaderStart = pos;
          const n = Math.min(HEADER_LEN - this.fill, len - pos);
          chunk.copy(this.header, this.fill, pos, pos + n);
          this.fill += n;
          pos += n;
          if (this.fill < HEADER_LEN) break;
          // A header that began and ended in this chunk still counts as in-chunk.
          start = this.partialHeaderStart;
          this.partialHeaderStart = -1;
          h = this.header;
          if (start >= 0) h = chunk;
          this.fill = 0;
        }
        const o = h === chunk ? start : 0;
        if (h[o] < 1) throw new FastCgiProtocolError('FCGI_ERR_VERSION', `unsupported FastCGI version ${h[o]}`);
        const type = h[o + 1];
        const requestId = (h[o + 2] << 8) | h[o + 3];
        const contentLength = (h[o + 4] << 8) | h[o + 5];
        const paddingLength = h[o + 6];
        // php-fpm closes on content+padding over 65535 (fcgi_read_request).
        if (contentLength + paddingLength > MAX_CONTENT) {
          throw new FastCgiProtocolError('FCGI_ERR_TOO_LONG', `record of ${contentLength}+${paddingLength} bytes exceeds ${MAX_CONTENT}`);
        }
        this.type = type;
        this.contentLeft = contentLength;
        this.paddingLeft = paddingLength;
        this.sink.onHeader(type, requestId, contentLength, paddingLength, h === chunk ? start : -1, pos);
        this.state = contentLength > 0 ? State.Content : State.Padding;
        if (contentLength === 0 && paddingLength === 0) {
          this.state = State.Header;
          if (!this.sink.onRecordEnd(type)) return pos;
        }
        continue;
      }
      if (this.state === State.Content) {
        const n = Math.min(this.contentLeft, len - pos);
        this.sink.onContent(chunk, pos, pos + n);
        pos += n;
        this.contentLeft -= n;
        if (this.contentLeft > 0) break;
        this.state = State.Padding;
      }
      // Padding
      const n = Math.min(this.paddingLeft, len - pos);
      pos += n;
      this.paddingLeft -= n;
      if (this.paddingLeft > 0) break;
      this.state = State.Header;
      if (!this.sink.onRecordEnd(this.type)) return pos;
    }
    return pos;
  }
}
