/**
 * A host for the update's unit tests: a real layout, ledger, journal and local store with two
 * releases of a small app whose data is one folder (`uploads`), and a fake runtime that starts
 * nothing but records what the update asked of it. The migration is a function the fake runs,
 * so a test sees exactly what the data was before, during and after.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openJournal } from '../../src/host/journal.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { canonicalManifestBytes, releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import type { AuthorCommand, AppRuntime, HealthWindowResult, RunningRelease, SlotName } from '../../src/runtime/app-runtime.js';
import type { MaintenanceMode, SwitchResult } from '../../src/runtime/proxy.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import type { UpdateHost } from '../../src/update/context.js';
import { contentsOf, manifestOf } from '../helpers/manifests.js';
import { tempDir } from '../helpers/temp-dir.js';

export const APP = 'tiny';

/** Records every call; a release "runs" until stopped. What fails is set by the test. */
export class FakeRuntime implements AppRuntime {
  readonly calls: string[] = [];
  readonly modes: MaintenanceMode[] = [];
  /** the author's commands by command line: the fake runs them as functions */
  readonly commands = new Map<string, () => void>();
  /** versions whose start fails, whose health window fails */
  readonly failsToStart = new Set<string>();
  readonly failsHealthWindow = new Set<string>();
  private activeRelease: RunningRelease | null = null;
  private standby: { release: RunningRelease; since: Date } | null = null;
  private readonly running = new Set<RunningRelease>();
  private mode: MaintenanceMode = { mode: 'off' };

  active(): RunningRelease | null {
    return this.activeRelease;
  }
  inStandby(): RunningRelease | null {
    return this.standby?.release ?? null;
  }
  async startIdle(releaseId: string, manifest: ReleaseManifest): Promise<RunningRelease> {
    this.calls.push(`start ${manifest.version}`);
    if (this.failsToStart.has(manifest.version)) throw new SlipwayError('RELEASE_UNHEALTHY', `${manifest.version} did not become healthy`);
    const name: SlotName = this.activeRelease?.name === 'blue' ? 'green' : 'blue';
    const release: RunningRelease = { name, releaseId, version: manifest.version, manifest, port: 1, startedAt: new Date().toISOString() };
    this.running.add(release);
    return release;
  }
  async activate(release: RunningRelease): Promise<SwitchResult> {
    this.calls.push(`activate ${release.version}`);
    const previous = this.activeRelease;
    this.activeRelease = release;
    return { previous: previous ? previous.port : null, drained: true, inFlightLeft: 0 };
  }
  deactivate(): void {
    this.calls.push('deactivate');
    this.activeRelease = null;
  }
  async stop(release: RunningRelease): Promise<string> {
    this.calls.push(`stop ${release.version}`);
    this.running.delete(release);
    if (this.activeRelease === release) this.activeRelease = null;
    return `stopped ${release.version}`;
  }
  isAlive(release: RunningRelease): boolean {
    return this.running.has(release);
  }
  async watchHealth(release: RunningRelease): Promise<HealthWindowResult> {
    this.calls.push(`watch ${release.version}`);
    return this.failsHealthWindow.has(release.version) ? { ok: false, reason: 'HTTP 500', output: ['boom'] } : { ok: true };
  }
  async takeStandby(releaseId: string): Promise<{ release: RunningRelease; since: Date } | null> {
    const standby = this.standby?.release.releaseId === releaseId ? this.standby : null;
    if (standby) this.standby = null;
    return standby;
  }
  async retire(release: RunningRelease): Promise<string> {
    this.calls.push(`retire ${release.version}`);
    this.standby = { release, since: new Date() };
    return `${release.version} kept warm in standby`;
  }
  setMaintenance(mode: MaintenanceMode): void {
    this.mode = mode;
    this.modes.push(mode);
  }
  maintenance(): MaintenanceMode {
    return this.mode;
  }
  /** no proxy here: no write is ever in flight */
  async writesSettled(): Promise<boolean> {
    return true;
  }
  async runCommand(o: AuthorCommand): Promise<void> {
    this.calls.push(`run ${o.command}`);
    const work = this.commands.get(o.command);
    if (!work) throw new Error(`the fake has no command ${o.command}`);
    work();
  }
  /** Every release the fake still runs, by version. */
  runningVersions(): string[] {
    return [...this.running].map((r) => r.version).sort();
  }
}

export interface UpdateFixture {
  layout: HostLayout;
  ledger: Ledger;
  runtime: FakeRuntime;
  host: UpdateHost;
  releases: Record<'v1' | 'v2' | 'v3', { id: string; manifest: ReleaseManifest }>;
  /** the content of uploads/state.txt in the shared folder */
  readState(): string;
  writeState(text: string): void;
  /** the same host opened afresh (a new agent after a crash): new ledger, journal and runtime */
  reopen(): UpdateFixture;
}

function releaseOf(version: string, migrate: string | null): { id: string; manifest: ReleaseManifest; files: Record<string, string> } {
  const files = { 'server.js': `// ${version}\n` };
  const base = manifestOf(APP, version, files);
  const manifest: ReleaseManifest = {
    ...base,
    migrates: migrate !== null,
    runtime: {
      ...base.runtime,
      services: [{ name: 'web', command: 'node server.js', portEnv: 'PORT', env: {}, health: { path: '/healthz', intervalMs: 50, timeoutMs: 1000, successes: 1, deadlineMs: 5_000 } }],
      data: { databases: [], folders: ['uploads'] },
      migrate: migrate === null ? null : { command: migrate, reversible: false, timeoutMs: 60_000 },
    },
  };
  return { id: releaseIdOf(manifest), manifest, files };
}

export async function createUpdateFixture(t: TestContext): Promise<UpdateFixture> {
  const root = tempDir(t, 'slipway-update-');
  const store = createLocalStore(path.join(root, 'store'));
  const made = { v1: releaseOf('v1', null), v2: releaseOf('v2', 'migrate v2'), v3: releaseOf('v3', null) };
  for (const r of Object.values(made)) {
    await putRelease(store, { app: APP, id: r.id, manifestBytes: canonicalManifestBytes(r.manifest), content: contentsOf(r.files) });
  }
  const environment: EnvironmentConfig = {
    name: 'production',
    host: 'local',
    hosts: [],
    port: 0,
    bind: '127.0.0.1',
    store: { type: 'local', path: path.join(root, 'store') },
    requireSignature: false,
    publicKeys: [],
    retention: { releases: 5, backups: { last: 10, daily: 0, weekly: 0 } },
    healthWindowMs: 100,
    drainTimeoutMs: 100,
    pull: null,
    management: null,
  };
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const uploads = path.join(layout.sharedDir, 'uploads');
  mkdirSync(uploads, { recursive: true });
  const stateFile = path.join(uploads, 'state.txt');
  const open = (): UpdateFixture => {
    const ledger = openLedger(layout.ledgerFile);
    t.after(() => ledger.close());
    const runtime = new FakeRuntime();
    const host: UpdateHost = {
      app: APP,
      environmentName: 'production',
      environment,
      layout,
      ledger,
      journal: openJournal(layout.journalFile),
      store,
      runtime,
      appConfig: async () => ({ values: {}, missing: [] }),
    };
    return {
      layout,
      ledger,
      runtime,
      host,
      releases: { v1: made.v1, v2: made.v2, v3: made.v3 },
      readState: () => readFileSync(stateFile, 'utf8'),
      writeState: (text) => writeFileSync(stateFile, text),
      reopen: open,
    };
  };
  return open();
}
