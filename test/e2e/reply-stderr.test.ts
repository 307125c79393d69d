// What the web server receives on FCGI_STDERR, and for an unknown script, is
// what php-fpm8.2 sends: the same request to real php-fpm8.2 and to tsfpm
// (real php-cgi children), the replies compared record type by record type
// (php-src tests bug77106-fcgi-missing-nl and bug69625-no-script-filename).
// tsfpm twice: a dynamic pool (one php-cgi per child) and a static one (a
// shared php-cgi parent, each connection opened with a getmypid() probe).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  RecordParser,
  RecordType,
  Role,
  encodeBeginRequest,
  encodeParams,
  encodeStream,
} from '../../src/fastcgi/index.js';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { rawExchange, scriptParams } from '../helpers/fcgi-client.js';
import { PHP_FPM_BIN, startPhpFpm, type PhpFpm } from '../helpers/php-fpm.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const noFpm = !existsSync(PHP_FPM_BIN) && `${PHP_FPM_BIN} is not installed (bin/setup.sh installs php8.2-fpm)`;

let docroot: string;
let fpm: PhpFpm;
let tsfpm: Tsfpm;
let tsfpmStatic: Tsfpm;
let fpmPort: number;
let tsfpmPort: number;
let staticPort: number;

// display_errors on, output_buffering off: the warnings also go to STDOUT at
// once, so STDERR and STDOUT records alternate; expose_php on (PHP's default, Debian's php.ini has it off):
// php-cgi's 404 then carries X-Powered-By.
function conf(port: number, pm = 'dynamic'): string {
  return `[global]
error_log = {dir}/error.log
[www]
listen = 127.0.0.1:${port}
pm = ${pm}
pm.max_children = 2
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = on
php_admin_value[output_buffering] = 0
php_admin_flag[expose_php] = on
`;
}

before(async () => {
  docroot = makeTempDir('tsfpm-docroot-');
  writeFileSync(join(docroot, 'warn.php'), '<?php\necho $a;\necho $a;\necho "done\\n";\n');
  writeFileSync(join(docroot, 'evil.txt'), '<?php echo "EXECUTED";\n');
  writeFileSync(join(docroot, 'mixed.php'), [
    '<?php',
    'echo $a;',
    'error_log("user one");',
    'error_log("user two");',
    'throw new Exception("boom");',
    '',
  ].join('\n'));
  if (noFpm) return;
  [fpmPort, tsfpmPort, staticPort] = [await freePort(), await freePort(), await freePort()];
  const [f, t, s] = await Promise.allSettled([
    startPhpFpm({ conf: conf(fpmPort) }),
    startTsfpm({ conf: conf(tsfpmPort) }),
    startTsfpm({ conf: conf(staticPort, 'static') }),
  ]);
  if (f.status === 'fulfilled') fpm = f.value;
  if (t.status === 'fulfilled') tsfpm = t.value;
  if (s.status === 'fulfilled') tsfpmStatic = s.value;
  for (const r of [f, t, s]) if (r.status === 'rejected') throw r.reason;
});

after(async () => {
  await Promise.allSettled([fpm?.stop(), tsfpm?.stop(), tsfpmStatic?.stop()]);
});

/** The reply as runs of one record type: [type, their content joined]; END_REQUEST's app status only. */
async function reply(port: number, params: Record<string, string>): Promise<Array<[string, string]>> {
  const pairs = encodeParams(Object.entries(params));
  const { data, closed } = await rawExchange({ host: '127.0.0.1', port }, Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, 0),
    encodeStream(RecordType.PARAMS, 1, pairs),
    encodeStream(RecordType.PARAMS, 1, Buffer.alloc(0)),
    encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)),
  ]), 10_000);
  assert.ok(closed, 'the connection closes after the reply');
  const runs: Array<[string, string]> = [];
  const names: Record<number, string> = { [RecordType.STDOUT]: 'STDOUT', [RecordType.STDERR]: 'STDERR', [RecordType.END_REQUEST]: 'END_REQUEST' };
  new RecordParser((r) => {
    const name = names[r.type] ?? `type ${r.type}`;
    const text = r.type === RecordType.END_REQUEST ? `app status ${r.content.readUInt32BE(0)}` : r.content.toString('latin1');
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] === name) last[1] += text;
    else runs.push([name, text]);
  }).execute(data);
  return runs;
}

