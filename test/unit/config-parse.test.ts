import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type ParseHost, type ParseResult } from '../../src/config/parse.js';
import { envResolver } from '../../src/config/ini-line.js';
import { glob, type GlobFs } from '../../src/config/glob.js';

/** An in-memory file tree as the parser's host. */
function host(files: Record<string, string>, prefix: string | null = null): ParseHost {
  const gfs: GlobFs = {
    readdir: (dir) => {
      const d = dir.endsWith('/') ? dir : dir + '/';
      const names = new Set<string>();
      for (const f of Object.keys(files)) if (f.startsWith(d)) names.add(f.slice(d.length).split('/')[0]);
      if (names.size === 0) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return [...names];
    },
    kind: (p) => (Object.hasOwn(files, p) ? 'file' : Object.keys(files).some((f) => f.startsWith(p + '/')) ? 'dir' : null),
  };
  return {
    readFile: (p) => {
      if (!Object.hasOwn(files, p)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT', errno: -2 });
      return files[p];
    },
    glob: (pat) => glob(pat, gfs),
    resolver: envResolver({ MYMEM: '64M' }),
    prefix,
  };
}
const texts = (r: ParseResult): string[] => r.messages.map((m) => `${m.level}: ${m.text}`);
const POOL = '[www]\nlisten = 9000\npm = static\npm.max_children = 5\n';

test('sections merge case-insensitively, first spelling kept; keys case-insensitive', () => {
  const r = parseConfig('/c', host({ '/c': `${POOL}[WWW]\nPM.MAX_CHILDREN = 7\n[Global]\ndaemonize = no\n` }));
  assert.ok(r.ok);
  assert.equal(r.config.pools.length, 1);
  assert.equal(r.config.pools[0].name, 'www');
  assert.equal(r.config.pools[0].pmMaxChildren, 7);
  assert.equal(r.config.global.daemonize, false);
});

test('unknown entries and bad values carry [file:line] and the directive name', () => {
  assert.deepEqual(texts(parseConfig('/bad.conf', host({ '/bad.conf': '[global]\n[www]\nlisten = 9000\npm = static\n\npm.max_children = lots\n' }))),
    ["error: [/bad.conf:6] unable to parse value for entry 'pm.max_children': is not a valid number (greater or equal than zero)"]);
  assert.deepEqual(texts(parseConfig('/x.conf', host({ '/x.conf': `${POOL}\n\nbogus.directive = 1\n` }))),
    ["error: [/x.conf:7] unknown entry 'bogus.directive'"]);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': 'log_level = debug\n[www]\nlog_level = debug\n' }))),
    ["error: [/x:3] unknown entry 'log_level'"]);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': '[global]\npid = /run/$pool.pid\n' }))),
    ["error: [/x:2] unable to parse value for entry 'pid': Can't use '$pool' when the pool is not defined"]);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': 'php_value[a] = 1\n' }))), ['error: [/x:1] Array are not allowed in the global section']);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': '[p]\nPHP_VALUE[a] = 1\n' }))), ["error: [/x:2] unknown directive 'PHP_VALUE'"]);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': '[p]\nInclude = /y\n' }))), ["error: [/x:2] unknown entry 'Include'"]);
  assert.deepEqual(texts(parseConfig('/x', host({ '/x': '[p]\nfoo\n' }))), ['error: [/x:2] value is NULL for a ZEND_INI_PARSER_ENTRY']);
});

