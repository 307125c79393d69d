// pm.status_listen: php-fpm adds a hidden pool `<pool>_status` listening
// there (fpm_conf.c, fpm_worker_pool_shared_status_alloc) whose workers answer
// the main pool's status page and ping from the main pool's scoreboard. In
// tsfpm that hidden pool (config/validate.ts makes it) starts no php-cgi
// child: the master answers every request on its socket, the pages with the
// main pool's figures and anything else with php-fpm's 404 (php-fpm's hidden
// pool would run the script: docs/status.md).
//
// The hidden pool finds its main pool here: each pool with pm.status_listen
// registers itself when it is created, and the newest registration wins, so
// after a reload the hidden pool answers for the configuration now running.
import type { PoolConfig } from '../config/types.js';
import type { Request } from '../pool/request.js';
import { RequestEnv, fsProbe } from '../request-env/request-env.js';
import { DEFAULT_PATH_SETTINGS, type PathSettings } from '../request-env/fpm-env.js';
import { DEFAULT_SAPI, notFoundReply } from './reply.js';
import type { StatusResponder } from './responder.js';

export interface StatusMain {
  readonly cfg: PoolConfig;
  readonly status: StatusResponder | null;
  readonly pathSettings: PathSettings;
  statusPage(uri: string, req: Request, ownSocket: boolean): Buffer | null;
}

const mains = new Map<string, StatusMain>();
const key = (hiddenName: string, listen: string): string => `${hiddenName}\n${listen}`;

/** Called for every pool created; only those with pm.status_listen are kept. */
export function registerStatusMain(main: StatusMain): void {
  if (main.cfg.pmStatusListen !== null && !main.cfg.hidden) mains.set(key(`${main.cfg.name}_status`, main.cfg.pmStatusListen), main);
}

/** The reply to a request on the hidden pool `hidden`'s socket. */
export function statusListenReply(hidden: PoolConfig, req: Request): Buffer {
  const main = mains.get(key(hidden.name, hidden.listen)) ?? null;
  const uri = new RequestEnv(main?.pathSettings ?? DEFAULT_PATH_SETTINGS, fsProbe, true).prepare(req);
  const page = main !== null && uri !== null ? main.statusPage(uri, req, false) : null;
  return page ?? notFoundReply(req.id, req.params.get('REQUEST_METHOD') === 'HEAD', main?.status?.sapi ?? DEFAULT_SAPI);
}
