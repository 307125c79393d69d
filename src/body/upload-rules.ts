// Pure: what PHP's multipart reader (main/rfc1867.c, 8.2) would do with a
// request body, decided as the body streams in, so that tsfpm can answer 413
// where PHP would have dropped data and run the script anyway:
//
// - post_max_size: PHP ignores a multipart POST whose Content-Length is over
//   it (a warning, empty $_POST and $_FILES);
// - max_multipart_body_parts: PHP stops at the part after the limit (parts
//   with a Content-Disposition header count);
// - max_file_uploads: PHP skips every file after that many were stored;
// - upload_max_filesize: PHP discards a file over it (UPLOAD_ERR_INI_SIZE).
//
// Only a POST with a multipart/form-data content type PHP would parse is
// checked (enable_post_data_reading on, a boundary it can read); every other
// body passes as it is. MAX_FILE_SIZE form fields and max_input_vars are left
// to PHP: they lose no upload a script could not see coming.
import type { BodyLimits } from './limits.js';

export type LimitName = 'post_max_size' | 'upload_max_filesize' | 'max_file_uploads' | 'max_multipart_body_parts';

export interface Refusal {
  limit: LimitName;
  /** The limit. */
  value: number;
  /** What passed it: the Content-Length, the file's bytes so far, the files, the parts. */
  size: number;
  /** upload_max_filesize, max_file_uploads: the part's field name and file name as sent. */
  field?: string;
  filename?: string;
  /** max_multipart_body_parts was -1: the limit is max_input_vars + max_file_uploads. */
  derived?: boolean;
}

export type UploadPlan =
  | { kind: 'pass' }
  | { kind: 'refuse'; refusal: Refusal }
  /** Parse the first contentLength bytes of STDIN (what PHP reads) with this boundary. */
  | { kind: 'check'; boundary: string; contentLength: number };

// rfc1867.c refuses boundaries longer than FILLUNIT - strlen("\r\n--").
const PHP_MAX_BOUNDARY = 5 * 1024 - 4;
// @fastify/busboy's searcher takes at most 256 bytes of "\r\n--" + boundary; RFC 2046 allows 70.
const PARSER_MAX_BOUNDARY = 252;

/** The mime type as SAPI.c matches it: lowercased, up to the first ';', ',' or ' '. */
export function mimeType(contentType: string): string {
  const end = contentType.search(/[;, ]/);
  return (end < 0 ? contentType : contentType.slice(0, end)).toLowerCase();
}

/** The boundary as rfc1867.c reads it from the Content-Type, or null where PHP gives up ("Missing boundary"...). */
export function multipartBoundary(contentType: string): string | null {
  let at = contentType.indexOf('boundary');
  if (at < 0) at = contentType.toLowerCase().indexOf('boundary');
  if (at < 0) return null;
  const eq = contentType.indexOf('=', at);
  if (eq < 0) return null;
  let b = contentType.slice(eq + 1);
  if (b.startsWith('"')) {
    const close = b.indexOf('"', 1);
    if (close < 0) return null;
    b = b.slice(1, close);
  } else {
    const end = b.search(/[,;]/);
    if (end >= 0) b = b.slice(0, end);
  }
  return b.length > PHP_MAX_BOUNDARY ? null : b;
}

/** atoll(): leading blanks, a sign, digits; 0 without digits. */
function atoll(s: string): number {
  const m = /^[ \t\n\r\v\f]*([+-]?\d+)/.exec(s);
  return m === null ? 0 : Number(m[1]);
}

/** What to do with a request's body, from its params (undefined: not sent). */
export function uploadPlan(limits: BodyLimits, method: string | undefined, contentType: string | undefined, contentLength: string | undefined): UploadPlan {
  if (!limits.postDataReading || method !== 'POST' || contentType === undefined) return { kind: 'pass' };
  if (mimeType(contentType) !== 'multipart/form-data') return { kind: 'pass' };
  const length = contentLength === undefined ? 0 : atoll(contentLength);
  if (limits.postMaxSize > 0 && length > limits.postMaxSize) {
    return { kind: 'refuse', refusal: { limit: 'post_max_size', value: limits.postMaxSize, size: length } };
  }
  const boundary = multipartBoundary(contentType);
  // One tsfpm cannot search for (non-ASCII, over 252 bytes): PHP alone decides.
  if (boundary === null || boundary === '' || boundary.length > PARSER_MAX_BOUNDARY || !/^[\x20-\x7e]*$/.test(boundary)) return { kind: 'pass' };
  return { kind: 'check', boundary, contentLength: length };
}

