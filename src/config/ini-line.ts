// One php-fpm.conf line in Zend INI "normal" scanner mode (reference §2).
// php-fpm feeds the Zend INI parser one line at a time, so a value never spans
// lines. The npm `ini` package does not fit here: it has no expressions,
// constants, `${NAME}` lookups, concatenation rules or Zend's yes/no mapping,
// and php-fpm's messages need exact line numbers, so this is a small
// hand-written scanner + recursive-descent parser over the same grammar.

export type IniStatement =
  | { kind: 'section'; name: string }
  /** value null = a bare label (php-fpm: "value is NULL for a ZEND_INI_PARSER_ENTRY"). */
  | { kind: 'entry'; key: string; offset: string | null; value: string | null };

export interface IniLineResult {
  statements: IniStatement[];
  /** Zend's message, e.g. `syntax error, unexpected '='`; printed as `PHP:  <msg> in Unknown on line <n>`. */
  error: { message: string; line: number } | null;
}

export interface IniResolver {
  /** `${NAME}`: php.ini setting, then environment; undefined → empty string. */
  lookup(name: string): string | undefined;
  /** Bare constants such as E_ALL; undefined → the name is kept as text. */
  constant(name: string): string | undefined;
}

// PHP's E_* constants (8.2) and a few others a config might use.
export const DEFAULT_CONSTANTS: Readonly<Record<string, string>> = {
  E_ERROR: '1', E_WARNING: '2', E_PARSE: '4', E_NOTICE: '8', E_CORE_ERROR: '16',
  E_CORE_WARNING: '32', E_COMPILE_ERROR: '64', E_COMPILE_WARNING: '128', E_USER_ERROR: '256',
  E_USER_WARNING: '512', E_USER_NOTICE: '1024', E_STRICT: '2048', E_RECOVERABLE_ERROR: '4096',
  E_DEPRECATED: '8192', E_USER_DEPRECATED: '16384', E_ALL: '32767',
  PHP_OS: 'Linux', PHP_OS_FAMILY: 'Linux', PHP_EOL: '\n', PHP_INT_SIZE: '8',
  PHP_INT_MAX: '9223372036854775807', PHP_INT_MIN: '-9223372036854775808',
};

export function envResolver(env: NodeJS.ProcessEnv, ini: Record<string, string> = {},
  constants: Record<string, string> = DEFAULT_CONSTANTS): IniResolver {
  return {
    lookup: (name) => ini[name] ?? env[name],
    constant: (name) => (Object.hasOwn(constants, name) ? constants[name] : undefined),
  };
}

type Tok =
  | { t: 'str'; v: string; name: 'TC_STRING' | 'TC_NUMBER' | 'TC_RAW' | 'TC_WHITESPACE' | '"' | 'TC_DOLLAR_CURLY' }
  | { t: 'const'; v: string }
  | { t: 'bool'; v: '1' | '' ; name: 'BOOL_TRUE' | 'BOOL_FALSE' | 'NULL_NULL' }
  | { t: 'op'; v: string }
  | { t: 'eol' };

class SyntaxError_ {
  constructor(readonly message: string, readonly line: number) {}
}

const unexpected = (tok: Tok): SyntaxError_ => {
  switch (tok.t) {
    case 'eol': return new SyntaxError_('syntax error, unexpected END_OF_LINE', 2);
    case 'op': return new SyntaxError_(`syntax error, unexpected '${tok.v}'`, 1);
    case 'const': return new SyntaxError_('syntax error, unexpected TC_CONSTANT', 1);
    default: return new SyntaxError_(`syntax error, unexpected ${tok.name}`, 1);
  }
};

// Characters that end an unquoted value run (Zend's VALUE_CHARS complement).
const VALUE_STOP = new Set([...'= \t\n\r;&|^~()!"\'']);
const BOOL_WORDS: Record<string, Tok> = {
  true: { t: 'bool', v: '1', name: 'BOOL_TRUE' }, on: { t: 'bool', v: '1', name: 'BOOL_TRUE' },
  yes: { t: 'bool', v: '1', name: 'BOOL_TRUE' }, false: { t: 'bool', v: '', name: 'BOOL_FALSE' },
  off: { t: 'bool', v: '', name: 'BOOL_FALSE' }, no: { t: 'bool', v: '', name: 'BOOL_FALSE' },
  none: { t: 'bool', v: '', name: 'NULL_NULL' }, null: { t: 'bool', v: '', name: 'NULL_NULL' },
};

