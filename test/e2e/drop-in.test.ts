// Drop-in fidelity of the core (issue 8): tsfpm started from a CGI request
// environment never runs that script (php-src's run-tests.php starts php-fpm
// like that), children read php.ini the way php-fpm finds it (-c, PHPRC,
// PHP_INI_SCAN_DIR, also under clear_env), and Apache-style proxy params
// reach the script as php-fpm would give them.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { startTsfpm } from '../helpers/daemon.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

function pool(port: number, extra = ''): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${port}
pm = static
pm.max_children = 1
clear_env = yes
${extra}`;
}

test('a CGI request environment around tsfpm is not executed by its php-cgi helper runs', async () => {
  const dir = makeTempDir('dropin-cgi-env');
  const marker = join(dir, 'ran');
  const trap = join(dir, 'trap.php');
  // What run-tests.php leaves in the environment: php-cgi would run this script.
  writeFileSync(trap, `<?php file_put_contents(${JSON.stringify(marker)}, "ran\\n", FILE_APPEND); echo "TRAP";`);
  const script = join(dir, 'ok.php');
  writeFileSync(script, '<?php echo "served by ", PHP_SAPI;');
  const port = await freePort();
  const cgiEnv = { REDIRECT_STATUS: '1', SCRIPT_FILENAME: trap, PATH_TRANSLATED: trap, REQUEST_METHOD: 'GET', GATEWAY_INTERFACE: 'CGI/1.1', QUERY_STRING: '' };
  // ${upload_max_filesize} makes the config loader ask php-cgi for its ini values too.
  const fpm = await startTsfpm({ conf: pool(port, 'php_value[post_max_size] = ${upload_max_filesize}\n'), env: cgiEnv });
  try {
    const r = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: script, REQUEST_METHOD: 'GET' });
    assert.match(r.stdout, /served by cgi-fcgi/);
    assert.doesNotMatch(fpm.output(), /TRAP/);
    assert.equal(existsSync(marker), false, 'the script named by the environment was run');
  } finally {
    await fpm.stop();
  }
  // -v and -m are helper runs too.
  const { execFileSync } = await import('node:child_process');
  const { TSFPM_BIN } = await import('../helpers/daemon.js');
  const v = execFileSync(TSFPM_BIN, ['-v'], { env: { ...process.env, ...cgiEnv }, encoding: 'utf8' });
  assert.match(v, /^PHP \d+\.\d+/);
  assert.equal(existsSync(marker), false);
});

test('php.ini as php-fpm finds it: PHPRC, then -c; PHP_INI_SCAN_DIR even under clear_env', async () => {
  const dir = makeTempDir('dropin-phprc');
  writeFileSync(join(dir, 'rc.ini'), 'memory_limit = 91M\nexpose_php = On\n');
  writeFileSync(join(dir, 'c.ini'), 'memory_limit = 93M\n');
  mkdirSync(join(dir, 'scan'));
  writeFileSync(join(dir, 'scan', '50-x.ini'), 'default_charset = "ISO-8859-1"\n');
  const script = join(dir, 'ini.php');
  writeFileSync(script, '<?php echo ini_get("memory_limit"), " ", ini_get("default_charset"), " ", getenv("PHPRC") === false ? "-" : "leaked";');
  const ask = async (args: string[]): Promise<{ stdout: string }> => {
    const port = await freePort();
    const fpm = await startTsfpm({ conf: pool(port), args, env: { PHPRC: join(dir, 'rc.ini'), PHP_INI_SCAN_DIR: join(dir, 'scan') } });
    try {
      return await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: script, REQUEST_METHOD: 'GET' });
    } finally {
      await fpm.stop();
    }
  };
  const rc = await ask([]);
  assert.match(rc.stdout, /X-Powered-By: PHP\//, 'expose_php from PHPRC');
  assert.match(rc.stdout, /\r\n\r\n91M ISO-8859-1 -$/);
  const c = await ask(['-c', join(dir, 'c.ini')]);
  assert.match(c.stdout, /\r\n\r\n93M ISO-8859-1 -$/, '-c wins over PHPRC');
});

test('Apache mod_proxy_fcgi params: prefix stripped, PATH_INFO recovered, missing script is php-fpm\'s 404', async () => {
  const dir = makeTempDir('dropin-apache');
  mkdirSync(join(dir, 'sub'));
  const script = join(dir, 'sub', 'env.php');
  writeFileSync(script, '<?php foreach (["SCRIPT_FILENAME","SCRIPT_NAME","PATH_INFO","PHP_SELF"] as $k) echo $k, "=", $_SERVER[$k] ?? "-", "\\n";');
  const port = await freePort();
  const fpm = await startTsfpm({ conf: pool(port) });
  try {
    // What Apache's ProxyPassMatch ^/(.*\.php(/.*)?)$ fcgi://127.0.0.1:PORT/DOCROOT/$1 sends.
    const r = await cgiFcgi(`127.0.0.1:${port}`, {
      SCRIPT_FILENAME: `proxy:fcgi://127.0.0.1:${port}${script}/a/b`, SCRIPT_NAME: '/sub/env.php/a/b', REQUEST_METHOD: 'GET', DOCUMENT_ROOT: dir,
    });
    assert.match(r.stdout, new RegExp(`SCRIPT_FILENAME=${script}\nSCRIPT_NAME=/sub/env.php\nPATH_INFO=/a/b\nPHP_SELF=/sub/env.php/a/b\n$`));
    const missing = await cgiFcgi(`127.0.0.1:${port}`, {
      SCRIPT_FILENAME: `proxy:fcgi://127.0.0.1:${port}${dir}/nope.php`, SCRIPT_NAME: '/nope.php', REQUEST_METHOD: 'GET',
    });
    assert.match(missing.stdout, /^Status: 404 Not Found\r\n/);
    assert.match(missing.stdout, /\r\n\r\nFile not found\.\n$/);
  } finally {
    await fpm.stop();
  }
});

test('a numeric user and group without passwd/group entries run the children (as root)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const dir = makeTempDir('dropin-numeric-user');
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o755);
  const script = join(dir, 'id.php');
  writeFileSync(script, '<?php echo posix_geteuid(), ":", posix_getegid();', { mode: 0o644 });
  const port = await freePort();
  const fpm = await startTsfpm({ conf: pool(port, 'user = 47811\ngroup = 47812\n') });
  try {
    const r = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: script, REQUEST_METHOD: 'GET' });
    assert.match(r.stdout, /\r\n\r\n47811:47812$/);
    assert.doesNotMatch(fpm.output(), /exited with code/, 'children did not fail to start');
  } finally {
    await fpm.stop();
  }
});
