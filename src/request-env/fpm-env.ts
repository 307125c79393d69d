// Pure: the request environment php-fpm gives PHP, computed from the web
// server's params the way php-fpm 8.2 computes it (init_request_info in
// php-src sapi/fpm/fpm/fpm_main.c). php-cgi has its own, older version of
// that function; the two differ in ways that matter:
// - php-fpm strips Apache mod_proxy_fcgi's `proxy:fcgi://host:port` and
//   `proxy:balancer://name` prefixes from SCRIPT_FILENAME and then treats
//   the request as Apache's (no REDIRECT_URL games, PATH_INFO recovered from
//   the translated path, SCRIPT_NAME stripped of it); php-cgi answers
//   "No input file specified." to every such request;
// - php-fpm refuses a PATH_INFO shorter than the part cut off the script path
//   (bug 78599, CVE-2019-11043); php-cgi computes PATH_INFO from memory
//   before the string;
// - php-fpm applies the IIS PATH_INFO fix on every platform.
// Every step below names the php-fpm behaviour it reproduces; the names of
// the locals follow php-fpm's so the two can be compared.

export interface PathSettings {
  /** cgi.fix_pathinfo */
  fixPathinfo: boolean;
  /** cgi.discard_path */
  discardPath: boolean;
  /** doc_root, or null when empty */
  docRoot: string | null;
}

/** PHP's defaults: what a php.ini that says nothing gives. */
export const DEFAULT_PATH_SETTINGS: PathSettings = { fixPathinfo: true, discardPath: false, docRoot: null };

/** The ini settings behind PathSettings, asked of php-cgi once per pool. */
export const PATH_INI = ['cgi.fix_pathinfo', 'cgi.discard_path', 'doc_root'] as const;

export function pathSettings(ini: Record<string, string | null>): PathSettings {
  const bool = (v: string | null | undefined, d: boolean): boolean => {
    if (v === null || v === undefined) return d;
    const s = v.trim().toLowerCase();
    if (s === 'on' || s === 'yes' || s === 'true') return true;
    const n = Number.parseInt(s, 10); // atoi, as zend_ini_parse_bool
    return !Number.isNaN(n) && n !== 0;
  };
  const docRoot = ini.doc_root;
  return {
    fixPathinfo: bool(ini['cgi.fix_pathinfo'], true),
    discardPath: bool(ini['cgi.discard_path'], false),
    docRoot: docRoot !== null && docRoot !== undefined && docRoot !== '' ? docRoot : null,
  };
}

/** The file system questions php-fpm asks (realpath(3) and stat(2)). */
export interface PathProbe {
  /** realpath() succeeds */
  resolves(p: string): boolean;
  /** stat() succeeds and it is a regular file */
  isFile(p: string): boolean;
}

export interface FpmEnv {
  /** The params as php-fpm leaves them (insertion order as php-fpm's hash list). */
  env: Map<string, string>;
  /** The script php-fpm runs (SG(request_info).path_translated); null: 404 "Primary script unknown". */
  script: string | null;
  /** SCRIPT_FILENAME carried Apache's proxy prefix. */
  apache: boolean;
  /** php-cgi would read PATH_INFO out of bounds here (php-fpm's bug 78599 fix). */
  underflow: boolean;
  /** The IIS PATH_INFO fix applied (php-cgi does it on Windows only). */
  iis: boolean;
  /**
   * SG(request_info).request_uri: what php-fpm matches pm.status_path and
   * ping.path against and shows as a process's request URI. null when there
   * is no script path at all, or no SCRIPT_NAME.
   */
  requestUri: string | null;
}

const PROXY_FCGI = 'proxy:fcgi://';
const PROXY_BALANCER = 'proxy:balancer://';

function startsWithCi(s: string, prefix: string): boolean {
  return s.length >= prefix.length && s.slice(0, prefix.length).toLowerCase() === prefix;
}

