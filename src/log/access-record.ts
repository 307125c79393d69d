// What php-fpm's scoreboard holds about a request when the access line is
// written (fpm_request_info, cut to its fixed sizes) and the FastCGI
// environment %{NAME}e reads, computed from the params tsfpm kept. Only what
// the format asks for is computed: one walk over the PARAMS bytes for the
// names it needs, and php-fpm's path computation (fpm-env.ts, a realpath(3)
// and a few stat(2)s) only for %f, for the path variables php-fpm rewrites,
// and for the requests whose request_uri the quick rule cannot give.
import { pickParams } from '../fastcgi/params.js';
import type { Request } from '../pool/request.js';
import { fpmEnv, isValidPath, needsFpmEnv, quickRequestUri, type FpmEnv, type PathProbe, type PathSettings } from '../request-env/fpm-env.js';
import { atolSize, authUser, field, SIZE, type RequestInfo } from '../status/request-info.js';

export { authUser, phpBase64Decode } from '../status/request-info.js';
import type { FormatNeeds } from './access-format.js';

/** The scoreboard's fields (as the status page has them) plus the FastCGI environment for %{NAME}e. */
export interface RequestFields extends RequestInfo {
  env(name: string): string | undefined;
}


/** The variables php-fpm's init_request_info() may rewrite (FCGI_PUTENV). */
const REWRITTEN = new Set([
  'SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED', 'DOCUMENT_ROOT',
  'ORIG_SCRIPT_FILENAME', 'ORIG_SCRIPT_NAME', 'ORIG_PATH_INFO', 'ORIG_PATH_TRANSLATED',
]);

// Indexes into the picked values.
const BASE = [
  'SCRIPT_FILENAME', 'PATH_TRANSLATED', 'PATH_INFO', 'SERVER_SOFTWARE', 'SCRIPT_NAME', 'REDIRECT_URL',
  'REQUEST_METHOD', 'QUERY_STRING', 'CONTENT_LENGTH', 'HTTP_AUTHORIZATION',
] as const;
const [SF, PT, PI, SS, SN, RU, RM, QS, CL, AUTH] = BASE.map((_, i) => i);

/** The fields of one request; built by FieldReader. */
class Fields implements RequestFields {
  method = '';
  uri = '';
  query = '';
  contentLength = 0n;
  user = '';
  script = '';
  private full: FpmEnv | null = null;

  constructor(private readonly reader: FieldReader, private readonly req: Request, readonly picked: Array<string | undefined>) {}

  /** php-fpm's whole computation, once. */
  fpm(): FpmEnv {
    return (this.full ??= fpmEnv(this.req.params, this.reader.settings, this.reader.probe));
  }

  env(name: string): string | undefined {
    return REWRITTEN.has(name) ? this.fpm().env.get(name) : this.picked[BASE.length + this.reader.raw.indexOf(name)];
  }
}

/** Reads what one format needs of each request; made once per pool. */
export class FieldReader {
  /** %{NAME}e names taken from the params as they came. */
  readonly raw: readonly string[];
  /** BASE with only the names this format reads (the others never match: nothing decoded for them). */
  private readonly names: readonly string[];
  private readonly want: { method: boolean; uri: boolean; query: boolean; length: boolean; user: boolean; script: boolean };

  constructor(needs: FormatNeeds, suppress: boolean, readonly settings: PathSettings, readonly probe: PathProbe) {
    this.raw = needs.env.filter((n) => !REWRITTEN.has(n));
    const w = {
      method: needs.method || suppress, uri: needs.uri || suppress, query: needs.query || suppress,
      length: needs.length || suppress, user: needs.user, script: needs.script,
    };
    this.want = w;
    const used = new Set<number>();
    if (w.uri || w.script) [SF, PT, PI, SS, SN, RU].forEach((i) => used.add(i));
    if (w.query || w.length || w.user) [SF, PT].forEach((i) => used.add(i));
    if (w.method) used.add(RM);
    if (w.query) used.add(QS);
    if (w.length) used.add(CL);
    if (w.user) used.add(AUTH);
    // An empty name matches no param (FastCGI names are not empty in practice; pickParams compares lengths first).
    this.names = [...BASE.map((n, i) => (used.has(i) ? n : '\0')), ...this.raw];
  }

  read(req: Request): RequestFields {
    let picked: Array<string | undefined>;
    try {
      picked = pickParams(req.paramsBody, this.names);
    } catch {
      picked = [];
    }
    const out = new Fields(this, req, picked);
    const w = this.want;
    const simple = !needsFpmEnv(picked[SF], picked[PI], picked[SS]);
    if (w.method) out.method = field(picked[RM], SIZE.method);
    if (w.uri) {
      let uri: string | null | undefined;
      if (simple) uri = quickRequestUri(this.settings, picked[SF], picked[PT], picked[SN], picked[PI], picked[RU]);
      if (uri === undefined) uri = out.fpm().requestUri;
      out.uri = field(uri, SIZE.uri);
    }
    // php-fpm reads these only for a request with a script path (init_request_info).
    if (picked[SF] !== undefined || picked[PT] !== undefined) {
      if (w.query) out.query = field(picked[QS], SIZE.query);
      if (w.length) out.contentLength = atolSize(picked[CL]);
      if (w.user) out.user = field(authUser(picked[AUTH]), SIZE.user);
    }
    if (w.script) {
      const quick = simple ? quickScript(this.settings, this.probe, picked[SF], picked[PT], picked[RU]) : undefined;
      out.script = field(quick !== undefined ? quick : out.fpm().script, SIZE.script);
    }
    return out;
  }
}

/** One request's fields (FieldReader, made for the occasion). */
export function requestFields(req: Request, needs: FormatNeeds, suppress: boolean, settings: PathSettings, probe: PathProbe): RequestFields {
  return new FieldReader(needs, suppress, settings, probe).read(req);
}

/**
 * php-fpm's path_translated for a request with no PATH_INFO, Apache or IIS
 * part whose SCRIPT_FILENAME resolves as it stands (one realpath), without
 * decoding every param; undefined when only fpmEnv can tell.
 */
function quickScript(s: PathSettings, probe: PathProbe, sf: string | undefined, pathTranslated: string | undefined, redirectUrl: string | undefined): string | null | undefined {
  if (sf === undefined || sf === '' || !s.fixPathinfo) return undefined;
  // mod_fastcgi's Action (PATH_TRANSLATED + REDIRECT_URL): the script is elsewhere.
  if (pathTranslated !== undefined && redirectUrl !== undefined && pathTranslated !== sf) return undefined;
  if (sf.endsWith('/') || !probe.resolves(sf)) return undefined;
  return isValidPath(sf) ? sf : null;
}

/**
 * access.suppress_path[] (php-fpm's fpm_access_log_suppress): only a GET or
 * HEAD without query string and without body, answered 2xx, whose
 * request_uri is one of the paths.
 */
export function suppressed(paths: readonly string[], f: RequestFields, status: number): boolean {
  if (paths.length === 0 || f.query !== '') return false;
  if (f.method !== 'GET' && f.method !== 'HEAD') return false;
  if (status < 200 || status > 299) return false;
  // SG(request_info).content_length is signed: atol's value before the size_t wrap.
  if (f.contentLength > 0n && f.contentLength < 2n ** 63n) return false;
  return paths.includes(f.uri);
}
