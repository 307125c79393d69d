// Listen sockets, every form (issue 4 item 2, reference §4 "listen forms" and the
// listen.* rows, §9 allowed_clients): ip:port, port (dual stack), [::1]:port and
// unix paths; unix socket owner/group/mode; listen.backlog; allowed_clients; a
// port in use, a missing socket directory, a socket another instance listens
// on, a second pool with a bad listen (nothing half-started) and the socket file
// removed on SIGTERM. Each case runs the real daemon with pm static, 1 child.
//
// Every message asserted below was checked by hand against php-fpm8.2 8.2.36
// (`php-fpm8.2 -F -R -O -y conf` on the same config). Where tsfpm deliberately
// differs from php-fpm, the test says so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeBeginRequest, encodeParams, encodeStream, RecordType, Role } from '../../src/fastcgi/index.js';
import { cgiFcgi } from '../helpers/cgi-fcgi.js';
import { startTsfpm, type Tsfpm } from '../helpers/daemon.js';
import { fcgiRequest, rawExchange, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { descendants } from '../helpers/procs.js';
import { freePort, makeTempDir, portAnswers } from '../helpers/tmp.js';

const HELLO = 'Hello, World!';
const EXIT_CONFIG = 78;

let docroot: string;
/** A php-cgi wrapper that records every serving child (PHP_FCGI_MAX_REQUESTS=0 is set only for those). */
let phpWrapper: string;
let spawnMarker: string;
const daemons: Tsfpm[] = [];
const servers: net.Server[] = [];

before(() => {
  docroot = makeTempDir('tsfpm-listen-docroot-');
  writeFileSync(join(docroot, 'hello.php'), `<?php echo ${JSON.stringify(HELLO)};\n`);
  const bin = makeTempDir('tsfpm-listen-bin-');
  spawnMarker = join(bin, 'spawned');
  phpWrapper = join(bin, 'php-cgi');
  writeFileSync(
    phpWrapper,
    `#!/bin/sh\nif [ "$PHP_FCGI_MAX_REQUESTS" = 0 ]; then echo $$ >> '${spawnMarker}'; fi\nexec /usr/bin/php-cgi "$@"\n`,
  );
  chmodSync(phpWrapper, 0o755);
});

after(async () => {
  for (const s of servers) s.close();
  await Promise.all(daemons.map((d) => d.stop()));
});

/** A one-pool config; `listen` is the pool's listen line(s). */
function conf(listen: string, pool = 'www'): string {
  return `[global]
error_log = {dir}/error.log
[${pool}]
${listen}
pm = static
pm.max_children = 1
`;
}

async function start(text: string, env?: Record<string, string>): Promise<Tsfpm> {
  const d = await startTsfpm({ conf: text, env });
  daemons.push(d);
  return d;
}

/** Starts a daemon expected to fail; resolves with it and its exit code (10 s cap). */
async function startFailing(text: string, env?: Record<string, string>): Promise<{ d: Tsfpm; code: number | null }> {
  const d = await startTsfpm({ conf: text, env, noWait: true });
  daemons.push(d);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    d.exited,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 10_000))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') {
    await d.stop();
    assert.fail(`tsfpm did not exit on a bad listen within 10 s\n--- output ---\n${d.output()}`);
  }
  return { d, code };
}

/** stdout/stderr plus error.log (with -O the log goes to stderr; the file is read in case it is also written). */
function logText(d: Tsfpm): string {
  const file = join(d.dir, 'error.log');
  return d.output() + (existsSync(file) ? readFileSync(file, 'utf8') : '');
}

async function assertHello(target: Target, d: Tsfpm, socket?: net.Socket): Promise<void> {
  const res = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { socket, timeoutMs: 5000 });
  assert.equal(res.status, 200, `status via ${JSON.stringify(target)}\n--- output ---\n${d.output()}`);
  assert.equal(res.body.toString(), HELLO);
}

function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === '::1'));
}

/** An occupied TCP port on host (closed in after()). */
function occupy(port: number, host = '127.0.0.1'): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => s.destroy());
    srv.once('error', reject);
    srv.listen(port, host, () => {
      servers.push(srv);
      resolve(srv);
    });
  });
}

