// Pure: what the slowlog needs from php-cgi's ELF image: the file type, the
// loadable segments, the addresses of a few global symbols (.dynsym, else
// .symtab) and the contents of one section (for the PHP build id). Reads
// only the headers, the symbol and string tables and that section (~0.5 MB
// of a 5.5 MB php-cgi) through `read`, so it runs on a file, a Buffer or
// anything else. ELF64 little-endian only: PHP's layouts are only known here
// for x86-64 (php-layout.ts).
//
// Why not an npm package: the ones there are (elfy, elf-tools) parse the
// whole image into objects and come without types; this needs ~150 lines.

/** `length` bytes at file offset `offset`; fewer at the end of the file. */
export type ReadAt = (offset: number, length: number) => Buffer;

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;

export interface Segment { offset: number; vaddr: number; filesz: number; memsz: number }
export interface ElfSymbol { value: number; size: number }

export interface ElfImage {
  type: number;
  machine: number;
  segments: Segment[];
  /** The wanted symbols found, by name. */
  symbols: Map<string, ElfSymbol>;
  /** The contents of the wanted section, or null when the image has none. */
  section: Buffer | null;
}

export class ElfError extends Error {}

/** Section and symbol tables larger than this are refused (php-cgi's: ~70 KB each). */
const MAX_TABLE = 64 * 1024 * 1024;

function exact(read: ReadAt, offset: number, length: number, what: string): Buffer {
  if (length > MAX_TABLE) throw new ElfError(`${what} is ${length} bytes`);
  const b = read(offset, length);
  if (b.length < length) throw new ElfError(`${what} is cut short (${b.length} of ${length} bytes at ${offset})`);
  return b;
}

/** A u64 that must fit a JS number (offsets, sizes and user-space addresses do). */
function u64(b: Buffer, at: number): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`value 0x${v.toString(16)} at ${at} out of range`);
  return Number(v);
}

function cstrAt(b: Buffer, at: number): string {
  if (at >= b.length) return '';
  const end = b.indexOf(0, at);
  return b.toString('latin1', at, end < 0 ? b.length : end);
}

interface Shdr { name: number; type: number; offset: number; size: number; link: number; entsize: number }

/**
 * Reads the ELF header, program and section headers of the image behind
 * `read`, then the symbols named in `wanted` and the section `sectionName`.
 * Throws ElfError for anything that is not a well-formed ELF64 LE image.
 */
export function readElf(read: ReadAt, wanted: readonly string[], sectionName: string): ElfImage {
  const h = exact(read, 0, 64, 'ELF header');
  if (h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
  if (h[4] !== 2 || h[5] !== 1) throw new ElfError('not a 64-bit little-endian ELF file');
  const type = h.readUInt16LE(16);
  const machine = h.readUInt16LE(18);
  const phoff = u64(h, 32);
  const shoff = u64(h, 40);
  const phentsize = h.readUInt16LE(54);
  const phnum = h.readUInt16LE(56);
  const shentsize = h.readUInt16LE(58);
  const shnum = h.readUInt16LE(60);
  const shstrndx = h.readUInt16LE(62);

  const segments: Segment[] = [];
  if (phnum > 0) {
    if (phentsize < 56) throw new ElfError(`program header entries of ${phentsize} bytes`);
    const ph = exact(read, phoff, phentsize * phnum, 'program headers');
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      if (ph.readUInt32LE(at) !== PT_LOAD) continue;
      segments.push({ offset: u64(ph, at + 8), vaddr: u64(ph, at + 16), filesz: u64(ph, at + 32), memsz: u64(ph, at + 40) });
    }
  }

  const shdrs: Shdr[] = [];
  if (shnum > 0) {
    if (shentsize < 64) throw new ElfError(`section header entries of ${shentsize} bytes`);
    const sh = exact(read, shoff, shentsize * shnum, 'section headers');
    for (let i = 0; i < shnum; i++) {
      const at = i * shentsize;
      shdrs.push({
        name: sh.readUInt32LE(at), type: sh.readUInt32LE(at + 4), offset: u64(sh, at + 24),
        size: u64(sh, at + 32), link: sh.readUInt32LE(at + 40), entsize: u64(sh, at + 56),
      });
    }
  }
  const table = (s: Shdr, what: string): Buffer => exact(read, s.offset, s.size, what);

  const symbols = new Map<string, ElfSymbol>();
  const want = new Set(wanted);
  // .dynsym first (what a stripped binary keeps), then .symtab for what is still missing.
  for (const kind of [SHT_DYNSYM, SHT_SYMTAB]) {
    for (const s of shdrs) {
      if (s.type !== kind || symbols.size === want.size) continue;
      if (s.link >= shdrs.length || s.entsize < 24) throw new ElfError('symbol table without a string table');
      const syms = table(s, 'symbol table');
      const strs = table(shdrs[s.link], 'string table');
      for (let at = 0; at + 24 <= syms.length; at += s.entsize) {
        const name = cstrAt(strs, syms.readUInt32LE(at));
        if (!want.has(name) || symbols.has(name)) continue;
        const shndx = syms.readUInt16LE(at + 6);
        if (shndx === 0) continue; // undefined: a reference, not the object
        symbols.set(name, { value: u64(syms, at + 8), size: u64(syms, at + 16) });
      }
    }
  }

  let section: Buffer | null = null;
  if (shstrndx > 0 && shstrndx < shdrs.length) {
    const names = table(shdrs[shstrndx], 'section names');
    const s = shdrs.find((x) => cstrAt(names, x.name) === sectionName);
    if (s !== undefined) section = table(s, sectionName);
  }
  return { type, machine, segments, symbols, section };
}

/** A ReadAt over an open file descriptor (positional reads; short at EOF). */
export function fdReader(fd: number, readSync: (fd: number, b: Buffer, off: number, len: number, pos: number) => number): ReadAt {
  return (offset, length) => {
    const b = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, b, got, length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    return b.subarray(0, got);
  };
}
