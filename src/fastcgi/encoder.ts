// Pure record encoders. Padding follows php-fpm (fcgi_make_header): every record is
// padded to a multiple of 8 bytes with zeroes.

import {
  FCGI_VERSION_1,
  HEADER_LEN,
  MAX_CONTENT,
  MAX_STREAM_CHUNK,
  RecordType,
} from './constants.js';
import { FastCgiProtocolError } from './errors.js';

/** Padding php-fpm adds after `contentLength` bytes of content. */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

function writeHeader(
  buf: Buffer,
  at: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  buf[at] = FCGI_VERSION_1;
  buf[at + 1] = type;
  buf[at + 2] = (requestId >>> 8) & 0xff;
  buf[at + 3] = requestId & 0xff;
  buf[at + 4] = (contentLength >>> 8) & 0xff;
  buf[at + 5] = contentLength & 0xff;
  buf[at + 6] = paddingLength;
  buf[at + 7] = 0;
}

function checkContent(len: number): void {
  if (len > MAX_CONTENT) {
    throw new FastCgiProtocolError('FCGI_ERR_TOO_LONG', `record content of ${len} bytes exceeds ${MAX_CONTENT}`);
  }
}

export function encodeHeader(type: number, requestId: number, contentLength: number, paddingLength: number): Buffer {
  checkContent(contentLength);
  const buf = Buffer.allocUnsafe(HEADER_LEN);
  writeHeader(buf, 0, type, requestId, contentLength, paddingLength & 0xff);
  return buf;
}

/** One record: header, content, zero padding to a multiple of 8. */
export function encodeRecord(type: number, requestId: number, content: Buffer): Buffer {
  checkContent(content.length);
  const pad = paddingFor(content.length);
  const buf = Buffer.allocUnsafe(HEADER_LEN + content.length + pad);
  writeHeader(buf, 0, type, requestId, content.length, pad);
  content.copy(buf, HEADER_LEN);
  buf.fill(0, HEADER_LEN + content.length);
  return buf;
}

/**
 * A stream (PARAMS, STDIN, STDOUT, STDERR, DATA) as records of at most 0xFFF8 bytes,
 * built in one allocation. Empty `data` gives the empty end-of-stream record; a
 * non-empty stream is NOT terminated (callers append `encodeStream(type, id, EMPTY)`),
 * so a body can be sent in several calls.
 */
export function encodeStream(type: number, requestId: number, data: Buffer): Buffer {
  const len = data.length;
  if (len === 0) return encodeHeader(type, requestId, 0, 0);
  const full = Math.floor(len / MAX_STREAM_CHUNK);
  const tail = len - full * MAX_STREAM_CHUNK;
  const records = full + (tail > 0 ? 1 : 0);
  const tailPad = paddingFor(tail);
  const buf = Buffer.allocUnsafe(records * HEADER_LEN + len + tailPad);
  let src = 0;
  let at = 0;
  while (src < len) {
    const n = Math.min(MAX_STREAM_CHUNK, len - src);
    const pad = paddingFor(n);
    writeHeader(buf, at, type, requestId, n, pad);
    at += HEADER_LEN;
    data.copy(buf, at, src, src + n);
    at += n;
    if (pad > 0) {
      buf.fill(0, at, at + pad);
      at += pad;
    }
    src += n;
  }
  return buf;
}

export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  const buf = Buffer.alloc(HEADER_LEN + 8);
  writeHeader(buf, 0, RecordType.BEGIN_REQUEST, requestId, 8, 0);
  buf[8] = (role >>> 8) & 0xff;
  buf[9] = role & 0xff;
  buf[10] = flags & 0xff;
  return buf;
}

export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  // php-fpm leaves the 3 reserved bytes uninitialised; we zero them (alloc).
  const buf = Buffer.alloc(HEADER_LEN + 8);
  writeHeader(buf, 0, RecordType.END_REQUEST, requestId, 8, 0);
  buf.writeUInt32BE(appStatus >>> 0, 8);
  buf[12] = protocolStatus & 0xff;
  return buf;
}

function lengthSize(n: number): number {
  return n < 0x80 ? 1 : 4;
}

function writeLength(buf: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    buf[at] = n;
    return at + 1;
  }
  buf.writeUInt32BE((n | 0x80000000) >>> 0, at);
  return at + 4;
}

/**
 * Name-value pairs (the body of PARAMS, GET_VALUES, GET_VALUES_RESULT). Strings are
 * written as latin1 so that each char is one byte: CGI params are bytes, and a
 * decoded param re-encodes to the same bytes.
 */
export function encodeParams(pairs: Iterable<[string, string]>): Buffer {
  const list = Array.isArray(pairs) ? (pairs as Array<[string, string]>) : [...pairs];
  let size = 0;
  for (const [name, value] of list) {
    if (name.length > 0x7fffffff || value.length > 0x7fffffff) {
      throw new FastCgiProtocolError('FCGI_ERR_TOO_LONG', 'name-value pair longer than 2^31-1 bytes');
    }
    size += lengthSize(name.length) + lengthSize(value.length) + name.length + value.length;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [name, value] of list) {
    at = writeLength(buf, at, name.length);
    at = writeLength(buf, at, value.length);
    at += buf.write(name, at, 'latin1');
    at += buf.write(value, at, 'latin1');
  }
  return buf;
}
