// The five status formats, byte for byte as php-fpm 8.2 prints them
// (fpm_status.c), for one snapshot; each also read back by a parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolStatus } from '../../src/status/snapshot.js';
import { render } from '../../src/status/render.js';
import { fpmTime } from '../../src/status/clock.js';

process.env.TZ = 'UTC';

const S: PoolStatus = {
  pool: 'www', processManager: 'dynamic', startTime: 1796076169, startSince: 14, acceptedConn: 8, listenQueue: 2,
  maxListenQueue: 3, listenQueueLen: 4096, idleProcesses: 1, activeProcesses: 1, maxActiveProcesses: 2,
  maxChildrenReached: 1, slowRequests: 0,
  processes: [
    { pid: 15301, state: 'Running', startTime: 1796076169, startSince: 14, requests: 4, requestDuration: 85, requestMethod: 'GET',
      requestUri: '/status', queryString: 'json&full', contentLength: 0n, user: '-', script: '-', lastRequestCpu: 0, lastRequestMemory: 0 },
    { pid: 15302, state: 'Idle', startTime: 1796076170, startSince: 13, requests: 3, requestDuration: 1234, requestMethod: 'POST',
      requestUri: '/index.php', queryString: '', contentLength: 12n, user: 'bob', script: '/var/www/index.php', lastRequestCpu: 0, lastRequestMemory: 2097152 },
  ],
};

test('start time as strftime %d/%b/%Y:%H:%M:%S %z in the local zone', () => {
  assert.equal(fpmTime(1796076169), '30/Nov/2026:22:02:49 +0000');
  process.env.TZ = 'Asia/Kolkata';
  try {
    assert.equal(fpmTime(1796076169), '01/Dec/2026:03:32:49 +0530');
    process.env.TZ = 'America/St_Johns';
    assert.equal(fpmTime(1796076169), '30/Nov/2026:18:32:49 -0330');
  } finally {
    process.env.TZ = 'UTC';
  }
});

const TEXT = `pool:                 www
process manager:      dynamic
start time:           30/Nov/2026:22:02:49 +0000
start since:          14
accepted conn:        8
listen queue:         2
max listen queue:     3
listen queue len:     4096
idle processes:       1
active processes:     1
total processes:      2
max active processes: 2
max children reached: 1
slow requests:        0
`;

test('text', () => {
  assert.equal(render(S, 'text', false), TEXT);
  assert.equal(render(S, 'text', true), `${TEXT}
************************
pid:                  15301
state:                Running
start time:           30/Nov/2026:22:02:49 +0000
start since:          14
requests:             4
request duration:     85
request method:       GET
request URI:          /status?json&full
content length:       0
user:                 -
script:               -
last request cpu:     0.00
last request memory:  0

************************
pid:                  15302
state:                Idle
start time:           30/Nov/2026:22:02:50 +0000
start since:          13
requests:             3
request duration:     1234
request method:       POST
request URI:          /index.php
content length:       12
user:                 bob
script:               /var/www/index.php
last request cpu:     0.00
last request memory:  2097152
`);
});

const JSON_HEAD = '{"pool":"www","process manager":"dynamic","start time":1796076169,"start since":14,"accepted conn":8,' +
  '"listen queue":2,"max listen queue":3,"listen queue len":4096,"idle processes":1,"active processes":1,"total processes":2,' +
  '"max active processes":2,"max children reached":1,"slow requests":0';

test('json: one line, php-fpm\'s keys and shape, valid JSON', () => {
  assert.equal(render(S, 'json', false), `${JSON_HEAD}}`);
  const full = render(S, 'json', true);
  assert.equal(full, `${JSON_HEAD}, "processes":[` +
    '{"pid":15301,"state":"Running","start time":1796076169,"start since":14,"requests":4,"request duration":85,"request method":"GET",' +
    '"request uri":"\\/status?json&full","content length":0,"user":"-","script":"-","last request cpu":0.00,"last request memory":0},' +
    '{"pid":15302,"state":"Idle","start time":1796076170,"start since":13,"requests":3,"request duration":1234,"request method":"POST",' +
    '"request uri":"\\/index.php","content length":12,"user":"bob","script":"/var/www/index.php","last request cpu":0.00,"last request memory":2097152}]}');
  const parsed = JSON.parse(full) as { processes: Array<Record<string, unknown>> } & Record<string, unknown>;
  assert.equal(parsed['total processes'], 2);
  assert.equal(parsed.processes[0]['request uri'], '/status?json&full');
  assert.equal(parsed.processes[1]['last request memory'], 2097152);
  assert.deepEqual(Object.keys(parsed.processes[0]), ['pid', 'state', 'start time', 'start since', 'requests', 'request duration',
    'request method', 'request uri', 'content length', 'user', 'script', 'last request cpu', 'last request memory']);
});

test('json: no process at all', () => {
  assert.equal(render({ ...S, processes: [] }, 'json', true), `${JSON_HEAD}, "processes":[]}`);
});

const XML_HEAD = `<?xml version="1.0" ?>
<status>
<pool>www</pool>
<process-manager>dynamic</process-manager>
<start-time>1796076169</start-time>
<start-since>14</start-since>
<accepted-conn>8</accepted-conn>
<listen-queue>2</listen-queue>
<max-listen-queue>3</max-listen-queue>
<listen-queue-len>4096</listen-queue-len>
<idle-processes>1</idle-processes>
<active-processes>1</active-processes>
<total-processes>2</total-processes>
<max-active-processes>2</max-active-processes>
<max-children-reached>1</max-children-reached>
<slow-requests>0</slow-requests>
`;

