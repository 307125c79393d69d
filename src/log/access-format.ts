// Pure: php-fpm's access.format (fpm_log.c, 8.2). compileAccessFormat()
// reads a format once per pool, with php-fpm's validation and its words;
// renderAccessLine() turns one request's AccessRecord into the line php-fpm
// would write, byte for byte (strings are latin1: one char = one byte):
//
// - the 1024-byte line buffer: a value that does not fit is cut one byte
//   short and ends with a NUL (snprintf's), a `%%` or a `-` for a missing
//   header fills the last byte; anything cut sets `truncated` (php-fpm's
//   worker then logs "the log buffer is full (1024)...");
// - an empty line is not written at all (php-fpm tests strlen(buffer) > 0);
// - values are C strings (cut at a NUL); numbers as printf formats them
//   (%.3f rounds half to even on the exact binary value, NaN is `-nan`);
// - %{name}o finds a header as php-fpm does: the first header line that
//   contains `name` anywhere and has `: ` right after its first
//   strlen(name) bytes (so `%{Set}o` also matches `Abc: Set-Cookie`).
import { localTime, strftime } from './strftime.js';
import type { RequestFields } from './access-record.js';

/** php-fpm's FPM_LOG_BUFFER (MAX_LINE_LENGTH is not defined in its build). */
export const LOG_BUFFER = 1024;

export const TRUNCATED_NOTICE = `the log buffer is full (${LOG_BUFFER}). The access log request has been truncated.`;

const DEFAULT_TIME = '%d/%b/%Y:%H:%M:%S %z';

type Simple = 'f' | 'l' | 'm' | 'n' | 'p' | 'P' | 'q' | 'Q' | 'r' | 'R' | 's' | 'u';
export type CpuWhich = 'total' | 'user' | 'system';
export type DurationUnit = 's' | 'ms' | 'us';

export type Part =
  | { t: 'text'; s: string }
  | { t: '%' }
  /** A `%` that ends the format: prints nothing, but php-fpm's buffer check still sees it. */
  | { t: 'end' }
  | { t: 'C'; which: CpuWhich }
  | { t: 'd'; unit: DurationUnit }
  | { t: 'e'; name: string }
  | { t: 'o'; name: string }
  | { t: 'M'; div: number }
  | { t: 't' | 'T'; fmt: string; cache: { sec: number; s: string } }
  | { t: Simple };

/** What a record must carry for this format (so that nothing else is computed). */
export interface FormatNeeds {
  /** %{NAME}e names */
  env: string[];
  /** %{...}o */
  headers: boolean;
  /** %C */
  cpu: boolean;
  /** %M */
  memory: boolean;
  /** %f */
  script: boolean;
  /** %m, %r, %q/%Q, %l, %u (access.suppress_path needs all but %u) */
  method: boolean;
  uri: boolean;
  query: boolean;
  length: boolean;
  user: boolean;
  /** %s (and access.suppress_path) */
  status: boolean;
}

export interface AccessFormat {
  readonly source: string;
  readonly parts: readonly Part[];
  readonly needs: FormatNeeds;
}

export type CompileResult = { ok: true; format: AccessFormat } | { ok: false; warning: string };

/**
 * One request as php-fpm's scoreboard and SAPI hold it when the line is
 * written. Request strings are already cut to the scoreboard's sizes.
 */
/** %m ('' when none), %r, %q, %l, %u, %f ('' when none) and %e come from RequestFields. */
export interface AccessRecord extends RequestFields {
  /** %n: the pool name (scoreboard: 31 bytes) */
  pool: string;
  /** %p: the process that served it */
  pid: number;
  /** %P: the master */
  masterPid: number;
  /** %R: the FastCGI peer's IP, null on a unix socket */
  remote: string | null;
  /** %t: seconds since the epoch when the request was accepted */
  acceptedSec: number;
  /** %T: seconds since the epoch when the line is written */
  nowSec: number;
  /** %d and %C's wall time, microseconds */
  durationUs: number;
  /** %C: CPU clock ticks (1/100 s) of the request, children included */
  cpuUser: number;
  cpuSystem: number;
  /** %M: bytes */
  memory: number;
  /** %s */
  status: number;
  /** %o: the response headers as PHP's list holds them, `Name: value` */
  headers: readonly string[];
}

const SIMPLE = new Set<string>(['f', 'l', 'm', 'n', 'p', 'P', 'q', 'Q', 'r', 'R', 's', 'u']);

/** strcasecmp against a list */
const oneOf = (v: string, list: string[]): boolean => list.includes(v.toLowerCase());

/**
 * Reads an access.format as php-fpm's fpm_log_write() does in its test
 * mode at start; the warning is php-fpm's own when it refuses it.
 */
