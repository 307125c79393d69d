// The fixed-size buffers request bodies are held in (in memory, and on their
// way to and from a spool file), reused from one request to the next: the
// master allocates none per read, so its memory stays flat under uploads
// (a buffer per read would be freed only when the garbage collector ran, the
// glibc heap growth docs/request-path.md describes for the read buffers).
// And the budget that bounds what all held requests keep in memory together.

/** Size of one piece. */
export const PIECE = 64 * 1024;
// Pieces kept for later requests (4 MiB).
const FREE_MAX = 64;
const freePieces: Buffer[] = [];

export function takePiece(): Buffer {
  return freePieces.pop() ?? Buffer.allocUnsafeSlow(PIECE);
}

/** Only for a piece nothing refers to any more (no write in flight). */
export function givePiece(b: Buffer): void {
  if (freePieces.length < FREE_MAX) freePieces.push(b);
}

/** Memory a held request may keep before the rest goes to a spool file. */
export const MEMORY_MAX = 1024 * 1024;
/** Memory all held requests may keep together: past it, bodies go to spool files from their first byte over. */
export const MEMORY_TOTAL = 32 * 1024 * 1024;
let held = 0;

/** Reserves `pieces` pieces of the shared budget; false (nothing reserved) when that would pass it. */
export function reserveMemory(pieces: number): boolean {
  if ((held + pieces) * PIECE > MEMORY_TOTAL) return false;
  held += pieces;
  return true;
}

export function releaseMemory(pieces: number): void {
  held -= pieces;
}

/** Pieces reserved now (tests). */
export function memoryHeld(): number {
  return held;
}
