// The part of a buffered request that does not stay in memory: a temporary
// file, written and read back asynchronously in pieces (pieces.ts) that are
// reused, so the master's memory stays flat whatever the body's size.
//
// The file is unlinked as soon as it is opened: nothing is left on disk when
// the request ends, however it ends, and not even when the master is killed.
// Only the descriptor has to be closed (close()), which the request's owner
// does on every way out (src/pool: finished, aborted, child lost).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Retainer } from '../net/front-socket.js';
import { PIECE, givePiece, takePiece } from './pieces.js';

/** Pieces waiting for the disk before the source is asked to pause. */
const MAX_WAITING = 4;

/** Where the spooled bytes go: a child's connection (src/pool/child.ts). */
export interface BodySink {
  /** Writes bytes; false when the connection is full. `keeper.retain()` is called if a buffer is still in use when this returns. */
  writeBody(bufs: Buffer[], keeper: Retainer): boolean;
  /** Calls back once everything written has gone out (never, if the connection is lost). */
  onceBodyDrained(cb: () => void): void;
}

export class Spool {
  private fd: number;
  /** Bytes taken so far: the offset of the next byte in the file. */
  private size = 0;
  private fill: Buffer | null = null;
  private fillLen = 0;
  /** Pieces handed to fs.write and not back yet. */
  private writing = 0;
  /** A read of pipeTo() in flight. */
  private reading = false;
  private error: Error | null = null;
  private whenFlushed: ((err: Error | null) => void) | null = null;
  private closed = false;
  /** Called when the pieces waiting for the disk fall back under the mark after append() returned false. */
  onDrain: (() => void) | null = null;
  private full = false;

  /** Opens (and at once unlinks) a new file in `dir`, creating `dir` (0700) if needed. Throws on failure. */
  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `body-${randomBytes(8).toString('hex')}`);
    this.fd = fs.openSync(file, 'wx+', 0o600);
    try {
      fs.unlinkSync(file);
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  get bytes(): number { return this.size + (this.fill !== null ? this.fillLen : 0); }

  /** Copies `src`; false when the disk lags behind: pause the source until onDrain. */
  append(src: Buffer): boolean {
    let at = 0;
    while (at < src.length && !this.closed) {
      if (this.fill === null) { this.fill = takePiece(); this.fillLen = 0; }
      const n = src.copy(this.fill, this.fillLen, at);
      this.fillLen += n;
      at += n;
      if (this.fillLen === PIECE) this.writeFill();
    }
    this.full = this.writing >= MAX_WAITING;
    return !this.full;
  }

  /** After the last append(): `cb` once everything is on disk (or the first write error). */
  flush(cb: (err: Error | null) => void): void {
    if (this.fill !== null && this.fillLen > 0) this.writeFill();
    if (this.writing === 0 || this.error !== null) { cb(this.error); return; }
    this.whenFlushed = cb;
  }

  private writeFill(): void {
    const piece = this.fill!;
    const len = this.fillLen;
    const pos = this.size;
    this.fill = null;
    this.size += len;
    this.writing++;
    fs.write(this.fd, piece, 0, len, pos, (err) => {
      this.writing--;
      givePiece(piece);
      if (err !== null && this.error === null) this.error = err;
      if (this.closed) { this.closeIdle(); return; }
      if (this.writing === 0 && this.whenFlushed !== null) {
        const cb = this.whenFlushed;
        this.whenFlushed = null;
        cb(this.error);
        return;
      }
      if (this.full && this.writing < MAX_WAITING) {
        this.full = false;
        this.onDrain?.();
      }
    });
  }

  /**
   * Sends the file from its start to `sink`, one piece at a time, waiting for
   * the sink to drain whenever it is full or still holds the piece. `done` is
   * called with null at the end, or with the read error; never once closed.
   */
  pipeTo(sink: BodySink, done: (err: Error | null) => void): void {
    const buf = takePiece();
    let pos = 0;
    let kept = false;
    const keeper: Retainer = { retain: () => { kept = true; } };
    const next = (): void => {
      if (this.closed) return;
      if (pos >= this.size) { givePiece(buf); done(null); return; }
      this.reading = true;
      fs.read(this.fd, buf, 0, Math.min(PIECE, this.size - pos), pos, (err, n) => {
        this.reading = false;
        if (this.closed) { this.closeIdle(); return; }
        if (err !== null || n === 0) { done(err ?? new Error('spool file shorter than written')); return; }
        pos += n;
        kept = false;
        const ok = sink.writeBody([buf.subarray(0, n)], keeper);
        // The piece is read into again only once the connection let go of it.
        if (!ok || kept) sink.onceBodyDrained(next);
        else next();
      });
    };
    next();
  }

  /** Closes the descriptor (the file is already gone). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fill !== null) { givePiece(this.fill); this.fill = null; }
    this.closeIdle();
  }

  // A read or write in flight still uses the descriptor's number: closing
  // under it could let a new file take the number and receive its bytes.
  private closeIdle(): void {
    if (this.fd < 0 || this.writing > 0 || this.reading) return;
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, () => { /* nothing to report */ });
  }
}