/** True if a TCP server can bind 127.0.0.1:port right now (then closes it again). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function spawnedChildren(): string[] {
  return existsSync(spawnMarker) ? readFileSync(spawnMarker, 'utf8').split('\n').filter(Boolean) : [];
}

/** Samples the daemon's process tree until it exits; resolves with every serving php-cgi pid seen below it. */
function watchPhpDescendants(d: Tsfpm): Promise<number[]> {
  const seen = new Set<number>();
  return new Promise((resolve) => {
    const sample = (): void => {
      if (d.proc.pid === undefined) return;
      for (const pid of descendants(d.proc.pid)) {
        try {
          // Only serving children: tsfpm also runs `php-cgi -n -v` to pick a php.ini, which is fine.
          if (!readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('php-cgi')) continue;
          if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes('PHP_FCGI_MAX_REQUESTS=0')) seen.add(pid);
        } catch {
          // gone
        }
      }
    };
    const timer = setInterval(sample, 5);
    void d.exited.then(() => {
      clearInterval(timer);
      resolve([...seen]);
    });
  });
}

/** One complete hello request as raw bytes (for connections that must get no answer). */
function helloRequestBytes(): Buffer {
  return Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, 0),
    encodeStream(RecordType.PARAMS, 1, encodeParams(Object.entries(scriptParams(docroot, '/hello.php')))),
    encodeStream(RecordType.PARAMS, 1, Buffer.alloc(0)),
    encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)),
  ]);
}

function connectFrom(localAddress: string, port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

// ---- listen forms

test('listen = 127.0.0.1:PORT serves (and the php-cgi spawn marker works)', async () => {
  const port = await freePort();
  const d = await start(conf(`listen = 127.0.0.1:${port}`), { TSFPM_PHP_CGI: phpWrapper });
  await assertHello({ host: '127.0.0.1', port }, d);
  // libfcgi's client too.
  const r = await cgiFcgi(`127.0.0.1:${port}`, { SCRIPT_FILENAME: join(docroot, 'hello.php'), REQUEST_METHOD: 'GET' });
  assert.match(r.stdout, new RegExp(`${HELLO}$`));
  // The marker is what the failure tests rely on to prove no child was started.
  assert.ok(spawnedChildren().length >= 1, 'the php-cgi wrapper recorded no serving child');
  assert.equal(await d.stop(), 0);
});

test('listen = PORT (all digits) serves on 127.0.0.1 and on ::1 (dual stack)', async (t) => {
  const port = await freePort();
  const d = await start(conf(`listen = ${port}`));
  await assertHello({ host: '127.0.0.1', port }, d);
  if (!hasIpv6Loopback()) t.skip('no ::1 on this host');
  else await assertHello({ host: '::1', port }, d);
  await d.stop();
});

test('listen = [::1]:PORT serves over IPv6 (brackets stripped)', async (t) => {
  if (!hasIpv6Loopback()) {
    t.skip('no ::1 on this host');
    return;
  }
  const port = await freePort();
  const d = await start(conf(`listen = [::1]:${port}`));
  await assertHello({ host: '::1', port }, d);
  // Bound to ::1 only, not to IPv4.
  assert.equal(await portAnswers(port, '127.0.0.1'), false, 'an [::1] listen must not answer on 127.0.0.1');
  await d.stop();
});

test('listen = {dir}/www.sock serves; default mode 0660, owner = master, no .tmp file left', async () => {
  const d = await start(conf('listen = {dir}/www.sock'));
  const sock = join(d.dir, 'www.sock');
  await assertHello({ path: sock }, d);
  const r = await cgiFcgi(sock, { SCRIPT_FILENAME: join(docroot, 'hello.php'), REQUEST_METHOD: 'GET' });
  assert.match(r.stdout, new RegExp(`${HELLO}$`));
  const st = statSync(sock);
  assert.ok(st.isSocket(), `${sock} is not a socket`);
  // php-fpm 8.2.36: srw-rw---- root root
  assert.equal((st.mode & 0o7777).toString(8), '660');
  assert.equal(st.uid, process.getuid?.());
  assert.equal(st.gid, process.getgid?.());
  const leftovers = readdirSync(d.dir).filter((f) => f.endsWith('.tmp'));
  assert.deepEqual(leftovers, [], 'temporary socket name left behind');
  await d.stop();
});

test('listen.mode = 0600 gives a 0600 socket', async () => {
  const d = await start(conf('listen = {dir}/www.sock\nlisten.mode = 0600'));
  const sock = join(d.dir, 'www.sock');
  assert.equal((statSync(sock).mode & 0o7777).toString(8), '600');
  await assertHello({ path: sock }, d); // root may still connect
  await d.stop();
});

test('listen.owner = nobody, listen.group = nogroup chown the socket', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.skip('needs root to chown');
    return;
  }
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).split(':')[2]);
    gid = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    t.skip('no nobody user or nogroup group (getent)');
    return;
  }
  const d = await start(conf('listen = {dir}/www.sock\nlisten.owner = nobody\nlisten.group = nogroup\nlisten.mode = 0660'));
  const st = statSync(join(d.dir, 'www.sock'));
  // php-fpm 8.2.36 with the same lines: 660 65534 65534 (nobody nogroup)
  assert.equal(st.uid, uid);
  assert.equal(st.gid, gid);
  assert.equal((st.mode & 0o7777).toString(8), '660');
  assert.deepEqual(readdirSync(d.dir).filter((f) => f.endsWith('.tmp')), []);
  await assertHello({ path: join(d.dir, 'www.sock') }, d);
  await d.stop();
});

