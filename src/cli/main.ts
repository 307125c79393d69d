export function main(argv: string[]): void {
  process.stdout.write(`tsfpm placeholder ${argv.length}\n`);
}
