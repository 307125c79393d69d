// Pure: where the kernel loaded php-cgi in a process, from /proc/PID/maps.
//
// The image is found by its inode, not its path: a jailed child maps
// /usr/bin/php-cgi8.2 through a bind mount of its own mount namespace (and a
// non-dumpable pool execs a copy), so the path in maps need not be one the
// master can open. The master opens /proc/PID/exe instead and compares what
// fstat() says with each line's device and inode; on overlayfs the device in
// maps is the lower layer's, so the inode alone decides when no line matches
// both, and the path when even that is ambiguous.
import { ET_DYN, ET_EXEC, type Segment } from './elf.js';

export interface MapLine {
  start: number;
  end: number;
  perms: string;
  offset: number;
  /** major:minor as in maps (hex). */
  dev: string;
  inode: number;
  path: string;
}

/** One line of /proc/PID/maps, or null for a line that is not one. */
export function parseMapLine(line: string): MapLine | null {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
  if (m === null) return null;
  return {
    start: Number.parseInt(m[1], 16), end: Number.parseInt(m[2], 16), perms: m[3],
    offset: Number.parseInt(m[4], 16), dev: m[5], inode: Number(m[6]), path: m[7],
  };
}

/** st_dev as maps prints it: `major:minor` in hex, glibc's gnu_dev_major/minor split. */
export function devString(stDev: number | bigint): string {
  const d = BigInt(stDev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

export interface ImageId { dev: string; inode: number; path: string }

/** The start of the mapping of the image's first page (file offset 0), or null. */
export function imageStart(maps: string, id: ImageId): number | null {
  const lines: MapLine[] = [];
  for (const l of maps.split('\n')) {
    const m = parseMapLine(l);
    if (m !== null && m.offset === 0 && m.inode === id.inode && m.inode !== 0) lines.push(m);
  }
  const starts = (ls: MapLine[]): Set<number> => new Set(ls.map((l) => l.start));
  for (const pick of [
    (ls: MapLine[]) => ls.filter((l) => l.dev === id.dev),
    (ls: MapLine[]) => ls,
    (ls: MapLine[]) => ls.filter((l) => l.path.replace(/ \(deleted\)$/, '') === id.path),
  ]) {
    const s = starts(pick(lines));
    if (s.size === 1) return [...s][0];
  }
  return null;
}

/**
 * What to add to a symbol's st_value for its address in the process: 0 for
 * a fixed-address executable, else the mapping of file offset 0 minus the
 * page-aligned vaddr of the segment that holds it (0 for a linked PIE).
 */
export function loadBias(type: number, segments: readonly Segment[], start: number | null): number | null {
  if (type === ET_EXEC) return 0;
  if (type !== ET_DYN || start === null) return null;
  const first = segments.find((s) => s.offset === 0);
  if (first === undefined) return null;
  return start - (first.vaddr - (first.vaddr % 4096));
}
