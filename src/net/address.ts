// Pure parsing of php-fpm `listen` values and `listen.allowed_clients` lists.
import { isIP, BlockList } from 'node:net';
import * as path from 'node:path';

export type ListenAddress =
  | { kind: 'tcp'; host: string | null; port: number; text: string } // host null = all addresses (`9000`)
  | { kind: 'unix'; path: string; text: string };

export class ListenAddressError extends Error {
  readonly code = 'TSFPM_ERR_LISTEN_ADDRESS';
}

// php-fpm: a value containing ':' or made only of digits is TCP, anything else a unix path.
export function parseListen(value: string, prefix: string | null): ListenAddress {
  if (/^\d+$/.test(value)) return { kind: 'tcp', host: null, port: parsePort(value), text: value };
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    let host = value.slice(0, colon);
    const portText = value.slice(colon + 1);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return { kind: 'tcp', host: host === '' || host === '*' ? null : host, port: parsePort(portText), text: value };
  }
  const p = path.isAbsolute(value) ? value : path.join(prefix ?? '/usr', value);
  return { kind: 'unix', path: p, text: value };
}

function parsePort(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new ListenAddressError(`invalid port value '${text}'`);
  return n;
}

export interface AllowedClients {
  addresses: Set<string>;
  list: BlockList;      // binary comparison, as php-fpm's inet_pton: any IPv6 spelling matches
  warnings: string[];   // php-fpm's messages for entries it could not use
  denyAll: boolean;      // a list was given but no entry was valid
}

// Exact IPv4/IPv6 addresses separated by commas, no trimming, no CIDR (php-fpm 8.2).
export function parseAllowedClients(value: string | null): AllowedClients | null {
  if (value === null || value === '') return null;
  const addresses = new Set<string>();
  const list = new BlockList();
  const warnings: string[] = [];
  for (const entry of value.split(',')) {
    const family = isIP(entry);
    if (family !== 0) {
      addresses.add(entry.toLowerCase());
      list.addAddress(entry, family === 4 ? 'ipv4' : 'ipv6');
    }
    else warnings.push(`Wrong IP address '${entry}' in listen.allowed_clients`);
  }
  if (addresses.size === 0) warnings.push('There are no allowed addresses');
  return { addresses, list, warnings, denyAll: addresses.size === 0 };
}

// IPv4 entries also match v4-mapped IPv6 peers, as in php-fpm.
export function isClientAllowed(allowed: AllowedClients, remote: string | undefined): boolean {
  if (allowed.denyAll || remote === undefined) return false;
  const r = remote.toLowerCase();
  if (r.startsWith('::ffff:') && isIP(r.slice(7)) === 4) return allowed.list.check(r.slice(7), 'ipv4');
  const family = isIP(r);
  return family !== 0 && allowed.list.check(r, family === 4 ? 'ipv4' : 'ipv6');
}

// In php-fpm these messages come from the workers, not the master: each worker
// parses the list when it starts (fcgi_set_allowed_clients) and checks every
// peer it accepts (fcgi_accept_request), writing `ERROR: ...` (no timestamp)
// to its stderr. The error log shows them only with catch_workers_output = yes,
// as that worker's output: `WARNING: [pool P] child N said into stderr: "ERROR: ..."`,
// the start lines once per worker, after `ready to handle connections`.

/** What a php-fpm worker of this pool writes to its stderr when it starts (empty when the list is fine). */
export function workerStartLines(allowed: AllowedClients | null): string[] {
  return (allowed?.warnings ?? []).map((w) => `ERROR: ${w}`);
}

/** What the php-fpm worker that accepted a refused peer writes to its stderr (v4-mapped peers shown as IPv4). */
export function workerDropLine(remote: string | undefined): string {
  const r = remote ?? '';
  const ip = r.toLowerCase().startsWith('::ffff:') && isIP(r.slice(7)) === 4 ? r.slice(7) : r;
  return `ERROR: Connection disallowed: IP address '${ip}' has been dropped.`;
}
