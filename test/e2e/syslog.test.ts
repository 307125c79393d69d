// error_log = syslog: the datagrams tsfpm sends to /dev/log, compared with
// php-fpm8.2's for the same config (facility, priority, ident[pid], `[LEVEL]
// text`; worker output lost as with php-fpm). Needs root and no syslog daemon
// on /dev/log: the test listens there itself (a python3 datagram socket; Node
// has no unix datagram sockets) and removes it afterwards.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { startTsfpm } from '../helpers/daemon.js';
import { startForeground } from '../helpers/foreground.js';
import { PHP_FPM_BIN } from '../helpers/php-fpm.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';
import { syslogMessages, syslogPri } from '../../src/log/syslog.js';

const DEV_LOG = '/dev/log';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const python = ['/usr/bin/python3', '/bin/python3'].find((p) => existsSync(p));
const skip = (!isRoot && 'needs root (binds /dev/log)')
  || (existsSync(DEV_LOG) && `${DEV_LOG} exists (a syslog daemon owns it)`)
  || (python === undefined && 'python3 is not installed')
  || (!existsSync(PHP_FPM_BIN) && `${PHP_FPM_BIN} is not installed`);

const LISTENER = `
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
out = open(sys.argv[2], 'ab', buffering=0)
print('ready', flush=True)
while True:
    out.write(s.recv(65536).hex().encode() + b'\\n')
`;

let dir: string;
let captured: string;
let listener: ChildProcess | undefined;
let docroot: string;

before(async () => {
  if (skip) return;
  dir = makeTempDir('tsfpm-syslog-');
  docroot = dir;
  captured = join(dir, 'datagrams.txt');
  writeFileSync(join(dir, 'listener.py'), LISTENER);
  writeFileSync(join(dir, 'say.php'), '<?php file_put_contents("php://stderr", "lost with syslog\\n"); error_log("a PHP message"); echo "ok";');
  listener = spawn(python as string, [join(dir, 'listener.py'), DEV_LOG, captured], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    listener?.stdout?.once('data', () => resolve());
    listener?.once('exit', (c) => reject(new Error(`listener exited ${c}`)));
  });
});

after(() => {
  if (listener?.pid !== undefined) listener.kill('SIGKILL');
  if (!skip) rmSync(DEV_LOG, { force: true });
});

function answers(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

function conf(port: number, ident: string): string {
  return `[global]
error_log = syslog
syslog.ident = ${ident}
syslog.facility = local3
[www]
listen = 127.0.0.1:${port}
pm = static
pm.max_children = 1
catch_workers_output = yes
`;
}

/** The datagrams of `ident`, as text with the timestamp and pid replaced. */
function datagrams(ident: string): string[] {
  const all = existsSync(captured) ? readFileSync(captured, 'utf8').split('\n').filter(Boolean) : [];
  return all.map((h) => Buffer.from(h, 'hex').toString('latin1'))
    .filter((d) => d.includes(` ${ident}[`))
    .map((d) => d.replace(/^(<\d+>)\w\w\w [ \d]\d \d\d:\d\d:\d\d /, '$1TIME ').replace(`${ident}[`, 'IDENT[').replace(/\[\d+\]: /, '[PID]: ').replace(/pid \d+/, 'pid N'));
}

async function run(server: 'php-fpm' | 'tsfpm', ident: string): Promise<void> {
  const port = await freePort();
  const text = conf(port, ident);
  const cfgDir = makeTempDir('tsfpm-syslog-conf-');
  let stop: () => Promise<unknown>;
  if (server === 'php-fpm') {
    writeFileSync(join(cfgDir, 'php-fpm.conf'), text);
    const fg = await startForeground({
      name: 'php-fpm8.2', cmd: PHP_FPM_BIN, args: ['-F', '-y', join(cfgDir, 'php-fpm.conf'), '--allow-to-run-as-root'],
      cwd: cfgDir, env: process.env, ready: () => answers(port), stopSignals: [['SIGTERM', 5000]],
    });
    stop = () => fg.stop();
  } else {
    const t = await startTsfpm({ conf: text, logToFile: true, noWait: true });
    for (let i = 0; !(await answers(port)); i++) {
      if (i > 500) { await t.stop(); throw new Error(`tsfpm did not listen:\n${t.output()}`); }
      await new Promise((r) => setTimeout(r, 20));
    }
    stop = () => t.stop();
  }
  const r = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: join(docroot, 'say.php'), REQUEST_METHOD: 'GET' });
  assert.match(r.stdout, /ok$/);
  await new Promise((res) => setTimeout(res, 200));
  await stop();
  await new Promise((res) => setTimeout(res, 300)); // logger forwards the last lines after the master is gone
}

test('error_log = syslog: the datagrams on /dev/log are php-fpm8.2\'s (local3, log_level\'s priority, ident[pid], [LEVEL] text; worker output lost)', { skip }, async () => {
  await run('php-fpm', 'fpm-ref');
  await run('tsfpm', 'fpm-ts');
  // Debian's php-fpm logs its systemd monitor line outside systemd too; tsfpm
  // only under systemd (docs/lifecycle.md), as php-fpm built without systemd.
  const ref = datagrams('fpm-ref').filter((d) => !d.includes('systemd monitor'));
  const ts = datagrams('fpm-ts');
  assert.ok(ref.length >= 4, ref.join('\n'));
  assert.deepEqual(ts.slice(0, 2), ['<157>TIME IDENT[PID]: [NOTICE] fpm is running, pid N', '<157>TIME IDENT[PID]: [NOTICE] ready to handle connections']);
  assert.deepEqual(ts, ref);
  assert.ok(!ts.some((d) => d.includes('lost with syslog') || d.includes('PHP message')), 'worker output is not sent');
});

test('php_syslog\'s no-ctrl filter and one message per line; priority from log_level', () => {
  assert.deepEqual(syslogMessages('a\tb\nc\x7f é'), ['a\\x09b', 'c\\x7f \xc3\xa9']);
  assert.equal(syslogPri('LOCAL3', 'notice'), 157);
  assert.equal(syslogPri('DAEMON', 'warning'), 28);
});
