// User and group lookups through NSS (getent), so LDAP/sssd users resolve
// as they do for php-fpm's getpwnam(). Used at startup only, never per request.
import { execFileSync } from 'node:child_process';

/**
 * name/home are absent for a numeric uid without a passwd entry: php-fpm then
 * uses the number with gid 0 and sets neither USER nor HOME for the workers.
 */
export interface PasswdEntry { name?: string; uid: number; gid: number; home?: string }
export interface GroupEntry { name?: string; gid: number }

/** php-fpm's fpm_unix_is_id(): a value made of digits is an id, used even without an entry. */
const isId = (s: string): boolean => /^\d+$/.test(s);

function getent(db: string, key: string): string[] | null {
  try {
    const out = execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const line = out.split('\n')[0];
    return line ? line.split(':') : null;
  } catch {
    return null;
  }
}

export function lookupUser(nameOrId: string): PasswdEntry | null {
  const f = getent('passwd', nameOrId);
  if (!f || f.length < 6) return isId(nameOrId) ? { uid: Number(nameOrId), gid: 0 } : null;
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

export function lookupGroup(nameOrId: string): GroupEntry | null {
  const f = getent('group', nameOrId);
  if (!f || f.length < 3) return isId(nameOrId) ? { gid: Number(nameOrId) } : null;
  return { name: f[0], gid: Number(f[2]) };
}
