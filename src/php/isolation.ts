// Per-pool isolation of php-cgi children, as php-fpm's fpm_unix_init_child()
// applies it to a forked worker: rlimit_files, rlimit_core, chroot, chdir,
// then the user, group and the user's supplementary groups. php-cgi is exec'd,
// so every step is one more exec in front of it (spawn-time cost only, none
// per request):
//
//   unshare --mount … perl JAIL …    chroot, chdir (jail.ts; only with `chroot`)
//   prlimit --nofile=N:N --core=C:C  only with rlimit_files / rlimit_core
//   setpriv --pdeathsig TERM [--reuid --regid --init-groups|--groups]
//   perl (process title) → php-cgi
//
// process.priority is set by the master on the new pid (Pool.applyPriority).
// process.dumpable = no (the default): a php-fpm worker that switched to the
// pool's user is not dumpable (the kernel clears the flag on setuid), so the
// pool's user can neither ptrace it, read its /proc/PID/environ or mem, nor
// get a core dump; an exec resets the flag to dumpable, except when the
// exec'd file is not readable by the new user. Such a pool's children
// therefore exec a copy of php-cgi that is executable but not readable for
// them (0711, in the run directory; ~5.5 MB once per generation); with
// process.dumpable = yes they exec php-cgi itself, dumpable as php-fpm makes them.
// A limit that cannot be set is left out and the child says so into its
// stderr as php-fpm's worker does (seen with catch_workers_output); php-fpm's
// worker carries on without it too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import type { PoolConfig } from '../config/types.js';
import { buildSpawnPlan, wrapWithSetpriv, type Credentials, type InterpreterOptions, type SpawnPlan } from './spawn-plan.js';
import { JAIL_OWN, iniSnapshot, jailedPlan, listEntries, makeSkeleton, planJail, type Bind } from './jail.js';
import { PERL } from './proc-title.js';

const find = (...paths: string[]): string | null => paths.find((p) => fs.existsSync(p)) ?? null;
export const SETPRIV = find('/usr/bin/setpriv', '/bin/setpriv');
const PRLIMIT = find('/usr/bin/prlimit', '/bin/prlimit');
const UNSHARE = find('/usr/bin/unshare', '/bin/unshare');

// errno of the messages prlimit(1) prints (strerror), for php-fpm's "%s (%d)".
const ERRNO: Record<string, number> = { 'Operation not permitted': 1, 'Invalid argument': 22 };

export interface Limit { flag: '--nofile' | '--core'; value: string; directive: 'rlimit_files' | 'rlimit_core'; resource: string; shown: number }

/** Pure: the pool's rlimits as prlimit(1) options (0: not set, the system's). */
export function poolLimits(cfg: Pick<PoolConfig, 'rlimitFiles' | 'rlimitCore'>): Limit[] {
  const out: Limit[] = [];
  if (cfg.rlimitFiles !== 0) {
    out.push({ flag: '--nofile', value: `${cfg.rlimitFiles}:${cfg.rlimitFiles}`, directive: 'rlimit_files', resource: 'RLIMIT_NOFILE', shown: cfg.rlimitFiles });
  }
  if (cfg.rlimitCore !== 0) {
    const v = cfg.rlimitCore === -1 ? 'unlimited' : String(cfg.rlimitCore);
    out.push({ flag: '--core', value: `${v}:${v}`, directive: 'rlimit_core', resource: 'RLIMIT_CORE', shown: cfg.rlimitCore });
  }
  return out;
}

/** php-fpm's message for a limit setrlimit() refused (`pool` null: the master's, from [global]). */
export function limitError(pool: string | null, l: Limit, reason: string): string {
  const errno = ERRNO[reason];
  const sys = errno === undefined ? reason : `${reason} (${errno})`;
  return `${pool === null ? '' : `[pool ${pool}] `}failed to set ${l.directive} for this pool. Please check your system limits or decrease ${l.directive}. setrlimit(${l.resource}, ${l.shown}): ${sys}`;
}

/**
 * Tries the limit on a throw-away process in the children's context (the
 * master's credentials): null when it can be set, else strerror's text.
 */
function tryLimit(l: Limit, pid?: number): string | null {
  if (PRLIMIT === null) return 'prlimit (util-linux) not found';
  const args = pid === undefined ? [`${l.flag}=${l.value}`, '--', 'true'] : ['--pid', String(pid), `${l.flag}=${l.value}`];
  const r = spawnSync(PRLIMIT, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  if (r.status === 0) return null;
  const msg = (r.stderr ?? '').trim().split('\n')[0] ?? '';
  return msg.slice(msg.lastIndexOf(': ') + 2) || `prlimit exited with ${r.status ?? r.signal}`;
}

/**
 * [global] rlimit_files / rlimit_core: the master's own limits, which the
 * children inherit (php-fpm's fpm_unix_init_main(): a failure stops the
 * start). Returns php-fpm's error line, or null.
 */
export function applyMasterLimits(g: { rlimitFiles: number; rlimitCore: number }): string | null {
  for (const l of poolLimits(g)) {
    const why = tryLimit(l, process.pid);
    if (why !== null) return limitError(null, l, why);
  }
  return null;
}

/** [global] process.priority: the master's nice value (all its threads), inherited by children it spawns. */
export function applyMasterPriority(priority: number): Error | null {
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) os.setPriority(Number(tid), priority);
    return null;
  } catch (e) {
    return e as Error;
  }
}

