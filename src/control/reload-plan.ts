// The pure decisions of a reload (src/control/reload.ts does the I/O): which
// running socket a pool of the new configuration keeps, php-fpm's log lines,
// and where in the files a failed reload went wrong.
import type { ListenAddress } from '../net/address.js';
import type { ConfigWhere } from '../config/parse.js';

/** A listening socket of the running configuration. */
export interface RunningSocket {
  address: ListenAddress;     // as its pool's `listen` was parsed
  /** php-fpm's key: `ip:port` as bound (`:::9000` for a port-only listen on ::), or the unix path. */
  key: string;
  fd: number;
}

/**
 * The running socket a new `listen` is the same socket as, or null. A port-only
 * listen matches a port-only socket (bound on :: or, failing that, 0.0.0.0);
 * a host matches the address it resolves to (`resolved`, for a TCP host), so
 * `localhost:9000` keeps `127.0.0.1:9000`; unix sockets match by path.
 */
export function matchSocket(want: ListenAddress, resolved: string | null, running: readonly RunningSocket[]): RunningSocket | null {
  for (const s of running) {
    const a = s.address;
    if (want.kind === 'unix') {
      if (a.kind === 'unix' && a.path === want.path) return s;
      continue;
    }
    if (a.kind !== 'tcp' || a.port !== want.port) continue;
    if (want.host === null ? a.host === null : resolved !== null && s.key === `${resolved}:${want.port}`) return s;
  }
  return null;
}

/** `reloading: execvp("tsfpm", {"tsfpm", "-F", …})`: php-fpm shows argv[0] and at most 10 arguments. */
export function execvpLine(argv: readonly string[]): string {
  const shown = argv.slice(0, 11).map((a) => `"${a}"`);
  return `reloading: execvp(${shown[0] ?? '""'}, {${shown.join(', ')}})`;
}

/** `using inherited socket fd=N, "key"`, one per running socket, as php-fpm's new image logs them. */
export function inheritedLine(s: RunningSocket): string {
  return `using inherited socket fd=${s.fd}, "${s.key}"`;
}

const WORD = /[A-Za-z0-9_.]/;

function wordAt(text: string, word: string): number {
  for (let i = text.indexOf(word); i >= 0; i = text.indexOf(word, i + 1)) {
    const before = i === 0 ? '' : text[i - 1];
    const after = text[i + word.length] ?? '';
    if (!WORD.test(before) && !WORD.test(after)) return i;
  }
  return -1;
}

/**
 * `file:line` for one of php-fpm's error messages. Parse errors carry their
 * own (`[file:line] …`, `… from F at line N.`); validation messages do not
 * (`[pool www] pm.max_children must be a positive value`), so the line is the
 * one that set the directive the message names or whose value it quotes,
 * else the pool's section header, else the main file.
 */
export function locateMessage(text: string, where: ConfigWhere | undefined, mainPath: string): string {
  const own = /^\[([^\]]+:\d+)\]/.exec(text);
  if (own) return own[1];
  const from = / from (.+) at line (\d+)\.?$/.exec(text);
  if (from) return `${from[1]}:${from[2]}`;
  const file = /^failed to open configuration file '([^']+)'/.exec(text);
  if (file) return file[1];
  if (where === undefined) return mainPath;
  const pm = /^\[pool ([^\]]+)\] /.exec(text);
  let pool = pm ? pm[1].toLowerCase() : '';
  // php-fpm's hidden `<pool>_status` pool comes from its parent's section.
  if (pm && !where.sections.has(pool) && pool.endsWith('_status')) pool = pool.slice(0, -'_status'.length);
  const body = pm ? text.slice(pm[0].length) : text;
  let best: { at: string; score: number; pos: number } | null = null;
  for (const [key, set] of where.directives) {
    const sep = key.indexOf('\0');
    if (key.slice(0, sep) !== pool) continue;
    const pos = wordAt(body, key.slice(sep + 1));
    const quoted = set.value !== '' && body.includes(`'${set.value}'`);
    const score = (quoted ? 2 : 0) + (pos >= 0 ? 1 : 0);
    if (score === 0) continue;
    const p = pos >= 0 ? pos : Number.MAX_SAFE_INTEGER;
    if (best === null || score > best.score || (score === best.score && p < best.pos)) best = { at: set.at, score, pos: p };
  }
  if (best !== null) return best.at;
  return (pm ? where.sections.get(pool) : undefined) ?? mainPath;
}

/** Where a pool's `listen` was set (a socket that cannot be opened). */
export function locateListen(pool: string, where: ConfigWhere | undefined, mainPath: string): string {
  const lower = pool.toLowerCase();
  const base = lower.endsWith('_status') ? lower.slice(0, -'_status'.length) : lower;
  return where?.directives.get(`${lower}\0listen`)?.at
    ?? where?.directives.get(`${base}\0pm.status_listen`)?.at
    ?? where?.sections.get(lower)
    ?? mainPath;
}