type Runs = Array<[string, string]>;

/** php-fpm's reply and tsfpm's (the static pool's must be the same as the dynamic one's). */
async function both(params: Record<string, string>): Promise<{ fpm: Runs; tsfpm: Runs }> {
  const [a, b, c] = await Promise.all([reply(fpmPort, params), reply(tsfpmPort, params), reply(staticPort, params)]);
  assert.deepEqual(c, b, 'static pool (shared php-cgi parent) as dynamic');
  return { fpm: a, tsfpm: b };
}

const stderrOf = (runs: Array<[string, string]>): string => runs.filter(([t]) => t === 'STDERR').map(([, s]) => s).join('');

test('two warnings with log_errors=1: "PHP message: ...; PHP message: ..." on STDERR, as php-fpm8.2 (bug77106)', { skip: noFpm }, async () => {
  const r = await both(scriptParams(docroot, '/warn.php'));
  assert.match(stderrOf(r.fpm), /^PHP message: PHP Warning: {2}Undefined variable \$a in .+ on line 2; PHP message: PHP Warning: {2}Undefined variable \$a in .+ on line 3$/);
  assert.equal(stderrOf(r.tsfpm), stderrOf(r.fpm));
  // Record by record: STDERR, the displayed warning on STDOUT, STDERR again, ...
  assert.deepEqual(r.tsfpm, r.fpm);
  assert.deepEqual(r.fpm.map(([t]) => t), ['STDERR', 'STDOUT', 'STDERR', 'STDOUT', 'END_REQUEST']);
});

test('a warning, two error_log() lines and an uncaught exception (inner newlines kept): as php-fpm8.2', { skip: noFpm }, async () => {
  const r = await both(scriptParams(docroot, '/mixed.php'));
  assert.match(stderrOf(r.fpm), /; PHP message: user one; PHP message: user two; PHP message: PHP Fatal error: {2}Uncaught Exception: boom in .+\nStack trace:\n#0 \{main\}\n {2}thrown in .+ on line 5$/);
  assert.deepEqual(r.tsfpm, r.fpm);
});

test('no SCRIPT_FILENAME and a missing script: "Primary script unknown", then 404 "File not found." with php-cgi\'s headers, as php-fpm8.2 (bug69625)', { skip: noFpm }, async () => {
  const noScript = scriptParams(docroot, '/x.php');
  delete noScript['SCRIPT_FILENAME'];
  for (const params of [noScript, scriptParams(docroot, '/missing.php')]) {
    const r = await both(params);
    assert.deepEqual(r.fpm.slice(0, 2), [
      ['STDERR', 'Primary script unknown'],
      ['STDOUT', `Status: 404 Not Found\r\nX-Powered-By: PHP/${r.fpm[1][1].match(/PHP\/([\d.]+)/)?.[1]}\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n`],
    ]);
    assert.deepEqual(r.tsfpm, r.fpm);
  }
  // The '; ' state is per request: the next request's first message has none.
  const again = await both(scriptParams(docroot, '/warn.php'));
  assert.match(stderrOf(again.tsfpm), /^PHP message: /);
});

test("security.limit_extensions: php-fpm's own line on STDERR (no \"PHP message: \"), then the 403, as php-fpm8.2", { skip: noFpm }, async () => {
  const r = await both(scriptParams(docroot, '/evil.txt'));
  assert.equal(stderrOf(r.fpm), `Access to the script '${join(docroot, 'evil.txt')}' has been denied (see security.limit_extensions)`);
  assert.deepEqual(r.tsfpm, r.fpm);
});
