// A pool's `chroot` for php-cgi children. php-fpm forks its workers and
// chroot()s them, so nothing needs to exist inside the jail; tsfpm execs
// php-cgi, so the interpreter, its libraries and its php.ini must be
// reachable in there without the operator copying them in, and without
// writing anything into the operator's jail either.
//
// How (measured in ../shared/docs/php-cgi-facts.md §3, built here without
// touching the jail): once per pool, the master makes a skeleton root in its
// run directory, one mount point per top-level entry of the jail (symlinks
// copied as symlinks, so they resolve inside the jail as under php-fpm) plus
// `usr` and the merged-/usr symlinks (`lib`, `lib64`, `bin`, `sbin`) where
// the jail has none of its own, and `.tsfpm/` with tsfpm's own files (the
// request shim, a snapshot of the php.ini the children read, a private
// directory for opcache's lock file). Each child starts in a mount namespace
// of its own (`unshare --mount`, propagation private: nothing shows on the
// host, and it all goes away with the child), where a short perl program
// bind-mounts the jail's entries (read-write, with their submounts) and
// /usr (read-only, nosuid, nodev) onto the skeleton, chroot()s into it,
// chdir()s and execs the rest of the chain. Every jail entry is opened with
// O_NOFOLLOW and mounted through /proc/PID/fd/N: a user who can write into
// the jail and swaps a directory for a symlink to `/` between two spawns
// gets an error, not the host's root mounted into the jail.
//
// What the jailed script sees: the jail, plus /usr read-only and `/.tsfpm`
// (php-fpm's worker would see the jail alone; nothing else of the host, no
// /etc/shadow, no /proc). The master's own lookups of script paths (the
// request environment) go through the jail too (request-env.ts chrootProbe).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { SpawnPlan } from './spawn-plan.js';
import { helperEnv } from './helper-env.js';

/** tsfpm's directory inside every jail. */
export const JAIL_OWN = '/.tsfpm';
/** Host top-level names the interpreter needs (merged /usr: the others are symlinks into it). */
const SYSTEM = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

export interface Entry {
  name: string;
  kind: 'dir' | 'file' | 'symlink' | 'other';
  target?: string;      // symlink
}

export type Make =
  | { op: 'dir'; path: string }
  | { op: 'file'; path: string }
  | { op: 'symlink'; path: string; target: string };

/** `rw`: a jail entry, with its submounts; `ro`: the host's, read-only, nosuid, nodev. */
export interface Bind { how: 'rw' | 'ro'; src: string; dst: string }

export interface JailPlan {
  make: Make[];
  binds: Bind[];
  /** Jail entries that cannot be mounted (sockets, devices, fifos, a `.tsfpm`). */
  skipped: string[];
}

/**
 * Pure: the skeleton at `skel` for the jail at `jail`, given the jail's
 * top-level entries and the host's entries named in SYSTEM. The jail's own
 * entry wins over the host's (an operator who put /usr in the jail runs that).
 */
export function planJail(jail: string, skel: string, entries: Entry[], host: Entry[]): JailPlan {
  const make: Make[] = [];
  const binds: Bind[] = [];
  const skipped: string[] = [];
  const own = new Set<string>();
  for (const e of entries) {
    const dst = path.join(skel, e.name);
    if (`/${e.name}` === JAIL_OWN) { skipped.push(e.name); continue; }
    own.add(e.name);
    if (e.kind === 'symlink') make.push({ op: 'symlink', path: dst, target: e.target ?? '' });
    else if (e.kind === 'dir' || e.kind === 'file') {
      make.push({ op: e.kind, path: dst });
      binds.push({ how: 'rw', src: path.join(jail, e.name), dst });
    } else skipped.push(e.name);
  }
  for (const h of host) {
    if (own.has(h.name) || !SYSTEM.includes(h.name)) continue;
    const dst = path.join(skel, h.name);
    if (h.kind === 'symlink') make.push({ op: 'symlink', path: dst, target: h.target ?? '' });
    else if (h.kind === 'dir') {
      make.push({ op: 'dir', path: dst });
      binds.push({ how: 'ro', src: `/${h.name}`, dst });
    }
  }
  return { make, binds, skipped };
}

function entryOf(dir: string, name: string): Entry {
  const p = path.join(dir, name);
  const st = fs.lstatSync(p);
  if (st.isSymbolicLink()) return { name, kind: 'symlink', target: fs.readlinkSync(p) };
  if (st.isDirectory()) return { name, kind: 'dir' };
  if (st.isFile()) return { name, kind: 'file' };
  return { name, kind: 'other' };
}

