// Worker output and PHP's messages in error_log as php-fpm writes them: the
// same scripts, through real nginx and libfcgi's cgi-fcgi, against real
// php-fpm8.2 and tsfpm (real php-cgi children), both logging to their
// error_log file; the worker-output lines must be the same, timestamps and
// pids aside. nginx's own error log shows what each sent as FCGI_STDERR.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { startForeground, type Foreground } from '../helpers/foreground.js';
import { httpGet } from '../helpers/http.js';
import { NGINX_BIN, startNginx, type Nginx } from '../helpers/nginx.js';
import { PHP_FPM_BIN } from '../helpers/php-fpm.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';

const skip = (!existsSync(PHP_FPM_BIN) && `${PHP_FPM_BIN} is not installed`) || (!existsSync(NGINX_BIN) && `${NGINX_BIN} is not installed`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let docroot: string;

const SCRIPTS: Record<string, string> = {
  'stderr.php': '<?php file_put_contents("php://stderr", "worker says hello\\nand \\"quoted\\" more\\n"); echo "ok";',
  'partial.php': '<?php file_put_contents("php://stderr", "no newline at the end"); echo "ok";',
  'errlog.php': '<?php error_log("user message from errlog.php"); echo "ok";',
  'warn.php': '<?php echo $undefined; echo "ok";',
  'long.php': '<?php error_log(str_repeat("L", 1500)); echo "ok";',
  'stdout.php': '<?php file_put_contents("php://stdout", "to stdout\\n"); echo "ok";',
};

/** One pool, one child: every request goes to the same worker, in order. */
function conf(port: number, extraGlobal: string, extraPool: string): string {
  return `[global]
error_log = {dir}/error.log
${extraGlobal}
[www]
listen = 127.0.0.1:${port}
pm = dynamic
pm.max_children = 1
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
catch_workers_output = yes
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
${extraPool}
`;
}

interface Server { port: number; log(): string; stop(): Promise<unknown> }

/** The port answers (with log_level = warning there is no "ready" line to wait for). */
function answers(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/** php-fpm8.2 in the foreground without -O: its stderr is not a TTY, so it logs to error_log. */
async function phpFpm(text: string): Promise<Server> {
  const dir = makeTempDir('tsfpm-phpfpm-');
  const port = Number(/listen = 127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
  writeFileSync(join(dir, 'php-fpm.conf'), text.replaceAll('{dir}', dir));
  const logFile = join(dir, 'error.log');
  const fg: Foreground = await startForeground({
    name: 'php-fpm8.2', cmd: PHP_FPM_BIN,
    args: ['-F', '-y', join(dir, 'php-fpm.conf'), ...(isRoot ? ['--allow-to-run-as-root'] : [])],
    cwd: dir, env: process.env,
    // The port answers (with log_level = warning there is no "ready" line to wait for).
    ready: () => answers(port),
    logs: [logFile], stopSignals: [['SIGTERM', 5000]],
  });
  return { port, log: () => readFileSync(logFile, 'latin1'), stop: () => fg.stop() };
}

async function tsfpm(text: string): Promise<Server> {
  const port = Number(/listen = 127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
  const t: Tsfpm = await startTsfpm({ conf: text, logToFile: true, noWait: true });
  for (let i = 0; !(await answers(port)); i++) {
    if (i > 500) { await t.stop(); throw new Error(`tsfpm did not listen on ${port}:\n${t.output()}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { port, log: () => readFileSync(join(t.dir, 'error.log'), 'latin1'), stop: () => t.stop() };
}

/** The worker-output lines of an error log, time and pids replaced. */
function workerLines(log: string): string[] {
  return log.split('\n')
    .filter((l) => /said into|PHP message|^[^[]/.test(l) && l !== '' && !/^\[[^\]]*\] (NOTICE|DEBUG): (fpm is running|ready to|Terminating|exiting|systemd)/.test(l))
    .map((l) => l.replace(/^\[\d\d-\w\w\w-\d{4} \d\d:\d\d:\d\d(\.\d+)?\] /, '[TIME] ').replace(/child \d+/g, 'child N'));
}

/** nginx's "FastCGI sent in stderr" texts. */
function nginxStderr(log: string): string[] {
  return [...log.matchAll(/FastCGI sent in stderr: "(.*?)" while reading/g)].map((m) => m[1]);
}

before(() => {
  docroot = makeTempDir('tsfpm-docroot-');
  for (const [name, body] of Object.entries(SCRIPTS)) writeFileSync(join(docroot, name), body);
});

/** Runs the same requests against php-fpm8.2 and tsfpm; returns both error logs' worker lines (and nginx's). */
async function both(extraGlobal: string, extraPool: string, viaNginx: string[], viaCgi: string[]):
  Promise<{ fpm: string[]; ts: string[]; fpmNginx: string[]; tsNginx: string[] }> {
  const [p1, p2] = [await freePort(), await freePort()];
  const servers = [await phpFpm(conf(p1, extraGlobal, extraPool)), await tsfpm(conf(p2, extraGlobal, extraPool))];
  const nginxes: Nginx[] = [];
  try {
    for (const s of servers) nginxes.push(await startNginx({ upstream: `127.0.0.1:${s.port}`, docroot }));
    for (let i = 0; i < servers.length; i++) {
      for (const script of viaNginx) {
        const r = await httpGet(nginxes[i].url(`/${script}`));
        assert.equal(r.body, 'ok', `${script} through nginx`);
      }
      for (const script of viaCgi) {
        const r = await cgiFcgi(`127.0.0.1:${servers[i].port}`, { SCRIPT_FILENAME: join(docroot, script), REQUEST_METHOD: 'GET' });
        assert.match(r.stdout, /ok$/, `${script} through cgi-fcgi`);
      }
    }
    // Both have read their children's pipes; then they stop (php-fpm finishes a child's stream when it is freed).
    await new Promise((r) => setTimeout(r, 300));
    const ngLogs = nginxes.map((n) => n.errorLog());
    for (const s of servers) await s.stop();
    const [fpm, ts] = servers.map((s) => workerLines(s.log()));
    return { fpm, ts, fpmNginx: nginxStderr(ngLogs[0]), tsNginx: nginxStderr(ngLogs[1]) };
  } finally {
    await Promise.allSettled([...nginxes.map((n) => n.stop()), ...servers.map((s) => s.stop())]);
  }
}

test("a worker's stderr and PHP's messages (error_log(), a warning, one over log_limit) in error_log, line for line as php-fpm8.2 writes them", { skip }, async () => {
  const r = await both('', '', ['stderr.php', 'errlog.php', 'warn.php', 'stdout.php'], ['partial.php', 'long.php']);
  const file = (name: string): string => join(docroot, name);
  const W = '[TIME] WARNING: [pool www] child N said into';
  assert.deepEqual(r.ts, [
    `${W} stderr: "worker says hello"`,
    `${W} stderr: "and "quoted" more"`,
    `${W} stderr: "NOTICE: PHP message: user message from errlog.php"`,
    `${W} stderr: "NOTICE: PHP message: PHP Warning:  Undefined variable $undefined in ${file('warn.php')} on line 1"`,
    `${W} stdout: "to stdout"`,
    `${W} stderr: "no newline at the end"`,
    // php-fpm's worker cuts the message at log_limit (1024: 'NOTICE: PHP message: ' + 999 + '...'),
    // then the master wraps the 1023-byte line into records of 1024 bytes.
    ...r.ts.slice(6),
  ]);
  assert.equal(r.ts.length, 8, r.ts.join('\n'));
  assert.equal(r.ts.slice(6).map((l) => l.replace(/^.*?said into stderr: "/, '').replace(/"$/, '')).join(''), `NOTICE: PHP message: ${'L'.repeat(999)}...`);
  assert.deepEqual(r.ts, r.fpm, 'the same lines as php-fpm8.2');
  // What nginx received as FCGI_STDERR: the same texts.
  assert.deepEqual(r.tsNginx, r.fpmNginx);
  assert.deepEqual(r.tsNginx, ['PHP message: user message from errlog.php', `PHP message: PHP Warning:  Undefined variable $undefined in ${file('warn.php')} on line 1`]);
});

test('decorate_workers_output = no, log_buffering = no, log_limit = 600, log_level = warning: the same lines as php-fpm8.2', { skip }, async () => {
  const r = await both('log_buffering = no\nlog_limit = 600\nlog_level = warning', 'decorate_workers_output = no', [], ['stderr.php', 'errlog.php', 'long.php', 'partial.php']);
  assert.deepEqual(r.ts.slice(0, 3), ['worker says hello', 'and "quoted" more', 'PHP message: user message from errlog.php']);
  assert.deepEqual(r.ts, r.fpm, `tsfpm:\n${r.ts.join('\n')}\nphp-fpm8.2:\n${r.fpm.join('\n')}`);
});

test('without catch_workers_output nothing of it reaches error_log, as with php-fpm8.2', { skip }, async () => {
  const r = await both('', 'catch_workers_output = no', [], ['stderr.php', 'errlog.php']);
  assert.deepEqual(r.ts, [], `tsfpm:\n${r.ts.join('\n')}`);
  assert.deepEqual(r.fpm, [], `php-fpm8.2:\n${r.fpm.join('\n')}`);
});
