// The environment of a helper run of php-cgi (the version probe, the `${…}`
// php.ini lookup, -v/-i/-m): the master's environment without any CGI request
// variable. php-cgi started with REQUEST_METHOD, SCRIPT_FILENAME, PATH_TRANSLATED
// or REDIRECT_STATUS in its environment runs as a CGI and executes that script
// instead of doing what it was asked (php-src's run-tests.php sets them for
// every test, so tsfpm started from a test would run the test again).

// CGI/1.1 meta-variables (RFC 3875 §4.1) and the ones php-cgi itself reads.
const CGI_VARS = new Set([
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_ROOT', 'GATEWAY_INTERFACE',
  'ORIG_PATH_INFO', 'ORIG_PATH_TRANSLATED', 'ORIG_SCRIPT_FILENAME', 'ORIG_SCRIPT_NAME',
  'PATH_INFO', 'PATH_TRANSLATED', 'QUERY_STRING', 'REDIRECT_STATUS', 'REDIRECT_URL',
  'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_IDENT', 'REMOTE_PORT', 'REMOTE_USER', 'REQUEST_METHOD',
  'REQUEST_URI', 'SCRIPT_FILENAME', 'SCRIPT_NAME', 'SERVER_ADDR', 'SERVER_NAME', 'SERVER_PORT',
  'SERVER_PROTOCOL', 'SERVER_SOFTWARE',
  // FastCGI mode switches: a helper must run once and exit.
  'PHP_FCGI_CHILDREN', 'PHP_FCGI_MAX_REQUESTS', 'FCGI_WEB_SERVER_ADDRS',
]);

/** True for a variable a web server would set for one request (HTTP_* included). */
export function isCgiRequestVar(name: string): boolean {
  return CGI_VARS.has(name) || name.startsWith('HTTP_');
}

/** A copy of `env` that cannot make php-cgi run a script. */
export function helperEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!isCgiRequestVar(k)) out[k] = v;
  return out;
}
