// Issue 16: `environments.<env>.data_copy` — a schedule from another environment, with a
// scrub file, or `no_scrub: true` said outright; neither, or both, is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataCopyProblems, dataCopySchema, toDataCopySettings } from '../../src/config/schema-data-copy.js';

const messages = (value: unknown) => {
  const parsed = dataCopySchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('a nightly scrubbed copy, and one said to need no scrub', () => {
  const scrubbed = dataCopySchema.parse({ from: 'production', schedule: ' 0 3 * * * ', scrub: 'scrub.sql' });
  assert.deepEqual(toDataCopySettings(scrubbed), { from: 'production', schedule: '0 3 * * *', scrubFile: 'scrub.sql', noScrub: false });
  assert.deepEqual(toDataCopySettings(dataCopySchema.parse({ from: 'production', schedule: '@daily', no_scrub: true })), { from: 'production', schedule: '@daily', noScrub: true });
});

test('no scrub said, both said, a bad schedule, an unknown key: each refused with the fix', () => {
  assert.match(messages({ from: 'production', schedule: '0 3 * * *' }).join('\n'), /^scrub: missing `scrub`: personal data should not reach another environment by default/);
  assert.match(messages({ from: 'production', schedule: '0 3 * * *', scrub: 'a.sql', no_scrub: true }).join('\n'), /no_scrub: use either `scrub`.*not both/);
  assert.match(messages({ from: 'production', schedule: '0 25 * * *', scrub: 'a.sql' }).join('\n'), /^schedule: expected a cron expression/);
  assert.match(messages({ from: 'production', schedule: '0 3 * * *', scrub: 'a.sql', when: 'nightly' }).join('\n'), /when/);
  assert.match(messages('production').join('\n'), /expected a mapping like \{ from: production/);
});

test('from names another environment of the project', () => {
  assert.deepEqual(dataCopyProblems('staging', { from: 'production' }, ['production', 'staging']), []);
  assert.match(dataCopyProblems('staging', { from: 'staging' }, ['production', 'staging'])[0]!, /staging cannot copy from itself/);
  assert.match(dataCopyProblems('staging', { from: 'prod' }, ['production', 'staging'])[0]!, /^prod is not an environment of this project \(production, staging\)$/);
});
