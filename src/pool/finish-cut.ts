// Where the web server's reply ends when a script calls fastcgi_finish_request()
// (the shim's side: src/php/finish-request.ts). Pure: no I/O.
//
// ReplyRewriter turns the shim's mark lines into tokens placed in a chunk's
// output exactly where the marks were in php-cgi's stream (always between two
// records), and creates a FinishCut for the request. Child then passes each
// chunk's output through filter():
// - before a token, the output goes to the web server as it is;
// - after HOLD_AT (PHP had not sent its headers), the output is held: PHP's
//   header block and the one byte the shim wrote to make PHP send it (not
//   there for a HEAD request: PHP drops it);
// - at END_AT, the held records go out without that byte, then END_REQUEST
//   (appStatus 0, as php-fpm's fcgi_end), and the web server's reply is
//   complete (`replied`). php-fpm sends no empty STDOUT record there either.
// - after END_AT nothing goes to the web server: the child's later output, its
//   messages (still logged) and its own END_REQUEST are dropped.
import { RecordParser, type FcgiRecord } from '../fastcgi/parser.js';
import { RecordType, ProtocolStatus } from '../fastcgi/constants.js';
import { encodeEndRequest, encodeStream } from '../fastcgi/encoder.js';
import { FINISH_BYTE } from '../php/finish-request.js';

/** Zero-length tokens (a stray one writes nothing); told apart by identity. */
export const HOLD_AT = Buffer.alloc(0);
export const END_AT = Buffer.alloc(0);

/**
 * More than PHP's header block can be (nginx refuses one over its 4-8 KiB
 * fastcgi_buffer_size): a hold that grows past it was forged by the script,
 * whose output then goes out as it came instead of piling up in the master.
 */
export const MAX_HELD = 256 * 1024;

export class FinishCut {
  /** The web server has its whole reply: nothing more goes to it. */
  replied = false;
  /** Copies of the output since HOLD_AT, or null when not holding. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;

  constructor(private readonly requestId: number) {}

  /** One chunk's output (views of the chunk allowed) in; what the web server gets of it out. */
  filter(out: readonly Buffer[]): Buffer[] {
    const send: Buffer[] = [];
    if (this.replied) return send;
    for (const b of out) {
      if (b === HOLD_AT) {
        if (this.held === null) {
          this.held = [];
          this.heldBytes = 0;
        }
      } else if (b === END_AT) {
        if (this.held !== null) for (const r of withoutShimByte(this.held)) send.push(r);
        this.held = null;
        send.push(encodeEndRequest(this.requestId, 0, ProtocolStatus.REQUEST_COMPLETE));
        this.replied = true;
        return send;
      } else if (b.length > 0) {
        if (this.held === null) send.push(b);
        else if ((this.heldBytes += b.length) <= MAX_HELD) this.held.push(Buffer.from(b)); // outlives the chunk: copied
        else {
          for (const h of this.drain()) send.push(h);
          send.push(b);
        }
      }
    }
    return send;
  }

  /**
   * The child ended its reply with no END_AT after a HOLD_AT (only a forged
   * mark does that): what was held goes out as it came.
   */
  drain(): Buffer[] {
    const held = this.held ?? [];
    this.held = null;
    return held;
  }
}

/**
 * The held records, re-encoded, with the last byte of STDOUT taken out when it
 * is the shim's. Empty stream records are left out (php-cgi sends none mid-reply).
 */
export function withoutShimByte(held: readonly Buffer[]): Buffer[] {
  const recs: FcgiRecord[] = [];
  const parser = new RecordParser((r) => recs.push({ type: r.type, requestId: r.requestId, content: Buffer.from(r.content) }));
  try {
    for (const b of held) parser.execute(b);
  } catch {
    return []; // not reachable from php-cgi's stream; nothing sensible to send
  }
  for (let i = recs.length - 1; i >= 0; i--) {
    const r = recs[i];
    if (r.type === RecordType.STDOUT && r.content.length > 0) {
      if (r.content[r.content.length - 1] === FINISH_BYTE) r.content = r.content.subarray(0, r.content.length - 1);
      break;
    }
  }
  return recs.filter((r) => r.content.length > 0).map((r) => encodeStream(r.type, r.requestId, r.content));
}
