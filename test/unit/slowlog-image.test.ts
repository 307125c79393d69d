// The slowlog's view of php-cgi's binary (src/slowlog/elf.ts, load-base.ts,
// php-layout.ts) on ELF images built here byte by byte: symbols from .dynsym
// and .symtab, segments, the .rodata build id, malformed files; the load
// base from /proc/PID/maps lines; the PHP build and its layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readElf, ElfError, ET_DYN, ET_EXEC, EM_X86_64, type ReadAt } from '../../src/slowlog/elf.js';
import { devString, imageStart, loadBias, parseMapLine } from '../../src/slowlog/load-base.js';
import { layoutFor, phpBuild } from '../../src/slowlog/php-layout.js';

interface Sym { name: string; value: number; size: number; undefined?: boolean }
interface ElfSpec {
  type?: number;
  machine?: number;
  dynsym?: Sym[];
  symtab?: Sym[];
  rodata?: Buffer;
  loads?: Array<{ offset: number; vaddr: number; size: number }>;
}

/** A little-endian ELF64 image: header, PT_LOADs, string and symbol tables, .rodata, section headers. */
function buildElf(spec: ElfSpec): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const place = (b: Buffer): number => {
    const pad = (8 - (size % 8)) % 8;
    if (pad > 0) { parts.push(Buffer.alloc(pad)); size += pad; }
    const at = size;
    parts.push(b);
    size += b.length;
    return at;
  };
  const loads = spec.loads ?? [{ offset: 0, vaddr: 0, size: 0x1000 }];
  const ehdr = Buffer.alloc(64);
  place(ehdr);
  const phdrs = Buffer.alloc(56 * loads.length);
  loads.forEach((l, i) => {
    phdrs.writeUInt32LE(1, i * 56);
    phdrs.writeBigUInt64LE(BigInt(l.offset), i * 56 + 8);
    phdrs.writeBigUInt64LE(BigInt(l.vaddr), i * 56 + 16);
    phdrs.writeBigUInt64LE(BigInt(l.size), i * 56 + 32);
    phdrs.writeBigUInt64LE(BigInt(l.size), i * 56 + 40);
  });
  const phoff = place(phdrs);

  const sections: Array<{ name: string; type: number; offset: number; size: number; link: number; entsize: number }> = [];
  const symTable = (syms: Sym[], kind: number, names: string): void => {
    let strs = Buffer.from([0]);
    const table = Buffer.alloc(24 * (syms.length + 1));
    syms.forEach((s, i) => {
      const at = 24 * (i + 1);
      table.writeUInt32LE(strs.length, at);
      strs = Buffer.concat([strs, Buffer.from(`${s.name}\0`, 'latin1')]);
      table[at + 4] = 0x11; // GLOBAL OBJECT
      table.writeUInt16LE(s.undefined ? 0 : 5, at + 6);
      table.writeBigUInt64LE(BigInt(s.value), at + 8);
      table.writeBigUInt64LE(BigInt(s.size), at + 16);
    });
    const strIndex = sections.length + 1;
    sections.push({ name: names, type: 3, offset: place(strs), size: strs.length, link: 0, entsize: 0 });
    sections.push({ name: kind === 11 ? '.dynsym' : '.symtab', type: kind, offset: place(table), size: table.length, link: strIndex, entsize: 24 });
  };
  if (spec.dynsym) symTable(spec.dynsym, 11, '.dynstr');
  if (spec.symtab) symTable(spec.symtab, 2, '.strtab');
  if (spec.rodata) sections.push({ name: '.rodata', type: 1, offset: place(spec.rodata), size: spec.rodata.length, link: 0, entsize: 0 });
  let shstr = Buffer.from([0]);
  const nameAt = new Map<string, number>();
  for (const n of [...sections.map((s) => s.name), '.shstrtab']) {
    nameAt.set(n, shstr.length);
    shstr = Buffer.concat([shstr, Buffer.from(`${n}\0`)]);
  }
  sections.push({ name: '.shstrtab', type: 3, offset: place(shstr), size: shstr.length, link: 0, entsize: 0 });
  const shdrs = Buffer.alloc(64 * (sections.length + 1));
  sections.forEach((s, i) => {
    const at = 64 * (i + 1);
    shdrs.writeUInt32LE(nameAt.get(s.name)!, at);
    shdrs.writeUInt32LE(s.type, at + 4);
    shdrs.writeBigUInt64LE(BigInt(s.offset), at + 24);
    shdrs.writeBigUInt64LE(BigInt(s.size), at + 32);
    shdrs.writeUInt32LE(s.link, at + 40);
    shdrs.writeBigUInt64LE(BigInt(s.entsize), at + 56);
  });
  const shoff = place(shdrs);

  ehdr.writeUInt32BE(0x7f454c46, 0);
  ehdr[4] = 2; ehdr[5] = 1; ehdr[6] = 1;
  ehdr.writeUInt16LE(spec.type ?? ET_DYN, 16);
  ehdr.writeUInt16LE(spec.machine ?? EM_X86_64, 18);
  ehdr.writeBigUInt64LE(BigInt(phoff), 32);
  ehdr.writeBigUInt64LE(BigInt(shoff), 40);
  ehdr.writeUInt16LE(64, 52);
  ehdr.writeUInt16LE(56, 54);
  ehdr.writeUInt16LE(loads.length, 56);
  ehdr.writeUInt16LE(64, 58);
  ehdr.writeUInt16LE(sections.length + 1, 60);
  ehdr.writeUInt16LE(sections.length, 62);
  return Buffer.concat(parts);
}