/** Scan a value (text after `=`) into tokens; `${}` and double quotes are expanded here. */
function scanValue(s: string, r: IniResolver): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const skipWs = (): void => { while (s[i] === ' ' || s[i] === '\t') i++; };
  skipWs();
  while (i < s.length) {
    const c = s[i];
    if (c === '\r' || c === '\n') break;
    if (c === ';') break;                                     // comment, spaces before it are dropped
    if (c === ' ' || c === '\t') {
      const start = i;
      skipWs();
      if (i >= s.length || s[i] === ';' || s[i] === '"' || s[i] === '\r' || s[i] === '\n') continue; // eaten
      toks.push({ t: 'str', v: s.slice(start, i), name: 'TC_WHITESPACE' });
      continue;
    }
    if (c === '"') {
      i++;
      let v = '';
      for (;;) {
        if (i >= s.length) {
          throw new SyntaxError_("syntax error, unexpected end of file, expecting TC_DOLLAR_CURLY or TC_QUOTED_STRING or '\"'", 2);
        }
        const d = s[i];
        if (d === '"') { i++; break; }
        if (d === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) { v += s[i + 1]; i += 2; continue; }
        if (d === '$' && s[i + 1] === '{') { const [val, end] = readVar(s, i, r); v += val; i = end; continue; }
        v += d; i++;
      }
      skipWs();                                               // whitespace after a closing quote is eaten
      toks.push({ t: 'str', v, name: '"' });
      continue;
    }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError_('syntax error, unexpected end of file', 2);
      toks.push({ t: 'str', v: s.slice(i + 1, end), name: 'TC_RAW' });
      i = end + 1;
      continue;
    }
    if (c === '$' && s[i + 1] === '{') {
      const [val, end] = readVar(s, i, r);
      toks.push({ t: 'str', v: val, name: 'TC_DOLLAR_CURLY' });
      i = end;
      continue;
    }
    if ('=&|^~()!'.includes(c)) {
      // Zend's operator tokens swallow the blanks around them.
      if (toks.length > 0 && toks[toks.length - 1].t === 'str' && (toks[toks.length - 1] as { name: string }).name === 'TC_WHITESPACE') toks.pop();
      toks.push({ t: 'op', v: c });
      i++;
      skipWs();
      continue;
    }
    const start = i;
    while (i < s.length && !VALUE_STOP.has(s[i]) && !(s[i] === '$' && s[i + 1] === '{')) i++;
    const word = s.slice(start, i);
    const lower = word.toLowerCase();
    if (Object.hasOwn(BOOL_WORDS, lower)) { toks.push(BOOL_WORDS[lower]); skipWs(); }  // `yes{TABS_AND_SPACES}*`
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) toks.push({ t: 'const', v: word });
    else if (/^-?(\d+|\d*\.\d+|\d+\.\d*)$/.test(word)) toks.push({ t: 'str', v: word, name: 'TC_NUMBER' });
    else toks.push({ t: 'str', v: word, name: 'TC_STRING' });
  }
  toks.push({ t: 'eol' });
  return toks;
}

function readVar(s: string, i: number, r: IniResolver): [string, number] {
  const close = s.indexOf('}', i + 2);
  if (close < 0) throw new SyntaxError_('syntax error, unexpected end of file, expecting TC_VARNAME', 2);
  const name = s.slice(i + 2, close);
  return [r.lookup(name) ?? '', close + 1];
}

/** strtol(s, NULL, 10) on 64 bits, as Zend's get_int_val. */
function intVal(s: string): bigint {
  const m = /^[ \t\n\r\f\v]*([+-]?\d+)/.exec(s);
  return m ? BigInt.asIntN(64, BigInt(m[1])) : 0n;
}

