// Starts php-cgi with a listening socket as fd 0: php-cgi then speaks FastCGI
// on it with no socket of its own (unlike `php-cgi -b`, which makes its socket
// 0777). The socket is bound under a temporary name and renamed, because
// libuv unlinks the name it bound when the master closes its copy.
import * as net from 'node:net';
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import type { SpawnPlan } from './spawn-plan.js';

export interface LaunchOptions {
  cwd?: string;
  catchOutput: boolean;
  extraEnv?: Record<string, string>;
  uid?: number;     // only when setpriv is missing (then supplementary groups are lost)
  gid?: number;
}

/** Binds `socketPath` and execs php-cgi on it; the master keeps no copy of the socket. */
export function launchPhpCgi(socketPath: string, plan: SpawnPlan, opts: LaunchOptions): ChildProcess {
  const tmp = `${socketPath}.tmp`;
  try { fs.unlinkSync(tmp); } catch { /* not there */ }
  const srv = net.createServer();
  srv.listen({ path: tmp, backlog: 64 }); // a pipe binds synchronously
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  fs.renameSync(tmp, socketPath);
  const out = opts.catchOutput ? 'pipe' : 'ignore';
  try {
    return spawn(plan.command, plan.args, {
      stdio: [fd, out, out],
      env: opts.extraEnv ? { ...plan.env, ...opts.extraEnv } : plan.env,
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
    });
  } finally {
    srv.close();
  }
}

/** True while a process with this pid exists (and is not a zombie we could see). */
export function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
