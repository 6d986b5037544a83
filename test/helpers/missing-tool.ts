/**
 * What a test does when this machine lacks a tool it needs (an engine, a server binary): it
 * skips, loudly, the reason in the report (the skip's text and a diagnostic) and on stderr,
 * where whoever watches the run sees it. In CI it fails instead: CI installs and starts every
 * tool the tests need (.ci/run), so a tool missing there is a broken CI, not a reason to skip.
 *
 *   export function requireThing(t: TestContext): boolean {
 *     const reason = thingUnavailableReason();
 *     return reason === null || skipForMissingTool(t, 'a thing', reason);
 *   }
 */
import type { TestContext } from 'node:test';

/** True when the run is CI's: CI is set to anything but '', '0' or 'false'. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** The test context's part this needs (a fake in the helper's own test). */
export type SkippableTest = Pick<TestContext, 'name' | 'diagnostic' | 'skip'>;

/**
 * Skips `t` for want of `need` (e.g. "a Docker engine") and returns false; in CI, throws: the
 * test fails, with the same reason.
 */
export function skipForMissingTool(t: SkippableTest, need: string, reason: string, env: NodeJS.ProcessEnv = process.env): false {
  const text = `needs ${need}: ${reason}`;
  if (isCi(env)) throw new Error(`${text}. CI is set (CI=${env.CI}), and CI provides every tool the tests need (.ci/run): a missing one fails the test instead of skipping it`);
  t.diagnostic(`SKIPPED: ${text}`);
  process.stderr.write(`SKIPPED "${t.name}": ${text}\n`);
  t.skip(text);
  return false;
}
