// User and group lookups through NSS (getent), so LDAP/sssd users resolve
// as they do for php-fpm's getpwnam(). Used at startup only, never per request.
import { execFileSync } from 'node:child_process';

export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number }

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
  if (!f || f.length < 6) return null;
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

export function lookupGroup(nameOrId: string): GroupEntry | null {
  const f = getent('group', nameOrId);
  if (!f || f.length < 3) return null;
  return { name: f[0], gid: Number(f[2]) };
}
