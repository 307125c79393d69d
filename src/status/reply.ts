// Pure: the FastCGI reply php-fpm's worker gives for the ping and status
// pages (and the 404 of a script it cannot find), down to the header order:
// PHP's X-Powered-By first when expose_php is on, then the headers in the
// order fpm_status.c adds them, with PHP's Content-Type rewriting (text/*
// gets `;charset=` default_charset, spelt `Content-type`; a HEAD request gets
// no body and, for the status page, PHP's default content type). Records as
// php-fpm writes them: STDERR (if any), STDOUT, END_REQUEST; no empty STDOUT.
import { RecordType, ProtocolStatus } from '../fastcgi/constants.js';
import { encodeEndRequest, encodeRecord, encodeStream } from '../fastcgi/encoder.js';
import type { StatusFormat } from './query.js';

/** The ini settings that shape a PHP reply's headers (asked of php-cgi once per pool). */
export const SAPI_INI = ['expose_php', 'default_charset', 'default_mimetype'] as const;

export interface SapiHeaders {
  /** `PHP/8.2.x` when expose_php is on, else null. */
  poweredBy: string | null;
  /** default_charset ('' for none). */
  charset: string;
  /** default_mimetype. */
  mimetype: string;
}

/** PHP's built-in defaults, minus X-Powered-By (the version is unknown without php-cgi). */
export const DEFAULT_SAPI: SapiHeaders = { poweredBy: null, charset: 'UTF-8', mimetype: 'text/html' };

/** zend_ini_parse_bool */
function iniBool(v: string | null | undefined, dflt: boolean): boolean {
  if (v === null || v === undefined) return dflt;
  const s = v.trim().toLowerCase();
  if (s === 'on' || s === 'yes' || s === 'true') return true;
  const n = Number.parseInt(s, 10);
  return !Number.isNaN(n) && n !== 0;
}

export function sapiHeaders(ini: Record<string, string | null>, phpVersion: string | null): SapiHeaders {
  return {
    poweredBy: phpVersion !== null && iniBool(ini.expose_php, true) ? `PHP/${phpVersion}` : null,
    charset: ini.default_charset ?? 'UTF-8',
    mimetype: ini.default_mimetype || 'text/html',
  };
}

export const CONTENT_TYPES: Record<StatusFormat, string> = {
  text: 'text/plain',
  html: 'text/html',
  xml: 'text/xml',
  json: 'application/json',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

const NO_CACHE = 'Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\nCache-Control: no-cache, no-store, must-revalidate, max-age=0\r\n';

/** A `Content-Type: <mime>` header after PHP's sapi_header_op. */
export function contentType(mime: string, sapi: SapiHeaders): string {
  if (sapi.charset !== '' && mime.startsWith('text/') && !mime.includes('charset=')) {
    return `Content-type: ${mime};charset=${sapi.charset}\r\n`;
  }
  return `Content-Type: ${mime}\r\n`;
}

/** The header PHP adds when a reply set none. */
export function defaultContentType(sapi: SapiHeaders): string {
  const cs = sapi.charset !== '' && sapi.mimetype.startsWith('text/') ? `; charset=${sapi.charset}` : '';
  return `Content-type: ${sapi.mimetype}${cs}\r\n`;
}

const powered = (sapi: SapiHeaders): string => (sapi.poweredBy !== null ? `X-Powered-By: ${sapi.poweredBy}\r\n` : '');

/** STDERR, STDOUT and END_REQUEST records for one request. Strings are bytes (latin1). */
function frame(requestId: number, stdout: string, stderr: string | null = null): Buffer {
  const parts: Buffer[] = [];
  if (stderr !== null) parts.push(encodeRecord(RecordType.STDERR, requestId, Buffer.from(stderr, 'latin1')));
  parts.push(encodeStream(RecordType.STDOUT, requestId, Buffer.from(stdout, 'latin1')));
  parts.push(encodeEndRequest(requestId, 0, ProtocolStatus.REQUEST_COMPLETE));
  return Buffer.concat(parts);
}

export function pingReply(requestId: number, response: string, head: boolean, sapi: SapiHeaders): Buffer {
  const headers = powered(sapi) + contentType('text/plain', sapi) + NO_CACHE;
  return frame(requestId, `${headers}\r\n${head ? '' : response}`);
}

/** `body` null: a HEAD request (headers only, and PHP's default content type). `extra`: headers after those. */
export function statusReply(requestId: number, format: StatusFormat, body: string | null, sapi: SapiHeaders, extra = ''): Buffer {
  const type = body === null ? defaultContentType(sapi) : contentType(CONTENT_TYPES[format], sapi);
  return frame(requestId, `${powered(sapi)}${NO_CACHE}${type}${extra}\r\n${body ?? ''}`);
}

/** php-fpm's answer for a script it cannot find, with its "Primary script unknown" on FCGI_STDERR. */
export function notFoundReply(requestId: number, head: boolean, sapi: SapiHeaders): Buffer {
  const headers = `Status: 404 Not Found\r\n${powered(sapi)}${defaultContentType(sapi)}`;
  return frame(requestId, `${headers}\r\n${head ? '' : 'File not found.\n'}`, 'Primary script unknown');
}
