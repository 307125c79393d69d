// The dashboard's script, inline in the page: it draws the pool from the
// snapshot embedded in the page, then polls `?json&full` (php-fpm's own json,
// unchanged) every 2 s and redraws; the charts start from the server's last
// ten minutes (history.ts) and go on with the polls. Every value from the
// server reaches the page through textContent or an SVG attribute it builds
// itself, never as markup. Extra pools on the same site can be listed in the
// fragment: `#pools=/status-api,/status-admin`.
//
// Plain ES2017 without template literals, so it can live in this string; the
// functions are global so test/unit/dashboard-client.test.ts can run the pure
// ones in node:vm. ASCII only (the CSP hash is over the bytes).

export const DASHBOARD_JS = String.raw`'use strict';
var REFRESH_MS = 2000;
var MAX_BACKOFF_MS = 15000;
var WINDOW_MS = 10 * 60 * 1000;
var RATE_SPAN_MS = 10000;
var LONG_US = 1000000;
var SVG_NS = 'http://www.w3.org/2000/svg';
var DASH = '\u2013';

function pad2(n) { return (n < 10 ? '0' : '') + n; }
function clockTime(ms) { var d = new Date(ms); return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()); }
var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function dateTime(ms) { var d = new Date(ms); return d.getDate() + ' ' + MONTHS[d.getMonth()] + ' ' + clockTime(ms); }

/** Seconds as "42 s", "3 min 12 s", "5 h 3 min", "2 d 4 h". */
function fmtAge(sec) {
  sec = Math.max(0, Math.floor(sec));
  if (sec < 60) return sec + ' s';
  var m = Math.floor(sec / 60);
  if (m < 60) return m + ' min ' + (sec % 60) + ' s';
  var h = Math.floor(m / 60);
  if (h < 48) return h + ' h ' + (m % 60) + ' min';
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
}

/** php-fpm's request duration (microseconds). */
function fmtDuration(us) {
  if (typeof us !== 'number' || !(us >= 0)) return DASH;
  if (us < 1000) return us + ' \u00b5s';
  if (us < 1000000) return (us / 1000).toFixed(us < 10000 ? 1 : 0) + ' ms';
  var s = us / 1000000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
  return fmtAge(s);
}

function fmtBytes(n) {
  if (typeof n !== 'number' || !(n >= 0)) return DASH;
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

function fmtRate(r) {
  if (r === null || !isFinite(r)) return DASH;
  if (r < 10) return r.toFixed(2);
  if (r < 100) return r.toFixed(1);
  return String(Math.round(r));
}

function fmtInt(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : DASH; }

/** Requests per second between consecutive points ({t, accepted}) as [{t0, t, v}]; a counter that went back (a restart) gives none. */
function rates(points) {
  var out = [];
  for (var i = 1; i < points.length; i++) {
    var dt = (points[i].t - points[i - 1].t) / 1000;
    var d = points[i].accepted - points[i - 1].accepted;
    if (dt > 0 && d >= 0) out.push({ t0: points[i - 1].t, t: points[i].t, v: d / dt });
  }
  return out;
}

/** A sampled figure as [{t0, t, v}]: each sample stands for the time since the one before. */
function steps(points, key) {
  var out = [];
  for (var i = 1; i < points.length; i++) out.push({ t0: points[i - 1].t, t: points[i].t, v: points[i][key] });
  return out;
}

/** Requests per second over the newest span ms (from the newest point back to the first one at least span older). */
function recentRate(points, span) {
  if (points.length < 2) return null;
  var last = points[points.length - 1];
  var first = points[points.length - 2];
  for (var i = points.length - 2; i >= 0; i--) {
    first = points[i];
    if (last.t - first.t >= span) break;
  }
  var dt = (last.t - first.t) / 1000;
  var d = last.accepted - first.accepted;
  return dt > 0 && d >= 0 ? d / dt : null;
}

/** Drops points older than the window, keeping one before it (the first rate's baseline). */
function trimPoints(points, now) {
  while (points.length > 2 && points[1].t < now - WINDOW_MS) points.shift();
}

/** The child php-fpm shows serving the status request itself: that is this poll, not work. */
function isSelf(p, selfUri) {
  if (!selfUri || p.state !== 'Running') return false;
  var u = p['request uri'];
  return u === selfUri || (typeof u === 'string' && u.indexOf(selfUri + '?') === 0);
}

/** The figures a panel shows, from one php-fpm json&full reply. */
function figures(j, selfUri) {
  var procs = Array.isArray(j.processes) ? j.processes : [];
  var self = 0;
  for (var i = 0; i < procs.length; i++) if (isSelf(procs[i], selfUri)) self++;
  return {
    busy: Math.max(0, j['active processes'] - self),
    total: j['total processes'],
    queue: j['listen queue'],
    procs: procs,
    self: self
  };
}

/** Whether a string is a path on this site (for #pools=...). */
function samePath(s) { return typeof s === 'string' && s.charAt(0) === '/' && s.charAt(1) !== '/' && s.indexOf('\\') < 0; }

/** #pools=/a,/b: the other pools' status paths to show too. */
function extraPools(hash) {
  var m = /(?:^#|&)pools=([^&]*)/.exec(hash || '');
  if (!m) return [];
  var out = [];
  m[1].split(',').forEach(function (p) {
    try { p = decodeURIComponent(p); } catch (e) { return; }
    if (samePath(p) && out.indexOf(p) < 0) out.push(p);
  });
  return out;
}

// ---- DOM

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svgEl(tag, attrs) {
  var e = document.createElementNS(SVG_NS, tag);
  for (var k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}

function card(parent, label) {
  var c = el('div', 'card');
  c.appendChild(el('div', 'label', label));
  var v = el('div', 'value', DASH);
  var s = el('div', 'sub', '');
  c.appendChild(v);
  c.appendChild(s);
  parent.appendChild(c);
  return { value: v, sub: s, box: c };
}

var W = 600, H = 100;

function chart(parent, title, legend) {
  var c = el('div', 'chart');
  var head = el('div', 'chart-head');
  head.appendChild(el('div', 'label', title));
  if (legend) {
    var lg = el('div', 'legend');
    legend.forEach(function (l) { var s = el('span', null, l[1]); var i = el('i', l[0]); s.insertBefore(i, s.firstChild); lg.appendChild(s); });
    head.appendChild(lg);
  }
  c.appendChild(head);
  var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  c.appendChild(svg);
  var axis = el('div', 'axis');
  var left = el('span', null, '');
  var top = el('span', null, '');
  var right = el('span', null, 'now');
  axis.appendChild(left);
  axis.appendChild(top);
  axis.appendChild(right);
  c.appendChild(axis);
  parent.appendChild(c);
  return { svg: svg, top: top, left: left };
}

/** The charts' time span: the history there is, rounded up to 1, 2, 5 or 10 minutes. */
function spanOf(points, now) {
  var age = points.length > 0 ? now - points[0].t : 0;
  var spans = [60000, 120000, 300000, WINDOW_MS];
  for (var i = 0; i < spans.length; i++) if (age <= spans[i]) return spans[i];
  return WINDOW_MS;
}

function xOf(t, now, span) { return Math.max(0, Math.min(W, W - (now - t) / span * W)); }
function yOf(v, max) { return H - 2 - (v / max) * (H - 8); }

/** A step line through [{t0, t, v}] (each value held from t0 to t), closed to the baseline for an area. */
function stepPath(series, now, max, area, span) {
  if (series.length === 0) return '';
  var d = '';
  for (var i = 0; i < series.length; i++) {
    var x0 = xOf(series[i].t0, now, span).toFixed(1);
    var x1 = xOf(series[i].t, now, span).toFixed(1);
    var y = yOf(series[i].v, max).toFixed(1);
    if (i === 0) d += area ? 'M' + x0 + ' ' + H : 'M' + x0 + ' ' + y;
    d += ' L' + x0 + ' ' + y + ' L' + x1 + ' ' + y;
  }
  if (area) d += ' L' + xOf(series[series.length - 1].t, now, span).toFixed(1) + ' ' + H + ' Z';
  return d;
}

function drawChart(c, layers, max, now, topLabel, windowMs) {
  c.left.textContent = '-' + windowMs / 60000 + ' min';
  while (c.svg.firstChild) c.svg.removeChild(c.svg.firstChild);
  c.svg.appendChild(svgEl('line', { x1: 0, y1: H - 1, x2: W, y2: H - 1, 'class': 's-base', 'vector-effect': 'non-scaling-stroke' }));
  layers.forEach(function (l) {
    var d = stepPath(l.series, now, max, l.area, windowMs);
    if (d) c.svg.appendChild(svgEl('path', { d: d, 'class': l.cls, 'vector-effect': 'non-scaling-stroke' }));
  });
  c.top.textContent = topLabel;
}

function cell(tr, label, cls, text) {
  var td = el('td', 'c-' + label.toLowerCase() + (cls ? ' ' + cls : ''));
  td.setAttribute('data-label', label);
  var v = el('span', 'v', text);
  td.appendChild(v);
  tr.appendChild(td);
  return v;
}

// ---- a pool

function Panel(root, url, selfUri) {
  this.url = url;
  this.selfUri = selfUri;
  this.points = [];
  this.startTime = null;
  this.box = el('section', 'pool');
  var head = el('div', 'pool-head');
  var h2 = el('h2', null, 'pool ');
  this.name = el('span', 'name', url);
  h2.appendChild(this.name);
  head.appendChild(h2);
  this.pm = el('span', 'badge', '');
  head.appendChild(this.pm);
  this.meta = el('span', 'meta', '');
  head.appendChild(this.meta);
  this.note = el('span', 'note', '');
  head.appendChild(this.note);
  this.box.appendChild(head);
  var cards = el('div', 'cards');
  this.cRate = card(cards, 'Requests / s');
  this.cBusy = card(cards, 'Busy children');
  this.cQueue = card(cards, 'Listen queue');
  this.cReached = card(cards, 'Max children reached');
  this.box.appendChild(cards);
  var charts = el('div', 'charts');
  this.chRate = chart(charts, 'Requests per second');
  this.chBusy = chart(charts, 'Busy children, queue', [['i-busy', 'busy'], ['i-queue', 'queue']]);
  this.box.appendChild(charts);
  var h3 = el('h3', null, 'Children');
  this.count = el('span', 'meta', '');
  h3.appendChild(this.count);
  this.box.appendChild(h3);
  var wrap = el('div', 'procs-wrap');
  this.table = el('table', 'procs');
  wrap.appendChild(this.table);
  this.box.appendChild(wrap);
  root.appendChild(this.box);
}

/** Series points from the server's history, its times moved to this clock. */
Panel.prototype.seed = function (history, offset) {
  for (var i = 0; i < history.length; i++) {
    var h = history[i];
    this.points.push({ t: h[0] + offset, accepted: h[1], active: h[2], queue: h[3] });
  }
};

Panel.prototype.update = function (j, now) {
  var f = figures(j, this.selfUri);
  if (this.startTime !== null && j['start time'] !== this.startTime) {
    this.points = [];
    this.note.textContent = 'restarted at ' + dateTime(j['start time'] * 1000);
  }
  this.startTime = j['start time'];
  var last = this.points[this.points.length - 1];
  if (last && j['accepted conn'] < last.accepted) this.points = [];
  this.points.push({ t: now, accepted: j['accepted conn'], active: f.busy, queue: f.queue });
  trimPoints(this.points, now);

  this.name.textContent = String(j.pool);
  this.pm.textContent = String(j['process manager']);
  this.meta.textContent = 'up ' + fmtAge(j['start since']) + ', since ' + dateTime(j['start time'] * 1000);

  var rate = recentRate(this.points, RATE_SPAN_MS);
  this.cRate.value.textContent = fmtRate(rate);
  this.cRate.sub.textContent = 'accepted conn ' + fmtInt(j['accepted conn']);
  this.cBusy.value.textContent = f.busy + ' / ' + f.total;
  this.cBusy.value.classList.toggle('hot', f.total > 0 && f.busy >= f.total);
  this.cBusy.sub.textContent = 'idle ' + (f.total - f.busy) + ' \u00b7 max active ' + j['max active processes'];
  this.cQueue.value.textContent = fmtInt(f.queue);
  this.cQueue.value.classList.toggle('hot', f.queue > 0);
  this.cQueue.sub.textContent = 'max ' + fmtInt(j['max listen queue']) + ' \u00b7 len ' + fmtInt(j['listen queue len']);
  this.cReached.value.textContent = fmtInt(j['max children reached']);
  this.cReached.sub.textContent = 'slow requests ' + fmtInt(j['slow requests']);

  var rs = rates(this.points);
  var rmax = 1;
  rs.forEach(function (r) { if (r.v > rmax) rmax = r.v; });
  var windowMs = spanOf(this.points, now);
  drawChart(this.chRate, [{ series: rs, cls: 's-rate', area: true }], rmax * 1.1, now, 'peak ' + fmtRate(rs.length ? Math.max.apply(null, rs.map(function (r) { return r.v; })) : null) + '/s', windowMs);
  var busy = steps(this.points, 'active');
  var queue = steps(this.points, 'queue');
  var bmax = Math.max(1, f.total);
  this.points.forEach(function (p) { if (p.queue > bmax) bmax = p.queue; if (p.active > bmax) bmax = p.active; });
  drawChart(this.chBusy, [{ series: busy, cls: 's-busy' }, { series: queue, cls: 's-queue' }], bmax * 1.1, now, 'max ' + bmax, windowMs);

  this.drawProcs(f);
};

Panel.prototype.drawProcs = function (f) {
  var self = this.selfUri;
  var procs = f.procs;
  var usage = procs.some(function (p) { return p['last request cpu'] > 0 || p['last request memory'] > 0; });
  var cols = ['PID', 'State', 'Requests', 'Duration', 'Method', 'Request', 'Script', 'User', 'Length', 'Started'];
  if (usage) cols.push('CPU', 'Memory');
  var t = this.table;
  while (t.firstChild) t.removeChild(t.firstChild);
  var thead = el('thead');
  var hr = el('tr');
  cols.forEach(function (c) { hr.appendChild(el('th', null, c)); });
  thead.appendChild(hr);
  t.appendChild(thead);
  var tb = el('tbody');
  var running = 0;
  procs.forEach(function (p) {
    var me = isSelf(p, self);
    var st = String(p.state);
    if (st !== 'Idle' && !me) running++;
    var tr = el('tr', (st === 'Running' ? 'running' : st === 'Idle' ? 'idle' : 'reading') + (me ? ' self' : ''));
    cell(tr, 'PID', 'num', p.pid);
    var s = cell(tr, 'State', null, '');
    s.appendChild(el('span', 'state', st));
    cell(tr, 'Requests', 'num', fmtInt(p.requests));
    var dur = cell(tr, 'Duration', 'num', fmtDuration(p['request duration']));
    if (st === 'Running' && !me && p['request duration'] >= LONG_US) dur.className = 'v long';
    cell(tr, 'Method', null, p['request method']);
    var u = cell(tr, 'Request', 'uri', p['request uri']);
    if (me) u.appendChild(el('span', 'tag', 'this status request'));
    else if (st === 'Idle' && p['request uri'] !== '-') u.appendChild(el('span', 'tag', 'last request'));
    cell(tr, 'Script', 'script', p.script);
    cell(tr, 'User', null, p.user);
    cell(tr, 'Length', 'num', fmtInt(p['content length']));
    cell(tr, 'Started', null, fmtAge(p['start since']) + ' ago');
    if (usage) {
      cell(tr, 'CPU', 'num', Number(p['last request cpu']).toFixed(2) + ' %');
      cell(tr, 'Memory', 'num', fmtBytes(p['last request memory']));
    }
    tb.appendChild(tr);
  });
  t.appendChild(tb);
  this.count.textContent = procs.length + ' \u00b7 ' + running + ' busy';
};

Panel.prototype.stale = function (on) { this.box.classList.toggle('stale', on); };

// ---- polling

function Dashboard(data) {
  this.live = document.getElementById('live');
  this.liveText = document.getElementById('live-text');
  this.banner = document.getElementById('banner');
  this.lastOk = null;
  this.downSince = null;
  this.error = '';
  this.failures = 0;
  this.timer = null;
  this.nextAt = 0;
  var root = document.getElementById('pools');
  var now = Date.now();
  var main = new Panel(root, '', data.self);
  main.seed(data.history, now - data.now);
  main.update(data.status, now);
  this.panels = [main];
  var self = this;
  extraPools(location.hash).forEach(function (p) { self.panels.push(new Panel(root, p, p)); });
  this.lastOk = now;
  this.render();
}

Dashboard.prototype.statusUrl = function (p) { return p.url + '?json&full'; };

Dashboard.prototype.poll = function () {
  var self = this;
  this.timer = null;
  var jobs = this.panels.map(function (p) {
    return fetch(self.statusUrl(p), { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status + (r.statusText ? ' ' + r.statusText : ''));
        return r.json().catch(function () { throw new Error('the reply is not the status json'); });
      })
      .then(function (j) {
        if (!j || typeof j['accepted conn'] !== 'number') throw new Error('the reply is not the status json');
        p.update(j, Date.now());
        p.stale(false);
        return null;
      }, function (e) {
        p.stale(true);
        return e instanceof TypeError ? 'no connection' : String(e && e.message || e);
      });
  });
  Promise.all(jobs).then(function (errors) {
    var err = errors.filter(function (e) { return e !== null; });
    if (err.length === 0) {
      self.failures = 0;
      self.downSince = null;
      self.error = '';
      self.lastOk = Date.now();
    } else {
      self.failures++;
      if (self.downSince === null) self.downSince = Date.now();
      self.error = err[0];
    }
    self.schedule();
    self.render();
  });
};

Dashboard.prototype.schedule = function () {
  if (this.timer !== null) clearTimeout(this.timer);
  if (document.visibilityState === 'hidden') { this.timer = null; return; }
  var wait = this.failures === 0 ? REFRESH_MS : Math.min(MAX_BACKOFF_MS, REFRESH_MS * Math.pow(2, this.failures - 1));
  this.nextAt = Date.now() + wait;
  var self = this;
  this.timer = setTimeout(function () { self.poll(); }, wait);
};

Dashboard.prototype.render = function () {
  var now = Date.now();
  var down = this.downSince !== null;
  this.live.className = 'live ' + (down ? 'down' : 'up');
  var ago = this.lastOk === null ? '' : fmtAge((now - this.lastOk) / 1000) + ' ago';
  if (down) {
    var retry = Math.max(0, Math.ceil((this.nextAt - now) / 1000));
    this.liveText.textContent = 'not answering since ' + clockTime(this.downSince) + ' \u00b7 retry in ' + retry + ' s';
    this.banner.hidden = false;
    this.banner.textContent = 'No answer from the status page since ' + clockTime(this.downSince) + ' (' + this.error +
      '). The figures below are from ' + clockTime(this.lastOk) + ', ' + ago + '.';
  } else {
    this.liveText.textContent = 'live \u00b7 updated ' + clockTime(this.lastOk) + ' (' + ago + ')';
    this.banner.hidden = true;
  }
};

function start() {
  var data = JSON.parse(document.getElementById('tsfpm-status').textContent);
  var d = new Dashboard(data);
  d.schedule();
  setInterval(function () { d.render(); }, 1000);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible' && d.timer === null) d.poll();
  });
  window.addEventListener('hashchange', function () { location.reload(); });
  document.documentElement.setAttribute('data-ready', '1');
}

if (typeof document !== 'undefined') start();
`;
