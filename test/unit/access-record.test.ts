// The request fields of an access line as php-fpm's scoreboard has them,
// access.suppress_path, and the shim's mark as the STDERR reader takes it out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authUser, phpBase64Decode, requestFields, suppressed, type RequestFields } from '../../src/log/access-record.js';
import { compileAccessFormat, type FormatNeeds } from '../../src/log/access-format.js';
import { encodeParams } from '../../src/fastcgi/encoder.js';
import { Request } from '../../src/pool/request.js';
import type { ClientConn } from '../../src/pool/client-conn.js';
import { DEFAULT_PATH_SETTINGS, type PathProbe } from '../../src/request-env/fpm-env.js';
import { StderrMessages } from '../../src/pool/reply-stderr.js';
import { STATUS_MARK, markPhp, readMark } from '../../src/log/status-mark.js';

const FILES = new Set(['/srv/index.php', '/srv/info.php']);
const probe: PathProbe = { resolves: (p) => FILES.has(p) || p === '/srv', isFile: (p) => FILES.has(p) };

function request(params: Record<string, string>): Request {
  const req = new Request({} as ClientConn, 1, 1, false);
  const body = encodeParams(Object.entries(params));
  req.addParams(body, 0, body.length);
  return req;
}

function needsOf(source: string): FormatNeeds {
  const c = compileAccessFormat(source);
  if (!c.ok) throw new Error(c.warning);
  return c.format.needs;
}

const nginx = (uri: string, extra: Record<string, string> = {}): Record<string, string> => {
  const q = uri.indexOf('?');
  const path = q < 0 ? uri : uri.slice(0, q);
  return {
    SCRIPT_FILENAME: `/srv${path}`, QUERY_STRING: q < 0 ? '' : uri.slice(q + 1), REQUEST_METHOD: 'GET',
    CONTENT_LENGTH: '', SCRIPT_NAME: path, REQUEST_URI: uri, DOCUMENT_ROOT: '/srv', ...extra,
  };
};

const fields = (params: Record<string, string>, format = '%m %r %q %l %u %f', suppress = false): RequestFields =>
  requestFields(request(params), needsOf(format), suppress, DEFAULT_PATH_SETTINGS, probe);

test('php_base64_decode: = and other bytes skipped anywhere (PHP 8.2 base64_decode)', () => {
  // Expected values printed by php8.2 -r 'echo base64_decode(...)'.
  assert.equal(phpBase64Decode('YQ==Yg=='), 'a\u0006 ');
  assert.equal(phpBase64Decode('dXNlcjpw YXNz'), 'user:pass');
  assert.equal(phpBase64Decode('dX*Nlcjp=wYXNz'), 'user:pass');
  assert.equal(phpBase64Decode('dXNlcjp'), 'user:');
  assert.equal(phpBase64Decode('dXNlcjpwYXNzdw'), 'user:passw');
});

test('%u: the Basic user, nothing for other schemes or without a colon', () => {
  assert.equal(authUser('Basic dXNlcjpwYXNz'), 'user');
  assert.equal(authUser('basic dXNlcjpwYXNz'), 'user');
  assert.equal(authUser('Digest username="x"'), '');
  assert.equal(authUser('Basic dXNlcg=='), '');
  assert.equal(authUser(undefined), '');
});

test('the scoreboard fields, cut to its sizes', () => {
  const f = fields(nginx('/index.php?a=1', { HTTP_AUTHORIZATION: 'Basic dXNlcjpwYXNz', CONTENT_LENGTH: '12' }));
  const { method, uri, query, contentLength, user, script } = f;
  assert.deepEqual({ method, uri, query, contentLength, user, script }, {
    method: 'GET', uri: '/index.php', query: 'a=1', contentLength: 12n, user: 'user', script: '/srv/index.php',
  });
  const long = fields(nginx(`/index.php?${'q'.repeat(600)}`, { REQUEST_METHOD: 'M'.repeat(20), SCRIPT_NAME: `/${'u'.repeat(200)}` }));
  assert.equal(long.query.length, 511);
  assert.equal(long.method.length, 15);
  assert.equal(long.uri.length, 127);
});

test('request_uri is SCRIPT_NAME (after php-fpm\'s PATH_INFO walk), not REQUEST_URI; %f the script it runs', () => {
  // nginx with fastcgi_split_path_info.
  let f = fields(nginx('/info.php/extra/path?q', { SCRIPT_FILENAME: '/srv/info.php', PATH_INFO: '/extra/path', SCRIPT_NAME: '/info.php' }));
  assert.deepEqual([f.uri, f.script], ['/info.php', '/srv/info.php']);
  // Without it: php-fpm walks SCRIPT_FILENAME back to the file, SCRIPT_NAME stays.
  f = fields(nginx('/info.php/extra/path', { SCRIPT_FILENAME: '/srv/info.php/extra/path', SCRIPT_NAME: '/info.php/extra/path' }));
  assert.deepEqual([f.uri, f.script], ['/info.php/extra/path', '/srv/info.php']);
  // IIS-style PATH_INFO that repeats the script: SCRIPT_NAME becomes the script part.
  f = fields(nginx('/info.php/x', { SCRIPT_FILENAME: '/srv/info.php/x', PATH_INFO: '/info.php/x', SCRIPT_NAME: '/info.php/x' }));
  assert.deepEqual([f.uri, f.script], ['/info.php', '/srv/info.php']);
  // A script that is not there: php-fpm has no path_translated, %f prints '-'.
  assert.equal(fields(nginx('/nope.php')).script, '');
});

