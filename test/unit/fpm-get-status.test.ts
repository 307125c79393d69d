// fpm_get_status()'s array as the master sends it (src/status/render-php.ts),
// read back by PHP's own unserialize() and compared with var_export() of what
// php-fpm's fpm_status_export_to_zval builds; and the shim's function itself
// (src/php/fpm-get-status.ts) run by the PHP CLI against a stand-in master.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import type { PoolStatus } from '../../src/status/snapshot.js';
import { renderPhp } from '../../src/status/render-php.js';
import { fpmGetStatusPhp } from '../../src/php/fpm-get-status.js';
import { makeTempDir } from '../helpers/tmp.js';

const S: PoolStatus = {
  pool: 'wéb', processManager: 'dynamic', startTime: 1796076169, startSince: 14, acceptedConn: 8, listenQueue: 2,
  maxListenQueue: 3, listenQueueLen: 4096, idleProcesses: 1, activeProcesses: 1, maxActiveProcesses: 2,
  maxChildrenReached: 1, slowRequests: 0,
  processes: [
    { pid: 15301, state: 'Running', startTime: 1796076169, startSince: 14, requests: 4, requestDuration: 85, requestMethod: 'GET',
      // Raw bytes of a request URI (not UTF-8), a quote and a NUL-free query.
      requestUri: '/a\xff"b.php', queryString: 'x=1&y="2"', contentLength: 0n, user: '-', script: '/var/www/a.php', lastRequestCpu: 0, lastRequestMemory: 0 },
    { pid: 15302, state: 'Idle', startTime: 1796076170, startSince: 13, requests: 3, requestDuration: 1234, requestMethod: 'POST',
      requestUri: '', queryString: '', contentLength: 2n ** 64n - 5n, user: 'bob', script: '-', lastRequestCpu: 12.5, lastRequestMemory: 2097152 },
  ],
};

/** PHP's var_export() of what unserialize() makes of `bytes`. */
function phpExport(bytes: Buffer): string {
  const r = spawnSync('php', ['-n', '-r', 'var_export(unserialize(stream_get_contents(STDIN), ["allowed_classes" => false]));'], { input: bytes });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString('latin1');
}

test('unserialize() gives php-fpm\'s keys, order and types; bytes kept as they are', () => {
  const out = phpExport(renderPhp(S));
  const expected = `array (
  'pool' => 'w\xc3\xa9b',
  'process-manager' => 'dynamic',
  'start-time' => 1796076169,
  'start-since' => 14,
  'accepted-conn' => 8,
  'listen-queue' => 2,
  'max-listen-queue' => 3,
  'listen-queue-len' => 4096,
  'idle-processes' => 1,
  'active-processes' => 1,
  'total-processes' => 2,
  'max-active-processes' => 2,
  'max-children-reached' => 1,
  'slow-requests' => 0,
  'procs' => 
  array (
    0 => 
    array (
      'pid' => 15301,
      'state' => 'Running',
      'start-time' => 1796076169,
      'start-since' => 14,
      'requests' => 4,
      'request-duration' => 85,
      'request-method' => 'GET',
      'request-uri' => '/a\xff"b.php',
      'query-string' => 'x=1&y="2"',
      'request-length' => 0,
      'user' => '-',
      'script' => '/var/www/a.php',
      'last-request-cpu' => 0.0,
      'last-request-memory' => 0,
    ),
    1 => 
    array (
      'pid' => 15302,
      'state' => 'Idle',
      'start-time' => 1796076170,
      'start-since' => 13,
      'requests' => 3,
      'request-duration' => 1234,
      'request-method' => 'POST',
      'request-uri' => '',
      'query-string' => '',
      'request-length' => -5,
      'user' => 'bob',
      'script' => '-',
      'last-request-cpu' => 12.5,
      'last-request-memory' => 2097152,
    ),
  ),
)`;
  assert.equal(out, expected);
});

test('an empty procs list and a float for last-request-cpu even at 0', () => {
  const out = phpExport(renderPhp({ ...S, processes: [] }));
  assert.match(out, /'procs' => \n {2}array \(\n {2}\),\n\)$/);
  const one = phpExport(renderPhp({ ...S, processes: [S.processes[0]] }));
  assert.match(one, /'last-request-cpu' => 0\.0,/);
});

/** Runs a PHP file with the CLI, without blocking the event loop (the stand-in master answers on it). */
function php(file: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('php', ['-n', file]);
    let o = '';
    p.stdout.on('data', (d: Buffer) => { o += d.toString('latin1'); });
    p.stderr.on('data', (d: Buffer) => { o += d.toString('latin1'); });
    p.on('close', () => resolve(o));
  });
}

test('the shim\'s fpm_get_status(): asks the socket, returns the array; false without a master; no arguments', async () => {
  const dir = makeTempDir('tsfpm-fgs-');
  const sock = join(dir, 's.sock');
  const asked: string[] = [];
  const server = net.createServer((c) => {
    c.setEncoding('latin1');
    c.on('data', (d: string) => { asked.push(d); c.end(renderPhp(S)); });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const script = join(dir, 't.php');
  writeFileSync(script, ['<?php', ...fpmGetStatusPhp(sock),
    '$s = fpm_get_status();',
    'if ($s === false) { echo "false\n"; return; }',
    'echo $s["pool"], " ", count($s["procs"]), " ", gettype($s["procs"][1]["last-request-cpu"]), "\n";',
    'try { fpm_get_status(1); } catch (ArgumentCountError $e) { echo $e->getMessage(), "\n"; }',
  ].join('\n'));
  assert.equal(await php(script), 'w\xc3\xa9b 2 double\nfpm_get_status() expects exactly 0 arguments, 1 given\n');
  assert.deepEqual(asked, ['status\n']);
  await new Promise<void>((r) => server.close(() => r()));
  assert.equal(await php(script), 'false\n');
});
