// Pure: php-fpm's fastcgi_finish_request() for php-cgi, as the prepend shim
// defines it (docs/php-side.md). php-fpm's ends every output buffer, sends
// PHP's headers and what is buffered, ends the FastCGI request for the web
// server and lets the script run on; the worker takes no other request until
// the script really ends.
//
// php-cgi cannot end a request early, so the shim tells the master where the
// web server's reply ends, in the reply's own stream: a mark line through
// error_log(..., 4), i.e. an FCGI_STDERR record. php-cgi writes STDOUT and
// STDERR records through one out buffer, so the mark reaches the master after
// every byte of output written before it (an out-of-band signal would race
// with the last STDOUT bytes). The master (src/pool/finish-cut.ts) then ends
// the web server's reply with END_REQUEST and drops what the child still
// sends until its own END_REQUEST. A reply that never calls the function
// costs the master nothing: STDERR records are rewritten already, and the
// mark is only looked for at the start of a STDERR message.
//
// The mark carries the master's secret (STATUS_MARK). A script can read it
// (it is in the shim) and forge a mark, which ends its own reply and nothing
// else; so can calling the function. A per-request token would need the
// PARAMS re-encoded for every request and protect nothing more.
//
// PHP sends its headers only with the first byte of output. When none went
// out yet, the shim writes one byte (FINISH_BYTE) after a `hold` mark: the
// master holds what follows (PHP's header block and that byte) and forwards
// it without the byte at the `end` mark. For a HEAD request PHP sends the
// headers and drops the byte; a header block ends with '\n', never with
// FINISH_BYTE, so the master takes the last byte out only when it is that one.
import { STATUS_MARK } from '../log/status-mark.js';

/** The mark lines (without their newline) the master acts on. */
export const FINISH_HOLD = `${STATUS_MARK} hold`;
export const FINISH_END = `${STATUS_MARK} end`;

/** The byte the shim writes to make PHP send its headers (NUL). */
export const FINISH_BYTE = 0;

/**
 * php-fpm's out buffer (8 KiB) less a record header: after the finish, once
 * this much output has been written, php-fpm's worker writes to the closed
 * connection and aborts the script (unless ignore_user_abort()).
 */
export const FPM_OUT_ROOM = 8192 - 8;

/** The shim's lines (inside its `<?php` file); `mark`: STATUS_MARK, or another for tests. */
export function finishRequestPhp(mark: string = STATUS_MARK): string[] {
  // PHP's "\e" is the ESC; the rest of the mark is letters, digits and ':'.
  const lit = (what: string): string => `"\\e${mark.slice(1)} ${what}"`;
  return [
    "if (!function_exists('fastcgi_finish_request')) {",
    '  function fastcgi_finish_request(): bool {',
    // php-fpm's takes no argument (zend_parse_parameters_none).
    "    if (func_num_args() !== 0) throw new ArgumentCountError('fastcgi_finish_request() expects exactly 0 arguments, ' . func_num_args() . ' given');",
    '    static $done = false;',
    // The mark must travel in the reply (tsfpm runs the children with fastcgi.logging on; a [PATH=] section could turn it off).
    "    if ($done || !ini_get('fastcgi.logging') || !function_exists('error_log') || !function_exists('flush')) return false;",
    // php-fpm ends every buffer; one the script made non-removable cannot be, and its output would be lost: no finish then.
    "    foreach (ob_get_status(true) as $s) if (($s['flags'] & PHP_OUTPUT_HANDLER_REMOVABLE) === 0) return false;",
    '    while (ob_get_level() > 0) if (!ob_end_flush()) return false;',
    '    $done = true;',
    `    if (!headers_sent()) { error_log(${lit('hold')}, 4); echo "\\x${FINISH_BYTE.toString(16).padStart(2, '0')}"; }`,
    `    error_log(${lit('end')}, 4);`,
    '    flush();',
    // The master drops later output; php-fpm's worker would abort the script once it filled the out buffer.
    '    $n = 0;',
    '    ob_start(static function (string $b) use (&$n): string {',
    `      if ($n >= 0 && ($n += strlen($b)) >= ${FPM_OUT_ROOM} && !ignore_user_abort()) { $n = -1; exit; }`,
    "      return '';",
    '    }, 1);',
    '    return true;',
    '  }',
    '}',
  ];
}
