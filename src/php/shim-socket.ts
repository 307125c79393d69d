// The master's end of a pool's private unix socket, the one its prepend shim
// talks to (docs/php-side.md). Never the pool's own FastCGI socket: a script
// asking for fpm_get_status() in a saturated pool would wait behind itself.
// One line in, at most one answer out, then the connection closes:
//   `status`                         → fpm_get_status()'s array (serialize() bytes)
//   `ini\tPARAM\tREASON\tNAME` ...   → PHP_VALUE/PHP_ADMIN_VALUE directives that could not take effect
// The answer comes from the master's event loop at once; a child is never asked.
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface ShimSocketHandlers {
  /** fpm_get_status()'s answer, built now. */
  status(): Buffer;
  /** One `ini` line's fields after the keyword. */
  ini(fields: string[]): void;
}

/** A connection that says nothing, or too much, is dropped. */
const IDLE_MS = 5000;
const MAX_REQUEST = 16 * 1024;

export class ShimSocket {
  private readonly server: net.Server;

  /**
   * Listens on `path` before any child starts; `owner`: the pool's uid/gid
   * when the children run as another user (the socket is 0600 for them alone).
   */
  constructor(readonly path: string, private readonly on: ShimSocketHandlers, owner: { uid: number; gid: number } | null) {
    try { fs.unlinkSync(path); } catch { /* none */ }
    this.server = net.createServer((c) => this.serve(c));
    this.server.on('error', () => { /* a failed accept: the script sees a failed connect */ });
    // A unix socket path is bound synchronously: the file exists when listen() returns.
    this.server.listen(path);
    fs.chmodSync(path, 0o600);
    if (owner !== null) fs.chownSync(path, owner.uid, owner.gid);
  }

  private serve(c: net.Socket): void {
    let got = '';
    c.setTimeout(IDLE_MS, () => c.destroy());
    c.on('error', () => c.destroy());
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      got += d;
      if (got.length > MAX_REQUEST) { c.destroy(); return; }
      if (got.startsWith('status\n')) {
        c.removeAllListeners('data');
        c.end(this.on.status());
      }
    });
    c.on('end', () => {
      for (const line of got.split('\n')) {
        const f = line.split('\t');
        if (f[0] === 'ini' && f.length >= 4) this.on.ini(f.slice(1));
      }
      c.end();
    });
  }

  close(): void {
    this.server.close();
    try { fs.unlinkSync(this.path); } catch { /* gone */ }
  }
}
