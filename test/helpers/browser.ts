/** What the dashboard tests share: the system's Chromium (or why they skip), a page's errors, a checked screenshot. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** false when Chromium is there; else why `what` is not tested (also printed as a warning). */
export function chromiumMissingReason(what: string): string | false {
  if (fs.existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is missing (apt-get install -y chromium): the dashboard is NOT tested`;
  console.warn(`SKIPPING ${what}: ${reason}`);
  return reason;
}

/** The script errors and console errors of `page` (CSP violations among them), as they come. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

/**
 * Saves a full-page screenshot as `name` for people to look at (one file, replaced by each
 * run: $SLIPWAY_SCREENSHOT_DIR or <tmp>/slipway-screenshots) and checks that it is a PNG.
 */
export async function saveScreenshot(t: { diagnostic(message: string): void }, page: Page, name: string): Promise<void> {
  const shots = process.env.SLIPWAY_SCREENSHOT_DIR ?? path.join(os.tmpdir(), 'slipway-screenshots');
  fs.mkdirSync(shots, { recursive: true });
  const screenshot = path.join(shots, name);
  fs.rmSync(screenshot, { force: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  t.diagnostic(`dashboard screenshot: ${screenshot}`);
  const png = fs.readFileSync(screenshot);
  assert.ok(png.length > 1000, 'the screenshot is not empty');
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'it is a PNG');
}