const reader = (b: Buffer): ReadAt => (offset, length) => b.subarray(offset, offset + length);
const RODATA = Buffer.from('\0Zend Engine\0API20220829,NTS\0X-Powered-By: PHP/8.2.36\0more', 'latin1');
const WANT = ['executor_globals', 'sapi_globals'];

test('symbols from .dynsym, segments and .rodata of a PIE', () => {
  const img = buildElf({
    dynsym: [{ name: 'zend_version', value: 0x100, size: 8 }, { name: 'executor_globals', value: 0x56ad00, size: 1800 }, { name: 'sapi_globals', value: 0x56a760, size: 552 }],
    rodata: RODATA,
    loads: [{ offset: 0, vaddr: 0, size: 0xdc5c0 }, { offset: 0xdd000, vaddr: 0xdd000, size: 0x306ebd }],
  });
  const e = readElf(reader(img), WANT, '.rodata');
  assert.equal(e.type, ET_DYN);
  assert.equal(e.machine, EM_X86_64);
  assert.deepEqual(e.segments.map((s) => [s.offset, s.vaddr]), [[0, 0], [0xdd000, 0xdd000]]);
  assert.deepEqual(Object.fromEntries(e.symbols), { executor_globals: { value: 0x56ad00, size: 1800 }, sapi_globals: { value: 0x56a760, size: 552 } });
  assert.deepEqual(e.section, RODATA);
});

test('.symtab fills what .dynsym lacks; undefined references are skipped', () => {
  const img = buildElf({
    dynsym: [{ name: 'executor_globals', value: 0, size: 0, undefined: true }, { name: 'sapi_globals', value: 0x2000, size: 552 }],
    symtab: [{ name: 'executor_globals', value: 0x3000, size: 1800 }, { name: 'sapi_globals', value: 0x9999, size: 1 }],
  });
  const e = readElf(reader(img), WANT, '.rodata');
  assert.equal(e.symbols.get('executor_globals')?.value, 0x3000);
  assert.equal(e.symbols.get('sapi_globals')?.value, 0x2000, '.dynsym wins');
  assert.equal(e.section, null, 'no .rodata');
});

test('malformed images are refused with ElfError', () => {
  assert.throws(() => readElf(reader(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(64))), WANT, '.rodata'), (e) => e instanceof ElfError && /not an ELF/.test(e.message));
  const img = buildElf({ dynsym: [] });
  const elf32 = Buffer.from(img);
  elf32[4] = 1;
  assert.throws(() => readElf(reader(elf32), WANT, '.rodata'), /64-bit little-endian/);
  assert.throws(() => readElf(reader(img.subarray(0, 40)), WANT, '.rodata'), /ELF header is cut short/);
  assert.throws(() => readElf(reader(img.subarray(0, img.length - 10)), WANT, '.rodata'), /section headers is cut short/);
});

test('maps lines and the device as maps prints it', () => {
  assert.deepEqual(parseMapLine('55d0c6a00000-55d0c6adc000 r--p 00000000 fe:00 1234567                    /usr/bin/php-cgi8.2'), {
    start: 0x55d0c6a00000, end: 0x55d0c6adc000, perms: 'r--p', offset: 0, dev: 'fe:00', inode: 1234567, path: '/usr/bin/php-cgi8.2',
  });
  assert.equal(parseMapLine('7ffd1c5e9000-7ffd1c60a000 rw-p 00000000 00:00 0                          [stack]')?.path, '[stack]');
  assert.equal(parseMapLine('garbage'), null);
  // makedev(254, 0), makedev(8, 1), makedev(259, 65536)
  assert.equal(devString(254 << 8), 'fe:00');
  assert.equal(devString((8 << 8) | 1), '08:01');
  assert.equal(devString((259n << 8n) | ((65536n & ~0xffn) << 12n)), '103:10000');
});

