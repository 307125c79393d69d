// Name-value pair decoding (FastCGI spec 3.4): each length is 1 byte (< 128) or
// 4 bytes big-endian with the top bit set. Like php-fpm's fcgi_get_params, any length
// running past the block is an error (php-fpm closes the connection).

import { FastCgiProtocolError } from './errors.js';

function overrun(at: number): FastCgiProtocolError {
  return new FastCgiProtocolError('FCGI_ERR_PARAMS_OVERRUN', `name-value pair at offset ${at} overruns the params block`);
}

/**
 * Every pair in order, duplicates included (php-fpm keeps the last value of a
 * duplicated name; callers building a map get that for free). Strings are latin1 so
 * bytes round-trip through encodeParams.
 */
export function decodeParams(body: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const end = body.length;
  let p = 0;
  while (p < end) {
    const start = p;
    let nameLen = body[p++]!;
    if (nameLen & 0x80) {
      if (p + 3 > end) throw overrun(start);
      nameLen = ((nameLen & 0x7f) << 24) | (body[p]! << 16) | (body[p + 1]! << 8) | body[p + 2]!;
      p += 3;
    }
    if (p >= end) throw overrun(start);
    let valueLen = body[p++]!;
    if (valueLen & 0x80) {
      if (p + 3 > end) throw overrun(start);
      valueLen = ((valueLen & 0x7f) << 24) | (body[p]! << 16) | (body[p + 1]! << 8) | body[p + 2]!;
      p += 3;
    }
    if (nameLen + valueLen > end - p) throw overrun(start);
    const name = body.toString('latin1', p, p + nameLen);
    p += nameLen;
    out.push([name, body.toString('latin1', p, p + valueLen)]);
    p += valueLen;
  }
  return out;
}

/**
 * The value of `name` (last occurrence wins, as in php-fpm), or undefined. Hot path:
 * walks the lengths and compares bytes only for names of the right length, decoding
 * nothing but the value found. `name` must be ASCII/latin1.
 */
export function findParam(body: Buffer, name: string): string | undefined {
  const want = name.length;
  const end = body.length;
  let p = 0;
  let found = -1;
  let foundLen = 0;
  while (p < end) {
    const start = p;
    let nameLen = body[p++]!;
    if (nameLen & 0x80) {
      if (p + 3 > end) throw overrun(start);
      nameLen = ((nameLen & 0x7f) << 24) | (body[p]! << 16) | (body[p + 1]! << 8) | body[p + 2]!;
      p += 3;
    }
    if (p >= end) throw overrun(start);
    let valueLen = body[p++]!;
    if (valueLen & 0x80) {
      if (p + 3 > end) throw overrun(start);
      valueLen = ((valueLen & 0x7f) << 24) | (body[p]! << 16) | (body[p + 1]! << 8) | body[p + 2]!;
      p += 3;
    }
    if (nameLen + valueLen > end - p) throw overrun(start);
    if (nameLen === want) {
      let i = 0;
      while (i < want && body[p + i] === name.charCodeAt(i)) i++;
      if (i === want) {
        found = p + nameLen;
        foundLen = valueLen;
      }
    }
    p += nameLen + valueLen;
  }
  return found < 0 ? undefined : body.toString('latin1', found, found + foundLen);
}