/** True if neither the passwd nor the group database knows this id. */
function idUnknown(id: number): boolean {
  for (const db of ['passwd', 'group']) {
    try {
      execFileSync('getent', [db, String(id)], { stdio: 'ignore' });
      return false;
    } catch {
      // exit 2: no entry
    }
  }
  return true;
}

test('numeric listen.owner / listen.group without passwd/group entries are used as ids', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.skip('needs root to chown');
    return;
  }
  if (!idUnknown(1234) || !idUnknown(1235)) {
    t.skip('1234 or 1235 has an entry on this host');
    return;
  }
  // php-fpm 8.2.36 with the same lines: 660 1234 1235 (php-src socket-uds-numeric-ugid: 1234/UNKNOWN)
  const d = await start(conf('listen = {dir}/www.sock\nlisten.owner = 1234\nlisten.group = 1235'));
  const st = statSync(join(d.dir, 'www.sock'));
  assert.equal(st.uid, 1234);
  assert.equal(st.gid, 1235);
  assert.equal((st.mode & 0o7777).toString(8), '660');
  await assertHello({ path: join(d.dir, 'www.sock') }, d);
  await d.stop();
  // A numeric owner alone keeps the socket's group (php-fpm: socket_gid stays -1).
  const d2 = await start(conf('listen = {dir}/www.sock\nlisten.owner = 1234'));
  const st2 = statSync(join(d2.dir, 'www.sock'));
  assert.equal(st2.uid, 1234);
  assert.equal(st2.gid, process.getegid?.());
  await d2.stop();
});

test("listen.owner naming no user: php-fpm's lookup error with errno, exit 78, no socket", async () => {
  const { d, code } = await startFailing(conf('listen = {dir}/www.sock\nlisten.owner = nosuchuser-tsfpm'));
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  // php-fpm 8.2.36 verbatim (getpwnam() leaves errno 0):
  assert.ok(out.includes("ERROR: [pool www] cannot get uid for user 'nosuchuser-tsfpm': Success (0)\n"), out);
  assert.match(out, /ERROR: FPM initialization failed/);
  assert.equal(existsSync(join(d.dir, 'www.sock')), false);
  const g = await startFailing(conf('listen = {dir}/www.sock\nlisten.group = nosuchgroup-tsfpm'));
  assert.equal(g.code, EXIT_CONFIG);
  assert.ok(logText(g.d).includes("ERROR: [pool www] cannot get gid for group 'nosuchgroup-tsfpm': Success (0)\n"), logText(g.d));
});

test('listen.backlog = 7 is the listen queue length (ss -ltn Send-Q)', async (t) => {
  let ssOk = true;
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
  } catch {
    ssOk = false;
  }
  if (!ssOk) {
    t.skip('ss (iproute2) not installed; /proc does not show the backlog');
    return;
  }
  const port = await freePort();
  const d = await start(conf(`listen = 127.0.0.1:${port}\nlisten.backlog = 7`));
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  // State Recv-Q Send-Q Local Peer; for a listening socket Send-Q is the backlog (php-fpm 8.2.36: 7).
  const line = out.split('\n').find((l) => l.includes(`:${port} `));
  assert.ok(line, `no listening socket on ${port} in ss output:\n${out}`);
  assert.equal(line.trim().split(/\s+/)[2], '7', `ss line: ${line}`);
  await d.stop();
});

// ---- listen.allowed_clients