test('without SCRIPT_FILENAME or PATH_TRANSLATED php-fpm reads no query, length or user', () => {
  const f = fields({ REQUEST_METHOD: 'GET', QUERY_STRING: 'a=1', CONTENT_LENGTH: '5', HTTP_AUTHORIZATION: 'Basic dXNlcjpwYXNz', SCRIPT_NAME: '/x' });
  assert.deepEqual([f.method, f.uri, f.query, f.contentLength, f.user], ['GET', '', '', 0n, '']);
});

test('%l is atol() printed as size_t', () => {
  assert.equal(fields(nginx('/index.php', { CONTENT_LENGTH: ' 42abc' })).contentLength, 42n);
  assert.equal(fields(nginx('/index.php', { CONTENT_LENGTH: '-5' })).contentLength, 18446744073709551611n);
  assert.equal(fields(nginx('/index.php', { CONTENT_LENGTH: 'x' })).contentLength, 0n);
});

test('%{NAME}e: raw params, and php-fpm\'s rewritten path variables', () => {
  const f = fields(nginx('/info.php/x', { SCRIPT_FILENAME: '/srv/info.php/x', PATH_INFO: '/x', SCRIPT_NAME: '/info.php/x', HTTP_HOST: 'h' }),
    '%{HTTP_HOST}e %{SCRIPT_FILENAME}e %{ORIG_SCRIPT_FILENAME}e %{NOPE}e');
  assert.equal(f.env('HTTP_HOST'), 'h');
  assert.equal(f.env('SCRIPT_FILENAME'), '/srv/info.php');
  assert.equal(f.env('ORIG_SCRIPT_FILENAME'), '/srv/info.php/x');
  assert.equal(f.env('NOPE'), undefined);
});

test('access.suppress_path: only GET/HEAD, no query, no body, 2xx, exact request_uri', () => {
  const paths = ['/ping', '/index.php'];
  const f = (over: Partial<RequestFields>): RequestFields => ({ ...fields(nginx('/index.php'), '%s', true), ...over });
  assert.equal(suppressed(paths, f({}), 200), true);
  assert.equal(suppressed(paths, f({ method: 'HEAD' }), 204), true);
  assert.equal(suppressed(paths, f({ method: 'POST' }), 200), false);
  assert.equal(suppressed(paths, f({ query: 'a' }), 200), false);
  assert.equal(suppressed(paths, f({}), 302), false);
  assert.equal(suppressed(paths, f({}), 199), false);
  assert.equal(suppressed(paths, f({ contentLength: 1n }), 200), false);
  // A negative CONTENT_LENGTH is no body to php-fpm (signed there).
  assert.equal(suppressed(paths, f({ contentLength: 18446744073709551611n }), 200), true);
  assert.equal(suppressed(paths, f({ uri: '/index.ph' }), 200), false);
  assert.equal(suppressed([], f({}), 200), false);
});

test('the shim\'s mark: PHP that writes it, and what it says', () => {
  const php = markPhp({ status: true, memory: true, headers: true }, '\x1btsfpm:00000000').join('\n');
  assert.match(php, /header_register_callback/);
  assert.match(php, /"\\etsfpm:00000000" \. \$m/);
  assert.doesNotMatch(markPhp({ status: true, memory: false, headers: false }).join('\n'), /memory_get_peak_usage/);
  assert.match(php, /headers_sent\(\)/);
  assert.deepEqual(readMark(`${STATUS_MARK} s500 m2097152`), { status: 500, memory: 2097152, sent: false });
  assert.deepEqual(readMark(`${STATUS_MARK} m4194304 h`), { status: 0, memory: 4194304, sent: true });
  assert.equal(readMark('\x1btsfpm:ffffffff s500'), STATUS_MARK === '\x1btsfpm:ffffffff' ? readMark(`${STATUS_MARK} s500`) : null);
});

test('the STDERR reader takes mark lines out, wherever they fall, and leaves the messages as they were', () => {
  const run = (text: string, step: number): { out: string; marks: string[] } => {
    const marks: string[] = [];
    const m = new StderrMessages(undefined, null, (t) => marks.push(t));
    const buf = Buffer.from(text, 'latin1');
    let out = '';
    for (let i = 0; i < buf.length; i += step) out += m.feed(buf, i, Math.min(i + step, buf.length)).toString('latin1');
    out += m.boundary().toString('latin1');
    return { out, marks };
  };
  const mark = `${STATUS_MARK} s500 m2097152`;
  for (const step of [1, 3, 1000]) {
    assert.deepEqual(run(`one\n${mark}\ntwo\n`, step), { out: 'PHP message: one; PHP message: two', marks: [mark] }, `step ${step}`);
    assert.deepEqual(run(`${mark}\n`, step), { out: '', marks: [mark] }, `step ${step}`);
    // After an unfinished PHP message (no "on line N"): it ended at its newline.
    assert.deepEqual(run(`PHP Warning:  x\n${mark}\n`, step), { out: 'PHP message: PHP Warning:  x', marks: [mark] }, `step ${step}`);
    // Without an access log nothing is taken out.
    const m = new StderrMessages();
    const b = Buffer.from(`${mark}\n`, 'latin1');
    assert.equal(m.feed(b, 0, b.length).toString('latin1') + m.boundary().toString('latin1'), `PHP message: ${mark}`);
  }
});
