// Debian's chromium (bin/setup.sh installs it), headless, driven by
// playwright-core: a fresh profile per launch, and the flags a machine
// without network needs (no background fetches, updates or sync, which would
// otherwise be refused one by one at every start).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { REPO_ROOT } from './daemon.js';
import { makeTempDir } from './tmp.js';

export const CHROMIUM_BIN = '/usr/bin/chromium';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Viewport {
  width: number;
  height: number;
  /** A phone: touch, mobile viewport meta honoured, 2x pixels. */
  phone?: boolean;
}

export const PHONE: Viewport = { width: 390, height: 844, phone: true };
export const DESKTOP: Viewport = { width: 1280, height: 900 };

/** A browser with one page, at `vp`. Close it with context.close(). */
export async function launchChromium(vp: Viewport): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`${CHROMIUM_BIN} is missing: run bin/setup.sh (Debian package chromium)`);
  const profile = makeTempDir('tsfpm-chromium-');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: FLAGS,
    viewport: { width: vp.width, height: vp.height },
    ...(vp.phone === true ? { deviceScaleFactor: 2, isMobile: true, hasTouch: true } : {}),
    timeout: 30_000,
  });
}

/** Where tests leave screenshots for people to look at: test-output/ in the repo (git ignores it). */
export function screenshotPath(name: string): string {
  const dir = join(REPO_ROOT, 'test-output');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
