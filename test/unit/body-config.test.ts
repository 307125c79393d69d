// tsfpm.request_buffering: a pool directive of tsfpm's own. Parsed as
// php-fpm's booleans (file:line on a bad value), off by default, printed by
// -tt only when on (so -tt of a php-fpm config stays php-fpm's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { envResolver } from '../../src/config/ini-line.js';
import { validateConfig } from '../../src/config/validate.js';
import { dumpConfig } from '../../src/config/dump.js';
import { makeTempDir } from '../helpers/tmp.js';

const BIN = path.resolve(__dirname, '../../../bin/tsfpm');

function parse(extra: string) {
  const text = `[www]\nlisten = 9000\npm = static\npm.max_children = 1\n${extra}`;
  return parseConfig('/etc/x.conf', { readFile: () => text, glob: () => ({ ok: false, ret: 3 }), resolver: envResolver({}), prefix: null });
}

test('tsfpm.request_buffering: off by default, php-fpm booleans, any case of the name', () => {
  const d = parse('');
  assert.ok(d.ok);
  assert.equal(d.config.pools[0].requestBuffering, false);
  for (const v of ['yes', 'on', '1', 'true']) {
    const r = parse(`tsfpm.request_buffering = ${v}\n`);
    assert.ok(r.ok, v);
    assert.equal(r.config.pools[0].requestBuffering, true, v);
  }
  const r = parse('TSFPM.Request_Buffering = off\n');
  assert.ok(r.ok);
  assert.equal(r.config.pools[0].requestBuffering, false);
});

test('tsfpm.request_buffering: a bad value is an error at file:line', () => {
  const r = parse('\ntsfpm.request_buffering = sometimes\n');
  assert.equal(r.ok, false);
  assert.deepEqual(r.messages.map((m) => `${m.level}: ${m.text}`), ["error: [/etc/x.conf:6] unable to parse value for entry 'tsfpm.request_buffering': invalid boolean value"]);
});

test('-tt prints tsfpm.request_buffering only when on', () => {
  const dump = (extra: string): string[] => {
    const p = parse(extra);
    assert.ok(p.ok);
    const v = validateConfig(p.config, '/etc/x.conf', {
      prefix: null, euid: 0, allowRoot: true, test: true, isDir: () => true, touchAppend: () => {},
      lookupUser: () => ({ uid: 0, gid: 0 }), lookupGroup: () => 0,
    });
    assert.ok(v.ok, JSON.stringify(v.messages));
    return dumpConfig(v.config);
  };
  assert.ok(!dump('').some((l) => l.includes('tsfpm.')));
  assert.ok(!dump('tsfpm.request_buffering = no\n').some((l) => l.includes('tsfpm.')));
  const on = dump('tsfpm.request_buffering = yes\n');
  assert.ok(on.includes('\ttsfpm.request_buffering = yes'));
  assert.ok(on.indexOf('\ttsfpm.request_buffering = yes') > on.indexOf('\tsecurity.limit_extensions = .php .phar'));
});

test('bin/tsfpm -t: accepted, and refused with exit 78 and the line on a bad value', () => {
  const dir = makeTempDir('tsfpm-bodyconf-');
  const conf = path.join(dir, 'php-fpm.conf');
  const write = (v: string): void => fs.writeFileSync(conf, `[global]\nerror_log = ${dir}/e.log\n[www]\nlisten = 9000\npm = static\npm.max_children = 1\ntsfpm.request_buffering = ${v}\n`);
  write('yes');
  const ok = spawnSync(process.execPath, [BIN, '-t', '-R', '-y', conf], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  write('maybe');
  const bad = spawnSync(process.execPath, [BIN, '-t', '-R', '-y', conf], { encoding: 'utf8' });
  assert.equal(bad.status, 78);
  assert.match(bad.stderr, new RegExp(`ERROR: \\[${conf.replace(/[.]/g, '\\.')}:7\\] unable to parse value for entry 'tsfpm\\.request_buffering': invalid boolean value`));
});
