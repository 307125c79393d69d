// What php-fpm's worker knows at the end of a script and php-cgi does not
// send: the response code when the script changed it after PHP had sent its
// headers (http_response_code(500) after an echo without output buffering:
// the web server got the old code, php-fpm's line says the new one; php-src
// log-suppress-output), PHP's peak memory (%M), and whether PHP had sent its
// headers (then its default Content-type is in the list %{...}o reads;
// reply-head.ts guesses from output_buffering otherwise). The pool's shim
// (src/php/shim.ts) notes the code PHP sent its headers with
// (header_register_callback) and, from the first shutdown function (php-fpm
// writes its line right before shutdown functions run), logs one mark line
// through the SAPI logger: an FCGI_STDERR line the master takes out of the
// reply (src/pool/reply-stderr.ts) for the access log. The code is marked
// only when it changed (rare); the memory after every request when the
// format has %M; the headers when they were sent and the format has %o.
// Nothing else costs a mark. The mark carries a token drawn per master, so a script
// cannot forge one by accident, nor a client through text a script logs
// (fastcgi_finish_request()'s marks share it: src/php/finish-request.ts).
import { randomBytes } from 'node:crypto';
import type { PoolConfig } from '../config/types.js';
import { compileAccessFormat } from './access-format.js';

/** ESC, `tsfpm:` and 16 hex digits; then ` s<code>`, ` m<bytes>`, ` h` as needed, and '\n'. */
export const STATUS_MARK = `\x1btsfpm:${randomBytes(8).toString('hex')}`;

export interface MarkWanted {
  /** A response code changed after the headers went out. */
  status: boolean;
  /** memory_get_peak_usage(true) (php-fpm's zend_memory_peak_usage(1)). */
  memory: boolean;
  /** headers_sent() */
  headers: boolean;
}

/** What the pool's shim must report, null without an access log (php-fpm's status pool has none). */
export function accessMark(cfg: PoolConfig): MarkWanted | null {
  if (cfg.accessLog === null || cfg.hidden) return null;
  const c = compileAccessFormat(cfg.accessFormat ?? '');
  return { status: true, memory: c.ok && c.format.needs.memory, headers: c.ok && c.format.needs.headers };
}

/** The shim's PHP (inside its `<?php` file) that writes the mark. */
export function markPhp(want: MarkWanted, mark: string = STATUS_MARK): string[] {
  // PHP's "\e" is the ESC; the rest of the mark is letters, digits and ':'.
  const lit = `"\\e${mark.slice(1)}"`;
  const out = ['(static function (): void {', '  $sent = null;'];
  if (want.status) out.push('  header_register_callback(static function () use (&$sent): void { $sent = http_response_code(); });');
  out.push(
    '  register_shutdown_function(static function () use (&$sent): void {',
    "    if (!ini_get('fastcgi.logging')) return;",
    "    $m = $sent !== null && ($c = http_response_code()) !== $sent ? \" s$c\" : '';",
  );
  if (want.memory) out.push("    $m .= ' m' . memory_get_peak_usage(true);");
  if (want.headers) out.push("    if (headers_sent()) $m .= ' h';");
  out.push(
    `    if ($m !== '') error_log(${lit} . $m, 4);`,
    '  });',
    '})();',
  );
  return out;
}

export interface Marked {
  /** 0 when not marked */
  status: number;
  /** -1 when not marked */
  memory: number;
  /** PHP had sent its headers */
  sent: boolean;
}

/** What a mark line (without its newline) says, or null when it is not one. */
export function readMark(text: string, mark: string = STATUS_MARK): Marked | null {
  if (!text.startsWith(mark)) return null;
  const out: Marked = { status: 0, memory: -1, sent: false };
  for (const f of text.slice(mark.length).split(' ')) {
    if (f === 'h') out.sent = true;
    const n = Number.parseInt(f.slice(1), 10);
    if (!Number.isInteger(n)) continue;
    if (f[0] === 's') out.status = n;
    else if (f[0] === 'm') out.memory = n;
  }
  return out;
}
