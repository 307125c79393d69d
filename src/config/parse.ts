// php-fpm.conf text → global + pool sections (reference §2). Pure: files,
// globs and `${NAME}` come through the injected host, so tests need no disk.
// Stops at the first bad line, like php-fpm; nothing is half-applied because
// the caller only gets a config when there are no errors.
import { parseIniLine, type IniResolver } from './ini-line.js';
import {
  ARRAY_DIRECTIVES, GLOBAL_BY_NAME, POOL_BY_NAME, defaultGlobal, defaultPool, parseBool, parseValue,
  type ArrayDirective, type Directive,
} from './directives.js';
import type { GlobResult } from './glob.js';
import type { GlobalConfig, PoolConfig } from './types.js';
import type { LogLevel } from '../log/error-log.js';

/** One message in php-fpm's words; `raw` lines (Zend syntax errors) bypass the log format. */
export interface ConfigMessage {
  level: LogLevel;
  text: string;
  raw?: boolean;
  syserr?: NodeJS.ErrnoException;              // logged with `: <strerror> (<errno>)`
}

export interface ParseHost {
  readFile(path: string): string;                 // throws NodeJS.ErrnoException
  glob(pattern: string): GlobResult;
  resolver: IniResolver;
  prefix: string | null;                          // -p; relative includes use it, else /usr
}

export interface ParsedConfig {
  global: GlobalConfig;
  pools: PoolConfig[];
  /** Directive names explicitly set, per pool name (for defaults such as pm.start_servers). */
  explicit: Map<PoolConfig, Set<string>>;
  where: ConfigWhere;
}

/**
 * Where things were written (`file:line`), for messages that php-fpm words
 * without a location (validation, sockets): a failed reload names the line.
 */
export interface ConfigWhere {
  /** The first `[name]` header of each pool, by lower-case pool name. */
  sections: Map<string, string>;
  /** The last line that set each directive: key `pool\0directive`, both lower-case; pool '' = [global]. */
  directives: Map<string, { at: string; value: string }>;
}

export type ParseResult =
  | { ok: true; config: ParsedConfig; messages: ConfigMessage[] }
  | { ok: false; messages: ConfigMessage[] };

const MAX_INCLUDE_DEPTH = 5;

class Abort extends Error {}

