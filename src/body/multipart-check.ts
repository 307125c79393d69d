// Runs a multipart body through @fastify/busboy's multipart parser (Dicer)
// as it arrives, and asks PartTally (upload-rules.ts) what PHP would make of
// each part. Busboy's own front end is not used: it sorts parts otherwise
// than PHP (a part that is not `form-data` is skipped, one typed
// application/octet-stream is a file even without a filename) and keeps each
// field's value in memory; here a part is a file exactly when PHP's reader
// says so and no byte of it is kept.
import { Dicer } from '@fastify/busboy';
import type { PartTally, Refusal } from './upload-rules.js';

/** The part stream's readable state: emitting synchronously (see below). */
interface SyncFlag { _readableState?: { sync: boolean } }

export class MultipartCheck {
  private readonly parser: Dicer;
  /** STDIN bytes PHP reads (it stops at Content-Length). */
  private left: number;
  private verdict: Refusal | null = null;
  /** The parser failed or PHP stopped reading: nothing more to check. */
  private idle = false;

  constructor(boundary: string, contentLength: number, private readonly tally: PartTally) {
    this.left = contentLength;
    this.parser = new Dicer({ boundary });
    this.parser.on('error', () => { this.idle = true; });
    this.parser.on('part', (part) => {
      part.on('error', () => { /* a part cut short: PHP's to judge */ });
      part.on('header', (header: object) => {
        const cd = (header as Record<string, string[] | undefined>)['content-disposition']?.[0];
        this.found(this.tally.part(cd));
        // As busboy does: data events during write(), so a verdict is known when write() returns.
        const state = (part as SyncFlag)._readableState;
        if (state !== undefined) state.sync = false;
        part.on('data', (d: Buffer | string) => this.found(this.tally.data(d.length)));
      });
    });
  }

  /** Feeds body bytes [start, end) of chunk; returns the refusal once one is earned (then again on every call). */
  write(chunk: Buffer, start: number, end: number): Refusal | null {
    if (this.verdict !== null || this.idle || this.left <= 0) return this.verdict;
    const n = Math.min(end - start, this.left);
    this.left -= n;
    try {
      this.parser.write(chunk.subarray(start, start + n));
    } catch {
      this.idle = true;
    }
    return this.verdict;
  }

  private found(r: Refusal | null): void {
    if (r !== null && this.verdict === null) this.verdict = r;
  }
}
