// Pure: php-fpm's fpm_get_status() for php-cgi, as the prepend shim defines it
// (unless something already did). It asks the master over the pool's shim
// socket (src/php/shim-socket.ts) and returns what the master's counters say,
// in php-fpm's array shape (src/status/render-php.ts); false when the master
// cannot be reached, where php-fpm returns false when its scoreboard is busy.

const phpString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The shim's lines; `socketRef`: the socket as the children name it. */
export function fpmGetStatusPhp(socketRef: string): string[] {
  return [
    "if (!function_exists('fpm_get_status')) {",
    '  function fpm_get_status(): array|false {',
    // php-fpm's takes no argument (zend_parse_parameters_none).
    "    if (func_num_args() !== 0) throw new ArgumentCountError('fpm_get_status() expects exactly 0 arguments, ' . func_num_args() . ' given');",
    "    if (!function_exists('stream_socket_client')) return false;",
    `    $s = @stream_socket_client(${phpString(`unix://${socketRef}`)}, $errno, $errstr, 5);`,
    '    if ($s === false) return false;',
    '    fwrite($s, "status\\n");',
    '    $d = stream_get_contents($s);',
    '    fclose($s);',
    "    $r = is_string($d) && $d !== '' ? @unserialize($d, ['allowed_classes' => false]) : false;",
    '    return is_array($r) ? $r : false;',
    '  }',
    '}',
  ];
}
