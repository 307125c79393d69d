// Temp directories and loopback ports for end-to-end tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
let hooked = false;

/** Removes every directory made by makeTempDir(); TSFPM_KEEP_TMP=1 keeps them for post-mortems. */
function removeAll(): void {
  if (process.env['TSFPM_KEEP_TMP'] === '1') return;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/** A fresh directory under the OS temp dir, removed when the process exits. */
export function makeTempDir(prefix = 'tsfpm-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAll);
  }
  return dir;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no TCP address'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/** True once something accepts a TCP connection on host:port. */
export function portAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Polls until host:port accepts connections; rejects after ms. */
export async function waitForPort(port: number, ms = 5000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await portAnswers(port, host)) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
