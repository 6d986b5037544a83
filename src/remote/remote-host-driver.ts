/**
 * The HostDriver of a rollout (src/remote/rollout.ts) for a host reached over
 * SSH: each operation is the same slipway command a person would run on that host.
 */
import { once } from 'node:events';
import type { StoreConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { writeReleaseStream } from '../store/release-transfer.js';
import { readReleaseManifest } from '../store/releases.js';
import { nothingToBackUp } from '../release/declared-data.js';
import type { HostDriver, HostState } from './rollout.js';
import type { RemoteSlipway } from './remote-slipway.js';

export interface RemoteHostDriverOptions {
  remote: RemoteSlipway;
  app: string;
  target: { id: string; version: string };
  /** the store the CLI took the release from; sent over SSH when the host cannot pull */
  sourceStore: BlobStore;
  /** the environment's store: a host that reaches it (S3) pulls the release itself */
  storeConfig: StoreConfig;
  reason: string;
  /** a line for the operator that is not an event of the rollout (why a host could not pull) */
  onNote?: (line: string) => void;
}

interface RemoteStatus {
  current: { id: string; version: string } | null;
}

interface RemoteDeployment {
  to: string;
  outcome: string | null;
  steps: { name: string; outcome: string }[];
}

export function createRemoteHostDriver(o: RemoteHostDriverOptions): HostDriver {
  const { remote } = o;
  const env = remote.environment;
  // What status() found serving: backup() asks whether that release has data to save.
  let serving: HostState['current'] = null;
  return {
    name: remote.name,

    async status(): Promise<HostState> {
      const status = await remote.slipwayJson<RemoteStatus>(['status', env]);
      serving = status.current ? { id: status.current.id, version: status.current.version } : null;
      return { current: serving };
    },

    async backup() {
      // The serving release's manifest, from the store it was deployed from (same digest, same
      // content as the host's copy). A release the store no longer holds: the host decides.
      const manifest = serving ? await readReleaseManifest(o.sourceStore, o.app, serving.id).catch(() => null) : null;
      const nothing = manifest ? nothingToBackUp({ manifest }) : null;
      if (nothing) return { skipped: `${serving!.version}: ${nothing}` };
      const backup = await remote.slipwayJson<{ id: string }>(['backup', env, '--reason', 'pre-deploy']);
      return { id: backup.id };
    },

    async ensureRelease() {
      const receive = ['release', 'receive', env, '--id', o.target.id];
      const check = await remote.slipway([...receive, '--check', '--json']);
      if (check.exitCode === 0) return 'present';
      const hostHas = contentsOnHost(check.stdout);
      if (o.storeConfig.type === 's3') {
        // A host that reaches the bucket downloads the release itself; otherwise it comes over SSH.
        const pulled = await remote.slipway([...receive, '--from-store', JSON.stringify(o.storeConfig)], { timeoutMs: 10 * 60_000 });
        if (pulled.exitCode === 0) return 'pulled';
        const why = pulled.stderr.split('\n').find((l) => l.startsWith('error: '))?.slice('error: '.length) ?? `exit code ${pulled.exitCode}`;
        o.onNote?.(`${remote.name}: cannot pull from the store (${why}); sending the release over SSH`);
      }
      const child = remote.spawnSlipway(receive);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      const sent = writeReleaseStream({ store: o.sourceStore, app: o.app, id: o.target.id, out: child.stdin!, skip: (digest) => hostHas.has(digest) }).catch((error: unknown) => error);
      const [code] = await exited;
      const sendError = await sent;
      if (code !== 0) {
        throw remote.failure(receive, { exitCode: code ?? 255, stdout: '', stderr: stderr || (sendError instanceof Error ? `error: ${sendError.message}` : '') });
      }
      if (sendError instanceof Error) throw sendError;
      return 'streamed';
    },

    async deploy(onProgress, { backup }) {
      // The backup taken first becomes the host's own pre-update backup when it still fits (the host checks).
      const useBackup = backup ? ['--use-backup', backup] : [];
      // The backup step's line when it used it (src/update/steps/backup.ts words it so).
      const usedLine = backup ? `backup ${backup} taken at the start of the rollout (` : null;
      let backupReused = false;
      const deployOn = (extra: string[]) =>
        remote.slipway(['deploy', env, '--version', o.target.id, '--yes', '--no-plan', '--reason', o.reason, ...extra], {
          onStderrLine: (line) => {
            if (usedLine && line.includes(usedLine)) backupReused = true;
            onProgress(line);
          },
        });
      let result = await deployOn(useBackup);
      if (backup && result.exitCode === 2 && /use-backup|rolloutBackupId/.test(result.stderr)) {
        // A host whose slipway predates --use-backup refused it before doing anything (exit code 2): it backs up on its own.
        o.onNote?.(`${remote.name}: its slipway cannot take the rollout's backup as its update's own, so its update backs up again (run \`slipway setup ${env}\` to update it)`);
        result = await deployOn([]);
      }
      if (result.exitCode !== 0) throw remote.failure(['deploy'], result);
      const [latest] = await remote.slipwayJson<RemoteDeployment[]>(['history', env, '--limit', '1']);
      if (!latest || latest.outcome !== 'succeeded') {
        throw new SlipwayError('REMOTE_STATE_UNEXPECTED', `${remote.name}: deploy said done but its history says ${latest?.outcome ?? 'nothing'}`, {
          hint: `see \`slipway history ${env} --host ${remote.name}\``,
        });
      }
      const migrated = latest.steps.some((s) => s.name === 'migrate' && s.outcome === 'done');
      return backup ? { migrated, backupReused } : { migrated };
    },

    async rollback({ toVersion, withData }) {
      const args = ['rollback', env, '--yes', '--reason', `${o.reason}: the rollout stopped`];
      if (toVersion) args.push('--to', toVersion);
      if (withData) args.push('--with-data');
      const result = await remote.slipway(args);
      if (result.exitCode !== 0) throw remote.failure(['rollback'], result);
    },
  };
}

/** The contents a host's store already holds, from `release receive --check --json` (none from a host that does not say). */
function contentsOnHost(checkOutput: string): Set<string> {
  try {
    const parsed = JSON.parse(checkOutput) as { contents?: unknown };
    return new Set(Array.isArray(parsed.contents) ? parsed.contents.filter((d): d is string => typeof d === 'string') : []);
  } catch {
    return new Set();
  }
}
