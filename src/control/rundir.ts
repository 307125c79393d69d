// The master's private run directory under $TMPDIR: the children's sockets,
// the limit_extensions shims and the whoami probe. A master that exits
// removes its own; one killed with SIGKILL cannot, so each start removes the
// directories of masters that are gone. A directory counts as ours only with
// the marker this module writes (test or user directories named tsfpm-* are
// never touched), and as stale only when its master ran on this host and no
// process has its pid any more (a reused pid keeps a stale directory: harmless).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PREFIX = 'tsfpm-';
const MARKER = 'master.pid';

/** Creates the run directory (0711: children of another uid read their shim there). */
export function createRundir(tmp: string = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(tmp, PREFIX));
  fs.chmodSync(dir, 0o711);
  fs.writeFileSync(path.join(dir, MARKER), `${os.hostname()} ${process.pid}\n`, { mode: 0o644 });
  return dir;
}

/** True while some process has this pid (EPERM: someone else's, still alive). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the run directories of dead masters; returns the paths removed. */
export function sweepStaleRundirs(tmp: string = os.tmpdir(), alive: (pid: number) => boolean = pidExists): string[] {
  const removed: string[] = [];
  const uid = process.geteuid?.() ?? -1;
  let names: string[];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(tmp, name);
    try {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      const [host, pidText] = fs.readFileSync(path.join(dir, MARKER), 'latin1').trim().split(' ');
      const pid = Number(pidText);
      if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // no marker, not ours, or gone meanwhile
    }
  }
  return removed;
}
