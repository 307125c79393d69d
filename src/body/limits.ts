// Pure: the pool's effective limits on request bodies, from the ini values
// php-cgi reports (src/php/ini-probe.ts), converted as PHP converts them:
// post_max_size, upload_max_filesize and max_input_vars are quantities
// (zend_ini_parse_quantity: "8M", "0x10", " 2 g"), max_file_uploads and
// max_multipart_body_parts are read with strtol(s, NULL, 0) (INI_INT), the
// switches with zend_ini_parse_bool.

/** The ini settings the limits come from, asked once per pool. */
export const BODY_INI = [
  'post_max_size', 'upload_max_filesize', 'max_file_uploads', 'max_multipart_body_parts',
  'max_input_vars', 'file_uploads', 'enable_post_data_reading',
] as const;

export interface BodyLimits {
  /** post_max_size in bytes; 0 or less: no limit. */
  postMaxSize: number;
  /** upload_max_filesize in bytes; 0 or less: no limit. */
  uploadMaxFilesize: number;
  /** max_file_uploads (0 or less: PHP keeps no file). */
  maxFileUploads: number;
  /** Parts with a Content-Disposition PHP reads (max_multipart_body_parts, resolved); Infinity for a PHP without the setting. */
  maxBodyParts: number;
  /** max_multipart_body_parts was negative: the limit is max_input_vars + max_file_uploads. */
  bodyPartsDerived: boolean;
  /** file_uploads: off, PHP skips file parts. */
  fileUploads: boolean;
  /** enable_post_data_reading: off, PHP parses no body at all. */
  postDataReading: boolean;
}

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);
const ULONG_MAX = (1n << 64n) - 1n;

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

function digitValue(c: string): number {
  const code = c.toLowerCase().charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  return 99;
}

/** strtoul/strtol's digits: the value (unbounded) and where they end. base 0: 0x.. hex, 0.. octal, else decimal. */
function strtoDigits(s: string, i: number, base: number): { value: bigint; end: number } {
  if (base === 0) {
    if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s[i + 2] ?? '') < 16) { base = 16; i += 2; }
    else if (s[i] === '0') base = 8;
    else base = 10;
  }
  let value = 0n;
  const start = i;
  while (i < s.length && digitValue(s[i]) < base) value = value * BigInt(base) + BigInt(digitValue(s[i++]));
  return { value, end: i === start ? -1 : i };
}

const toNumber = (v: bigint): number => Number(BigInt.asIntN(64, v));

/** zend_ini_parse_quantity (signed): what OnUpdateLong stores for "8M", "0x1k", "1.5M" (= 1M), "abc" (= 0). */
export function iniQuantity(value: string | null | undefined, dflt: number): number {
  if (value === null || value === undefined) return dflt;
  let a = 0;
  let z = value.length;
  while (a < z && isWs(value[a])) a++;
  while (a < z && isWs(value[z - 1])) z--;
  if (a === z) return 0;
  const s = value.slice(0, z);
  let neg = false;
  if (s[a] === '+') a++;
  else if (s[a] === '-') { neg = true; a++; }
  if (!isDigit(s[a])) return 0;
  let base = 0;
  if (s[a] === '0' && !isDigit(s[a + 1])) {
    if (a + 1 === z) return 0;
    const p = s[a + 1];
    if ('gGmMkK'.includes(p)) base = 0;
    else if (p === 'x' || p === 'X') base = 16;
    else if (p === 'o' || p === 'O') base = 8;
    else if (p === 'b' || p === 'B') base = 2;
    else return 0;
    if (base !== 0) {
      a += 2;
      // Digits must follow the prefix at once: no space, sign or second prefix.
      if (a === z || isWs(s[a]) || s[a] === '+' || s[a] === '-' || (s[a] === '0' && a + 1 < z && 'xXoObB'.includes(s[a + 1]))) return 0;
    }
  }
  const d = strtoDigits(s, a, base);
  if (d.end < 0) return 0;
  let v = d.value > ULONG_MAX ? ULONG_MAX : d.value;
  if (neg) v = -v;
  let e = d.end;
  while (e < z && isWs(s[e])) e++;
  if (e === z) return toNumber(v);
  const factor = ({ g: 1n << 30n, m: 1n << 20n, k: 1n << 10n } as Record<string, bigint>)[s[z - 1].toLowerCase()];
  return factor === undefined ? toNumber(v) : toNumber(v * factor);
}

/** ZEND_STRTOL(s, NULL, 0), as INI_INT reads max_file_uploads and max_multipart_body_parts. */
export function iniLong(value: string | null | undefined, dflt: number): number {
  if (value === null || value === undefined) return dflt;
  let i = 0;
  while (i < value.length && (isWs(value[i]))) i++;
  let neg = false;
  if (value[i] === '+' || value[i] === '-') neg = value[i++] === '-';
  const d = strtoDigits(value, i, 0);
  if (d.end < 0) return 0;
  const v = neg ? -d.value : d.value;
  return Number(v > LONG_MAX ? LONG_MAX : v < LONG_MIN ? LONG_MIN : v);
}

/** zend_ini_parse_bool: true/yes/on, else atoi() != 0. */
export function iniBool(value: string | null | undefined, dflt: boolean): boolean {
  if (value === null || value === undefined) return dflt;
  const l = value.toLowerCase();
  if (l === 'true' || l === 'yes' || l === 'on') return true;
  const m = /^[ \t\n\r\v\f]*([+-]?\d+)/.exec(value);
  return m !== null && Number.parseInt(m[1], 10) !== 0;
}

/** The limits from ini_get() values (null: not reported; PHP's defaults then, no parts limit for a PHP without it). */
export function bodyLimits(ini: Readonly<Record<string, string | null | undefined>>): BodyLimits {
  const maxFileUploads = iniLong(ini.max_file_uploads, 20);
  const partsSetting = ini.max_multipart_body_parts;
  let maxBodyParts = partsSetting === null || partsSetting === undefined ? Infinity : iniLong(partsSetting, -1);
  const bodyPartsDerived = maxBodyParts < 0;
  if (bodyPartsDerived) maxBodyParts = iniQuantity(ini.max_input_vars, 1000) + maxFileUploads;
  return {
    postMaxSize: iniQuantity(ini.post_max_size, 8 << 20),
    uploadMaxFilesize: iniQuantity(ini.upload_max_filesize, 2 << 20),
    maxFileUploads,
    maxBodyParts,
    bodyPartsDerived,
    fileUploads: iniBool(ini.file_uploads, true),
    postDataReading: iniBool(ini.enable_post_data_reading, true),
  };
}
