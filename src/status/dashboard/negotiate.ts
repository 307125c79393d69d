// Pure: who gets the dashboard at `?html`. php-fpm's html page is checked
// byte for byte by php-src's tests and scraped by scripts, none of which ask
// for text/html: php-src's tester sends no Accept, curl and wget send `*/*`,
// exporters ask for json. A browser navigating to the page names text/html in
// its Accept header, so that request gets the dashboard and every other one
// php-fpm's bytes. `?html&classic` gives php-fpm's page to a browser too
// (php-fpm ignores the key, so the link works there as well).
import { queryKeys } from '../query.js';

/** True when an Accept header asks for text/html by name (q > 0); `*\/*` and `text/*` do not count. */
export function namesHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';');
    if (type.trim().toLowerCase() !== 'text/html') continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    if (q === undefined || Number.parseFloat(q.slice(2)) > 0) return true;
  }
  return false;
}

/** The tsfpm key that keeps php-fpm's page; matched whole (php-fpm's own keys match as prefixes). */
export const CLASSIC_KEY = 'classic';

/** `query`: the QUERY_STRING php-fpm reads (undefined when it reads none). */
export function wantsDashboard(accept: string | undefined, query: string | undefined): boolean {
  if (!namesHtml(accept)) return false;
  return query === undefined || !queryKeys(query).includes(CLASSIC_KEY);
}
