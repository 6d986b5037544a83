import os from 'node:os';
import path from 'node:path';
import type { EnvironmentConfig } from '../config/types.js';
import type { BlobStore } from '../store/blob-store.js';
import { buildHostStatusReport, writeHostStatus } from '../store/status-reports.js';
import type { HostLayout } from '../host/layout.js';
import { historyEntryOf, type Ledger } from '../host/ledger.js';
import { listBackups } from '../data/index.js';
import type { UpdateEvent, UpdateOutcome, UpdateRequest } from '../update/run-update.js';
import type { AgentStatus, HistoryEntry, ManagementRollbackReply, ManagementStatus } from './api.js';
import { startChannelPoller, type ChannelPoller } from './channel-poller.js';
import { checkChannelPointer, testedRunOf, type ChannelPointer, type TestedRun } from '../store/channels.js';
import { startManagementServer } from './management-server.js';
import { readManagementSecret } from './management-auth.js';
import { resolveRollbackTarget } from './rollback-target.js';
import { printable } from '../util/terminal-text.js';

/** What the pull loop and the management API need from the agent. */
export interface AgentFacade {
  app: string;
  environment: EnvironmentConfig;
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  processEnv: NodeJS.ProcessEnv;
  /** what the environment requires of signatures (read at each check, so a new key counts without a restart) */
  signaturePolicy(): Promise<{ required: boolean; publicKeysPem: string[] }>;
  status(): Promise<AgentStatus>;
  update(kind: 'deploy' | 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateOutcome>;
  logTail(lines: number): Promise<string[]>;
  log(line: string): void;
}

export interface RemoteControl {
  /** writes this host's status to the store (after every update; periodically) */
  reportStatus(): Promise<void>;
  close(): Promise<void>;
}

/** Errors worth trying again at the next poll, rather than remembering the release as failed. */
const TRANSIENT = new Set(['HOST_LOCKED', 'STORE_UNREACHABLE', 'STORE_ERROR', 'AGENT_DIED']);
const STATUS_EVERY_MS = 5 * 60_000;

/**
 * Pull mode (the agent follows its channel in the store and reports back) and the
 * authenticated management API with the dashboard. Both are off unless slipway.yml
 * turns them on for the environment.
 */
export async function startRemoteControl(agent: AgentFacade): Promise<RemoteControl> {
  const env = agent.environment;
  const hostname = env.hostname ?? os.hostname();
  // The poller's and the API's lines quote the store (who, why, versions, errors): one line each, no terminal escapes.
  const log = (line: string) => agent.log(printable(line));
  let poller: ChannelPoller | null = null;
  // The staging run the followed release was tested in: read from its history entry when the dashboard asks, once per pointer.
  let tested: { key: string; run: TestedRun | null } | null = null;
  const testedRun = async (pointer: ChannelPointer | null): Promise<TestedRun | null> => {
    if (!pointer) return null;
    const key = `${pointer.counter ?? 0}-${pointer.releaseId}`;
    if (tested?.key !== key) tested = { key, run: await testedRunOf(agent.store, agent.app, pointer).catch(() => null) };
    return tested.run;
  };

  let writing: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  /** the last report written, without its time: an unchanged report is not written again (except as the periodic heartbeat) */
  let lastWritten: string | null = null;

  /**
   * Writes this host's report. Writes never overlap, and each one takes its
   * snapshot when it starts: a slow earlier write cannot land after a later one
   * and leave a stale report in the store. Calls during a write share one more write.
   */
  function reportStatus(options: { heartbeat?: boolean } = {}): Promise<void> {
    if (!env.pull) return Promise.resolve();
    if (!writing) {
      writing = writeReport(options.heartbeat ?? false).finally(() => {
        writing = null;
      });
      return writing;
    }
    queued ??= writing.then(() => {
      queued = null;
      return reportStatus(options);
    });
    return queued;
  }

  async function writeReport(heartbeat: boolean): Promise<void> {
    try {
      const status = await agent.status();
      const state = poller?.state();
      const report = buildHostStatusReport({
        host: hostname,
        environment: env.name,
        current: status.current,
        previous: status.previous,
        health: status.health,
        deployments: agent.ledger.listDeployments({ limit: 20 }),
        failedRelease: state?.failedRelease ?? null,
        channel: state?.lastPointer ?? null,
        dataAge: status.dataAge,
      });
      const { reportedAt: _reportedAt, ...content } = report;
      const key = JSON.stringify(content);
      if (key === lastWritten && !heartbeat) return;
      await writeHostStatus(agent.store, agent.app, env.name, hostname, report);
      lastWritten = key;
    } catch (error) {
      log(`warning: cannot write the status report to the store: ${(error as Error).message}`);
    }
  }

  if (env.pull) {
    poller = startChannelPoller({
      store: agent.store,
      app: agent.app,
      env: env.name,
      intervalMs: env.pull.intervalMs,
      jitterMs: env.pull.jitterMs,
      stateFile: path.join(agent.layout.runDir, 'pull-state.json'),
      currentReleaseId: () => agent.ledger.getState().currentId,
      checkPointer: async (pointer, lastAcceptedCounter) =>
        checkChannelPointer({ app: agent.app, env: env.name, pointer, policy: await agent.signaturePolicy(), lastAcceptedCounter }),
      // The last accepted counter lives in the host ledger: a restarted agent refuses an older pointer too.
      acceptedCounter: {
        get: () => {
          const value = Number(agent.ledger.getStateValue(`channel_counter:${env.name}`));
          return Number.isSafeInteger(value) && value > 0 ? value : null;
        },
        set: (counter) => agent.ledger.setStateValue(`channel_counter:${env.name}`, String(counter)),
      },
      log,
      // The report written at the end of onChange cannot know yet that the release is remembered as failed.
      onFailureChange: () => void reportStatus(),
      onChange: async (pointer) => {
        const { previousId } = agent.ledger.getState();
        const kind = pointer.releaseId === previousId ? 'rollback' : 'deploy';
        log(`channel ${env.name} → ${pointer.version} (${pointer.why || 'no reason given'}, by ${pointer.who}): ${kind}`);
        const outcome = await agent.update(
          kind,
          { releaseId: pointer.releaseId, version: pointer.version, who: `${pointer.who} via channel`, reason: pointer.why || `channel moved to ${pointer.version}`, allowOlder: true },
          (event) => {
            if (event.type === 'progress') log(event.line);
            if (event.type === 'step-end') log(`${event.name}: ${event.outcome} (${event.ms} ms)${event.detail ? ` ${event.detail}` : ''}`);
          },
        );
        await reportStatus();
        return { ok: outcome.ok, error: outcome.error?.message, retry: TRANSIENT.has(outcome.error?.code ?? '') };
      },
    });
  }
  const timer = env.pull ? setInterval(() => void reportStatus({ heartbeat: true }), STATUS_EVERY_MS) : undefined;
  timer?.unref();

  let management: { port: number; close(): Promise<void> } | null = null;
  if (env.management) {
    management = await startManagementServer({
      bind: env.management.bind,
      port: env.management.port,
      secret: readManagementSecret({ secretEnv: env.management.secretEnv, environment: env.name }, agent.processEnv),
      // A request signed for another environment or host is refused; used nonces outlive a restart.
      environment: env.name,
      host: hostname,
      nonceFile: path.join(agent.layout.runDir, 'management-nonces'),
      title: `${agent.app} / ${env.name}`,
      log,
      handlers: {
        notify: async () => {
          // Answer at once: the check may run a whole deployment.
          if (poller) void poller.checkNow();
          return { checking: Boolean(poller) };
        },
        status: async (): Promise<ManagementStatus> => {
          const pull = poller?.state() ?? null;
          // `pull` also says how often the channel was read, and how many reads were "not modified".
          return { ...(await agent.status()), channel: pull?.lastPointer ?? null, failedRelease: pull?.failedRelease ?? null, pull: pull ? { ...pull, tested: await testedRun(pull.lastPointer) } : null };
        },
        rollback: async (body): Promise<ManagementRollbackReply> => {
          const from = agent.ledger.getState().currentId;
          const releaseId = resolveRollbackTarget(agent.ledger, body.to);
          const outcome = await agent.update('rollback', { releaseId, who: 'dashboard', reason: body.reason ?? 'rollback from the dashboard' }, () => undefined);
          // The channel may still name the release left behind: do not let the poller bring it back.
          if (outcome.ok && poller && from) await poller.rememberFailure({ id: from, version: agent.ledger.getRelease(from)?.version ?? null }, 'rolled back by an operator');
          await reportStatus();
          return { ok: outcome.ok, version: outcome.version, releaseId, error: outcome.error?.message };
        },
        // `slipway history --json`'s fields, plus what the dashboard's timeline shows: kind, who, why, the error.
        history: async (): Promise<HistoryEntry[]> =>
          agent.ledger.listDeployments({ limit: 50 }).map((d) => ({ ...historyEntryOf(d), who: d.who, reason: d.reason, error: d.error })),
        backups: async () => listBackups(agent.ledger, { environment: env.name }),
        logTail: (lines) => agent.logTail(lines),
      },
    });
    log(`management API and dashboard on http://${env.management.bind}:${management.port}/`);
  }

  await reportStatus();
  return {
    reportStatus,
    async close() {
      if (timer) clearInterval(timer);
      await Promise.allSettled([poller?.stop(), management?.close()]);
      // The last report (e.g. after the deployment the poller just finished) lands before the ledger closes.
      await (queued ?? writing);
    },
  };
}
