// A long-running process started by a test (tsfpm, nginx): its output is
// collected, it never keeps the runner alive (unref), and whatever is still
// running when the test process exits gets `atExit` (a signal, a tree kill).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

const live = new Map<ChildProcess, (p: ChildProcess) => void>();
let hooked = false;

export function isRunning(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

export interface Service {
  proc: ChildProcess;
  /** stdout and stderr so far, interleaved in arrival order. */
  output(): string;
  /** Undoes the unref() while a caller awaits the exit. */
  holdLoop(): void;
}

export function spawnService(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
  atExit: (p: ChildProcess) => void,
  onData: () => void = () => { /* nobody waiting */ },
): Service {
  const proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.set(proc, atExit);
  proc.once('exit', () => live.delete(proc));
  if (!hooked) {
    hooked = true;
    process.on('exit', () => { for (const [p, f] of live) if (isRunning(p)) f(p); });
  }
  proc.unref();
  let out = '';
  for (const s of [proc.stdout, proc.stderr]) {
    s?.setEncoding('utf8');
    s?.on('data', (d: string) => { out += d; onData(); });
    (s as Socket | null)?.unref();
  }
  return {
    proc,
    output: () => out,
    holdLoop: () => {
      proc.ref();
      for (const s of [proc.stdout, proc.stderr]) (s as Socket | null)?.ref();
    },
  };
}
