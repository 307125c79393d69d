// Name-value pair decoding (FastCGI spec 3.4): each length is 1 byte (< 128) or
// 4 bytes big-endian with the top bit set. Like php-fpm's fcgi_get_params, any length
// running past the block is an error (php-fpm closes the connection).

import { FastCgiProtocolError } from './errors.js';

function overrun(at: number): FastCgiProtocolError {
  return new FastCgiProtocolError('FCGI_ERR_PARAMS_OVERRUN', `name-value pair at offset ${at} overruns the params block`);
}

/** Where one pair lies; reused by the walkers below to avoid an allocation per pair. */
interface Pair { name: number; nameLen: number; valueLen: number; next: number }

/** Reads the pair starting at p into `out`; throws on any length running past `end`. */
function readPair(body: Buffer, p: number, end: number, out: Pair): void {
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
  out.name = p;
  out.nameLen = nameLen;
  out.valueLen = valueLen;
  out.next = p + nameLen + valueLen;
}

/**
 * Every pair in order, duplicates included (php-fpm keeps the last value of a
 * duplicated name; callers building a map get that for free). Strings are latin1 so
 * bytes round-trip through encodeParams.
 */
export function decodeParams(body: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const pair: Pair = { name: 0, nameLen: 0, valueLen: 0, next: 0 };
  for (let p = 0; p < body.length; p = pair.next) {
    readPair(body, p, body.length, pair);
    const v = pair.name + pair.nameLen;
    out.push([body.toString('latin1', pair.name, v), body.toString('latin1', v, v + pair.valueLen)]);
  }
  return out;
}

/**
 * The value of `name` (last occurrence wins, as in php-fpm), or undefined.
 * Compares bytes only for names of the right length, decoding nothing but the
 * value found. `name` must be ASCII/latin1.
 */
export function findParam(body: Buffer, name: string): string | undefined {
  const want = name.length;
  const pair: Pair = { name: 0, nameLen: 0, valueLen: 0, next: 0 };
  let found = -1;
  let foundLen = 0;
  for (let p = 0; p < body.length; p = pair.next) {
    readPair(body, p, body.length, pair);
    if (pair.nameLen !== want) continue;
    let i = 0;
    while (i < want && body[pair.name + i] === name.charCodeAt(i)) i++;
    if (i === want) {
      found = pair.name + want;
      foundLen = pair.valueLen;
    }
  }
  return found < 0 ? undefined : body.toString('latin1', found, found + foundLen);
}

/**
 * The values of several names in one walk (last occurrence wins), undefined
 * for absent ones. For the hot path: only the wanted values are decoded.
 */
export function pickParams(body: Buffer, names: readonly string[]): Array<string | undefined> {
  const out: Array<string | undefined> = new Array(names.length).fill(undefined);
  const pair: Pair = { name: 0, nameLen: 0, valueLen: 0, next: 0 };
  for (let p = 0; p < body.length; p = pair.next) {
    readPair(body, p, body.length, pair);
    for (let k = 0; k < names.length; k++) {
      const name = names[k];
      if (pair.nameLen !== name.length) continue;
      let i = 0;
      while (i < name.length && body[pair.name + i] === name.charCodeAt(i)) i++;
      if (i === name.length) {
        const v = pair.name + pair.nameLen;
        out[k] = body.toString('latin1', v, v + pair.valueLen);
        break;
      }
    }
  }
  return out;
}
