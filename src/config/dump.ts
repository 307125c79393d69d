// -tt: the config as php-fpm's NOTICE lines (reference §1), driven by the
// directive table. Returns the messages; the caller logs each at NOTICE.
import { FACILITIES, GLOBAL_DIRECTIVES, POOL_DIRECTIVES, type DumpStyle } from './directives.js';
import type { FpmConfig } from './types.js';

function show(style: DumpStyle, v: unknown, logLevelSet = true): string {
  switch (style) {
    case 'str': return v === null || v === undefined ? 'undefined' : String(v);
    case 'int': return String(v);
    case 'intOrUndefined': return v === null ? 'undefined' : String(v);
    case 'time': return `${String(v)}s`;
    case 'bool': return v ? 'yes' : 'no';
    case 'loglevel': return logLevelSet ? String(v).toUpperCase() : 'unknown value';
    case 'facility': return String(FACILITIES[String(v)] ?? v);
    case 'mechanism': return v === null ? 'epoll' : String(v);
    case 'list': return (v as string[]).join(' ');
    case 'boolIfSet': return v ? 'yes' : 'no';
    case 'none': return '';
  }
}

export function dumpConfig(c: FpmConfig): string[] {
  const out = ['[global]'];
  const g = c.global as unknown as Record<string, unknown>;
  for (const d of GLOBAL_DIRECTIVES) out.push(`\t${d.name} = ${show(d.dump, g[d.field], c.global.logLevelSet)}`);
  out.push(' ');
  for (const pool of c.pools) {
    if (pool.hidden) continue;
    const p = pool as unknown as Record<string, unknown>;
    out.push(`[${pool.name}]`);
    for (const d of POOL_DIRECTIVES) {
      if (d.dump === 'none' || (d.dump === 'boolIfSet' && p[d.field] !== true)) continue;
      out.push(`\t${d.name} = ${show(d.dump, p[d.field])}`);
      if (d.name === 'access.format') for (const s of pool.accessSuppressPath) out.push(`\taccess.suppress_path[] = ${s}`);
    }
    // php-fpm prepends to its key/value lists, so the newest line prints first.
    for (const name of ['env', 'php_value', 'php_admin_value'] as const) {
      const list = pool.arrayEntries.filter((e) => e.name === name).reverse();
      for (const e of list) out.push(`\t${name}[${e.key}] = ${e.value}`);
    }
    out.push(' ');
  }
  return out;
}
