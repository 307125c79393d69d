// systemd Type=notify (issue 9): what reaches $NOTIFY_SOCKET, received on a
// real AF_UNIX datagram socket (a perl receiver: perl-base is always there,
// Node has no unix datagrams). systemd-notify's BARRIER=1 message carries a
// file descriptor; recv() without room for it closes it, which completes the
// barrier as systemd would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsfpm } from '../helpers/daemon.js';
import { waitFor } from '../helpers/procs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fcgiRequest, scriptParams } from '../helpers/fcgi-client.js';

const RECEIVER = `use Socket; my $path = shift;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!"; unlink $path;
bind($s, pack_sockaddr_un($path)) or die "bind: $!";
$| = 1; print "listening\\n";
while (1) { my $buf; defined(recv($s, $buf, 65536, 0)) or last; $buf =~ s/\\n/|/g; print "$buf\\n"; }`;

const haveNotify = existsSync('/usr/bin/systemd-notify') || existsSync('/bin/systemd-notify');

interface Receiver { proc: ChildProcess; messages: string[]; socket: string }

async function receiver(dir: string): Promise<Receiver> {
  const script = join(dir, 'receiver.pl');
  writeFileSync(script, RECEIVER);
  const socket = join(dir, 'notify.sock');
  const proc = spawn('perl', [script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) { messages.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
  });
  await waitFor(() => messages.includes('listening'), 5000);
  return { proc, messages, socket };
}

test('READY=1 with MAINPID, STATUS heartbeats, RELOADING=1/READY=1 around USR2, STOPPING=1', { skip: haveNotify ? false : 'systemd-notify not installed' }, async () => {
  const dir = makeTempDir('tsfpm-systemd-');
  const docroot = makeTempDir('tsfpm-systemd-docroot-');
  writeFileSync(join(docroot, 'hello.php'), '<?php echo "hi";');
  const r = await receiver(dir);
  const d = await startTsfpm({
    conf: '[global]\nerror_log = {dir}/error.log\nsystemd_interval = 1\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 2\n',
    env: { NOTIFY_SOCKET: r.socket },
  });
  try {
    const pid = d.proc.pid;
    const got = (): string[] => r.messages.filter((m) => m !== 'listening' && m !== 'BARRIER=1');
    await waitFor(() => got().length >= 1, 5000);
    assert.equal(got()[0], `READY=1|STATUS=Ready to handle connections|MAINPID=${pid}`);
    // php-fpm's NOTICE, right after `ready to handle connections`.
    assert.match(d.output(), /NOTICE: ready to handle connections\n.*NOTICE: systemd monitor interval set to 1000ms\n/);
    for (let i = 0; i < 3; i++) await fcgiRequest({ path: join(d.dir, 'www.sock') }, scriptParams(docroot, '/hello.php'));
    const beat = await waitFor(() => got().find((m) => /Requests: [1-9]/.test(m)), 5000);
    assert.match(beat, /^READY=1\|STATUS=Processes active: 0, idle: 2, Requests: 3, slow: 0, Traffic: [0-3]\.00req\/sec$/);
    const n = got().length;
    d.signal('SIGUSR2');
    await d.waitForOutput(/reloading: execvp[\s\S]*ready to handle connections/, 10_000);
    await waitFor(() => got().slice(n).includes('READY=1|STATUS=Ready to handle connections'), 5000);
    const around = got().slice(n).filter((m) => !m.includes('Processes active'));
    assert.deepEqual(around, ['RELOADING=1|STATUS=Reloading in progress ...', 'READY=1|STATUS=Ready to handle connections']);
    const m = got().length;
    assert.equal(await d.stop(), 0);
    await waitFor(() => got().slice(m).includes('STOPPING=1'), 5000);
  } finally {
    await d.stop();
    r.proc.kill();
  }
});

test('without NOTIFY_SOCKET nothing is sent and no systemd line is logged (php-fpm built without systemd)', async () => {
  const d = await startTsfpm({ conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n', env: { NOTIFY_SOCKET: '' } });
  try {
    await d.waitForOutput(/NOTICE: ready to handle connections\n/, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(d.output(), /systemd/);
  } finally {
    await d.stop();
  }
});

test('under systemd, systemd_interval = 0 disables the monitor with php-fpm\'s NOTICE', { skip: haveNotify ? false : 'systemd-notify not installed' }, async () => {
  const dir = makeTempDir('tsfpm-systemd-');
  const r = await receiver(dir);
  const d = await startTsfpm({ conf: '[global]\nerror_log = {dir}/error.log\nsystemd_interval = 0\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 1\n', env: { NOTIFY_SOCKET: r.socket } });
  try {
    await d.waitForOutput(/NOTICE: ready to handle connections\n.*NOTICE: systemd monitor disabled\n/, 5000);
  } finally {
    await d.stop();
    r.proc.kill();
  }
});

test('the shipped unit file: Type=notify, NotifyAccess=all, reload and stop as php-fpm\'s', () => {
  const unit = join(__dirname, '..', '..', '..', 'conf', 'tsfpm.service');
  const text = spawnSync('cat', [unit], { encoding: 'utf8' }).stdout;
  assert.match(text, /^Type=notify$/m);
  assert.match(text, /^NotifyAccess=all$/m);
  assert.match(text, /^ExecReload=\/bin\/kill -USR2 \$MAINPID$/m);
  assert.match(text, /^ExecStart=.*tsfpm --nodaemonize --fpm-config \S+$/m);
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  if (verify.error === undefined && verify.status !== null) {
    // Only complaints about the unit itself count (the binary path may not exist here).
    assert.doesNotMatch(verify.stderr, /\[Service\]|Unknown key|Invalid|Failed to parse/, verify.stderr);
  }
});