export function parseConfig(mainPath: string, host: ParseHost): ParseResult {
  const messages: ConfigMessage[] = [];
  const global = defaultGlobal();
  const pools: PoolConfig[] = [];
  const explicit = new Map<PoolConfig, Set<string>>();
  const located: ConfigWhere = { sections: new Map(), directives: new Map() };
  let current: PoolConfig | null = null;             // null = [global]; shared across includes
  const err = (text: string): never => { messages.push({ level: 'error', text }); throw new Abort(); };

  const section = (name: string, at: string): void => {
    if (name.toLowerCase() === 'global') { current = null; return; }
    const lower = name.toLowerCase();
    current = pools.find((p) => p.name.toLowerCase() === lower) ?? null;
    if (!current) {
      current = defaultPool(name);
      pools.push(current);
      explicit.set(current, new Set());
      located.sections.set(lower, at);
    }
  };

  const assign = (where: string, d: Directive, value: string): void => {
    const parsed = parseValue(d.type, value);
    if (!parsed.ok) err(`${where} unable to parse value for entry '${d.name}': ${parsed.reason}`);
    else if (d.scope === 'global') {
      (global as unknown as Record<string, unknown>)[d.field] = parsed.value;
      if (d.field === 'logLevel') global.logLevelSet = true;
    } else if (current) {
      (current as unknown as Record<string, unknown>)[d.field] = parsed.value;
      explicit.get(current)?.add(d.name);
    }
  };

  const arrayEntry = (where: string, pool: PoolConfig, name: ArrayDirective, key: string, value: string): void => {
    if (name === 'access.suppress_path') {
      if (key !== '') err(`${where} Keys provided to field 'access.suppress_path' are ignored`);
      if (!value.startsWith('/')) err(`${where} Values provided to field 'access.suppress_path' must begin with '/'`);
      pool.accessSuppressPath.push(value);
      return;
    }
    if (key === '') err(`${where} You must provide a key for field '${name}'`);
    if (name === 'env') {
      if (value === '') err(`${where} empty value`);
      pool.env[key] = value;
      pool.arrayEntries.push({ name: 'env', key, value });
      return;
    }
    let v = value;
    if (name === 'php_flag' || name === 'php_admin_flag') {
      const b = parseBool(value);
      if (!b.ok) err(`${where} error while parsing '${name}[${key}]' : ${b.reason}`);
      v = b.ok && b.value ? '1' : '0';
    }
    const admin = name.startsWith('php_admin');
    (admin ? pool.phpAdminValues : pool.phpValues)[key] = v;
    pool.arrayEntries.push({ name: admin ? 'php_admin_value' : 'php_value', key, value: v });
  };

  const entry = (file: string, lineNo: number, key: string, offset: string | null, rawValue: string | null, depth: number): void => {
    const where = `[${file}:${lineNo}]`;
    if (rawValue === null) err(`${where} value is NULL for a ZEND_INI_PARSER_${offset === null ? 'ENTRY' : 'POP_ENTRY'}`);
    let value = rawValue as string;
    if (offset === null && key === 'include') { include(file, lineNo, value, depth); return; }
    setAt(file, lineNo, key, value);
    if (value.includes('$pool')) {
      if (!current) {
        err(`${where} unable to parse value for entry '${key}': Can't use '$pool' when the pool is not defined`);
      } else value = value.split('$pool').join((current as PoolConfig).name);
    }
    if (!current) {
      if (offset !== null) err(`${where} Array are not allowed in the global section`);
      const d = GLOBAL_BY_NAME.get(key.toLowerCase());
      if (!d) err(`${where} unknown entry '${key}'`);
      else assign(where, d, value);
      return;
    }
    if (offset !== null) {
      if (!(ARRAY_DIRECTIVES as readonly string[]).includes(key)) err(`${where} unknown directive '${key}'`);
      arrayEntry(where, current, key as ArrayDirective, offset, value);
      return;
    }
    const d = POOL_BY_NAME.get(key.toLowerCase());
    if (!d) err(`${where} unknown entry '${key}'`);
    else assign(where, d, value);
  };

  const setAt = (file: string, lineNo: number, key: string, value: string): void => {
    const pool = current === null ? '' : (current as PoolConfig).name.toLowerCase();
    located.directives.set(`${pool}\0${key.toLowerCase()}`, { at: `${file}:${lineNo}`, value });
  };

  const include = (from: string, lineNo: number, pattern: string, depth: number): void => {
    const abs = pattern.startsWith('/') ? pattern : `${host.prefix ?? '/usr'}/${pattern}`;
    const g = host.glob(abs);
    if (!g.ok) {
      if (g.ret === 3) {
        messages.push({ level: 'warning', text: `Nothing matches the include pattern '${abs}' from ${from} at line ${lineNo}.` });
        return;
      }
      err(`Unable to globalize '${abs}' (ret=${g.ret}) from ${from} at line ${lineNo}.`);
      return;
    }
    for (const file of g.paths) {
      if (file.endsWith('/')) continue;                 // GLOB_MARK: a directory
      try {
        loadFile(file, depth + 1);
      } catch (e) {
        if (e instanceof Abort) messages.push({ level: 'error', text: `Unable to include ${file} from ${from} at line ${lineNo}` });
        throw e;
      }
    }
  };

  const loadFile = (file: string, depth: number): void => {
    if (depth > MAX_INCLUDE_DEPTH) err('failed to include more than 5 files recursively');
    let text: string;
    try {
      text = host.readFile(file);
    } catch (e) {
      messages.push({ level: 'error', text: `failed to open configuration file '${file}'`, syserr: e as NodeJS.ErrnoException });
      throw new Abort();
    }
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    lines.forEach((line, i) => {
      const r = parseIniLine(line, host.resolver);
      const syntax = (): void => {
        if (r.error) messages.push({ level: 'error', text: `PHP:  ${r.error.message} in Unknown on line ${r.error.line}`, raw: true });
      };
      try {
        for (const st of r.statements) {
          if (st.kind === 'section') section(st.name, `${file}:${i + 1}`);
          else entry(file, i + 1, st.key, st.offset, st.value, depth);
        }
      } catch (e) {
        syntax();                                       // Zend reports it after the callback's error
        throw e;
      }
      if (r.error) { syntax(); throw new Abort(); }
    });
  };

  try {
    loadFile(mainPath, 1);
  } catch (e) {
    if (e instanceof Abort) return { ok: false, messages };
    throw e;
  }
  return { ok: true, config: { global, pools, explicit, where: located }, messages };
}