export function listEntries(dir: string, only?: readonly string[]): Entry[] {
  const names = only ?? fs.readdirSync(dir);
  const out: Entry[] = [];
  for (const n of names) {
    try { out.push(entryOf(dir, n)); } catch { /* gone or absent */ }
  }
  return out;
}

/** Creates the skeleton's mount points (the jail itself is never written). */
export function makeSkeleton(skel: string, plan: JailPlan): void {
  fs.mkdirSync(skel, { recursive: true, mode: 0o755 });
  fs.chmodSync(skel, 0o755);
  for (const m of plan.make) {
    if (m.op === 'dir') fs.mkdirSync(m.path, { mode: 0o755 });
    else if (m.op === 'file') fs.writeFileSync(m.path, '', { mode: 0o644 });
    else fs.symlinkSync(m.target, m.path);
  }
  fs.mkdirSync(path.join(skel, JAIL_OWN), { mode: 0o755 });
}

// Runs between `unshare --mount` and the rest of the chain (perl-base is
// Essential in Debian; proc-title.ts already execs through it). Arguments:
// ROOT WD (rw|ro SRC DST)... -- COMMAND ARGS. A jail entry that cannot be
// mounted any more (removed, or no longer what it was) is left out with a line
// on stderr (catch_workers_output shows it); a host directory that cannot be
// mounted, a failed chroot or chdir end the child (php-fpm's worker exits too).
const JAILER = [
  'use strict; use Fcntl;',
  'my ($root, $wd) = splice(@ARGV, 0, 2);',
  'while (@ARGV && $ARGV[0] ne "--") {',
  '  my ($how, $src, $dst) = splice(@ARGV, 0, 3); my $fh;',
  '  if (!sysopen($fh, $src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)) {',
  '    die "tsfpm: cannot open $src: $!\\n" if $how eq "ro"; print STDERR "tsfpm: $src left out of the jail: $!\\n"; next;',
  '  }',
  '  my @o = $how eq "ro" ? ("--bind", "-o", "ro,nosuid,nodev") : ("--rbind");',
  '  if (system("mount", "-c", @o, "/proc/$$/fd/" . fileno($fh), $dst) != 0) {',
  '    die "tsfpm: cannot mount $src\\n" if $how eq "ro"; print STDERR "tsfpm: $src left out of the jail\\n";',
  '  }',
  '  close $fh;',
  '}',
  'shift @ARGV;',
  'chroot($root) or die "tsfpm: failed to chroot($root): $!\\n";',
  'chdir($wd) or die "tsfpm: failed to chdir($wd): $!\\n";',
  'exec { $ARGV[0] } @ARGV; die "tsfpm: failed to execute $ARGV[0]: $!\\n";',
].join(' ');

/** Pure: `plan` started inside the jail (mount namespace, mounts, chroot, chdir). */
export function jailedPlan(plan: SpawnPlan, p: { unshare: string; perl: string; skel: string; wd: string; binds: Bind[] }): SpawnPlan {
  const binds = p.binds.flatMap((b) => [b.how, b.src, b.dst]);
  return {
    command: p.unshare,
    args: ['--mount', '--propagation', 'private', '--', p.perl, '-e', JAILER, p.skel, p.wd, ...binds, '--', plan.command, ...plan.args],
    env: plan.env,
  };
}

/**
 * What php-cgi reads at start, as one file for the jail: php-fpm reads its
 * php.ini before chroot(), so a jail never needs /etc/php. The loaded php.ini
 * and every scanned file, in PHP's order, each after a `[PHP]` line (a
 * scanned file must not land in a `[PATH=]` section of php.ini). Asked of
 * php-cgi started as the pool's children are (same -c, -n, conf.d, -d).
 */
export function iniSnapshot(bare: SpawnPlan): string | Error {
  // After a marker: start-up warnings (display_startup_errors) may come first on stdout.
  const script = '<?php echo "\\n@tsfpm@", json_encode([php_ini_loaded_file(), php_ini_scanned_files()]);';
  let files: string[];
  try {
    const out = execFileSync(bare.command, ['-q', ...bare.args, '-d', 'auto_prepend_file='], {
      input: script, encoding: 'latin1', timeout: 10_000, stdio: ['pipe', 'pipe', 'ignore'], env: helperEnv(bare.env),
    });
    const mark = '\n@tsfpm@';
    const [loaded, scanned] = JSON.parse(out.slice(out.lastIndexOf(mark) + mark.length)) as [string | false, string | false];
    files = [
      ...(loaded === false ? [] : [loaded]),
      ...(scanned === false ? [] : scanned.split(',').map((s) => s.trim()).filter((s) => s !== '')),
    ];
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  return files.map((f) => `[PHP]\n; ${f}\n${fs.readFileSync(f, 'latin1')}\n`).join('');
}
