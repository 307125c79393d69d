// Starts the real bin/tsfpm in the foreground on a generated php-fpm.conf.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { descendants } from './procs.js';
import { isRunning, spawnService } from './service.js';
import { makeTempDir } from './tmp.js';

/** The repo root: the first directory above this file with a package.json (dist/test/helpers -> ../../..). */
function findRepoRoot(): string {
  for (let d = __dirname; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}

export const REPO_ROOT = findRepoRoot();
export const TSFPM_BIN = join(REPO_ROOT, 'bin', 'tsfpm');
export const READY_RE = /ready to handle connections/;

const START_MS = 10_000;
const KILL_AFTER_MS = 5000;

export interface TsfpmOptions {
  /** php-fpm.conf text; every `{dir}` is replaced by the daemon's temp dir. */
  conf: string;
  /** Appended after `-F -R -O -y <conf>`. */
  args?: string[];
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string>;
  /** Resolve as soon as the process is spawned instead of waiting for READY_RE (for failure tests). */
  noWait?: boolean;
  /**
   * Leave out -O, so that the log goes to error_log (the conf's `error_log =`
   * line): NOTICEs before `fpm is running` also reach stderr, as php-fpm's do;
   * readiness is then awaited in that file.
   */
  logToFile?: boolean;
}

export interface Tsfpm {
  proc: ChildProcess;
  confPath: string;
  dir: string;
  /** Everything written to stdout and stderr so far, interleaved in arrival order. */
  output(): string;
  /** Resolves when output().slice(from) matches re; rejects on timeout or exit, with the output. */
  waitForOutput(re: RegExp, ms: number, from?: number): Promise<void>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL (with the whole tree) after 5 s; resolves with the exit code (null if killed). */
  stop(): Promise<number | null>;
  /** Resolves with the exit code once the process has exited on its own. */
  exited: Promise<number | null>;
}

/** Exit hook: TERM the master so it can clean up, KILL its PHP children so none outlive the test file. */
function killTree(p: ChildProcess): void {
  if (p.pid === undefined) return;
  const tree = descendants(p.pid);
  p.kill('SIGTERM');
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function startTsfpm(opts: TsfpmOptions): Promise<Tsfpm> {
  const dir = makeTempDir('tsfpm-daemon-');
  const confPath = join(dir, 'php-fpm.conf');
  writeFileSync(confPath, opts.conf.replaceAll('{dir}', dir));

  const waiters = new Set<() => void>();
  // A test that forgets stop() must not hang the runner; the exit hook cleans up.
  const svc = spawnService(
    process.execPath,
    [TSFPM_BIN, '-F', '-R', ...(opts.logToFile ? [] : ['-O']), '-y', confPath, ...(opts.args ?? [])],
    { cwd: dir, env: { ...process.env, ...opts.env } },
    killTree,
    () => { for (const w of waiters) w(); },
  );
  const proc = svc.proc;
  const holdLoop = svc.holdLoop;
  let spawnError: Error | undefined;
  // 'close' (not 'exit') so the output is complete when a waiter reports it.
  const exited = new Promise<number | null>((resolve) => {
    proc.once('error', (e) => {
      spawnError = e;
      resolve(null);
    });
    proc.once('close', (code) => resolve(code));
  });
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiters) w();
  });

  const waitForOutput = (re: RegExp, ms: number, from = 0): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (re.test(svc.output().slice(from))) finish();
        else if (done) finish(new Error(`tsfpm exited (${proc.exitCode ?? proc.signalCode ?? spawnError?.message}) before ${re}`));
      };
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (err) reject(new Error(`${err.message}\n--- tsfpm output ---\n${svc.output()}`));
        else resolve();
      };
      const timer = setTimeout(() => finish(new Error(`no ${re} in tsfpm output within ${ms} ms`)), ms);
      waiters.add(check);
      check();
    });

  const stop = async (): Promise<number | null> => {
    if (!done && isRunning(proc)) {
      holdLoop();
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), KILL_AFTER_MS))),
      ]);
      clearTimeout(timer);
      if (timedOut && proc.pid !== undefined) {
        // Collect the tree first: once the master dies its children are re-parented and lost from view.
        for (const pid of [proc.pid, ...descendants(proc.pid)]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    }
    return exited;
  };

  const daemon: Tsfpm = {
    proc,
    confPath,
    dir,
    output: svc.output,
    waitForOutput,
    signal: (sig) => {
      // A test that signals usually awaits `exited` next: keep the runner's loop alive for it.
      if (sig !== 'SIGUSR1' && sig !== 'SIGUSR2') proc.ref();
      if (isRunning(proc)) proc.kill(sig);
    },
    stop,
    exited,
  };
  if (opts.noWait) return daemon;
  try {
    if (opts.logToFile) await waitForLogFile(opts.conf.replaceAll('{dir}', dir), START_MS, () => done);
    else await waitForOutput(READY_RE, START_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  return daemon;
}

/** Waits until the config's error_log file says READY_RE (a -F run without -O logs there, not on stderr). */
async function waitForLogFile(conf: string, ms: number, exited: () => boolean): Promise<void> {
  const m = /^\s*error_log\s*=\s*(\S+)\s*$/m.exec(conf);
  if (!m) throw new Error('logToFile needs an absolute `error_log =` line in the conf');
  const deadline = Date.now() + ms;
  for (;;) {
    if (existsSync(m[1]) && READY_RE.test(readFileSync(m[1], 'utf8'))) return;
    if (exited()) throw new Error(`tsfpm exited before ${READY_RE} in ${m[1]}`);
    if (Date.now() > deadline) throw new Error(`no ${READY_RE} in ${m[1]} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