/** `proxy:fcgi://host:port/path?q` → `/path` (php-fpm keeps the value when no path follows the host). */
function stripProxy(sf: string, prefix: string): { value: string; stripped: boolean } {
  if (!startsWithCi(sf, prefix)) return { value: sf, stripped: false };
  const slash = sf.indexOf('/', prefix.length);
  let value = sf;
  let stripped = false;
  if (slash >= 0) { value = sf.slice(slash); stripped = true; }
  // A query string appended by a RewriteRule is dropped either way.
  const q = value.indexOf('?');
  if (q >= 0) value = value.slice(0, q);
  return { value, stripped };
}

/** php-fpm's is_valid_path: no `..` path segment. */
export function isValidPath(p: string | null): p is string {
  if (p === null) return false;
  const slash = (c: string | undefined): boolean => c === '/';
  let i = p.indexOf('..');
  if (i < 0) return true;
  if ((i === 0 || slash(p[i - 1])) && (i + 2 === p.length || slash(p[i + 2]))) return false;
  for (;;) {
    i = p.indexOf('..', i + 1);
    if (i < 0) return true;
    if (slash(p[i - 1]) && (i + 2 === p.length || slash(p[i + 2]))) return false;
  }
}

/** PHP's rawurldecode (no `+` to space), bytes as latin1 like the params. */
function rawUrlDecode(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** True when php-fpm would change these params (or php-cgi would misread them): worth computing. */
export function needsFpmEnv(sf: string | undefined, pathInfo: string | undefined, serverSoftware: string | undefined): boolean {
  if (sf !== undefined && sf.length > 6 && (sf.charCodeAt(0) | 0x20) === 0x70 /* p */ && sf.slice(0, 6).toLowerCase() === 'proxy:') return true;
  if (serverSoftware !== undefined && serverSoftware.startsWith('Microsoft-IIS')) return true;
  return pathInfo !== undefined;
}

/**
 * php-fpm's request_uri from a few params, without the full computation, for
 * the requests RequestEnv.prepare lets through unchanged (no Apache proxy
 * prefix, no IIS, PATH_INFO absent or the script path resolving as it
 * stands). undefined: only fpmEnv can tell (Apache mod_fastcgi's
 * PATH_TRANSLATED + REDIRECT_URL next to a PATH_INFO).
 */
export function quickRequestUri(
  s: PathSettings, sf: string | undefined, pathTranslated: string | undefined,
  scriptName: string | undefined, pathInfo: string | undefined, redirectUrl: string | undefined,
): string | null | undefined {
  if (sf === undefined && pathTranslated === undefined) return null;
  if (!s.fixPathinfo) return pathInfo ?? scriptName ?? null;
  // mod_fastcgi's Action: SCRIPT_NAME is replaced by REDIRECT_URL.
  if (sf !== undefined && pathTranslated !== undefined && redirectUrl !== undefined && pathTranslated !== sf) {
    return pathInfo === undefined ? redirectUrl : undefined;
  }
  return scriptName ?? null;
}

export function fpmEnv(params: Map<string, string>, s: PathSettings, probe: PathProbe): FpmEnv {
  const env = new Map(params);
  const put = (name: string, value: string | null): string | null => {
    if (value === null) env.delete(name);
    else env.set(name, value);
    return value;
  };
  let envScriptFilename = env.get('SCRIPT_FILENAME') ?? null;
  let envPathTranslated = env.get('PATH_TRANSLATED') ?? null;
  let scriptPathTranslated = envScriptFilename ?? envPathTranslated;
  let apacheWasHere = false;
  let underflow = false;
  let iis = false;
  let requestUriSet = false;

  if (scriptPathTranslated === null) return { env, script: null, apache: false, underflow: false, iis: false, requestUri: null };

  let envPathInfo = env.get('PATH_INFO') ?? null;
  let envScriptName = env.get('SCRIPT_NAME') ?? null;

  // IIS sends PATH_INFO with SCRIPT_NAME in front of it.
  const software = env.get('SERVER_SOFTWARE');
  if (software !== undefined && envScriptName !== null && envPathInfo !== null &&
      software.startsWith('Microsoft-IIS') && envPathInfo.startsWith(envScriptName)) {
    iis = true;
    put('ORIG_PATH_INFO', envPathInfo);
    const rest = envPathInfo.slice(envScriptName.length);
    envPathInfo = put('PATH_INFO', rest === '' ? null : rest);
  }

  // Apache mod_proxy_fcgi / mod_proxy_balancer: SCRIPT_FILENAME is a proxy URL.
  if (envScriptFilename !== null) {
    for (const prefix of [PROXY_FCGI, PROXY_BALANCER]) {
      const r = stripProxy(envScriptFilename, prefix);
      if (r.value !== envScriptFilename) {
        envScriptFilename = r.value;
        env.set('SCRIPT_FILENAME', r.value); // php-fpm edits the value in place
        scriptPathTranslated = r.value;
      }
      if (r.stripped) apacheWasHere = true;
    }
  }

  if (s.fixPathinfo) {
    const envRedirectUrl = env.get('REDIRECT_URL') ?? null;
    let envDocumentRoot = env.get('DOCUMENT_ROOT') ?? null;
    const origPathTranslated = envPathTranslated;
    const origPathInfo = envPathInfo;
    const origScriptName = envScriptName;
    const origScriptFilename = envScriptFilename;
    let swapped = false;

    if (envDocumentRoot === null && s.docRoot !== null) envDocumentRoot = put('DOCUMENT_ROOT', s.docRoot);

    // Apache mod_fastcgi's Action: SCRIPT_FILENAME is the interpreter, the script is PATH_TRANSLATED.
    if (!apacheWasHere && envPathTranslated !== null && envRedirectUrl !== null && envPathTranslated !== scriptPathTranslated) {
      scriptPathTranslated = envPathTranslated;
      envScriptName = envRedirectUrl;
      swapped = true;
    }

    const spt = scriptPathTranslated;
    if (spt.length > 0 && (spt.endsWith('/') || !probe.resolves(spt))) {
      // Walk back through the '/' until a regular file is found: /info.php/test → /info.php + /test.
      const len = spt.length;
      let pt = spt;
      let found = false;
      for (;;) {
        let cut = pt.lastIndexOf('/');
        if (cut < 0) cut = pt.lastIndexOf('\\');
        if (cut < 0) break;
        pt = pt.slice(0, cut);
        if (!probe.isFile(pt)) continue;
        found = true;
        const ptlen = pt.length;
        const slen = len - ptlen;
        const pilen = envPathInfo !== null ? envPathInfo.length : 0;
        let pathInfo: string | null;
        let tflag: boolean;
        if (apacheWasHere) {
          // mod_proxy_fcgi sends no PATH_INFO of its own: it is what was cut off the path.
          pathInfo = spt.slice(ptlen);
          tflag = origPathInfo === null || origPathInfo !== pathInfo;
        } else {
          pathInfo = envPathInfo !== null && pilen > slen ? envPathInfo.slice(pilen - slen) : null;
          tflag = pathInfo !== null;
          if (envPathInfo !== null && pilen < slen) underflow = true;
        }
        if (tflag && pathInfo !== null) {
          if (origPathInfo !== null) {
            put('ORIG_PATH_INFO', origPathInfo);
            // SCRIPT_NAME becomes PATH_INFO without its tail (the whole of it under Apache).
            const head = apacheWasHere ? envPathInfo! : envPathInfo!.slice(0, pilen - slen);
            if (origScriptName === null || origScriptName !== head) {
              if (origScriptName !== null) put('ORIG_SCRIPT_NAME', origScriptName);
              put('SCRIPT_NAME', head);
            }
            requestUriSet = true;
          } else if (apacheWasHere && envScriptName !== null) {
            // ProxyPass: the path info is probably also at the end of SCRIPT_NAME (maybe URL-encoded there).
            const decoded = pathInfo.includes('%') ? rawUrlDecode(pathInfo) : null;
            const snlen = envScriptName.length;
            let start = -1;
            if (snlen > slen && envScriptName.slice(snlen - slen) === pathInfo) start = snlen - slen;
            else if (decoded !== null && snlen > decoded.length && envScriptName.slice(snlen - decoded.length) === decoded) start = snlen - decoded.length;
            if (start >= 0) {
              put('ORIG_SCRIPT_NAME', origScriptName!);
              envScriptName = envScriptName.slice(0, start);
              put('SCRIPT_NAME', envScriptName);
              requestUriSet = true;
            }
          }
          envPathInfo = put('PATH_INFO', pathInfo);
        }
        if (origScriptFilename === null || origScriptFilename !== pt) {
          if (origScriptFilename !== null) put('ORIG_SCRIPT_FILENAME', origScriptFilename);
          scriptPathTranslated = pt;
          put('SCRIPT_FILENAME', pt);
        }
        // PATH_TRANSLATED = DOCUMENT_ROOT + PATH_INFO, or the script path minus SCRIPT_NAME + PATH_INFO.
        if (envDocumentRoot !== null) {
          const root = envDocumentRoot.endsWith('/') ? envDocumentRoot.slice(0, -1) : envDocumentRoot;
          if (origPathTranslated !== null) put('ORIG_PATH_TRANSLATED', origPathTranslated);
          envPathTranslated = put('PATH_TRANSLATED', root + (envPathInfo ?? ''));
        } else if (envScriptName !== null && pt.includes(envScriptName)) {
          const base = pt.slice(0, pt.length - envScriptName.length);
          if (origPathTranslated !== null) put('ORIG_PATH_TRANSLATED', origPathTranslated);
          envPathTranslated = put('PATH_TRANSLATED', base + (envPathInfo ?? ''));
        }
        break;
      }
      if (!found) {
        if (origScriptFilename !== null) put('ORIG_SCRIPT_FILENAME', origScriptFilename);
        put('SCRIPT_FILENAME', null);
        scriptPathTranslated = null as unknown as string;
      }
      if (!requestUriSet && (origScriptName === null || origScriptName !== envScriptName)) {
        if (origScriptName !== null) put('ORIG_SCRIPT_NAME', origScriptName);
        put('SCRIPT_NAME', envScriptName);
      }
      const script = found ? scriptPathTranslated : null;
      return { env, script: isValidPath(script) ? script : null, apache: apacheWasHere, underflow, iis, requestUri: env.get('SCRIPT_NAME') ?? null };
    }
    // The path resolves: keep it, remember what was changed in ORIG_*.
    if (origScriptFilename === null || scriptPathTranslated !== origScriptFilename) {
      if (origScriptFilename !== null) put('ORIG_SCRIPT_FILENAME', origScriptFilename);
      put('SCRIPT_FILENAME', scriptPathTranslated);
    }
    if (!apacheWasHere && envRedirectUrl !== null) {
      if (origPathInfo !== null) { put('ORIG_PATH_INFO', origPathInfo); put('PATH_INFO', null); }
      if (origPathTranslated !== null) { put('ORIG_PATH_TRANSLATED', origPathTranslated); put('PATH_TRANSLATED', null); }
    }
    if (swapped) {
      if (origScriptName !== null) put('ORIG_SCRIPT_NAME', origScriptName);
      put('SCRIPT_NAME', envScriptName);
    }
    return { env, script: isValidPath(scriptPathTranslated) ? scriptPathTranslated : null, apache: apacheWasHere, underflow, iis, requestUri: env.get('SCRIPT_NAME') ?? null };
  }

  // cgi.fix_pathinfo=0: PHP 4.2 behaviour, the script is PATH_TRANSLATED when given.
  if (!s.discardPath && envPathTranslated !== null) scriptPathTranslated = envPathTranslated;
  const requestUri = envPathInfo ?? envScriptName;
  return { env, script: isValidPath(scriptPathTranslated) ? scriptPathTranslated : null, apache: apacheWasHere, underflow, iis, requestUri };
}