export function compileAccessFormat(source: string): CompileResult {
  const parts: Part[] = [];
  const needs: FormatNeeds = { env: [], headers: false, cpu: false, memory: false, script: false, method: false, uri: false, query: false, length: false, user: false, status: false };
  const fail = (warning: string): CompileResult => ({ ok: false, warning });
  let text = '';
  let token = false;
  let format = '';
  const flush = (): void => {
    if (text !== '') parts.push({ t: 'text', s: text });
    text = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (!token && c === '%') {
      token = true;
      format = '';
      flush();
      continue;
    }
    if (!token) {
      text += c;
      continue;
    }
    token = false;
    let usesFormat = true;
    switch (c) {
      case '%': parts.push({ t: '%' }); usesFormat = false; break;
      case 'C':
        if (format !== '' && !oneOf(format, ['total', 'user', 'system'])) {
          return fail(`only 'total', 'user' or 'system' are allowed as a modifier for %C ('${format}')`);
        }
        parts.push({ t: 'C', which: format === '' ? 'total' : (format.toLowerCase() as CpuWhich) });
        needs.cpu = true;
        break;
      case 'd': {
        const f = format.toLowerCase();
        let unit: DurationUnit;
        if (f === '' || f === 'seconds') unit = 's';
        // mili/miliseconds: kept by php-fpm for backwards compatibility
        else if (oneOf(f, ['milliseconds', 'milli', 'miliseconds', 'mili'])) unit = 'ms';
        else if (oneOf(f, ['microseconds', 'micro'])) unit = 'us';
        else return fail(`only 'seconds', 'milli', 'milliseconds', 'micro' or 'microseconds' are allowed as a modifier for %d ('${format}')`);
        parts.push({ t: 'd', unit });
        break;
      }
      case 'e':
        if (format === '') return fail('the name of the environment variable must be set between embraces for %e');
        parts.push({ t: 'e', name: format });
        if (!needs.env.includes(format)) needs.env.push(format);
        break;
      case 'M': {
        const f = format.toLowerCase();
        let div: number;
        if (f === '' || f === 'bytes') div = 1;
        else if (oneOf(f, ['kilobytes', 'kilo'])) div = 1024;
        else if (oneOf(f, ['megabytes', 'mega'])) div = 1024 * 1024;
        else return fail(`only 'bytes', 'kilo', 'kilobytes', 'mega' or 'megabytes' are allowed as a modifier for %M ('${format}')`);
        parts.push({ t: 'M', div });
        needs.memory = true;
        break;
      }
      case 'o':
        if (format === '') return fail('the name of the header must be set between embraces for %o');
        parts.push({ t: 'o', name: format });
        needs.headers = true;
        break;
      case 't':
      case 'T':
        parts.push({ t: c, fmt: format === '' ? DEFAULT_TIME : format, cache: { sec: NaN, s: '' } });
        break;
      case '{': {
        // php-fpm keeps at most 128 bytes of the name, and wants a token after '}'.
        const close = source.indexOf('}', i + 1);
        if (close < 0 || close + 1 >= source.length) return fail('missing closing embrace in the access.format');
        format = source.slice(i + 1, Math.min(close, i + 1 + 128));
        i = close;
        token = true;
        continue;
      }
      default:
        if (!SIMPLE.has(c)) return fail(`Invalid token in the access.format (%${c})`);
        parts.push({ t: c as Simple });
        usesFormat = false;
        if (c === 'f') needs.script = true;
        else if (c === 's') needs.status = true;
        else if (c === 'm') needs.method = true;
        else if (c === 'r') needs.uri = true;
        else if (c === 'q' || c === 'Q') needs.query = true;
        else if (c === 'l') needs.length = true;
        else if (c === 'u') needs.user = true;
    }
    if (!usesFormat && format !== '') return fail(`embrace is not allowed for modifier %${c}`);
    format = '';
  }
  if (token) parts.push({ t: 'end' });
  flush();
  return { ok: true, format: { source, parts, needs } };
}

/** A C string: what printf("%s") prints of it. */
function cstr(v: string): string {
  const nul = v.indexOf('\0');
  return nul < 0 ? v : v.slice(0, nul);
}

/**
 * printf("%.<digits>f", x) as glibc prints it: the exact binary value
 * rounded half to even (toFixed rounds a tie away from zero).
 */
export function cFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return '-nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const s = x.toFixed(digits);
  const scaled = Math.abs(x) * 10 ** digits * 2;
  if (Math.abs(scaled - Math.round(scaled)) > 1e-6 || Math.round(scaled) % 2 === 0) return s; // no tie possible
  const exact = Math.abs(x).toFixed(100);
  const cut = exact.indexOf('.') + 1 + digits;
  if (!/^50*$/.test(exact.slice(cut))) return s;
  // A true tie: toFixed went up; glibc keeps the even neighbour.
  const last = exact.charCodeAt(digits === 0 ? cut - 2 : cut - 1) - 48;
  if (last % 2 === 1) return s;
  const down = exact.slice(0, digits === 0 ? cut - 1 : cut);
  return x < 0 ? `-${down}` : down;
}