/**
 * apparmor_hat: php-fpm's worker changes to `<profile>//<hat>` after fork;
 * an exec'd php-cgi cannot, and running the pool unconfined instead would be
 * silent, so the pool is refused at start. Where AppArmor is not there at all
 * php-fpm's workers fail with the first message (each of them, in a loop).
 */
export function apparmorRefusal(cfg: Pick<PoolConfig, 'name' | 'apparmorHat'>, readCon: () => string = readApparmorCon): string | null {
  if (cfg.apparmorHat === null || cfg.apparmorHat === '') return null;
  const P = `[pool ${cfg.name}]`;
  let con: string;
  try {
    con = readCon();
  } catch {
    return `${P} failed to query apparmor confinement. Please check if "/proc/*/attr/current" is read and writeable.`;
  }
  return `${P} apparmor_hat = '${cfg.apparmorHat}' cannot be applied: php-fpm's workers change to '${con}//${cfg.apparmorHat}' after fork, and tsfpm's php-cgi children are exec'd. ` +
    'Refusing to run the pool unconfined: remove apparmor_hat, or give php-cgi an AppArmor profile of its own';
}

function readApparmorCon(): string {
  for (const f of ['/proc/self/attr/apparmor/current', '/proc/self/attr/current']) {
    try {
      const s = fs.readFileSync(f, 'utf8').replace(/\0/g, '').trim();
      if (s !== '') return s.replace(/ \((enforce|complain|unconfined|kill)\)$/, '');
    } catch { /* next */ }
  }
  throw new Error('no AppArmor');
}

/**
 * The user's supplementary groups, resolved on the host (inside a jail
 * setpriv --init-groups would look the name up in the jail's /etc/group):
 * the pool's gid first, as initgroups(user, gid) gives them.
 */
