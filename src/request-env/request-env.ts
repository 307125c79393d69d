// Gives php-cgi the request environment php-fpm would have given PHP, per
// pool. On the hot path it only looks at three params (six when the pool has
// a status or ping page, whose key php-fpm's request_uri is computed from
// them); the full computation (fpm-env.ts) runs for Apache mod_proxy_fcgi
// requests, IIS, and requests with a PATH_INFO whose script path does not
// resolve as it stands.
import * as fs from 'node:fs';
import { pickParams } from '../fastcgi/params.js';
import type { Request } from '../pool/request.js';
import { fpmEnv, needsFpmEnv, quickRequestUri, type PathProbe, type PathSettings } from './fpm-env.js';
import { paramsForPhpCgi, replaceParams } from './forward.js';
import { resolveInJail } from './jail-path.js';

const NAMES = ['SCRIPT_FILENAME', 'PATH_INFO', 'SERVER_SOFTWARE'] as const;
// Picked in the same walk when php-fpm's request_uri is wanted.
const NAMES_URI = [...NAMES, 'SCRIPT_NAME', 'PATH_TRANSLATED', 'REDIRECT_URL'] as const;

/** realpath(3)/stat(2) answers from the master's view of the file system. */
export const fsProbe: PathProbe = {
  resolves: (p) => fs.existsSync(p),
  isFile: (p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false; // ENOENT, ENOTDIR (a file used as a directory), EACCES...
    }
  },
};

/** The same answers for a chrooted pool: paths are the jail's (php-fpm's worker looks them up after chroot()). */
export function chrootProbe(root: string): PathProbe {
  return {
    resolves: (p) => resolveInJail(root, p) !== null,
    isFile: (p) => {
      const host = resolveInJail(root, p);
      return host !== null && fsProbe.isFile(host);
    },
  };
}

export class RequestEnv {
  private readonly names: readonly string[];

  constructor(
    readonly settings: PathSettings,
    readonly probe: PathProbe = fsProbe,
    /** prepare() also returns php-fpm's request_uri (the pool has a status or ping page). */
    private readonly wantUri = false,
  ) {
    this.names = wantUri ? NAMES_URI : NAMES;
  }

  /**
   * Called once the request's params are complete and before a child is
   * engaged (all its bytes so far are in req.pending): rewrites the PARAMS
   * stream when php-cgi would compute something other than php-fpm. Returns
   * php-fpm's request_uri when asked for at construction, else null.
   */
  prepare(req: Request): string | null {
    let picked: Array<string | undefined>;
    try {
      picked = pickParams(req.paramsBody, this.names);
    } catch {
      return null; // malformed params: php-cgi will say so, as php-fpm would
    }
    const [sf, pathInfo, software] = picked;
    if (!needsFpmEnv(sf, pathInfo, software)) return this.wantUri ? this.quickUri(req, picked) : null;
    const proxy = sf !== undefined && sf.slice(0, 6).toLowerCase() === 'proxy:';
    const iis = software !== undefined && software.startsWith('Microsoft-IIS');
    // PATH_INFO only matters when php-fpm would walk the script path back.
    if (!proxy && !iis && (!this.settings.fixPathinfo || (sf !== undefined && sf !== '' && !sf.endsWith('/') && this.probe.resolves(sf)))) {
      return this.wantUri ? this.quickUri(req, picked) : null;
    }
    const result = fpmEnv(req.params, this.settings, this.probe);
    req.scriptUnknown = result.script === null;
    const params = paramsForPhpCgi(result, this.settings);
    if (params !== null) {
      const head = req.pending.length === 1 ? req.pending[0] : Buffer.concat(req.pending);
      req.pending = replaceParams(head, req.id, params);
    }
    return this.wantUri ? result.requestUri : null;
  }

  private quickUri(req: Request, picked: Array<string | undefined>): string | null {
    const [sf, pathInfo, , scriptName, pathTranslated, redirectUrl] = picked;
    const uri = quickRequestUri(this.settings, sf, pathTranslated, scriptName, pathInfo, redirectUrl);
    return uri !== undefined ? uri : fpmEnv(req.params, this.settings, this.probe).requestUri;
  }
}
