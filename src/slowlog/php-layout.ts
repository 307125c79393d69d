// Pure: where PHP keeps what the slowlog reads, per PHP build, and how to
// tell the build from php-cgi's image.
//
// A build is named by its module build id (ZEND_MODULE_BUILD_ID, e.g.
// `API20220829,NTS`): the Zend module API number changes with every minor
// version, and extensions compiled for one id poke at these same structures,
// so their layout cannot change within it. Thread-safe (ZTS) builds keep the
// executor globals per thread, not in a symbol: not supported. The id is
// read from .rodata, where PHP keeps it as a string for `php -i` and for
// checking extensions.
//
// Offsets of PHP 8.2 NTS on x86-64: offsetof() compiled against php-src
// 8.2.32's headers (configured --disable-all, NTS) and matching what
// ../shared/docs/php-cgi-facts.md §2 measured against Debian's 8.2.36
// headers; checked end to end against php-fpm8.2's own slowlog
// (test/e2e/slowlog.test.ts). Every field up to
// executor_globals.current_execute_data precedes the struct's first #ifdef.
// Another version or machine gets entries without frames (watchdog.ts says
// why once per binary) until its offsets are added here, measured the same way.
import { EM_X86_64 } from './elf.js';

export interface PhpLayout {
  /** executor_globals.current_execute_data */
  egCurrentExecuteData: number;
  /** sapi_globals.request_info.path_translated */
  sgPathTranslated: number;
  /** zend_execute_data */
  edOpline: number;
  edFunc: number;
  edThisTypeInfo: number;
  edPrev: number;
  /** zend_function: type (u8), common.function_name, op_array.filename */
  fnType: number;
  fnName: number;
  fnFilename: number;
  /** zend_op.lineno (u32) */
  opLineno: number;
  /** zend_string.val */
  strVal: number;
  /** ZEND_CALL_KIND_EX(): the call-info bits, top-level code, include/eval */
  callKindMask: number;
  callTopCode: number;
  callNestedCode: number;
}

const PHP82_LP64: PhpLayout = {
  egCurrentExecuteData: 488, sgPathTranslated: 40,
  edOpline: 0, edFunc: 24, edThisTypeInfo: 40, edPrev: 48,
  fnType: 0, fnName: 8, fnFilename: 152, opLineno: 24, strVal: 24,
  callKindMask: 0x30000, callTopCode: 0x30000, callNestedCode: 0x10000,
};

/** Known layouts by `machine:build id`. */
const LAYOUTS = new Map<string, PhpLayout>([
  [`${EM_X86_64}:API20220829,NTS`, PHP82_LP64],
]);

export const EG_SYMBOL = 'executor_globals';
export const SG_SYMBOL = 'sapi_globals';

export interface PhpBuild {
  /** `API20220829,NTS`, or null when the image has none. */
  buildId: string | null;
  /** `8.2.36`, for messages; null when not found. */
  version: string | null;
}

/** The build id and version strings in php-cgi's .rodata. */
export function phpBuild(rodata: Buffer | null): PhpBuild {
  if (rodata === null) return { buildId: null, version: null };
  // latin1: one char per byte, so a regex can scan the bytes.
  const text = rodata.toString('latin1');
  const id = /(?<=\0|^)API\d{8},(?:NTS|TS)(?:,debug)?(?=\0)/.exec(text);
  const ver = /X-Powered-By: PHP\/(\d+\.\d+\.\d+[^\0]*)\0/.exec(text);
  return { buildId: id?.[0] ?? null, version: ver?.[1] ?? null };
}

/** The layout for this machine and build, or why there is none (for the log). */
export function layoutFor(machine: number, build: PhpBuild): PhpLayout | string {
  const what = build.version !== null ? `PHP ${build.version}` : 'this PHP';
  if (build.buildId === null) return `${what}: no PHP module build id found in the binary`;
  const layout = LAYOUTS.get(`${machine}:${build.buildId}`);
  if (layout !== undefined) return layout;
  if (machine !== EM_X86_64) return `${what} (${build.buildId}) on ELF machine ${machine}: tsfpm knows PHP's memory layout on x86-64 only`;
  return `${what} (${build.buildId}): tsfpm knows the memory layout of PHP 8.2 NTS (API20220829,NTS) only`;
}
