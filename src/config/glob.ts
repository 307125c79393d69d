// glob(3) for `include =` patterns, as php-fpm calls it (GLOB_ERR | GLOB_MARK):
// `*`, `?`, `[...]` per path component, a leading '.' only matched literally,
// results sorted, directories dropped by the caller. Node 20 has no fs.glob.
import fs from 'node:fs';
import path from 'node:path';

const hasMagic = (s: string): boolean => /[*?[]/.test(s);

/** fnmatch(3) on one path component (no FNM_PERIOD handling here; see matchComponent). */
export function fnmatch(pattern: string, name: string): boolean {
  const rec = (pi: number, ni: number): boolean => {
    while (pi < pattern.length) {
      const c = pattern[pi];
      if (c === '*') {
        while (pattern[pi] === '*') pi++;
        if (pi === pattern.length) return true;
        for (let k = ni; k <= name.length; k++) if (rec(pi, k)) return true;
        return false;
      }
      if (ni >= name.length) return false;
      if (c === '?') { pi++; ni++; continue; }
      if (c === '[') {
        const r = matchClass(pattern, pi, name[ni]);
        if (r === null) { if (name[ni] !== '[') return false; pi++; ni++; continue; } // unclosed: literal '['
        if (!r.matched) return false;
        pi = r.next; ni++;
        continue;
      }
      if (c === '\\' && pi + 1 < pattern.length) { if (pattern[pi + 1] !== name[ni]) return false; pi += 2; ni++; continue; }
      if (c !== name[ni]) return false;
      pi++; ni++;
    }
    return ni === name.length;
  };
  return rec(0, 0);
}

function matchClass(p: string, start: number, ch: string): { matched: boolean; next: number } | null {
  let i = start + 1;
  const negate = p[i] === '!' || p[i] === '^';
  if (negate) i++;
  let matched = false;
  let first = true;
  while (i < p.length && (p[i] !== ']' || first)) {
    first = false;
    let lo = p[i];
    if (lo === '\\' && i + 1 < p.length) lo = p[++i];
    if (p[i + 1] === '-' && i + 2 < p.length && p[i + 2] !== ']') {
      let hi = p[i + 2];
      let skip = 3;
      if (hi === '\\' && i + 3 < p.length) { hi = p[i + 3]; skip = 4; }
      if (ch >= lo && ch <= hi) matched = true;
      i += skip;
    } else {
      if (ch === lo) matched = true;
      i++;
    }
  }
  if (i >= p.length) return null;
  return { matched: matched !== negate, next: i + 1 };
}

/** A wildcard never matches a leading '.' (glob(3) without GLOB_PERIOD). */
export function matchComponent(pattern: string, name: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  return fnmatch(pattern, name);
}

export type GlobResult = { ok: true; paths: string[] } | { ok: false; ret: number };

export interface GlobFs {
  readdir(dir: string): string[];                       // throws ErrnoException
  kind(p: string): 'file' | 'dir' | null;               // stat() follows links; null = absent
}

export const nodeGlobFs: GlobFs = {
  readdir: (dir) => fs.readdirSync(dir),
  kind: (p) => {
    try { return fs.statSync(p).isDirectory() ? 'dir' : 'file'; } catch { return null; }
  },
};

const GLOB_ABORTED = 2;
const GLOB_NOMATCH = 3;

/** Expand an absolute pattern. Directories are returned with a trailing '/' (GLOB_MARK). */
export function glob(pattern: string, gfs: GlobFs = nodeGlobFs): GlobResult {
  const parts = pattern.split('/');
  let bases = [parts[0] === '' ? '/' : '.'];
  for (let i = parts[0] === '' ? 1 : 0; i < parts.length; i++) {
    const comp = parts[i];
    if (comp === '') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!hasMagic(comp)) { next.push(path.posix.join(base, comp.replace(/\\(.)/g, '$1'))); continue; }
      let names: string[];
      try {
        names = gfs.readdir(base);
      } catch (e) {
        // glibc: with GLOB_ERR any opendir failure but ENOTDIR aborts.
        if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        return { ok: false, ret: GLOB_ABORTED };
      }
      for (const n of names) if (matchComponent(comp, n)) next.push(path.posix.join(base, n));
    }
    bases = next;
  }
  const out: string[] = [];
  for (const b of bases) {
    const k = gfs.kind(b);
    if (k === 'dir') out.push(b.endsWith('/') ? b : b + '/');
    else if (k === 'file') out.push(b);
  }
  if (out.length === 0) return { ok: false, ret: GLOB_NOMATCH };
  out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { ok: true, paths: out };
}

export { GLOB_ABORTED, GLOB_NOMATCH };
