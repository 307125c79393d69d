// php-fpm's request timeouts as src/slowlog/timeouts.ts decides them: slow
// once per request, terminate after, the slowlog first when both are due,
// requests finished early (fastcgi_finish_request) only with
// track_finished; the heartbeat; the WARNING lines word for word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heartbeatMs, nextDueMs, purify, seconds, slowLine, terminateLine, verdict, type TimeoutSettings } from '../../src/slowlog/timeouts.js';

const S: TimeoutSettings = { slowMs: 1000, terminateMs: 4000, trackFinished: false };
const r = (elapsedMs: number, o: { finished?: boolean; slowLogged?: boolean } = {}) => ({ elapsedMs, finished: false, slowLogged: false, ...o });

test('verdicts over a request\'s life', () => {
  assert.equal(verdict(r(999.9), S), null);
  assert.equal(verdict(r(1000), S), 'slow');
  assert.equal(verdict(r(1500, { slowLogged: true }), S), null, 'logged once');
  assert.equal(verdict(r(4000, { slowLogged: true }), S), 'terminate');
  assert.equal(verdict(r(5000), S), 'slow', 'both due: the slowlog first, as in php-fpm');
  assert.equal(verdict(r(5000), { ...S, slowMs: 0 }), 'terminate');
  assert.equal(verdict(r(60_000), { ...S, terminateMs: 0, slowMs: 0 }), null);
});

test('a request finished early: never slow, terminated only with track_finished', () => {
  assert.equal(verdict(r(9000, { finished: true }), S), null);
  assert.equal(nextDueMs(r(100, { finished: true }), S), null);
  const track = { ...S, trackFinished: true };
  assert.equal(verdict(r(2000, { finished: true }), track), null, 'not slow');
  assert.equal(verdict(r(4000, { finished: true }), track), 'terminate');
  assert.equal(nextDueMs(r(1000, { finished: true }), track), 3000);
});

test('next deadline and heartbeat', () => {
  assert.equal(nextDueMs(r(250), S), 750);
  assert.equal(nextDueMs(r(1200, { slowLogged: true }), S), 2800);
  assert.equal(nextDueMs(r(4100, { slowLogged: true }), S), 0, 'overdue: now');
  assert.equal(nextDueMs(r(10), { ...S, terminateMs: 0 }), 990);
  assert.equal(nextDueMs(r(10, { slowLogged: true }), { ...S, terminateMs: 0 }), null);
  assert.equal(heartbeatMs(S), 333, 'a third of the shortest, as php-fpm logs it (333ms)');
  assert.equal(heartbeatMs({ ...S, slowMs: 0 }), 1333);
  assert.equal(heartbeatMs({ slowMs: 0, terminateMs: 300, trackFinished: false }), 130, "php-fpm's floor");
});

test('php-fpm\'s WARNING lines', () => {
  const line = { pool: 'www', pid: 11267, script: '/tmp/slow.php', method: 'GET', uri: '/slow.php', query: 'a=1' };
  assert.equal(slowLine(line, 1022.732), `[pool www] child 11267, script '/tmp/slow.php' (request: "GET /slow.php?a=1") executing too slow (1.022732 sec), logging`);
  assert.equal(terminateLine({ ...line, uri: '', query: '' }, 4021.868), `[pool www] child 11267, script '/tmp/slow.php' (request: "GET ") execution timed out (4.021868 sec), terminating`);
  assert.equal(purify('/srv/a\tb\x7f\xe9.php'), '/srv/a.b\x7f..php', 'control and non-ASCII bytes, not DEL');
  assert.equal(seconds(0.0004), '0.000000');
  assert.equal(seconds(59999.9999), '60.000000');
});
