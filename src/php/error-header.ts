// Pure: php-fpm's `fastcgi.error_header` for php-cgi, which does not know the
// directive. php-fpm's worker, when a script ended with exit status 255 (a
// fatal error, an uncaught exception) and PHP has not sent its headers yet,
// sets that header line (replacing, so `HTTP/1.1 500 PHP Error` becomes the
// status) before the shutdown functions run. The value comes from php.ini,
// `-d` or the pool's php_value[] (php-cgi keeps an unknown directive as a
// configuration value: get_cfg_var(), asked at pool start).
//
// The shim's first shutdown function does the same from error_get_last():
// PHP's fatal error types are exactly those that end a script with 255. What
// it cannot see: an explicit exit(255).

const phpString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The directive php-cgi keeps as a configuration value. */
export const ERROR_HEADER_CFG = 'fastcgi.error_header';

/** The shim's lines for a pool whose fastcgi.error_header is `value` (empty: none, as php-fpm). */
export function errorHeaderPhp(value: string): string[] {
  if (value === '') return [];
  return [
    'register_shutdown_function(static function (): void {',
    '  if (headers_sent()) return;',
    '  $e = error_get_last();',
    '  if ($e !== null && ($e[\'type\'] & (E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_RECOVERABLE_ERROR)) !== 0) {',
    `    header(${phpString(value)});`,
    '  }',
    '});',
  ];
}
