import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeDefine, parseArgs, usageText } from '../../src/cli/options.js';
import { rewriteVersion, stripCgiHeaders } from '../../src/cli/main.js';

const run = (...a: string[]) => {
  const r = parseArgs(a, {});
  assert.equal(r.kind, 'run');
  return r.kind === 'run' ? r.opts : (undefined as never);
};

test('defaults', () => {
  assert.deepEqual(run(), {
    phpIni: null, noPhpIni: false, defines: [], profileInfo: false, fpmConfig: null, test: 0, prefix: null,
    pidFile: null, allowRoot: false, daemonize: null, forceStderr: false, phpCgi: 'php-cgi',
  });
});

test('every option, short and long', () => {
  const o = run('-c', '/etc/php.ini', '-d', 'memory_limit=1G', '--define', 'x', '-e', '-y', 'f.conf', '-p', '/pre', '-g', '/run/p.pid', '-R', '-O', '-tt');
  assert.equal(o.phpIni, '/etc/php.ini');
  assert.deepEqual(o.defines, ['memory_limit=1G', 'x=1']);
  assert.equal(o.profileInfo, true);
  assert.equal(o.fpmConfig, 'f.conf');
  assert.equal(o.prefix, '/pre');
  assert.equal(o.pidFile, '/run/p.pid');
  assert.equal(o.allowRoot, true);
  assert.equal(o.forceStderr, true);
  assert.equal(o.test, 2);
  assert.equal(run('--test').test, 1);
  assert.equal(run('-t', '-t', '-t').test, 2);
  assert.equal(run('-n').noPhpIni, true);
  assert.equal(run('--fpm-config=/x').fpmConfig, '/x');
  assert.equal(run('-D', '-F').daemonize, false);
  assert.equal(run('-F', '--daemonize').daemonize, true);
  assert.equal(run('--allow-to-run-as-root', '--force-stderr', '--nodaemonize').daemonize, false);
});

test('interpreter: flag, then TSFPM_PHP_CGI, then php-cgi', () => {
  const r = parseArgs(['--php-cgi', '/opt/php-cgi'], { TSFPM_PHP_CGI: '/env/php-cgi' });
  assert.ok(r.kind === 'run' && r.opts.phpCgi === '/opt/php-cgi');
  const e = parseArgs([], { TSFPM_PHP_CGI: '/env/php-cgi' });
  assert.ok(e.kind === 'run' && e.opts.phpCgi === '/env/php-cgi');
});

test('help, info, modules, version; usage errors', () => {
  for (const h of ['-h', '--help', '-?', '--usage']) assert.equal(parseArgs([h]).kind, 'help');
  assert.equal(parseArgs(['-i']).kind, 'info');
  assert.equal(parseArgs(['--modules']).kind, 'modules');
  assert.equal(parseArgs(['-v']).kind, 'version');
  for (const bad of [['-X'], ['-C'], ['foo'], ['-y'], ['-d'], ['--bogus']]) assert.equal(parseArgs(bad).kind, 'usage-error', bad.join(' '));
});

test('-d normalisation as php-fpm passes it on', () => {
  assert.equal(normalizeDefine('display_errors'), 'display_errors=1');
  assert.equal(normalizeDefine('memory_limit=1G'), 'memory_limit=1G');
  assert.equal(normalizeDefine('include_path=/x'), 'include_path="/x"');
  assert.equal(normalizeDefine('a="b"'), 'a="b"');
});

test('usage text names the program like php-fpm', () => {
  assert.match(usageText('/usr/bin/tsfpm'), /^Usage: tsfpm \[-n\] \[-e\] \[-h\] \[-i\] \[-m\] \[-v\] \[-t\] \[-p <prefix>\] \[-g <pid>\] \[-c <file>\] \[-d foo\[=bar\]\] \[-y <file>\] \[-D\] \[-F \[-O\]\]\n/);
  assert.match(usageText('tsfpm'), /^Usage: php /);
});

test('-i strips CGI headers; -v names tsfpm', () => {
  assert.equal(stripCgiHeaders('X-Powered-By: PHP/8.2\r\nContent-type: text/html; charset=UTF-8\r\n\r\n<html>'), '<html>');
  const v = rewriteVersion('PHP 8.2.36 (cgi-fcgi) (built: Nov 18 2026)\nCopyright (c) The PHP Group\n', '0.1.0');
  // php-src's main-version test: "PHP %s (fpm%s (built: %s\nCopyright ..." and nothing after Zend's lines.
  assert.equal(v, 'PHP 8.2.36 (fpm-fcgi; tsfpm 0.1.0) (built: Nov 18 2026)\nCopyright (c) The PHP Group\n');
});