test('arrays: flags stored 1/0, env, suppress_path, their errors', () => {
  const r = parseConfig('/c', host({ '/c': `${POOL}php_flag[display_errors] = on\nphp_admin_flag[log_errors] = Off\nphp_value[memory_limit] = \${MYMEM}\nphp_admin_value[sendmail_path] = /usr/sbin/sendmail -t -i -f www@my.domain.com\nenv[HOSTNAME] = $HOSTNAME\nenv[P] = x$pool\naccess.suppress_path[] = /ping\n` }));
  assert.ok(r.ok);
  const p = r.config.pools[0];
  assert.deepEqual(p.phpValues, { display_errors: '1', memory_limit: '64M' });
  assert.deepEqual(p.phpAdminValues, { log_errors: '0', sendmail_path: '/usr/sbin/sendmail -t -i -f www@my.domain.com' });
  assert.deepEqual(p.env, { HOSTNAME: '$HOSTNAME', P: 'xwww' });
  assert.deepEqual(p.accessSuppressPath, ['/ping']);
  const err = (line: string): string[] => texts(parseConfig('/c', host({ '/c': `[p]\n${line}\n` })));
  assert.deepEqual(err('php_value[] = 1'), ["error: [/c:2] You must provide a key for field 'php_value'"]);
  assert.deepEqual(err('env[X] ='), ['error: [/c:2] empty value']);
  assert.deepEqual(err('php_flag[x] = maybe'), ["error: [/c:2] error while parsing 'php_flag[x]' : invalid boolean value"]);
  assert.deepEqual(err('access.suppress_path[x] = /a'), ["error: [/c:2] Keys provided to field 'access.suppress_path' are ignored"]);
  assert.deepEqual(err('access.suppress_path[] = a'), ["error: [/c:2] Values provided to field 'access.suppress_path' must begin with '/'"]);
});

test('syntax errors are Zend lines without the [file:line] prefix', () => {
  const r = parseConfig('/c', host({ '/c': '[p]\na = (\n' }));
  assert.deepEqual(r.messages, [{ level: 'error', text: 'PHP:  syntax error, unexpected END_OF_LINE in Unknown on line 2', raw: true }]);
});

test('include: relative to the prefix, sorted, section state shared, $pool', () => {
  const files = {
    '/c': '[global]\ninclude = etc/pools/*.conf\n',
    '/pre/etc/pools/b.conf': '[b]\nlisten = /run/$pool.sock\npm = static\npm.max_children = 1\n',
    '/pre/etc/pools/a.conf': '[a]\nlisten = 9001\npm = ondemand\npm.max_children = 1\npm.process_idle_timeout = 2m\n',
  };
  const r = parseConfig('/c', host(files, '/pre'));
  assert.ok(r.ok);
  assert.deepEqual(r.config.pools.map((p) => p.name), ['a', 'b']);
  assert.equal(r.config.pools[1].listen, '/run/b.sock');
  assert.equal(r.config.pools[0].pmProcessIdleTimeout, 120);
  // a section opened in an included file stays current afterwards
  const r2 = parseConfig('/c', host({ ...files, '/c': '[global]\ninclude = etc/pools/a.conf\ndaemonize = no\n' }, '/pre'));
  assert.deepEqual(texts(r2), ["error: [/c:3] unknown entry 'daemonize'"]);
});

test('include errors: no match warns, missing dir fails, recursion limit, unreadable file', () => {
  const r = parseConfig('/c', host({ '/c': `include = /etc/zz*.conf\n${POOL}`, '/etc/x': '' }));
  assert.ok(r.ok);
  assert.deepEqual(texts(r), ["warning: Nothing matches the include pattern '/etc/zz*.conf' from /c at line 1."]);
  assert.deepEqual(texts(parseConfig('/c', host({ '/c': 'include = /nonexist/*.conf\n' }))),
    ["error: Unable to globalize '/nonexist/*.conf' (ret=2) from /c at line 1."]);
  const loop = texts(parseConfig('/c', host({ '/c': 'include = /c\n' })));
  assert.equal(loop[0], 'error: failed to include more than 5 files recursively');
  assert.equal(loop.length, 6);
  assert.equal(loop[1], 'error: Unable to include /c from /c at line 1');
  const missing = parseConfig('/none', host({}));
  assert.equal(missing.messages[0].text, "failed to open configuration file '/none'");
  assert.equal(missing.messages[0].syserr?.code, 'ENOENT');
});
