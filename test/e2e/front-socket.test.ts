// Both web-server socket implementations (src/net/front-socket.ts): the raw
// libuv handle (default) and the net.Socket fallback (TSFPM_RAW_SOCKETS=0),
// over a unix socket and TCP: small and large replies, request bodies,
// keep-alive sequences and a client that leaves mid-reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsfpm } from '../helpers/daemon.js';
import { connect, fcgiRequest, scriptParams, type Target } from '../helpers/fcgi-client.js';
import { freePort, makeTempDir } from '../helpers/tmp.js';
import { prng } from '../helpers/prng.js';

function letters(seed: number): string {
  let out = '';
  for (let i = 0; i < 16384; i++) out += `${String(i).padStart(8, '0')} ${String.fromCharCode(97 + ((i + seed) % 26)).repeat(54)}\n`;
  return out;
}

const docroot = makeTempDir('tsfpm-front-');
writeFileSync(join(docroot, 'hello.php'), '<?php echo "Hello, World!\\n";');
writeFileSync(join(docroot, 'big.php'), '<?php for ($i = 0; $i < 16384; $i++) printf("%08d %s\\n", $i, str_repeat("x", 54));');
writeFileSync(join(docroot, 'letters.php'), '<?php $s = (int)$_GET["s"]; for ($i = 0; $i < 16384; $i++) printf("%08d %s\\n", $i, str_repeat(chr(97 + ($i + $s) % 26), 54));');
writeFileSync(join(docroot, 'echo.php'), '<?php $b = file_get_contents("php://input"); echo strlen($b), " ", md5($b);');
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

for (const raw of ['1', '0']) {
  for (const kind of ['unix', 'tcp'] as const) {
    test(`front socket raw=${raw} over ${kind}: replies, bodies, keep-alive, early hang-up`, async () => {
      const port = await freePort();
      const listen = kind === 'unix' ? '{dir}/www.sock' : `127.0.0.1:${port}`;
      const d = await startTsfpm({
        conf: `[global]\nerror_log = {dir}/error.log\n[www]\nlisten = ${listen}\npm = static\npm.max_children = 2\n`,
        env: { TSFPM_RAW_SOCKETS: raw },
      });
      const target: Target = kind === 'unix' ? { path: join(d.dir, 'www.sock') } : { host: '127.0.0.1', port };
      try {
        const hello = await fcgiRequest(target, scriptParams(docroot, '/hello.php'));
        assert.equal(hello.body.toString(), 'Hello, World!\n');

        const big = await fcgiRequest(target, scriptParams(docroot, '/big.php'), { timeoutMs: 10000 });
        assert.equal(big.body.length, 16384 * 64);
        assert.equal(big.body.subarray(0, 9).toString(), '00000000 ');

        const body = Buffer.alloc(300 * 1024, 7);
        const echo = await fcgiRequest(target, scriptParams(docroot, '/echo.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }), { stdin: body });
        assert.equal(echo.body.toString(), `${body.length} ${md5(body)}`);

        // Three requests on one kept-alive connection.
        const sock = await connect(target);
        for (let i = 1; i <= 3; i++) {
          const r = await fcgiRequest(target, scriptParams(docroot, '/hello.php'), { socket: sock, keepConn: true, requestId: i });
          assert.equal(r.body.toString(), 'Hello, World!\n', `request ${i} on a kept-alive connection`);
        }
        sock.destroy();

        // A client that leaves in the middle of a 1 MiB reply costs nothing else.
        const early = await connect(target);
        early.on('error', () => { /* reset is fine */ });
        const p = fcgiRequest(target, scriptParams(docroot, '/big.php'), { socket: early, timeoutMs: 3000 }).catch(() => null);
        await new Promise((r) => setTimeout(r, 20));
        early.destroy();
        await p;
        for (let i = 0; i < 4; i++) {
          const r = await fcgiRequest(target, scriptParams(docroot, '/hello.php'));
          assert.equal(r.body.toString(), 'Hello, World!\n', d.output());
        }
      } finally {
        assert.equal(await d.stop(), 0, d.output());
      }
    });
  }
}

// Raw sockets read into buffers that are reused (src/net/front-socket.ts): a
// body queued for a busy pool or a reply the web server reads slowly must keep
// its bytes while the same buffers serve other reads.
for (const raw of ['1', '0']) {
  test(`front socket raw=${raw}: 16 clients on 2 children, queued bodies and slow readers stay intact`, async () => {
    const d = await startTsfpm({
      conf: '[global]\nerror_log = {dir}/error.log\n[www]\nlisten = {dir}/www.sock\npm = static\npm.max_children = 2\n',
      env: { TSFPM_RAW_SOCKETS: raw },
    });
    const target: Target = { path: join(d.dir, 'www.sock') };
    const rand = prng(42);
    try {
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < 12; i++) {
        const body = Buffer.alloc(16 * 1024 + Math.floor(rand() * 300 * 1024));
        for (let j = 0; j < body.length; j++) body[j] = Math.floor(rand() * 256);
        jobs.push(fcgiRequest(target, scriptParams(docroot, '/echo.php', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }), { stdin: body, timeoutMs: 20000 })
          .then((r) => assert.equal(r.body.toString(), `${body.length} ${md5(body)}`, `upload ${i}`)));
      }
      for (let seed = 0; seed < 4; seed++) {
        jobs.push((async () => {
          const sock = await connect(target);
          const p = fcgiRequest(target, scriptParams(docroot, '/letters.php', { QUERY_STRING: `s=${seed}` }), { socket: sock, timeoutMs: 20000 });
          sock.pause(); // a slow web server: tsfpm's writes back up
          setTimeout(() => sock.resume(), 300);
          const r = await p;
          sock.destroy();
          assert.equal(r.body.length, 16384 * 64, `slow reader ${seed}`);
          assert.equal(md5(r.body), md5(letters(seed)), `slow reader ${seed}: reply bytes changed on the way`);
        })());
      }
      await Promise.all(jobs);
    } finally {
      assert.equal(await d.stop(), 0, d.output());
    }
  });
}
