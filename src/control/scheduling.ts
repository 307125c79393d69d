// The master and its php-cgi children run under SCHED_BATCH (sched(7)), the
// kernel's policy for non-interactive throughput work: a task woken by a
// socket write no longer preempts the writer at once. Every request crosses
// the relay twice, and under SCHED_OTHER each write to php-cgi or nginx woke
// the reader and switched away from the master mid-batch; with the whole tree
// batched, compare.sh measured hello +12-18 % and big +10-20 % (docs/request-path.md).
// Children inherit the policy through fork and exec. TSFPM_SCHED=other keeps
// the policy the master was started with; a master started under another
// policy than SCHED_OTHER (an operator's chrt) is left as it is.
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';

const CHRT = ['/usr/bin/chrt', '/bin/chrt'].find((p) => fs.existsSync(p)) ?? null;
const SCHED_OTHER = 0;

/** The scheduling policy number of a process, from /proc/PID/stat (field 41); null if unreadable. */
export function schedulingPolicy(pid: number | 'self' = 'self'): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // Fields after the command name, which is in parentheses and may hold spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const policy = Number(rest[41 - 3]);
  return Number.isInteger(policy) ? policy : null;
}

export type SchedulingOutcome = 'batch' | 'kept' | 'unavailable';

/** Puts every thread of this process under SCHED_BATCH unless told or found otherwise. */
export function enterBatchScheduling(env: NodeJS.ProcessEnv = process.env): SchedulingOutcome {
  if (env.TSFPM_SCHED === 'other') return 'kept';
  if (schedulingPolicy() !== SCHED_OTHER) return 'kept';
  if (CHRT === null) return 'unavailable';
  const r = spawnSync(CHRT, ['--batch', '--all-tasks', '--pid', '0', String(process.pid)], { stdio: 'ignore' });
  return r.status === 0 ? 'batch' : 'unavailable';
}
