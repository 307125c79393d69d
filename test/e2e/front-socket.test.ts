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

const docroot = makeTempDir('tsfpm-front-');
writeFileSync(join(docroot, 'hello.php'), '<?php echo "Hello, World!\\n";');
writeFileSync(join(docroot, 'big.php'), '<?php for ($i = 0; $i < 16384; $i++) printf("%08d %s\\n", $i, str_repeat("x", 54));');
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