/** %{name}o: php-fpm's search through SG(sapi_headers).headers. */
export function findHeader(headers: readonly string[], name: string): string | null {
  const n = name.length;
  for (const h of headers) {
    if (h.length <= n + 2 || h.charCodeAt(n) !== 0x3a /* : */ || h.charCodeAt(n + 1) !== 0x20) continue;
    if (!h.includes(name)) continue;
    return h.slice(n + 2);
  }
  return null;
}

function timeOf(p: { fmt: string; cache: { sec: number; s: string } }, sec: number): string {
  if (p.cache.sec !== sec) {
    const s = strftime(p.fmt, localTime(sec, p.fmt.includes('Z')));
    // php-fpm's strftime() buffer holds 127 bytes; a longer result is not defined: nothing.
    p.cache.s = s.length > 127 ? '' : s;
    p.cache.sec = sec;
  }
  return p.cache.s;
}

export interface RenderedLine {
  /** The bytes to write (latin1), '\n' included. */
  line: string;
  /**
   * The line hit php-fpm's 1024-byte buffer: false, or where php-fpm noticed
   * (its check before the next format character, or the one after a token).
   */
  truncated: false | 'text' | 'token';
}

/** The line php-fpm writes for `rec`, or null when it writes none (an empty line). */
export function renderAccessLine(fmt: AccessFormat, rec: AccessRecord): RenderedLine | null {
  let out = '';
  let truncated: false | 'text' | 'token' = false;
  const dur = rec.durationUs;
  const tvSec = Math.floor(dur / 1e6);
  const tvUsec = dur - tvSec * 1e6;
  for (const p of fmt.parts) {
    if (out.length >= LOG_BUFFER) { truncated = 'text'; break; }
    let v = '';
    // php-fpm writes `%` and a missing header's `-` straight into the buffer, the rest through snprintf().
    let direct = false;
    switch (p.t) {
      case 'text': {
        const room = LOG_BUFFER - out.length;
        if (p.s.length <= room) { out += p.s; continue; }
        out += p.s.slice(0, room);
        truncated = 'text';
        break;
      }
      case 'end': continue;
      case '%': v = '%'; direct = true; break;
      case 'C': {
        const ticks = p.which === 'total' ? rec.cpuUser + rec.cpuSystem : p.which === 'user' ? rec.cpuUser : rec.cpuSystem;
        // clock_t / float is float arithmetic in C; then double.
        const perSec = Math.fround(Math.fround(ticks) / 100);
        v = cFixed(perSec / (tvSec + tvUsec / 1000000) * 100, 2);
        break;
      }
      case 'd':
        v = p.unit === 's' ? cFixed(tvSec + tvUsec / 1000000, 3)
          : p.unit === 'ms' ? cFixed(tvSec * 1000 + tvUsec / 1000, 3)
            : String(tvSec * 1000000 + tvUsec);
        break;
      case 'e': v = cstr(rec.env(p.name) ?? '-'); break;
      case 'o': {
        const h = findHeader(rec.headers, p.name);
        if (h === null) { v = '-'; direct = true; } else v = cstr(h);
        break;
      }
      case 'M': v = String(Math.floor(rec.memory / p.div)); break;
      case 't': v = timeOf(p, rec.acceptedSec); break;
      case 'T': v = timeOf(p, rec.nowSec); break;
      case 'f': v = rec.script !== '' ? rec.script : '-'; break;
      case 'l': v = rec.contentLength.toString(); break;
      case 'm': v = rec.method !== '' ? rec.method : '-'; break;
      case 'n': v = rec.pool !== '' ? rec.pool : '-'; break;
      case 'p': v = String(rec.pid); break;
      case 'P': v = String(rec.masterPid); break;
      case 'q': v = rec.query; break;
      case 'Q': v = rec.query !== '' ? '?' : ''; break;
      case 'r': v = rec.uri; break;
      case 'R': v = rec.remote ?? '-'; break;
      case 's': v = String(rec.status); break;
      case 'u': v = rec.user; break;
    }
    if (truncated) break;
    if (direct) {
      out += v;
      if (out.length >= LOG_BUFFER) { truncated = 'token'; break; }
      continue;
    }
    if (out.length + v.length >= LOG_BUFFER) {
      // snprintf() cut: one byte short, its NUL last; the line is written with it.
      out += `${v.slice(0, LOG_BUFFER - 1 - out.length)}\0`;
      truncated = 'token';
      break;
    }
    out += v;
  }
  if (out === '') return null;
  return { line: `${out}\n`, truncated };
}
