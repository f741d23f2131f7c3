import { findBinary } from './find-binary';

/**
 * End-to-end tests drive the distribution's Chromium (Debian package `chromium`) through
 * playwright-core: `npx playwright install` cannot download a browser here. Without a browser the
 * e2e suites are skipped with a note, unless REQUIRE_E2E=1 (CI), where a missing browser fails.
 * No Playwright import here: globalSetup uses this to report early.
 */

/** Flags known to work on these machines; the background-networking ones keep Chromium off the closed network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const NO_CHROMIUM = 'no Chromium found for the browser tests (set CHROMIUM_PATH, or install the `chromium` package)';

/** CHROMIUM_PATH (and nothing else when it is set), else /usr/bin/chromium, else `chromium` on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findBinary('CHROMIUM_PATH', '/usr/bin/chromium', 'chromium', env);
}

/** For globalSetup: fail at once when the browser is required and missing, else say it is skipped. */
export function reportChromium(env: NodeJS.ProcessEnv = process.env): void {
  if (findChromium(env)) return;
  if (env.REQUIRE_E2E === '1') throw new Error(`REQUIRE_E2E=1 but ${NO_CHROMIUM}`);
  console.warn(`\nNote: ${NO_CHROMIUM}; the e2e suites (test/e2e) are skipped.\n`);
}
