// The I/O edge of config/: reads files, expands include globs, answers
// `${NAME}` (php.ini setting through the interpreter, then the environment),
// looks users up through NSS (platform/users.ts), then runs the pure parser and validator.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { helperEnv } from '../php/helper-env.js';
import { DEFAULT_CONSTANTS, type IniResolver } from './ini-line.js';
import { glob } from './glob.js';
import { parseConfig, type ConfigMessage, type ConfigWhere } from './parse.js';
import { validateConfig, type LogSwitch } from './validate.js';
import { lookupGroup as grLookup, lookupUser as pwLookup } from '../platform/users.js';
import type { FpmConfig, GlobalConfig } from './types.js';

/** Debian's sysconfdir location, used when neither -y nor -p is given. */
export const DEFAULT_CONFIG_PATH = '/etc/php/8.2/fpm/php-fpm.conf';

export interface LoadOptions {
  fpmConfig: string | null;       // -y
  prefix: string | null;          // -p
  test: boolean;                  // -t / -tt
  allowRoot: boolean;             // -R
  daemonize: boolean | null;      // -D / -F
  pidFile: string | null;         // -g (a `pid =` line wins)
  phpCgi: string;
  phpIni: string | null;          // -c
  noPhpIni: boolean;              // -n
  defines: string[];              // -d k=v
  env?: NodeJS.ProcessEnv;
  euid?: number;
}

/**
 * `global` with `levelAt`/`openAt` (indexes into messages, see validate.ts's
 * LogSwitch): the caller applies log_level/log_limit and then the error_log
 * destination at those points, as php-fpm does while post-processing.
 */
export type LoadResult =
  | ({ ok: true; config: FpmConfig; messages: ConfigMessage[]; global: GlobalConfig; where: ConfigWhere } & LogSwitch)
  /**
   * messages end with php-fpm's trailer (`failed to load configuration file '…'` …), not `FPM initialization failed`.
   * `where` is there when the files parsed (parse errors carry their own `[file:line]`).
   */
  | ({ ok: false; messages: ConfigMessage[]; global?: GlobalConfig; where?: ConfigWhere } & LogSwitch);

/** -y → `<prefix>/etc/php-fpm.conf` with -p → Debian's default (php.ini `fpm.config` is not consulted). */
export function resolveConfigPath(fpmConfig: string | null, prefix: string | null): string {
  if (fpmConfig !== null) return fpmConfig;
  if (prefix !== null) return `${prefix}/etc/php-fpm.conf`;
  return DEFAULT_CONFIG_PATH;
}

export function loadConfig(o: LoadOptions): LoadResult {
  const path = resolveConfigPath(o.fpmConfig, o.prefix);
  const env = o.env ?? process.env;
  const parsed = parseConfig(path, {
    readFile: (p) => readConfigFile(p),
    glob: (pattern) => glob(pattern),
    resolver: phpIniResolver(o, env),
    prefix: o.prefix,
  });
  if (!parsed.ok) {
    return { ok: false, messages: [...parsed.messages, { level: 'error', text: `failed to load configuration file '${path}'` }] };
  }
  const g = parsed.config.global;
  if (o.daemonize !== null) g.daemonize = o.daemonize;
  if (g.pid === null && o.pidFile !== null) g.pid = o.pidFile;
  const v = validateConfig(parsed.config, path, {
    prefix: o.prefix,
    euid: o.euid ?? process.geteuid?.() ?? 1,
    allowRoot: o.allowRoot,
    test: o.test,
    isDir: (p) => { try { return fs.statSync(p).isDirectory(); } catch { return false; } },
    touchAppend: (p) => fs.closeSync(fs.openSync(p, 'a', 0o600)),
    lookupUser,
    lookupGroup,
  });
  const messages = [...parsed.messages, ...v.messages];
  const at = parsed.messages.length;
  const sw: LogSwitch = {};
  if (v.levelAt !== undefined) sw.levelAt = at + v.levelAt;
  if (v.openAt !== undefined) sw.openAt = at + v.openAt;
  if (!v.ok) {
    if (v.stage === 'post') messages.push({ level: 'error', text: 'failed to post process the configuration' });
    return { ok: false, messages, global: g, where: parsed.config.where, ...sw };
  }
  return { ok: true, config: v.config, messages, global: g, where: parsed.config.where, ...sw };
}

function readConfigFile(p: string): string {
  // php-fpm opens then reads; a directory fails on read with EISDIR, same message.
  return fs.readFileSync(p, 'latin1');
}

/**
 * `${NAME}`: php.ini value if the interpreter knows the setting, else the
 * environment. The interpreter is asked once, lazily, only when a config uses
 * `${…}` (≈80 ms); if it cannot run, only the environment is used.
 */
export function phpIniResolver(o: Pick<LoadOptions, 'phpCgi' | 'phpIni' | 'noPhpIni' | 'defines'>, env: NodeJS.ProcessEnv): IniResolver {
  let ini: Record<string, string | null> | null = null;
  const load = (): Record<string, string | null> => {
    if (ini) return ini;
    try {
      const args = ['-q'];
      if (o.noPhpIni) args.push('-n');
      if (o.phpIni !== null) args.push('-c', o.phpIni);
      for (const d of o.defines) args.push('-d', d);
      const out = execFileSync(o.phpCgi, args, {
        input: '<?php echo json_encode(ini_get_all(null, false));', encoding: 'utf8', timeout: 10_000,
        stdio: ['pipe', 'pipe', 'ignore'], env: helperEnv(env),
      });
      ini = JSON.parse(out) as Record<string, string | null>;
    } catch {
      ini = {};
    }
    return ini;
  };
  return {
    lookup: (name) => {
      const v = load()[name];
      return v !== undefined && v !== null && v !== '' ? v : env[name];
    },
    constant: (name) => (Object.hasOwn(DEFAULT_CONSTANTS, name) ? DEFAULT_CONSTANTS[name] : undefined),
  };
}

/** getpwnam/getpwuid through NSS (validate.ts takes a numeric uid without an entry as it is). */
export function lookupUser(nameOrUid: string): { uid: number; gid: number } | null {
  const u = pwLookup(nameOrUid);
  return u ? { uid: u.uid, gid: u.gid } : null;
}

export function lookupGroup(name: string): number | null {
  return grLookup(name)?.gid ?? null;
}

/** `env[X] = $VAR` takes the master's VAR at startup (php-fpm's fpm_env); other values verbatim. */
export function resolveEnvValue(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.startsWith('$') ? env[value.slice(1)] ?? '' : value;
}
