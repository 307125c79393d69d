import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envResolver, parseIniLine, type IniStatement } from '../../src/config/ini-line.js';

const r = envResolver({ HOME: '/root', FOO: 'bar' }, { memory_limit: '128M' });
const value = (line: string): string | null => {
  const res = parseIniLine(line, r);
  assert.equal(res.error, null, `unexpected error for ${line}`);
  const e = res.statements[0] as Extract<IniStatement, { kind: 'entry' }>;
  return e.value;
};
const error = (line: string): { message: string; line: number } | null => parseIniLine(line, r).error;

test('comments, trimming and quoting', () => {
  assert.equal(value('a = b;c'), 'b');
  assert.equal(value('a = "b;c"'), 'b;c');
  assert.equal(value('a =   spaced value   '), 'spaced value');
  assert.equal(value('a = "a" "b"'), 'ab');
  assert.equal(value('a = /tmp"/o"'), '/tmp/o');
  assert.equal(value("a = /tmp '/o'"), '/tmp /o');
  assert.equal(value('a = "x\\"y\\\\z\\n"'), 'x"y\\z\\n');
  assert.equal(value("a = '${HOME}'"), '${HOME}');
  assert.equal(value('pm.process_idle_timeout = 10s;'), '10s');
  assert.equal(value('a = {a}[b]:c,d@e'), '{a}[b]:c,d@e');
});

test('${NAME}: php.ini first, then environment, else empty; $pool kept for later', () => {
  assert.equal(value('a = ${memory_limit}'), '128M');
  assert.equal(value('a = "${HOME}/x"'), '/root/x');
  assert.equal(value('a = ${NOPE}'), '');
  assert.equal(value('a = $pool.sock'), '$pool.sock');
});

test('scanner booleans and null', () => {
  for (const t of ['yes', 'On', 'TRUE']) assert.equal(value(`a = ${t}`), '1');
  for (const f of ['no', 'Off', 'false', 'none', 'NULL']) assert.equal(value(`a = ${f}`), '');
  assert.equal(value('a = "ON"'), 'ON');
  assert.equal(value('a = yesterday'), 'yesterday');
});

test('constants and expressions', () => {
  assert.equal(value('a = E_ALL'), '32767');
  assert.equal(value('a = E_ALL & ~E_NOTICE'), '32759');
  assert.equal(value('a = ~0'), '-1');
  assert.equal(value('a = 3 | 4'), '7');
  assert.equal(value('a = (1|2)'), '3');
  assert.equal(value('a = !0'), '1');
  assert.equal(value('a = a|b'), '0');
  assert.equal(value('a = PHP_VERSION/x'), 'PHP_VERSION/x');
});

test('syntax errors in Zend\'s words', () => {
  assert.deepEqual(error('a = ('), { message: 'syntax error, unexpected END_OF_LINE', line: 2 });
  assert.deepEqual(error('a = !'), { message: 'syntax error, unexpected END_OF_LINE', line: 2 });
  assert.deepEqual(error('= 5'), { message: "syntax error, unexpected '='", line: 1 });
  assert.deepEqual(error('a = /t)'), { message: "syntax error, unexpected ')'", line: 1 });
  assert.deepEqual(error('a = off # x'), { message: 'syntax error, unexpected TC_STRING', line: 1 });
  assert.deepEqual(error('a = yes abc'), { message: 'syntax error, unexpected TC_CONSTANT', line: 1 });
  assert.deepEqual(error('a = -(2)'), { message: "syntax error, unexpected '('", line: 1 });
  assert.equal(error('[www')?.message, "syntax error, unexpected end of file, expecting ']'");
  // `a = b = c`: the entry is still delivered before the error.
  const res = parseIniLine('a = b = c', r);
  assert.deepEqual(res.statements, [{ kind: 'entry', key: 'a', offset: null, value: 'b' }]);
  assert.equal(res.error?.message, "syntax error, unexpected '='");
});

test('sections, offsets and bare labels', () => {
  assert.deepEqual(parseIniLine('[www] ; c', r).statements, [{ kind: 'section', name: 'www' }]);
  assert.deepEqual(parseIniLine('[www] x', r).statements, [{ kind: 'section', name: 'www' }, { kind: 'entry', key: 'x', offset: null, value: null }]);
  assert.deepEqual(parseIniLine('php_value[ x ] = 1', r).statements, [{ kind: 'entry', key: 'php_value', offset: 'x ', value: '1' }]);
  assert.deepEqual(parseIniLine('env["Y"] = 2', r).statements, [{ kind: 'entry', key: 'env', offset: 'Y', value: '2' }]);
  assert.deepEqual(parseIniLine('access.suppress_path[] = /ping', r).statements, [{ kind: 'entry', key: 'access.suppress_path', offset: '', value: '/ping' }]);
  assert.deepEqual(parseIniLine('  ; only a comment', r).statements, []);
  assert.equal((parseIniLine('a b = 1', r).statements[0] as { key: string }).key, 'a b');
});
