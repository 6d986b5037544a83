/**
 * redactSecrets is the last line between a secret and a message, a log line or a
 * problem: every SlipwayError and supervisor log line goes through it, with text that
 * hostile input controls (archive entry names, request paths, config values). It must
 * hide every URL password, including with an empty user, and take linear time on any text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SlipwayError, redactSecrets, registerSecret } from '../../src/errors.js';
import { fcOptions, runWithDeadline } from './harness.js';

const URLS: { name: string; text: string; password: string }[] = [
  { name: 'a user and a password', text: 'connect postgres://app:pw-one-1234@db/app failed', password: 'pw-one-1234' },
  { name: 'an empty user (redis://:pw@host)', text: 'cannot reach redis://:pw-two-5678@cache:6379/0', password: 'pw-two-5678' },
  { name: 'an upper-case scheme', text: 'HTTPS://deploy:pw-three-90@example.com', password: 'pw-three-90' },
  { name: 'a 40-letter scheme', text: `${'s'.repeat(40)}://u:pw-four-12@h`, password: 'pw-four-12' },
  { name: 'a scheme with + . -', text: 'git+ssh.v2-x://u:pw-five-34@h', password: 'pw-five-34' },
  { name: 'a colon inside the password', text: 'mysql://root:pw:six:56@db', password: 'pw:six:56' },
  { name: 'two URLs on one line', text: 'a://u:pw-seven-78@h and b://:pw-eight-90@i', password: 'pw-seven-78' },
  { name: 'a URL right after a letter run', text: `${'x'.repeat(100)}http://u:pw-nine-12@h`, password: 'pw-nine-12' },
];

for (const c of URLS) {
  test(`redaction: ${c.name} → the password is hidden`, () => {
    const out = redactSecrets(c.text);
    assert.ok(!out.includes(c.password), out);
    assert.match(out, /:\*\*\*@/);
    const error = new SlipwayError('X', c.text, { hint: c.text, details: [c.text] });
    for (const shown of [error.message, error.hint!, ...error.details]) assert.ok(!shown.includes(c.password), shown);
  });
}

test('redaction: a registered secret is hidden wherever it appears, also in the middle of a word', () => {
  registerSecret('registered-secret-value-4242');
  assert.equal(redactSecrets('token=registered-secret-value-4242; again:xregistered-secret-value-4242x'), 'token=***; again:x***x');
});

const ADVERSARIAL: { name: string; text: () => string }[] = [
  { name: '1 MB of letters', text: () => 'a'.repeat(1_000_000) },
  { name: '1 MB of scheme characters', text: () => 'a+b.c-d'.repeat(150_000) },
  { name: 'a scheme then 1 MB of user', text: () => `a://${'u'.repeat(1_000_000)}` },
  { name: 'a scheme, a user, then 1 MB of password without @', text: () => `a://u:${'p'.repeat(1_000_000)}` },
  { name: 'a scheme, an empty user, then 1 MB of colons', text: () => `a://${':'.repeat(1_000_000)}` },
  { name: '300,000 "ab:" fragments', text: () => 'ab:'.repeat(300_000) },
  { name: '150,000 half URLs', text: () => 'a://u:'.repeat(150_000) },
];

for (const c of ADVERSARIAL) {
  test(`redaction: ${c.name} is redacted promptly`, async () => {
    const text = c.text();
    const out = await runWithDeadline<string>({ moduleUrl: new URL('../../src/errors.js', import.meta.url), exportName: 'redactSecrets', args: [text], deadlineMs: 10_000 });
    assert.equal(out.length, text.length, 'nothing to redact, nothing changed');
  });
}

test('redaction property: a URL password is hidden whatever surrounds it, whatever the scheme and user', () => {
  const scheme = fc.stringMatching(/^[a-z][a-z0-9+.-]{0,59}$/);
  const user = fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/);
  const password = fc.stringMatching(/^[A-Za-z0-9!$&'()*+,;=%~._:-]{4,20}$/).map((p) => `Pw${p}`);
  const around = fc.string({ maxLength: 30 });
  fc.assert(
    fc.property(around, scheme, user, password, around, (before, s, u, p, after) => {
      const text = `${before} ${s}://${u}:${p}@host.example/path ${after}`;
      const out = redactSecrets(text);
      assert.ok(!out.includes(`:${p}@`), `${JSON.stringify(text)} → ${JSON.stringify(out)}`);
      assert.ok(out.includes(`${u}:***@host.example`), out);
    }),
    fcOptions(500),
  );
});