const MAPS = [
  '55d0c6a00000-55d0c6adc000 r--p 00000000 fe:00 1234567                    /usr/bin/php-cgi8.2',
  '55d0c6add000-55d0c6de4000 r-xp 000dd000 fe:00 1234567                    /usr/bin/php-cgi8.2',
  '7f0000000000-7f0000100000 r--p 00000000 fe:00 7777                       /usr/lib/x86_64-linux-gnu/libc.so.6',
  '7ffd1c5e9000-7ffd1c60a000 rw-p 00000000 00:00 0                          [stack]',
].join('\n');

test('the image is found by inode and device, whatever path maps shows', () => {
  assert.equal(imageStart(MAPS, { dev: 'fe:00', inode: 1234567, path: '/elsewhere' }), 0x55d0c6a00000);
  // overlayfs: stat's device is the overlay's, maps shows the lower layer's.
  assert.equal(imageStart(MAPS, { dev: '00:2a', inode: 1234567, path: '/usr/bin/php-cgi8.2' }), 0x55d0c6a00000);
  assert.equal(imageStart(MAPS, { dev: 'fe:00', inode: 42, path: '/usr/bin/php-cgi8.2' }), null, 'not mapped');
  // The same inode on two devices: the device decides; without a device match, the path.
  const two = `${MAPS}\n560000000000-560000001000 r--p 00000000 fe:01 1234567 /jail/usr/bin/php-cgi8.2`;
  assert.equal(imageStart(two, { dev: 'fe:01', inode: 1234567, path: '' }), 0x560000000000);
  assert.equal(imageStart(two, { dev: '00:2a', inode: 1234567, path: '/usr/bin/php-cgi8.2' }), 0x55d0c6a00000);
  assert.equal(imageStart(two, { dev: '00:2a', inode: 1234567, path: '/nowhere' }), null);
  assert.equal(imageStart('55d0c6a00000-55d0c6adc000 r--p 00000000 fe:00 1234567 /usr/bin/php-cgi8.2 (deleted)', { dev: '00:01', inode: 1234567, path: '/usr/bin/php-cgi8.2' }), 0x55d0c6a00000);
});

test('load bias: PIE at its mapping, fixed executables at 0', () => {
  const segs = [{ offset: 0, vaddr: 0, filesz: 1, memsz: 1 }];
  assert.equal(loadBias(ET_DYN, segs, 0x55d0c6a00000), 0x55d0c6a00000);
  assert.equal(loadBias(ET_DYN, [{ offset: 0, vaddr: 0x400123, filesz: 1, memsz: 1 }], 0x7f0000400000), 0x7f0000000000);
  assert.equal(loadBias(ET_EXEC, segs, null), 0);
  assert.equal(loadBias(ET_DYN, segs, null), null, 'not mapped');
  assert.equal(loadBias(ET_DYN, [{ offset: 0x1000, vaddr: 0x1000, filesz: 1, memsz: 1 }], 0x1000), null, 'no segment at offset 0');
  assert.equal(loadBias(1, segs, 0x1000), null, 'a relocatable object');
});

test('PHP build from .rodata, and the layouts known', () => {
  const b = phpBuild(RODATA);
  assert.deepEqual(b, { buildId: 'API20220829,NTS', version: '8.2.36' });
  const l = layoutFor(EM_X86_64, b);
  assert.ok(typeof l !== 'string');
  assert.equal(l.egCurrentExecuteData, 488);
  assert.match(layoutFor(EM_X86_64, phpBuild(Buffer.from('API20230831,NTS\0X-Powered-By: PHP/8.3.1\0'))) as string,
    /^PHP 8\.3\.1 \(API20230831,NTS\): tsfpm knows the memory layout of PHP 8\.2 NTS \(API20220829,NTS\) only$/);
  assert.match(layoutFor(EM_X86_64, phpBuild(Buffer.from('API20220829,TS\0'))) as string, /^this PHP \(API20220829,TS\)/);
  assert.match(layoutFor(183, b) as string, /on ELF machine 183: tsfpm knows PHP's memory layout on x86-64 only/);
  assert.match(layoutFor(EM_X86_64, phpBuild(Buffer.from('nothing here'))) as string, /no PHP module build id/);
  assert.match(layoutFor(EM_X86_64, phpBuild(null)) as string, /no PHP module build id/);
  // Part of a longer string is not the id.
  assert.equal(phpBuild(Buffer.from('xAPI20220829,NTSy\0')).buildId, null);
});