test('xml', () => {
  assert.equal(render(S, 'xml', false), `${XML_HEAD}</status>`);
  assert.equal(render(S, 'xml', true), `${XML_HEAD}<processes>
<process><pid>15301</pid><state>Running</state><start-time>1796076169</start-time><start-since>14</start-since><requests>4</requests><request-duration>85</request-duration><request-method>GET</request-method><request-uri>/status?json&amp;full</request-uri><content-length>0</content-length><user>-</user><script>-</script><last-request-cpu>0.00</last-request-cpu><last-request-memory>0</last-request-memory></process>
<process><pid>15302</pid><state>Idle</state><start-time>1796076170</start-time><start-since>13</start-since><requests>3</requests><request-duration>1234</request-duration><request-method>POST</request-method><request-uri>/index.php</request-uri><content-length>12</content-length><user>bob</user><script>/var/www/index.php</script><last-request-cpu>0.00</last-request-cpu><last-request-memory>2097152</last-request-memory></process>
</processes>
</status>`);
});

const HTML_HEAD = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
<head><title>PHP-FPM Status Page</title></head>
<body>
<table>
<tr><th>pool</th><td>www</td></tr>
<tr><th>process manager</th><td>dynamic</td></tr>
<tr><th>start time</th><td>30/Nov/2026:22:02:49 +0000</td></tr>
<tr><th>start since</th><td>14</td></tr>
<tr><th>accepted conn</th><td>8</td></tr>
<tr><th>listen queue</th><td>2</td></tr>
<tr><th>max listen queue</th><td>3</td></tr>
<tr><th>listen queue len</th><td>4096</td></tr>
<tr><th>idle processes</th><td>1</td></tr>
<tr><th>active processes</th><td>1</td></tr>
<tr><th>total processes</th><td>2</td></tr>
<tr><th>max active processes</th><td>2</td></tr>
<tr><th>max children reached</th><td>1</td></tr>
<tr><th>slow requests</th><td>0</td></tr>
</table>
`;

test('html', () => {
  assert.equal(render(S, 'html', false), `${HTML_HEAD}</body></html>`);
  assert.equal(render(S, 'html', true), `${HTML_HEAD}<table border="1">
<tr><th>pid</th><th>state</th><th>start time</th><th>start since</th><th>requests</th><th>request duration</th><th>request method</th><th>request uri</th><th>content length</th><th>user</th><th>script</th><th>last request cpu</th><th>last request memory</th></tr>
<tr><td>15301</td><td>Running</td><td>30/Nov/2026:22:02:49 +0000</td><td>14</td><td>4</td><td>85</td><td>GET</td><td>/status?json&amp;full</td><td>0</td><td>-</td><td>-</td><td>0.00</td><td>0</td></tr>
<tr><td>15302</td><td>Idle</td><td>30/Nov/2026:22:02:50 +0000</td><td>13</td><td>3</td><td>1234</td><td>POST</td><td>/index.php</td><td>12</td><td>bob</td><td>/var/www/index.php</td><td>0.00</td><td>2097152</td></tr>
</table></body></html>`);
});

test('openmetrics: the pool only (full adds nothing), no labels, # EOF last', () => {
  const om = render(S, 'openmetrics', true);
  assert.equal(om, render(S, 'openmetrics', false));
  assert.ok(om.startsWith('# HELP phpfpm_up Could pool www using a dynamic PM on PHP-FPM be reached?\n# TYPE phpfpm_up gauge\nphpfpm_up 1\n'));
  assert.ok(om.includes('# TYPE phpfpm_listen_queue_length gauge\n# HELP phpfpm_listen_queue_length The size of the socket queue of pending connections.\nphpfpm_listen_queue_length 4096\n'));
  assert.ok(om.endsWith('phpfpm_slow_requests 0\n# EOF\n'));
  const samples = Object.fromEntries(om.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(' ')));
  assert.deepEqual(samples, {
    phpfpm_up: '1', phpfpm_start_since: '14', phpfpm_accepted_connections: '8', phpfpm_listen_queue: '2', phpfpm_max_listen_queue: '3',
    phpfpm_listen_queue_length: '4096', phpfpm_idle_processes: '1', phpfpm_active_processes: '1', phpfpm_total_processes: '2',
    phpfpm_max_active_processes: '2', phpfpm_max_children_reached: '1', phpfpm_slow_requests: '0',
  });
});

test('request URIs escaped per format as php-fpm does; raw fields only where they would break the format', () => {
  const p = { ...S.processes[0], requestUri: '/<script>', queryString: 'a=b"c', user: 'x"<y>', script: '/a&b' };
  const s = { ...S, processes: [p] };
  assert.ok(render(s, 'json', true).includes('"request uri":"\\/<script>?a=b\\"c","content length":0,"user":"x\\"<y>","script":"/a&b"'));
  assert.ok(render(s, 'xml', true).includes('<request-uri>/&lt;script&gt;?a=b&quot;c</request-uri><content-length>0</content-length><user>x&quot;&lt;y&gt;</user><script>/a&amp;b</script>'));
  assert.ok(!render(s, 'html', true).includes('<script>'));
  assert.ok(render(s, 'text', true).includes('request URI:          /<script>?a=b"c\n'));
  const none = { ...S.processes[0], requestUri: '', queryString: 'q=1' };
  assert.ok(render({ ...S, processes: [none] }, 'text', true).includes('request URI:          -?q=1\n'), 'no request_uri: -');
  const bad = { ...S.processes[0], requestUri: '/\xff', queryString: '' };
  assert.ok(render({ ...S, processes: [bad] }, 'xml', true).includes('<request-uri></request-uri>'), 'invalid UTF-8: php-fpm prints nothing');
});
