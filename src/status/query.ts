// Pure: which status page a QUERY_STRING asks for. php-fpm looks at the keys
// PHP registered in $_GET and takes a key as a keyword when the key is a
// prefix of it (fpm_php_get_string_from_table: strncmp over the key's length),
// so `?j`, `?jso`, `?json=0` and `?json[]=1` all mean json, case-sensitively.
// The keys are PHP's own: the query split on `&`, `+` and `%XX` decoded,
// leading spaces dropped, ` ` and `.` turned into `_`, an array suffix `[...]`
// cut off (php_default_treat_data, php_register_variable_ex).

export type StatusFormat = 'text' | 'html' | 'xml' | 'json' | 'openmetrics';

export interface StatusQuery {
  format: StatusFormat;
  /** `?full`: one entry per process (ignored by openmetrics, as in php-fpm). */
  full: boolean;
}

/** PHP's max_input_vars default: keys past it are not registered. */
const MAX_INPUT_VARS = 1000;

/** php_url_decode: `+` is a space, `%XX` a byte, a bad `%` stays. Strings hold bytes (latin1). */
export function urlDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '+') out += ' ';
    else if (c === '%' && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      out += String.fromCharCode(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += c;
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The top-level key PHP registers for a raw (still encoded) variable name, or null for none. */
export function phpKey(rawName: string): string | null {
  let name = urlDecode(rawName);
  const nul = name.indexOf('\0');
  if (nul >= 0) name = name.slice(0, nul); // C string from here on
  let i = 0;
  while (name[i] === ' ') i++;
  name = name.slice(i);
  let key = '';
  for (let p = 0; p < name.length; p++) {
    const c = name[p];
    if (c === ' ' || c === '.') key += '_';
    else if (c === '[') {
      if (key === '') return null; // `[x`: an empty name, never registered
      // `a[...]` registers key `a`; a `[` never closed is part of the name.
      let q = p + 1;
      if (name[q] === ' ' || name[q] === '\t' || name[q] === '\n' || name[q] === '\r' || name[q] === '\v' || name[q] === '\f') q++;
      if (name[q] === ']' || name.indexOf(']', q) >= 0) break;
      key += '_' + name.slice(p + 1).replace(/[ .[]/g, '_');
      break;
    } else key += c;
  }
  if (key === '') return null;
  // Numeric keys become integer keys, which php-fpm's lookup skips.
  if (/^(0|-?[1-9][0-9]*)$/.test(key) && isLong(key)) return null;
  return key;
}

function isLong(key: string): boolean {
  const n = BigInt(key);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/** The keys of $_GET for this query string, in registration order. */
export function queryKeys(queryString: string): string[] {
  const nul = queryString.indexOf('\0');
  const qs = nul >= 0 ? queryString.slice(0, nul) : queryString;
  const keys: string[] = [];
  let count = 0;
  for (const part of qs.split('&')) {
    if (part === '') continue; // strtok skips empty tokens
    if (++count > MAX_INPUT_VARS) break;
    const eq = part.indexOf('=');
    const key = phpKey(eq >= 0 ? part.slice(0, eq) : part);
    if (key !== null) keys.push(key);
  }
  return keys;
}

function anyPrefixOf(keys: readonly string[], word: string): boolean {
  for (const k of keys) if (word.startsWith(k)) return true;
  return false;
}

/** php-fpm 8.2's choice: html, then xml, json, openmetrics, else text; `full` adds the processes. */
export function parseStatusQuery(queryString: string | undefined): StatusQuery {
  const keys = queryString === undefined || queryString === '' ? [] : queryKeys(queryString);
  let format: StatusFormat = 'text';
  if (anyPrefixOf(keys, 'html')) format = 'html';
  else if (anyPrefixOf(keys, 'xml')) format = 'xml';
  else if (anyPrefixOf(keys, 'json')) format = 'json';
  else if (anyPrefixOf(keys, 'openmetrics')) format = 'openmetrics';
  return { format, full: anyPrefixOf(keys, 'full') };
}
