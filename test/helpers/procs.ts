// Process-tree inspection through /proc (Linux), for tests that count PHP children.
import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid from /proc/<pid>/stat, or null if the process is gone. */
function ppidOf(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The comm field is in parentheses and may itself contain spaces or ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** pid -> ppid for every process visible now. */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = ppidOf(pid);
    if (ppid !== null) table.set(pid, ppid);
  }
  return table;
}

/** Direct children of pid, ascending. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const [p, pp] of processTable()) if (pp === pid) out.push(p);
  return out.sort((a, b) => a - b);
}

/** Every process below pid (children, grandchildren, ...), ascending. */
export function descendants(pid: number): number[] {
  const table = processTable();
  const byParent = new Map<number, number[]>();
  for (const [p, pp] of table) {
    const list = byParent.get(pp);
    if (list) list.push(p);
    else byParent.set(pp, [p]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const kids = byParent.get(queue.shift() as number) ?? [];
    out.push(...kids);
    queue.push(...kids);
  }
  return out.sort((a, b) => a - b);
}

/** True if pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** T without its falsy members: what waitFor() resolves with. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Calls fn every stepMs until it returns a truthy value (which is returned);
 * rejects after ms with the last value or error in the message.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, ms = 5000, stepMs = 50): Promise<Truthy<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Truthy<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const what = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`waitFor: condition not met within ${ms} ms (last: ${what})`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * The php-cgi processes that serve requests below a tsfpm master: php-cgi
 * descendants with no php-cgi children of their own. That counts standalone
 * children and the workers of a shared php-cgi parent alike. Recognised by
 * command name (from the exec'd file): their argv[0], hence cmdline and
 * `ps -o args`, is the pool's title `php-fpm: pool NAME`.
 */
export function phpWorkers(masterPid: number): number[] {
  const php = descendants(masterPid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('php-cgi') && isAlive(pid);
    } catch {
      return false;
    }
  });
  return php.filter((pid) => !childPids(pid).some((c) => php.includes(c)));
}

/** Process group id from /proc/<pid>/stat, or null if the process is gone. */
export function pgidOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    return Number.isInteger(pgid) ? pgid : null;
  } catch {
    return null;
  }
}

/** Live (non-zombie) members of process group pgid, ascending. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pgidOf(pid) === pgid && isAlive(pid)) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

/** /proc/<pid>/cmdline with NULs as spaces ('' if gone); what `ps -o args` shows. */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Parent pid of a live process, null if gone. */
export function parentOf(pid: number): number | null {
  return ppidOf(pid);
}
