// The master's V8 settings. A FastCGI relay allocates only short-lived
// buffers, so V8's default 16 MiB semi-spaces (up to ~50 MiB of young
// generation under load) buy nothing but resident memory; 1 MiB halves the
// master's footprint at no measurable cost (docs/request-path.md). V8 reads
// these flags only at start-up, and bin/tsfpm must stay `#!/usr/bin/env node`,
// so the master re-execs itself in place: same pid, same argv, same environment
// in the same order (PHP scripts can observe it).
import type { Posix } from 'posix-node';

export const MASTER_V8_FLAGS = ['--max-semi-space-size=1'];

/** Replaces this process with one that has MASTER_V8_FLAGS; returns only if it cannot. */
export function reexecWithMasterFlags(): void {
  if (process.env.TSFPM_NO_REEXEC === '1') return;
  if (MASTER_V8_FLAGS.every((f) => process.execArgv.includes(f))) return;
  let posix: Posix;
  try {
    posix = (require('posix-node') as { default: Posix }).default;
  } catch {
    return;
  }
  if (typeof posix._execve !== 'function') return;
  const envp = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  const argv = [process.execPath, ...MASTER_V8_FLAGS, ...process.execArgv, ...process.argv.slice(1)];
  try {
    posix._execve(process.execPath, argv, envp);
  } catch {
    // Keep running with V8's defaults.
  }
}
