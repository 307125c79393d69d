// Pure: what php-fpm's scoreboard records about a request (fpm_request_info):
// method, request_uri, query string, content length, the Basic-auth user and
// the script it runs, cut to the scoreboard's fixed field sizes as strlcpy()
// cuts them. Computed from the params tsfpm kept, only when ?full asks.
import { fpmEnv, type PathProbe, type PathSettings } from '../request-env/fpm-env.js';

export interface RequestInfo {
  method: string;
  uri: string;
  query: string;
  contentLength: bigint;
  user: string;
  script: string;
}

/** Scoreboard field sizes (fpm_scoreboard.h), terminating NUL included. */
export const SIZE = { uri: 128, query: 512, method: 16, script: 256, user: 32 } as const;


/** atol() as a size_t: leading space, sign, digits; negatives wrap. */
export function atolSize(v: string | undefined): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(v ?? '');
  if (m === null) return 0n;
  let n = BigInt(m[2]);
  if (n > 2n ** 63n - 1n) n = 2n ** 63n - 1n; // strtol saturates
  if (m[1] === '-') n = -n;
  return n < 0n ? n + 2n ** 64n : n;
}

/** strlcpy() into a char[size], as a C string. */
export function field(v: string | null | undefined, size: number): string {
  if (v === null || v === undefined) return '';
  const nul = v.indexOf('\0');
  const s = nul >= 0 ? v.slice(0, nul) : v;
  return s.length > size - 1 ? s.slice(0, size - 1) : s;
}

const B64 = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => { B64[c.charCodeAt(0)] = i; });

/** PHP's php_base64_decode (not strict): '=' and unknown bytes are skipped anywhere. */
export function phpBase64Decode(s: string): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const v = B64[s.charCodeAt(i) & 0xff];
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** php_handle_auth_data(): the user of `Basic base64(user:pass)`, '' otherwise. */
export function authUser(auth: string | undefined): string {
  if (auth === undefined || auth.length < 6 || auth.slice(0, 6).toLowerCase() !== 'basic ') return '';
  const decoded = phpBase64Decode(auth.slice(6));
  const nul = decoded.indexOf('\0');
  const s = nul >= 0 ? decoded.slice(0, nul) : decoded;
  const colon = s.indexOf(':');
  return colon >= 0 ? s.slice(0, colon) : '';
}

/** The fields as php-fpm's scoreboard holds them: '' where it has nothing (its log lines print that). */
export function scoreboardRequest(params: Map<string, string>, settings: PathSettings, probe: PathProbe): RequestInfo {
  const env = fpmEnv(params, settings, probe);
  const hasScriptPath = params.has('SCRIPT_FILENAME') || params.has('PATH_TRANSLATED');
  return {
    method: field(params.get('REQUEST_METHOD'), SIZE.method),
    uri: field(env.requestUri, SIZE.uri),
    // php-fpm reads these only when the request has a script path (init_request_info).
    query: hasScriptPath ? field(params.get('QUERY_STRING'), SIZE.query) : '',
    contentLength: hasScriptPath ? atolSize(params.get('CONTENT_LENGTH')) : 0n,
    user: hasScriptPath ? field(authUser(params.get('HTTP_AUTHORIZATION')), SIZE.user) : '',
    script: field(env.script, SIZE.script),
  };
}

/** The fields as the status page shows them ('-' for an empty method, user or script). */
export function requestInfo(params: Map<string, string>, settings: PathSettings, probe: PathProbe): RequestInfo {
  const r = scoreboardRequest(params, settings, probe);
  return { ...r, method: r.method || '-', user: r.user || '-', script: r.script || '-' };
}
