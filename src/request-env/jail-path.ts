// Pure path walk: where a path seen by a chrooted child lies on the master's
// file system. php-fpm's worker resolves SCRIPT_FILENAME after chroot(), so
// `/htdocs/x.php` means JAIL/htdocs/x.php, and a symlink inside the jail
// pointing at `/releases/5` means JAIL/releases/5, never the host's
// /releases/5; `..` stops at the jail's root. realpath(3) as the jailed
// worker would see it, for the request environment (request-env.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LinkReader {
  /** The symlink's target, null when `p` exists and is no symlink; throws when it does not exist. */
  readlink(p: string): string | null;
}

const fsLinks: LinkReader = {
  readlink(p) {
    const st = fs.lstatSync(p);
    return st.isSymbolicLink() ? fs.readlinkSync(p) : null;
  },
};

/** The host path of `p` (absolute, as the jailed child sees it), every component existing; null when it does not resolve. */
export function resolveInJail(root: string, p: string, links: LinkReader = fsLinks): string | null {
  const rest = p.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let hops = 0;
  while (rest.length > 0) {
    const part = rest.shift()!;
    if (part === '..') { done.pop(); continue; }
    const host = path.join(root, ...done, part);
    let target: string | null;
    try {
      target = links.readlink(host);
    } catch {
      return null;
    }
    if (target === null) { done.push(part); continue; }
    if (++hops > 40) return null; // ELOOP
    const t = target.split('/').filter((s) => s !== '' && s !== '.');
    if (target.startsWith('/')) done.length = 0;
    rest.unshift(...t);
  }
  return path.join(root, ...done);
}
