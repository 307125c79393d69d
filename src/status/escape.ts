// Pure: the escaping php-fpm 8.2 applies to a process's request URI and query
// string on the status page (fpm_status.c), reproduced byte for byte:
// - json: php_json_encode_string(s, PHP_JSON_INVALID_UTF8_IGNORE): `/` as
//   `\/`, non-ASCII as lower-case `\uXXXX` (surrogate pairs above the BMP),
//   invalid UTF-8 dropped;
// - html and xml: php_escape_html_entities_ex(s, all, ENT_DISALLOWED |
//   ENT_HTML_DOC_XML1 | ENT_COMPAT) with UTF-8: `& " < >` as entities,
//   characters XML 1.0 forbids as U+FFFD, and any invalid UTF-8 turns the
//   whole string into "".
// php-fpm prints the other strings (pool name, method, user, script) as they
// are; tsfpm does too unless a character would break the format (plainJson,
// plainMarkup), where php-fpm's page is invalid or, for a user name taken
// from an Authorization header, open to injection.
//
// Strings hold bytes: each char is one byte (latin1), as params are decoded.

/** One UTF-8 character at `pos` as PHP's php_next_utf8_char reads it. */
interface Utf8Char { cp: number; next: number; ok: boolean }

const trail = (c: number): boolean => c >= 0x80 && c <= 0xbf;
const lead = (c: number): boolean => c < 0x80 || (c >= 0xc2 && c <= 0xf4);

/**
 * On an invalid sequence, `next` skips what PHP skips: no byte that could
 * start a valid character (UTR #36 strategy 2, ext/standard/html.c).
 */
export function nextUtf8(s: string, pos: number): Utf8Char {
  const at = (i: number): number => s.charCodeAt(i);
  const avail = s.length - pos;
  const c = at(pos);
  const fail = (n: number): Utf8Char => ({ cp: 0, next: pos + n, ok: false });
  if (c < 0x80) return { cp: c, next: pos + 1, ok: true };
  if (c < 0xc2) return fail(1);
  if (c < 0xe0) {
    if (avail < 2) return fail(1);
    if (!trail(at(pos + 1))) return fail(lead(at(pos + 1)) ? 1 : 2);
    return { cp: ((c & 0x1f) << 6) | (at(pos + 1) & 0x3f), next: pos + 2, ok: true };
  }
  if (c < 0xf0) {
    if (avail < 3 || !trail(at(pos + 1)) || !trail(at(pos + 2))) {
      if (avail < 2 || lead(at(pos + 1))) return fail(1);
      if (avail < 3 || lead(at(pos + 2))) return fail(2);
      return fail(3);
    }
    const cp = ((c & 0x0f) << 12) | ((at(pos + 1) & 0x3f) << 6) | (at(pos + 2) & 0x3f);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return fail(3);
    return { cp, next: pos + 3, ok: true };
  }
  if (c < 0xf5) {
    if (avail < 4 || !trail(at(pos + 1)) || !trail(at(pos + 2)) || !trail(at(pos + 3))) {
      if (avail < 2 || lead(at(pos + 1))) return fail(1);
      if (avail < 3 || lead(at(pos + 2))) return fail(2);
      if (avail < 4 || lead(at(pos + 3))) return fail(3);
      return fail(4);
    }
    const cp = ((c & 0x07) << 18) | ((at(pos + 1) & 0x3f) << 12) | ((at(pos + 2) & 0x3f) << 6) | (at(pos + 3) & 0x3f);
    if (cp < 0x10000 || cp > 0x10ffff) return fail(4);
    return { cp, next: pos + 4, ok: true };
  }
  return fail(1);
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

const JSON_SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** php_json_encode_string(s, PHP_JSON_INVALID_UTF8_IGNORE) without the surrounding quotes. */
export function phpJsonEscape(s: string): string {
  let out = '';
  for (let pos = 0; pos < s.length;) {
    const c = s.charCodeAt(pos);
    if (c >= 0x80) {
      const ch = nextUtf8(s, pos);
      pos = ch.next;
      if (!ch.ok) continue;
      if (ch.cp >= 0x10000) {
        const u = ch.cp - 0x10000;
        out += `\\u${hex4((u >> 10) | 0xd800)}\\u${hex4((u & 0x3ff) | 0xdc00)}`;
      } else out += `\\u${hex4(ch.cp)}`;
      continue;
    }
    const ch = s[pos++];
    const short = JSON_SHORT[ch];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

const FFFD = '\xef\xbf\xbd'; // U+FFFD as UTF-8 bytes

/** XML 1.0's Char production (unicode_cp_is_allowed for ENT_HTML_DOC_XML1). */
function xmlAllowed(cp: number): boolean {
  return (cp >= 0x20 && cp <= 0xd7ff) || cp === 0x0a || cp === 0x09 || cp === 0x0d ||
    (cp >= 0xe000 && cp <= 0x10ffff && cp !== 0xfffe && cp !== 0xffff);
}

const ENTITY: Record<string, string> = { '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' };

/** php_escape_html_entities_ex as php-fpm calls it (UTF-8); "" for invalid UTF-8. */
export function phpHtmlEscape(s: string): string {
  let out = '';
  for (let pos = 0; pos < s.length;) {
    const ch = nextUtf8(s, pos);
    if (!ch.ok) return '';
    const bytes = s.slice(pos, ch.next);
    pos = ch.next;
    const ent = ENTITY[bytes];
    if (ent !== undefined) out += ent;
    else if (!xmlAllowed(ch.cp)) out += FFFD;
    else out += bytes;
  }
  return out;
}

/** What must be escaped for a JSON string to stay valid: `"`, `\` and control characters. */
export function plainJson(s: string): string {
  if (!/["\\\x00-\x1f]/.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20) out += JSON_SHORT[ch] ?? `\\u00${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** What must be escaped in XML or XHTML text: `& < > "`. */
export function plainMarkup(s: string): string {
  return /[&<>"]/.test(s) ? s.replace(/[&<>"]/g, (c) => ENTITY[c]) : s;
}
