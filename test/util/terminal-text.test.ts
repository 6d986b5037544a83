/**
 * Text from the store or a release reaches logs and terminals with its control
 * characters escaped: a release whose notes, commit message, who and why hold ESC[2J
 * (clear the screen), an OSC title sequence and a forged "\n[agent] deployed v9" line.
 * Units of printable(); the agent's log line for a channel move (real store, real
 * poller, real ledger); and the built CLI's release show and channel history.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startRemoteControl, type AgentFacade } from '../../src/agent/remote-control.js';
import type { AgentStatus } from '../../src/agent/api.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { writeChannel } from '../../src/store/channels.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { printable, printableLines } from '../../src/util/terminal-text.js';
import { commitAll, createNotesRepo, describeRun, git, makeSandbox } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const ESC = '\u001b';
const FORGED = '\n[agent] deployed v9';
const WHO = `eve${ESC}[2J${FORGED}`;
const WHY = `hotfix ${ESC}[31mred${ESC}[0m${ESC}]0;pwned\u0007${FORGED}`;

/** No byte a terminal acts on, and no line that starts like the agent's own. */
function assertInert(text: string): void {
  assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, `a control character got through: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /^\[agent\] deployed v9/m, `a forged line got through: ${JSON.stringify(text)}`);
}

test('printable shows C0, C1, DEL, ESC and newlines as escapes; printableLines keeps newlines only', () => {
  assert.equal(printable(`${ESC}[2J`), '\\x1b[2J');
  assert.equal(printable(`ok${FORGED}`), 'ok\\n[agent] deployed v9');
  assert.equal(printable('a\r\tb\u0000\u007f\u009b2J'), 'a\\r\\tb\\x00\\x7f\\x9b2J');
  assert.equal(printable('user\u202eexe.txt'), 'user\\u202eexe.txt', 'a right-to-left override');
  assert.equal(printable('v1.2.3 — déjà vu ✓'), 'v1.2.3 — déjà vu ✓', 'printable text is unchanged');
  assert.equal(printableLines(`line 1\nline 2 ${ESC}[2J\r`), 'line 1\nline 2 \\x1b[2J\\r');
  assert.equal(printable(printable(WHO)), printable(WHO), 'escaping twice changes nothing');
  assertInert(printable(WHO));
  assertInert(printable(WHY));
});

test("the agent's log line for a channel move escapes who and why from the store", async (t) => {
  const root = tempDir(t);
  const store = createLocalStore(path.join(root, 'store'));
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const lines: string[] = [];
  const environment: EnvironmentConfig = {
    name: 'production',
    host: 'local',
    hosts: [],
    port: 1,
    bind: '127.0.0.1',
    store: { type: 'local', path: path.join(root, 'store') },
    requireSignature: false,
    publicKeys: [],
    retention: { releases: 3, backups: { last: 1, daily: 0, weekly: 0 } },
    healthWindowMs: 0,
    drainTimeoutMs: 0,
    pull: { intervalMs: 30, jitterMs: 5 },
    management: null,
    hostname: 'web-1',
  };
  const status: AgentStatus = { environment: 'production', url: '', current: null, previous: null, health: 'none', lock: null, maintenance: null, agent: null, slots: [] };
  const facade: AgentFacade = {
    app: 'notes',
    environment,
    layout,
    ledger,
    store,
    processEnv: {},
    signaturePolicy: async () => ({ required: false, publicKeysPem: [] }),
    status: async () => status,
    update: async () => ({ ok: true, version: 'v4' }) as Awaited<ReturnType<AgentFacade['update']>>,
    logTail: async () => [],
    log: (line) => lines.push(line),
  };
  await writeChannel(store, 'notes', { environment: 'production', releaseId: '4'.repeat(64), version: `v4${ESC}[2J`, who: WHO, when: new Date().toISOString(), why: WHY });
  const remote = await startRemoteControl(facade);
  t.after(() => remote.close());
  await waitUntil('the channel move is logged', () => lines.some((line) => line.startsWith('channel production →')), 10_000);
  assert.ok(lines.includes(`channel production → v4\\x1b[2J (${printable(WHY)}, by ${printable(WHO)}): deploy`), lines.join('\n'));
  // the poller's own line about the move too
  assert.ok(lines.some((l) => l.startsWith('channel production names v4\\x1b[2J') && l.includes(printable(WHO))), lines.join('\n'));
  for (const l of lines) assertInert(l);
});

test('release show and channel history print a hostile release and pointer inert (built CLI)', async (t) => {
  const box = makeSandbox(t);
  const repo = await createNotesRepo(path.join(box.root, 'repo'));
  fs.mkdirSync(path.join(repo, 'releases'));
  fs.writeFileSync(path.join(repo, 'releases', 'v4.md'), `Fixed ${ESC}[2J the screen${ESC}]0;pwned\u0007\r\n[agent] deployed v9\n`);
  commitAll(repo, `ship ${ESC}[2J v4${FORGED}`);
  git(repo, 'tag', 'v4');
  const built = await box.run(['build'], { cwd: repo, timeoutMs: 120_000 });
  assert.equal(built.code, 0, describeRun(built));

  const shown = await box.run(['release', 'show', 'v4'], { cwd: repo });
  assert.equal(shown.code, 0, describeRun(shown));
  assertInert(shown.stdout);
  assert.match(shown.stdout, /^ {2}message {4}ship \\x1b\[2J v4$/m);
  // notes keep their lines, each indented under the heading, with escapes shown
  assert.match(shown.stdout, /^ {2}Fixed \\x1b\[2J the screen\\x1b\]0;pwned\\x07\\r$/m);
  assert.match(shown.stdout, /^ {2}\[agent\] deployed v9$/m);

  const set = await box.run(['channel', 'set', 'production', 'v4', '--reason', WHY], { cwd: repo, env: { SLIPWAY_WHO: WHO } });
  assert.equal(set.code, 0, describeRun(set));
  const history = await box.run(['channel', 'history', 'production'], { cwd: repo });
  assert.equal(history.code, 0, describeRun(history));
  assertInert(history.stdout);
  assert.ok(history.stdout.includes(printable(WHO)) && history.stdout.includes(printable(WHY)), history.stdout);
  assert.equal(history.stdout.trim().split('\n').length, 2, 'one header and one row');
});
