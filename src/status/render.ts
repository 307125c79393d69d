// Pure: a status snapshot in the format the query asked for.
import type { PoolStatus } from './snapshot.js';
import type { StatusFormat } from './query.js';
import { renderText } from './render-text.js';
import { renderJson } from './render-json.js';
import { renderXml } from './render-xml.js';
import { renderHtml } from './render-html.js';
import { renderOpenMetrics } from './render-openmetrics.js';

export function render(s: PoolStatus, format: StatusFormat, full: boolean): string {
  switch (format) {
    case 'text': return renderText(s, full);
    case 'json': return renderJson(s, full);
    case 'xml': return renderXml(s, full);
    case 'html': return renderHtml(s, full);
    case 'openmetrics': return renderOpenMetrics(s);
  }
}