test('listen.allowed_clients = 127.0.0.2: 127.0.0.1 dropped and logged, 127.0.0.2 served', async () => {
  const port = await freePort();
  const d = await start(conf(`listen = 0.0.0.0:${port}\nlisten.allowed_clients = 127.0.0.2\ncatch_workers_output = yes`));
  const { data, closed } = await rawExchange({ host: '127.0.0.1', port }, helloRequestBytes(), 3000);
  assert.equal(closed, true, 'a refused client must be closed');
  assert.equal(data.length, 0, `a refused client got an answer: ${JSON.stringify(data.toString('latin1'))}`);
  // php-fpm 8.2.36, the worker's stderr caught: ERROR: Connection disallowed: IP address '127.0.0.1' has been dropped.
  await d.waitForOutput(/WARNING: \[pool www\] child \d+ said into stderr: "ERROR: Connection disallowed: IP address '127\.0\.0\.1' has been dropped\."/, 2000);
  const s = await connectFrom('127.0.0.2', port);
  try {
    await assertHello({ host: '127.0.0.1', port }, d, s);
  } finally {
    s.destroy();
  }
  assert.doesNotMatch(logText(d), /IP address '127\.0\.0\.2'/);
  await d.stop();
});

test('listen.allowed_clients on a dual-stack listen: IPv4 entries match v4-mapped peers, ::1 dropped', async (t) => {
  const port = await freePort();
  const d = await start(conf(`listen = ${port}\nlisten.allowed_clients = 127.0.0.1\ncatch_workers_output = yes`));
  await assertHello({ host: '127.0.0.1', port }, d);
  if (!hasIpv6Loopback()) {
    t.skip('no ::1 on this host');
  } else {
    const { data, closed } = await rawExchange({ host: '::1', port }, helloRequestBytes(), 3000);
    assert.equal(closed, true);
    assert.equal(data.length, 0);
    // php-fpm 8.2.36: Connection disallowed: IP address '::1' has been dropped.
    await d.waitForOutput(/Connection disallowed: IP address '::1' has been dropped\./, 2000);
  }
  assert.doesNotMatch(logText(d), /IP address '(::ffff:)?127\.0\.0\.1' has been dropped/);
  await d.stop();
});

test("listen.allowed_clients = 127.0.0.1,bogus: each worker logs Wrong IP address 'bogus' (catch_workers_output), 127.0.0.1 still served", async () => {
  const port = await freePort();
  const d = await start(conf(`listen = 127.0.0.1:${port}\nlisten.allowed_clients = 127.0.0.1,bogus\ncatch_workers_output = yes`));
  // php-fpm 8.2.36, from each worker as it starts: ERROR: Wrong IP address 'bogus' in listen.allowed_clients
  await d.waitForOutput(/WARNING: \[pool www\] child \d+ said into stderr: "ERROR: Wrong IP address 'bogus' in listen\.allowed_clients"/, 3000);
  await assertHello({ host: '127.0.0.1', port }, d);
  assert.doesNotMatch(logText(d), /Connection disallowed/);
  await d.stop();
  // Without catch_workers_output php-fpm discards the workers' stderr: nothing at the default log level.
  const quiet = await start(conf(`listen = 127.0.0.1:${port}\nlisten.allowed_clients = 127.0.0.1,bogus`));
  await assertHello({ host: '127.0.0.1', port }, quiet);
  assert.doesNotMatch(logText(quiet), /Wrong IP address/);
  await quiet.stop();
});

// ---- failures: php-fpm's message, exit 78, nothing started

test('port already in use: bind error, FPM initialization failed, exit 78, no php-cgi started', async () => {
  const port = await freePort();
  await occupy(port);
  const before = spawnedChildren().length;
  const d = await startTsfpm({ conf: conf(`listen = 127.0.0.1:${port}`), env: { TSFPM_PHP_CGI: phpWrapper }, noWait: true });
  daemons.push(d);
  const seen = watchPhpDescendants(d);
  const code = await d.exited;
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  // php-fpm 8.2.36, verbatim:
  //   ERROR: unable to bind listening socket for address '127.0.0.1:PORT': Address already in use (98)
  //   ERROR: FPM initialization failed
  assert.match(out, new RegExp(`ERROR: unable to bind listening socket for address '127\\.0\\.0\\.1:${port}': Address already in use \\(98\\)`));
  assert.match(out, /ERROR: FPM initialization failed/);
  assert.doesNotMatch(out, /ready to handle connections/);
  assert.deepEqual(await seen, [], 'a serving php-cgi ran below the daemon');
  assert.equal(spawnedChildren().length, before, 'a serving php-cgi was started');
});