export function groupsOf(creds: Credentials): number[] {
  const out = [creds.gid];
  if (creds.name === undefined) return out;
  try {
    const line = execFileSync('getent', ['initgroups', creds.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const f of line.trim().split(/\s+/).slice(1)) {
      const g = Number(f);
      if (Number.isInteger(g) && !out.includes(g)) out.push(g);
    }
  } catch { /* unknown to NSS: the gid alone */ }
  return out;
}

export interface IsolationInput {
  cfg: PoolConfig;
  isRoot: boolean;
  /** The generation's run directory (the skeleton of a jail goes there). */
  rundir: string;
  php: InterpreterOptions;
  creds: Credentials | null;
  userEnv: { USER?: string; HOME?: string };
}

export interface Isolation {
  /** The jail's root on the host, or null. */
  chroot: string | null;
  /** php-cgi options for the children (under chroot: the php.ini snapshot inside the jail). */
  childPhp: InterpreterOptions;
  /** Where tsfpm's per-pool PHP files go on the host, and how the children name them. */
  ownDir: string;
  ownRef: string;
  /** cwd for spawn() (outside a jail: chdir; inside, the jailer changes directory). */
  cwd: string | undefined;
  /** What a php-fpm worker of this pool writes into its stderr as it starts. */
  startLines: string[];
  /** Lines for the master's log (level, text). */
  notes: Array<{ level: 'warning' | 'debug'; text: string }>;
  /** The chain in front of php-cgi (after the process title). */
  wrap(plan: SpawnPlan): SpawnPlan;
}

/** Works out a pool's isolation at start; throws only on a broken run directory. */
export function prepareIsolation(i: IsolationInput): Isolation {
  const { cfg } = i;
  const notes: Isolation['notes'] = [];
  const startLines: string[] = [];
  const limits: Limit[] = [];
  for (const l of poolLimits(cfg)) {
    const why = tryLimit(l);
    if (why === null) limits.push(l);
    else startLines.push(`ERROR: ${limitError(cfg.name, l, why)}`);
  }
  const chroot = i.isRoot && cfg.chroot !== null && cfg.chroot !== '' ? cfg.chroot : null;
  let childPhp = i.php;
  let ownDir = i.rundir;
  let ownRef = i.rundir;
  let binds: Bind[] = [];
  let skel = '';
  let creds = i.creds;
  // The copy for non-dumpable children, in the directory the children see (the jail's own one).
  const nonDumpable = i.isRoot && creds !== null && creds.uid !== 0 && !cfg.processDumpable;
  if (chroot !== null) {
    if (UNSHARE === null || PERL === null) throw new Error(`[pool ${cfg.name}] chroot needs unshare (util-linux) and perl, not found`);
    skel = path.join(i.rundir, `${cfg.name}.root`);
    const plan = planJail(chroot, skel, listEntries(chroot), listEntries('/', ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']));
    makeSkeleton(skel, plan);
    for (const s of plan.skipped) notes.push({ level: 'warning', text: `[pool ${cfg.name}] '${path.join(chroot, s)}' is not a directory, file or symlink: not in the children's jail` });
    binds = plan.binds;
    ownDir = path.join(skel, JAIL_OWN);
    ownRef = JAIL_OWN;
    // opcache creates (and unlinks at once) a lock file at start: a place the pool's user may write.
    const tmp = path.join(ownDir, 'tmp');
    fs.mkdirSync(tmp, { mode: 0o700 });
    if (creds !== null) fs.chownSync(tmp, creds.uid, creds.gid);
    const ini = iniSnapshot(buildSpawnPlan(cfg, i.php, null, process.env, i.userEnv));
    if (ini instanceof Error) notes.push({ level: 'warning', text: `[pool ${cfg.name}] php-cgi could not tell which php.ini it reads; the jailed children read none: ${ini.message.split('\n')[0]}` });
    fs.writeFileSync(path.join(ownDir, 'php.ini'), ini instanceof Error ? '' : ini, { mode: 0o644 });
    // The interpreter by its real path: /etc/alternatives is not in the jail.
    let phpCgi = realBinary(i.php.phpCgi);
    if (nonDumpable) phpCgi = path.join(JAIL_OWN, unreadableCopy(phpCgi, ownDir));
    childPhp = {
      phpCgi, phpIni: `${JAIL_OWN}/php.ini`, noPhpIni: false, scanDir: '',
      defines: [`opcache.lockfile_path=${JAIL_OWN}/tmp`, ...i.php.defines],
    };
    if (creds !== null) creds = { ...creds, groups: groupsOf(creds) };
  } else if (nonDumpable) {
    childPhp = { ...i.php, phpCgi: path.join(i.rundir, unreadableCopy(realBinary(i.php.phpCgi), i.rundir)) };
  }
  const wd = cfg.chdir ?? '/';
  return {
    chroot, childPhp, ownDir, ownRef, startLines, notes,
    cwd: chroot === null ? cfg.chdir ?? undefined : undefined,
    wrap(plan: SpawnPlan): SpawnPlan {
      let p = chroot === null ? plan : scriptedTitle(plan, ownDir, ownRef);
      p = SETPRIV !== null ? wrapWithSetpriv(p, SETPRIV, creds) : p;
      if (limits.length > 0 && PRLIMIT !== null) {
        p = { command: PRLIMIT, args: [...limits.map((l) => `${l.flag}=${l.value}`), '--', p.command, ...p.args], env: p.env };
      }
      if (chroot !== null) p = jailedPlan(p, { unshare: UNSHARE!, perl: PERL!, skel, wd, binds });
      return p;
    },
  };
}

/**
 * perl -e opens /dev/null, which a jail may not have ("Can't open /dev/null"):
 * inside one, the process-title step (proc-title.ts) runs its program from a
 * file in tsfpm's directory instead.
 */
function scriptedTitle(plan: SpawnPlan, ownDir: string, ownRef: string): SpawnPlan {
  if (plan.command !== PERL || plan.args[0] !== '-e' || plan.args[2] !== '--') return plan;
  fs.writeFileSync(path.join(ownDir, 'exec-as.pl'), `${plan.args[1]}\n`, { mode: 0o644 });
  return { command: plan.command, args: [path.join(ownRef, 'exec-as.pl'), ...plan.args.slice(3)], env: plan.env };
}

/** The interpreter by its real path (/etc/alternatives is not in a jail; the copy takes its name). */
function realBinary(phpCgi: string): string {
  try { return fs.realpathSync(phpCgi.includes('/') ? phpCgi : which(phpCgi)); } catch { return phpCgi; }
}

/** `bin` copied into `dir` as root:root 0711 (once per directory); returns its name there. */
function unreadableCopy(bin: string, dir: string): string {
  const name = path.basename(bin);
  const dst = path.join(dir, name);
  if (!fs.existsSync(dst)) {
    const tmp = `${dst}.tmp${process.pid}`;
    fs.copyFileSync(bin, tmp);
    fs.chmodSync(tmp, 0o711);
    fs.renameSync(tmp, dst);
  }
  return name;
}

function which(cmd: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return cmd;
}