/** php_ap_getword: the text up to `stop` outside quotes; returns it and where the next word starts. */
function getword(line: string, pos: number, stop: string): { word: string; next: number } {
  let p = pos;
  while (p < line.length && line[p] !== stop) {
    const q = line[p];
    if (q === '"' || q === "'") {
      p++;
      while (p < line.length && line[p] !== q) p += line[p] === '\\' && line[p + 1] === q ? 2 : 1;
      if (p < line.length) p++;
    } else p++;
  }
  if (p >= line.length) return { word: line.slice(pos), next: line.length };
  const word = line.slice(pos, p);
  while (line[p] === stop) p++;
  return { word, next: p };
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/** php_ap_getword_conf: a value, unquoted (backslash escapes) or up to the first blank. */
function wordConf(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  if (i === s.length) return '';
  let quote = '';
  let end: number;
  if (s[i] === '"' || s[i] === "'") {
    quote = s[i++];
    end = s.length;
  } else {
    end = i;
    while (end < s.length && !isSpace(s[end])) end++;
  }
  let out = '';
  for (let k = i; k < end && s[k] !== quote; k++) {
    if (s[k] === '\\' && (s[k + 1] === '\\' || (quote !== '' && s[k + 1] === quote))) out += s[++k];
    else out += s[k];
  }
  return out;
}

/** The name and filename PHP reads from a part's Content-Disposition (null: absent). */
export function parseDisposition(value: string): { name: string | null; filename: string | null } {
  let name: string | null = null;
  let filename: string | null = null;
  let pos = 0;
  while (pos < value.length && isSpace(value[pos])) pos++;
  while (pos < value.length) {
    const pair = getword(value, pos, ';');
    pos = pair.next;
    while (pos < value.length && isSpace(value[pos])) pos++;
    if (!pair.word.includes('=')) continue;
    const key = getword(pair.word, 0, '=');
    const rest = pair.word.slice(key.next);
    const k = key.word.toLowerCase();
    if (k === 'name') name = wordConf(rest);
    else if (k === 'filename') filename = wordConf(rest);
  }
  return { name, filename };
}

/** rfc1867.c's "never repair potential malicious user input": a file field name with unbalanced brackets is skipped. */
export function validUploadName(name: string): boolean {
  let depth = 0;
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '[') depth++;
    else if (name[i] === ']') {
      depth--;
      if (i + 1 < name.length && name[i + 1] !== '[') return false;
    }
    if (depth < 0) return false;
  }
  return depth === 0;
}

/**
 * Counts a multipart body the way rfc1867.c walks it: part() when a part's
 * headers are complete, data() for its body bytes. Each returns the Refusal
 * that body earns, or null. After a refusal, or where PHP stops reading parts
 * itself (a part with neither name nor filename), it says nothing more.
 */
export class PartTally {
  private parts = 0;
  private stored = 0;
  /** The current part is a file PHP would store: its bytes are counted. */
  private upload: { field: string; filename: string; bytes: number } | null = null;
  private done = false;

  constructor(private readonly limits: BodyLimits) {}

  part(disposition: string | undefined): Refusal | null {
    this.upload = null;
    if (this.done || disposition === undefined) return null;
    const l = this.limits;
    if (++this.parts > l.maxBodyParts) {
      return this.refuse({ limit: 'max_multipart_body_parts', value: l.maxBodyParts, size: this.parts, derived: l.bodyPartsDerived });
    }
    const { name, filename } = parseDisposition(disposition);
    if (filename === null && name !== null) return null; // a form field
    if (filename === null && name === null) { this.done = true; return null; } // "File Upload Mime headers garbled": PHP stops here
    if (!l.fileUploads) return null;
    const field = name ?? '';
    // Skipped by PHP anyway, or stored as UPLOAD_ERR_NO_FILE: no data of the client's lost.
    const real = filename !== '' && (name === null || validUploadName(name));
    if (!real) return null;
    if (this.stored >= l.maxFileUploads) {
      return this.refuse({ limit: 'max_file_uploads', value: l.maxFileUploads, size: this.stored + 1, field, filename: filename ?? '' });
    }
    this.stored++;
    this.upload = { field, filename: filename ?? '', bytes: 0 };
    return null;
  }

  data(n: number): Refusal | null {
    const u = this.upload;
    if (u === null || this.done) return null;
    u.bytes += n;
    const max = this.limits.uploadMaxFilesize;
    if (max > 0 && u.bytes > max) {
      return this.refuse({ limit: 'upload_max_filesize', value: max, size: u.bytes, field: u.field, filename: u.filename });
    }
    return null;
  }

  private refuse(r: Refusal): Refusal {
    this.done = true;
    this.upload = null;
    return r;
  }
}