test('listen = PORT with [::]:PORT taken: NOTICE Failed implicitly binding to ::, then the 0.0.0.0 error', async (t) => {
  if (!hasIpv6Loopback()) {
    t.skip('no IPv6 on this host');
    return;
  }
  const port = await freePort();
  // A dual-stack [::] listener holds the IPv4 port too, so the retry fails as well (php-src socket-ipv4-fallback).
  const busy = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    busy.once('error', reject);
    busy.listen({ host: '::', port, ipv6Only: false }, () => resolve());
  });
  servers.push(busy);
  const { d, code } = await startFailing(conf(`listen = ${port}`));
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  // php-fpm 8.2.36, in this order:
  const lines = out.split('\n').map((l) => l.replace(/^\[[^\]]+\] /, '')).filter(Boolean);
  assert.deepEqual(lines.slice(0, 3), [
    'NOTICE: Failed implicitly binding to ::, retrying with 0.0.0.0',
    `ERROR: unable to bind listening socket for address '${port}': Address already in use (98)`,
    'ERROR: FPM initialization failed',
  ]);
});

test('unix socket in a missing directory: exit 78, message names the path', async () => {
  const { d, code } = await startFailing(conf('listen = {dir}/nodir/www.sock'));
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  const sock = join(d.dir, 'nodir', 'www.sock');
  // php-fpm 8.2.36: ERROR: unable to bind listening socket for address '<path>': No such file or directory (2)
  assert.ok(
    out.includes(`ERROR: unable to bind listening socket for address '${sock}': No such file or directory (2)`),
    `no php-fpm bind message for ${sock}:\n${out}`,
  );
  assert.match(out, /ERROR: FPM initialization failed/);
});

test('unix socket another tsfpm listens on: Another FPM instance..., exit 78, the first still serves', async () => {
  const shared = makeTempDir('tsfpm-listen-shared-');
  const sock = join(shared, 'www.sock');
  const first = await start(conf(`listen = ${sock}`));
  await assertHello({ path: sock }, first);
  const { d, code } = await startFailing(conf(`listen = ${sock}`));
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  // php-fpm 8.2.36: ERROR: Another FPM instance seems to already listen on <path>
  assert.ok(out.includes(`ERROR: Another FPM instance seems to already listen on ${sock}`), out);
  assert.match(out, /ERROR: FPM initialization failed/);
  assert.ok(existsSync(sock), 'the failed instance removed the first one\'s socket');
  await assertHello({ path: sock }, first);
  await first.stop();
});

test('a stale unix socket file (nobody listening) is replaced, not an error', async (t) => {
  const d0 = makeTempDir('tsfpm-listen-stale-');
  const sock = join(d0, 'www.sock');
  try {
    // A bound but never-listening socket left on disk, as after a crash.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  } catch {
    t.skip('python3 not available to make a stale socket file');
    return;
  }
  assert.ok(statSync(sock).isSocket());
  const d = await start(conf(`listen = ${sock}`));
  await assertHello({ path: sock }, d);
  assert.doesNotMatch(logText(d), /Another FPM instance/);
  await d.stop();
});

test('two pools, the second with a port in use: exit 78, the first pool\'s socket and port released', async () => {
  const freeP = await freePort();
  const busy = await freePort();
  await occupy(busy);
  const text = `[global]
error_log = {dir}/error.log
[a]
listen = {dir}/a.sock
pm = static
pm.max_children = 1
[b]
listen = 127.0.0.1:${freeP}
pm = static
pm.max_children = 1
[c]
listen = 127.0.0.1:${busy}
pm = static
pm.max_children = 1
`;
  const before = spawnedChildren().length;
  const { d, code } = await startFailing(text, { TSFPM_PHP_CGI: phpWrapper });
  const out = logText(d);
  assert.equal(code, EXIT_CONFIG, out);
  assert.match(out, new RegExp(`unable to bind listening socket for address '127\\.0\\.0\\.1:${busy}': Address already in use \\(98\\)`));
  assert.match(out, /FPM initialization failed/);
  // php-fpm 8.2.36 leaves a.sock behind here; tsfpm removes it (nothing half-started).
  assert.equal(existsSync(join(d.dir, 'a.sock')), false, 'pool a\'s socket file is still there');
  assert.deepEqual(readdirSync(d.dir).filter((f) => f.endsWith('.tmp')), []);
  assert.equal(await canBind(freeP), true, `pool b's port ${freeP} is still bound`);
  assert.equal(spawnedChildren().length, before, 'a serving php-cgi was started');
});

test('SIGTERM removes the unix socket file', async () => {
  const d = await start(conf('listen = {dir}/www.sock'));
  const sock = join(d.dir, 'www.sock');
  assert.ok(existsSync(sock));
  d.signal('SIGTERM');
  assert.equal(await d.exited, 0, d.output());
  assert.equal(existsSync(sock), false, 'socket file left after SIGTERM');
});
