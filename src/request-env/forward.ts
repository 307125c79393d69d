// Pure: what tsfpm sends php-cgi so that php-cgi's own init_request_info ends
// where php-fpm's did. php-cgi runs the same steps again on what it receives;
// php-fpm's result is a fixed point of them (SCRIPT_FILENAME now names a file
// that resolves), with one exception: a REDIRECT_URL next to PATH_INFO or
// PATH_TRANSLATED makes php-cgi move those to ORIG_* (and may swap the script
// for PATH_TRANSLATED), which php-fpm skips for Apache's proxy requests. Then
// REDIRECT_URL is left out of what php-cgi sees (docs/request-env.md).
import type { FpmEnv, PathSettings } from './fpm-env.js';
import { RecordType, HEADER_LEN } from '../fastcgi/constants.js';
import { encodeParams, encodeStream } from '../fastcgi/encoder.js';

/** The params for php-cgi, or null when the web server's params can go as they came. */
export function paramsForPhpCgi(r: FpmEnv, s: PathSettings): Array<[string, string]> | null {
  if (!r.apache && !r.underflow && !r.iis) return null;
  const env = new Map(r.env);
  if (r.script === null) {
    // php-cgi then answers "No input file specified.", which the reply path turns into php-fpm's 404.
    env.delete('SCRIPT_FILENAME');
    env.delete('PATH_TRANSLATED');
  } else if (s.fixPathinfo && env.has('REDIRECT_URL') && (env.has('PATH_INFO') || env.has('PATH_TRANSLATED'))) {
    env.delete('REDIRECT_URL');
  }
  return [...env];
}

/**
 * The request's first bytes (BEGIN_REQUEST, the PARAMS records, maybe the
 * start of STDIN) with the PARAMS stream replaced. `head` holds whole
 * records up to the end of PARAMS; anything after them is kept as it is.
 */
export function replaceParams(head: Buffer, requestId: number, params: Iterable<[string, string]>): Buffer[] {
  let at = 0;
  let beginEnd = -1;
  while (at + HEADER_LEN <= head.length) {
    const type = head[at + 1];
    const len = head.readUInt16BE(at + 4) + head[at + 6];
    if (type === RecordType.BEGIN_REQUEST) beginEnd = at + HEADER_LEN + len;
    else if (type !== RecordType.PARAMS) break;
    at += HEADER_LEN + len;
  }
  if (beginEnd < 0) throw new Error('replaceParams: no BEGIN_REQUEST record');
  const body = encodeParams(params);
  return [
    head.subarray(0, beginEnd),
    encodeStream(RecordType.PARAMS, requestId, body),
    encodeStream(RecordType.PARAMS, requestId, Buffer.alloc(0)),
    head.subarray(Math.min(at, head.length)),
  ];
}
