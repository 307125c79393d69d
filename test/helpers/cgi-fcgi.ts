// Runs libfcgi's real `cgi-fcgi` client: an independent FastCGI implementation to test against.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface CgiFcgiResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 if it was killed by a signal. */
  code: number;
}

/** Absolute path, because the child's environment (hence PATH) is exactly the FastCGI params. */
function findCgiFcgi(): string {
  for (const d of (process.env['PATH'] ?? '/usr/bin').split(delimiter)) {
    const p = join(d, 'cgi-fcgi');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return '/usr/bin/cgi-fcgi';
}

/**
 * `cgi-fcgi -bind -connect <connect>` ('127.0.0.1:9000' or a socket path).
 * cgi-fcgi sends its whole environment as FastCGI params, so `env` is passed alone
 * (e.g. { SCRIPT_FILENAME, REQUEST_METHOD: 'GET' }); stdin is the request body
 * (set CONTENT_LENGTH to match).
 */
export function cgiFcgi(
  connect: string,
  env: Record<string, string>,
  stdin?: Buffer,
  timeoutMs = 10_000,
): Promise<CgiFcgiResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(findCgiFcgi(), ['-bind', '-connect', connect], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`cgi-fcgi ${connect}: no exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    // cgi-fcgi may exit before reading stdin (e.g. connect refused): ignore EPIPE.
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(stdin);
  });
}
