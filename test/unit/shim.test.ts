// The generated auto_prepend_file, run by the real php-cgi in plain CGI mode
// (SCRIPT_FILENAME from the environment, as a web server would pass it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildShim } from '../../src/php/shim.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('tsfpm-shim-');
after(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(join(dir, 'ok.php'), '<?php echo "ran ok.php";\n');
writeFileSync(join(dir, 'upper.PHP'), '<?php echo "ran upper.PHP";\n');
writeFileSync(join(dir, 'notes.txt'), 'text <?php echo "EXECUTED";\n');
writeFileSync(join(dir, 'mod.php7'), '<?php echo "ran mod.php7";\n');
mkdirSync(join(dir, 'upload'));
writeFileSync(join(dir, 'upload', 'evil.jpg'), 'JFIF <?php echo "EXECUTED";\n');
writeFileSync(join(dir, "user's prepend.php"), '<?php echo "[user prepend]";\n');

let n = 0;
function shim(limitExtensions: string[], userPrependFile: string | null = null): string {
  const p = join(dir, `shim${++n}.php`);
  writeFileSync(p, buildShim({ limitExtensions, userPrependFile }));
  return p;
}

interface CgiResult {
  status: number;
  headers: string;
  body: string;
  stderr: string;
}

function runCgi(shimPath: string, scriptFilename: string): CgiResult {
  const r = spawnSync('php-cgi', ['-d', `auto_prepend_file=${shimPath}`, '-d', 'cgi.fix_pathinfo=1', '-d', 'display_errors=0'], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      SCRIPT_FILENAME: scriptFilename,
      REDIRECT_STATUS: '200',
      REQUEST_METHOD: 'GET',
      GATEWAY_INTERFACE: 'CGI/1.1',
    },
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, `php-cgi exit ${r.status}: ${r.stderr}`);
  const sep = r.stdout.indexOf('\r\n\r\n');
  assert.ok(sep >= 0, `no CGI head in ${JSON.stringify(r.stdout)}`);
  const headers = r.stdout.slice(0, sep);
  const m = /^Status: (\d+)/m.exec(headers);
  return { status: m ? Number(m[1]) : 200, headers, body: r.stdout.slice(sep + 4), stderr: r.stderr };
}

function assertDenied(r: CgiResult, script: string): void {
  assert.equal(r.status, 403, r.headers);
  assert.match(r.headers, /^Status: 403 Forbidden\r?$/m);
  assert.equal(r.body, 'Access denied.\n');
  assert.doesNotMatch(r.body, /EXECUTED|ran /);
  assert.match(r.stderr, new RegExp(`Access to the script '${script.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' has been denied \\(see security\\.limit_extensions\\)`));
}

test('shim: a .php script runs', () => {
  const r = runCgi(shim(['.php', '.phar']), join(dir, 'ok.php'));
  assert.equal(r.status, 200, r.headers);
  assert.equal(r.body, 'ran ok.php');
  assert.equal(r.stderr, '');
});

test('shim: a .txt script is denied with 403 Access denied.', () => {
  const script = join(dir, 'notes.txt');
  assertDenied(runCgi(shim(['.php', '.phar']), script), script);
});

test('shim: .PHP is denied (the match is case-sensitive)', () => {
  const script = join(dir, 'upper.PHP');
  assertDenied(runCgi(shim(['.php']), script), script);
});

test('shim: the allowed list is the configured one', () => {
  const s = shim(['.php7']);
  assert.equal(runCgi(s, join(dir, 'mod.php7')).body, 'ran mod.php7');
  const script = join(dir, 'ok.php');
  assertDenied(runCgi(s, script), script);
});

test('shim: a .jpg reached through PATH_INFO is denied, never executed', () => {
  const r = runCgi(shim(['.php']), join(dir, 'upload', 'evil.jpg', 'x.php'));
  assertDenied(r, join(dir, 'upload', 'evil.jpg'));
});

test('shim: an empty list allows everything', () => {
  const r = runCgi(shim([]), join(dir, 'notes.txt'));
  assert.equal(r.status, 200, r.headers);
  assert.equal(r.body, 'text EXECUTED');
});

test("shim: the pool's own auto_prepend_file is still required", () => {
  const user = join(dir, "user's prepend.php");
  const r = runCgi(shim(['.php'], user), join(dir, 'ok.php'));
  assert.equal(r.body, '[user prepend]ran ok.php');
  // With no extension check too.
  const r2 = runCgi(shim([], user), join(dir, 'notes.txt'));
  assert.equal(r2.body, '[user prepend]text EXECUTED');
  // A denied script never reaches the user's prepend file.
  const script = join(dir, 'notes.txt');
  assertDenied(runCgi(shim(['.php'], user), script), script);
});

test('shim: text is plain PHP with a quoted extension list', () => {
  const text = buildShim({ limitExtensions: [".p'hp"], userPrependFile: '/a\\b.php' });
  assert.ok(text.startsWith('<?php\n'));
  assert.ok(text.includes("'.p\\'hp'"), text);
  assert.ok(text.includes("require '/a\\\\b.php';"), text);
  assert.equal(buildShim({ limitExtensions: [], userPrependFile: null }).includes('SCRIPT_FILENAME'), false);
});

test('shim: variables only tsfpm sets are taken out of $_SERVER', () => {
  const src = buildShim({ limitExtensions: [], userPrependFile: null, hideEnv: ['PHP_FCGI_MAX_REQUESTS', "it's"] });
  assert.ok(src.includes("unset($_SERVER['PHP_FCGI_MAX_REQUESTS'], $_SERVER['it\\'s']);"), src);
  assert.doesNotMatch(buildShim({ limitExtensions: ['.php'], userPrependFile: null }), /unset/);
});
