// A long-running server (Apache, Caddy, php-fpm) started in the foreground by a
// test: spawned through spawnService, polled until it is ready, stopped by an
// escalating list of signals. On a failed start the error carries its output and logs.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendants } from './procs.js';
import { isRunning, spawnService } from './service.js';

export interface ForegroundOptions {
  /** For error messages ('apache2', 'caddy', ...). */
  name: string;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves true once the server serves (a port answers, a line was logged). */
  ready: (output: string) => Promise<boolean> | boolean;
  /** Log files whose contents are appended to a start failure. */
  logs?: string[];
  /** Signal, then how long to wait for the exit before the next; SIGKILL (with the process tree) comes last. */
  stopSignals: Array<[NodeJS.Signals, number]>;
  startMs?: number;
}

export interface Foreground {
  proc: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Stops the server (no-op once it has exited); resolves when it is gone. */
  stop(): Promise<void>;
}

export function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Exit hook (it cannot wait): TERM the master, KILL the children it might leave behind. */
function termTree(p: ChildProcess): void {
  if (p.pid === undefined) return;
  const tree = descendants(p.pid);
  p.kill('SIGTERM');
  killAll(tree);
}

export async function startForeground(opts: ForegroundOptions): Promise<Foreground> {
  const startMs = opts.startMs ?? 10_000;
  const svc = spawnService(opts.cmd, opts.args, { cwd: opts.cwd, env: opts.env }, termTree);
  const proc = svc.proc;
  let spawnError: Error | undefined;
  proc.once('error', (e) => (spawnError = e));
  const exited = new Promise<void>((resolve) => {
    if (!isRunning(proc)) resolve();
    else {
      proc.once('exit', () => resolve());
      proc.once('error', () => resolve());
    }
  });

  const stop = async (): Promise<void> => {
    if (!isRunning(proc) || spawnError !== undefined) return;
    svc.holdLoop();
    for (const [sig, ms] of opts.stopSignals) {
      proc.kill(sig);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
      ]);
      clearTimeout(timer);
      if (!timedOut) return;
    }
    // Collect the tree first: once the master dies its children are re-parented and lost from view.
    if (proc.pid !== undefined) killAll([proc.pid, ...descendants(proc.pid)]);
    await exited;
  };

  const deadline = Date.now() + startMs;
  for (;;) {
    const gone = spawnError !== undefined || !isRunning(proc);
    if (gone || Date.now() > deadline) {
      await stop();
      const why = spawnError ? spawnError.message : gone ? `exited (${proc.exitCode ?? proc.signalCode})` : `not ready within ${startMs} ms`;
      const logs = (opts.logs ?? []).map((f) => `--- ${f} ---\n${readOr(f)}`).join('\n');
      throw new Error(`${opts.name} ${why}\n--- output ---\n${svc.output()}\n${logs}`);
    }
    if (await opts.ready(svc.output())) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  return { proc, output: svc.output, stop };
}
