// Incremental record parser: a state machine fed bytes (cut anywhere), emitting
// whole records, never touching a socket. A record whose content lies inside one
// chunk is emitted as a zero-copy subarray of that chunk; only records straddling
// chunks are assembled into a fresh buffer.

import { HEADER_LEN, MAX_CONTENT } from './constants.js';
import { FastCgiProtocolError } from './errors.js';

export interface FcgiRecord {
  type: number;
  requestId: number;
  /** May alias the input chunk: copy it if the chunk's memory is going to be reused. */
  content: Buffer;
}

export type RecordHandler = (record: FcgiRecord) => void;

const S_HEADER = 0;
const S_CONTENT = 1;
const S_PADDING = 2;
const S_FAILED = 3;

const EMPTY = Buffer.alloc(0);

export class RecordParser {
  readonly #onRecord: RecordHandler;
  #state = S_HEADER;
  /** Header bytes collected so far when a header straddles chunks. */
  readonly #head = Buffer.alloc(HEADER_LEN);
  #headFill = 0;
  #type = 0;
  #requestId = 0;
  #contentLength = 0;
  #paddingLeft = 0;
  /** Assembly buffer for content straddling chunks. */
  #content: Buffer | null = null;
  #contentFill = 0;
  #error: FastCgiProtocolError | null = null;

  constructor(onRecord: RecordHandler) {
    this.#onRecord = onRecord;
  }

  /** True between records: ending the input here loses nothing. */
  get idle(): boolean {
    return this.#state === S_HEADER && this.#headFill === 0;
  }

  get failed(): boolean {
    return this.#state === S_FAILED;
  }

  /**
   * Consume a chunk, calling the handler for each completed record. Throws a
   * FastCgiProtocolError on malformed input; the parser then refuses all input.
   */
  execute(chunk: Buffer): void {
    if (this.#state === S_FAILED) {
      throw new FastCgiProtocolError('FCGI_ERR_PARSER_FAILED', 'parser already failed', { cause: this.#error });
    }
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      switch (this.#state) {
        case S_HEADER: {
          if (this.#headFill === 0 && len - off >= HEADER_LEN) {
            this.#readHeader(chunk, off);
            off += HEADER_LEN;
          } else {
            const n = Math.min(HEADER_LEN - this.#headFill, len - off);
            chunk.copy(this.#head, this.#headFill, off, off + n);
            this.#headFill += n;
            off += n;
            if (this.#headFill < HEADER_LEN) return;
            this.#headFill = 0;
            this.#readHeader(this.#head, 0);
          }
          if (this.#contentLength === 0) this.#emit(EMPTY);
          else this.#state = S_CONTENT;
          break;
        }
        case S_CONTENT: {
          const need = this.#contentLength;
          if (this.#content === null && len - off >= need) {
            off += need;
            this.#emit(chunk.subarray(off - need, off));
            break;
          }
          if (this.#content === null) {
            this.#content = Buffer.allocUnsafe(need);
            this.#contentFill = 0;
          }
          const n = Math.min(need - this.#contentFill, len - off);
          chunk.copy(this.#content, this.#contentFill, off, off + n);
          this.#contentFill += n;
          off += n;
          if (this.#contentFill < need) return;
          const content = this.#content;
          this.#content = null;
          this.#emit(content);
          break;
        }
        case S_PADDING: {
          const n = Math.min(this.#paddingLeft, len - off);
          this.#paddingLeft -= n;
          off += n;
          if (this.#paddingLeft === 0) this.#state = S_HEADER;
          break;
        }
        default:
          // Unreachable: #fail throws, so no loop iteration starts in S_FAILED.
          return;
      }
    }
  }

  /** Declare the end of input: throws FCGI_ERR_TRUNCATED if it cut a record. */
  end(): void {
    if (this.#state === S_FAILED) return;
    if (!this.idle) {
      this.#fail(new FastCgiProtocolError('FCGI_ERR_TRUNCATED', 'input ended inside a record'));
    }
  }

  #readHeader(buf: Buffer, at: number): void {
    const version = buf[at]!;
    const contentLength = (buf[at + 4]! << 8) | buf[at + 5]!;
    const paddingLength = buf[at + 6]!;
    // php-fpm accepts any version >= 1 and rejects only 0.
    if (version < 1) {
      this.#fail(new FastCgiProtocolError('FCGI_ERR_VERSION', `unsupported FastCGI version ${version}`));
    }
    // php-fpm reads content and padding into one 64 KiB buffer, so their sum is capped.
    if (contentLength + paddingLength > MAX_CONTENT) {
      this.#fail(
        new FastCgiProtocolError(
          'FCGI_ERR_TOO_LONG',
          `record content ${contentLength} + padding ${paddingLength} exceeds ${MAX_CONTENT}`,
        ),
      );
    }
    this.#type = buf[at + 1]!;
    this.#requestId = (buf[at + 2]! << 8) | buf[at + 3]!;
    this.#contentLength = contentLength;
    this.#paddingLeft = paddingLength;
  }

  #emit(content: Buffer): void {
    // State first, so a handler that feeds the parser re-entrantly sees a clean state.
    this.#state = this.#paddingLeft > 0 ? S_PADDING : S_HEADER;
    this.#onRecord({ type: this.#type, requestId: this.#requestId, content });
  }

  #fail(err: FastCgiProtocolError): never {
    this.#state = S_FAILED;
    this.#error = err;
    this.#content = null;
    throw err;
  }
}
