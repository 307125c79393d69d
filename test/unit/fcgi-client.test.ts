// The test client against a real php-cgi (Debian php8.2-cgi) in FastCGI mode.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, fcgiRequest, rawExchange, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { RecordType, decodeParams, encodeParams, encodeRecord } from '../../src/fastcgi/index.js';
import { makeTempDir } from '../helpers/tmp.js';

let dir = '';
let child: ChildProcess | undefined;
let target: Target = { host: '127.0.0.1', port: 0 };

/** The fd of a listening net.Server (no public API; used to hand the socket to php-cgi). */
function listenFd(server: net.Server): number {
  const handle = (server as unknown as { _handle: { fd: number } | null })._handle;
  if (handle === null || handle.fd < 0) throw new Error('listening server has no fd');
  return handle.fd;
}

before(async () => {
  dir = makeTempDir('tsfpm-fcgi-client-');
  fs.writeFileSync(path.join(dir, 'hello.php'), '<?php echo "hello ", getmypid();');
  fs.writeFileSync(
    path.join(dir, 'echo.php'),
    '<?php header("X-Method: " . $_SERVER["REQUEST_METHOD"]); echo strlen(file_get_contents("php://input")), " ", $_GET["q"] ?? "";',
  );
  // php-cgi is in FastCGI mode when fd 0 is a listening socket: the way tsfpm starts
  // children (the socket, not php-cgi, decides permissions).
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  target = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  child = spawn('php-cgi', [], {
    stdio: [listenFd(server), 'ignore', 'inherit'],
    env: { PHP_FCGI_MAX_REQUESTS: '0' },
  });
  // The child holds its own copy; closing ours leaves php-cgi the only acceptor.
  server.close();
});

after(() => {
  child?.kill('SIGKILL');
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

test('hello through php-cgi', async () => {
  const res = await fcgiRequest(target, scriptParams(dir, '/hello.php'));
  assert.equal(res.status, 200);
  assert.equal(res.appStatus, 0);
  assert.equal(res.protocolStatus, 0);
  assert.match(res.headers['content-type'] ?? '', /^text\/html/);
  assert.match(res.body.toString(), /^hello \d+$/);
  assert.equal(res.stderr, '');
});

test('missing script: php-cgi answers 404 "No input file specified."', async () => {
  const res = await fcgiRequest(target, scriptParams(dir, '/nope.php'));
  assert.equal(res.status, 404);
  assert.equal(res.body.toString(), 'No input file specified.\n');
});

test('POST body and query string reach the script', async () => {
  const body = Buffer.alloc(200_000, 0x61);
  const res = await fcgiRequest(
    target,
    scriptParams(dir, '/echo.php?q=yes', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' }),
    { stdin: body },
  );
  assert.equal(res.headers['x-method'], 'POST');
  assert.equal(res.body.toString(), '200000 yes');
});

test('FCGI_KEEP_CONN: three requests on one connection, same php-cgi process', async () => {
  const sock = await connect(target);
  let closed = false;
  sock.on('close', () => (closed = true));
  const pids: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const res = await fcgiRequest(target, scriptParams(dir, '/hello.php'), { socket: sock, keepConn: true, requestId: i });
    assert.equal(res.status, 200);
    pids.push(res.body.toString().split(' ')[1]!);
    assert.equal(closed, false, `connection still open after request ${i}`);
  }
  assert.equal(new Set(pids).size, 1);
  sock.destroy();
});

test('without FCGI_KEEP_CONN php-cgi closes after END_REQUEST', async () => {
  const sock = await connect(target);
  // php-cgi half-closes (shutdown SHUT_WR) and drains; Node answers the FIN and closes.
  const ended = once(sock, 'end');
  await fcgiRequest(target, scriptParams(dir, '/hello.php'), { socket: sock });
  await ended;
  sock.destroy();
});

test('rawExchange: GET_VALUES answered with id 0, connection kept; a version-0 record closes', async () => {
  const ask = encodeParams([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', ''], ['BOGUS', '']]);
  const { data, closed } = await rawExchange(target, encodeRecord(RecordType.GET_VALUES, 5, ask), 300);
  assert.equal(closed, false, 'php 8.2 keeps the connection after GET_VALUES (bug #76922)');
  assert.equal(data[1], RecordType.GET_VALUES_RESULT);
  assert.equal(data.readUInt16BE(2), 0);
  // php-cgi (unlike php-fpm) also knows MAX_CONNS/MAX_REQS; order is reversed.
  assert.deepEqual(decodeParams(data.subarray(8, 8 + data.readUInt16BE(4))), [
    ['FCGI_MPXS_CONNS', '0'],
    ['FCGI_MAX_REQS', '1'],
    ['FCGI_MAX_CONNS', '1'],
  ]);
  const bad = encodeRecord(RecordType.BEGIN_REQUEST, 1, Buffer.alloc(8));
  bad[0] = 0;
  const res = await rawExchange(target, bad, 2000);
  assert.deepEqual(res, { data: Buffer.alloc(0), closed: true });
});

test('unix socket target (php-cgi -b PATH)', async () => {
  const sockPath = path.join(dir, 'php.sock');
  const bound = spawn('php-cgi', ['-b', sockPath], { stdio: ['ignore', 'ignore', 'inherit'], env: { PHP_FCGI_MAX_REQUESTS: '0' } });
  try {
    for (let i = 0; i < 100 && !fs.existsSync(sockPath); i++) await new Promise((r) => setTimeout(r, 20));
    const res = await fcgiRequest({ path: sockPath }, scriptParams(dir, '/hello.php'));
    assert.match(res.body.toString(), /^hello \d+$/);
  } finally {
    bound.kill('SIGKILL');
  }
});