/** Parse the value tokens: BOOL | NULL | expr | empty. */
function parseValue(toks: Tok[], r: IniResolver): string {
  let p = 0;
  const peek = (): Tok => toks[p];
  const first = peek();
  if (first.t === 'eol') return '';
  if (first.t === 'bool') {
    p++;
    if (peek().t !== 'eol') throw unexpected(peek());
    return first.v;
  }
  const unary = (): string => {
    const tok = peek();
    if (tok.t === 'op' && (tok.v === '~' || tok.v === '!')) {
      p++;
      const v = intVal(unary());
      return tok.v === '~' ? String(BigInt.asIntN(64, ~v)) : (v === 0n ? '1' : '0');
    }
    if (tok.t === 'op' && tok.v === '(') {
      p++;
      const v = expr();
      const close = peek();
      if (!(close.t === 'op' && close.v === ')')) throw unexpected(close);
      p++;
      return v;
    }
    let out = '';
    let n = 0;
    for (;;) {
      const t = peek();
      if (t.t === 'str') out += t.v;
      else if (t.t === 'const') out += r.constant(t.v) ?? t.v;
      else break;
      p++; n++;
    }
    if (n === 0) throw unexpected(tok);
    return out;
  };
  // Zend declares | & ^ with equal precedence, left-associative.
  const expr = (): string => {
    let left = unary();
    for (;;) {
      const t = peek();
      if (!(t.t === 'op' && (t.v === '|' || t.v === '&' || t.v === '^'))) return left;
      p++;
      const a = intVal(left);
      const b = intVal(unary());
      left = String(t.v === '|' ? a | b : t.v === '&' ? a & b : a ^ b);
    }
  };
  const v = expr();
  if (peek().t !== 'eol') {
    // Bison reduces `key = value` before it sees the stray token: the entry is
    // delivered, then the error (php-fpm prints both for `a = b = c`).
    throw Object.assign(unexpected(peek()), { value: v });
  }
  return v;
}

const LABEL_STOP = new Set([...'=\n\r\t;&|^$~(){}!"[]']);

/** Parse one line. Statements before a syntax error are still returned, as Zend delivers them. */
export function parseIniLine(text: string, r: IniResolver): IniLineResult {
  const statements: IniStatement[] = [];
  let s = text;
  try {
    for (;;) {
      s = s.replace(/^[ \t]+/, '');
      if (s === '' || s[0] === ';' || s[0] === '\n' || s[0] === '\r') break;
      if (s[0] === '[') {
        const close = s.indexOf(']');
        if (close < 0) throw new SyntaxError_("syntax error, unexpected end of file, expecting ']'", 1);
        statements.push({ kind: 'section', name: unquote(s.slice(1, close).trim(), r) });
        s = s.slice(close + 1);
        continue;                                            // `[www] x` parses `x` as a new statement
      }
      let i = 0;
      while (i < s.length && !LABEL_STOP.has(s[i])) i++;
      const key = s.slice(0, i).replace(/[ \t]+$/, '');
      if (key === '') throw unexpected(s[0] === '"' ? { t: 'str', v: '', name: '"' } : { t: 'op', v: s[0] });
      let offset: string | null = null;
      let rest = s.slice(i);
      if (rest[0] === '[') {
        const close = rest.indexOf(']');
        if (close < 0) throw new SyntaxError_("syntax error, unexpected end of file, expecting ']'", 2);
        offset = unquote(rest.slice(1, close).replace(/^[ \t]+/, ''), r);
        rest = rest.slice(close + 1);
      }
      rest = rest.replace(/^[ \t]+/, '');
      if (rest === '' || rest[0] === ';' || rest[0] === '\n' || rest[0] === '\r') {
        statements.push({ kind: 'entry', key, offset, value: null });
        break;
      }
      if (rest[0] !== '=') throw unexpected({ t: 'op', v: rest[0] });
      try {
        statements.push({ kind: 'entry', key, offset, value: parseValue(scanValue(rest.slice(1), r), r) });
      } catch (e) {
        if (e instanceof SyntaxError_ && 'value' in e && typeof e.value === 'string') {
          statements.push({ kind: 'entry', key, offset, value: e.value });
        }
        throw e;
      }
      break;
    }
  } catch (e) {
    if (e instanceof SyntaxError_) return { statements, error: { message: e.message, line: e.line } };
    throw e;
  }
  return { statements, error: null };
}

/** Section names and offsets: quotes stripped, `${}` expanded. */
function unquote(s: string, r: IniResolver): string {
  const m = /^"(.*)"$/.exec(s) ?? /^'(.*)'$/.exec(s);
  const body = m ? m[1] : s;
  return s.startsWith("'") ? body : body.replace(/\$\{([^}]*)\}/g, (_, n: string) => r.lookup(n) ?? '');
}
