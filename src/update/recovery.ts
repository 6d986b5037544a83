import { forceReleaseLock, readLock } from '../host/lock.js';
import { pointCurrentAt, readCurrent } from '../host/current-link.js';
import { isReleaseInstalled, readInstalledManifest } from '../host/install-release.js';
import type { JournalEntry } from '../host/journal.js';
import type { DeploymentRecord } from '../host/ledger.js';
import type { PipelineStepName } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import { undoSteps, type PipelineEvent } from './pipeline.js';
import { MaintenanceWindow } from './maintenance-window.js';
import type { StepFacts, UpdateContext, UpdateHost } from './context.js';
import { UPDATE_STEPS } from './steps/index.js';

export interface RecoveryReport {
  deploymentId: number;
  /** what the host was left on */
  outcome: 'rolled-forward' | 'rolled-back';
  releaseId: string | null;
  message: string;
}

/**
 * After the agent died mid-update (crash, SIGKILL, power loss), puts the host back on one
 * complete release. An update whose health window had passed is finished; any other is
 * undone by its own steps: the update is rebuilt from the journal (which steps began, the
 * facts each recorded), each begun step that never ended is asked whether its work is in
 * place, and the undos run in reverse: the same code as a failed update's undo. Nothing runs
 * yet (the agent stopped the old processes): undoing the data swaps it safely.
 */
export async function recoverUnfinishedUpdate(host: UpdateHost, log: (line: string) => void): Promise<RecoveryReport | null> {
  const deployment = host.ledger.unfinishedDeployment();
  await releaseDeadLock(host.layout);
  if (!deployment) return null;

  const journal = readJournal(await host.journal.entriesFor(deployment.id));
  const lastStep = journal.begun.at(-1) ?? 'lock';
  const target = deployment.toId;

  if (journal.ended.has('watch') && target && (await isReleaseInstalled(host.layout, target))) {
    if ((await readCurrent(host.layout).catch(() => null)) !== target) await pointCurrentAt(host.layout, target);
    if (host.ledger.getState().currentId !== target) host.ledger.setCurrent({ currentId: target, previousId: deployment.fromId });
    const message = `the agent stopped during "${lastStep}" after ${deployment.toVersion} passed its health window: update completed`;
    host.ledger.finishDeployment(deployment.id, { outcome: 'succeeded', error: message });
    return { deploymentId: deployment.id, outcome: 'rolled-forward', releaseId: target, message };
  }

  const ctx = await rebuildUpdate(host, deployment, journal.facts, log);
  const undone: string[] = [];
  if (ctx) {
    const toUndo = [];
    for (const step of [...UPDATE_STEPS].reverse()) {
      if (!journal.begun.includes(step.name) || journal.undone.has(step.name)) continue;
      // A step that began and never ended, recorded nothing, and whose work the host does not show: nothing to undo.
      if (!journal.ended.has(step.name) && !ctx.facts[step.name as keyof StepFacts] && step.isDone && !(await step.isDone(ctx))) continue;
      toUndo.push(step);
    }
    const onEvent = (event: PipelineEvent) => {
      if (event.type === 'undo' && event.outcome === 'undone' && event.detail) undone.push(event.detail);
      if (event.type === 'undo' && event.outcome === 'failed') log(`recovery: undoing "${event.name}" failed: ${event.detail ?? ''}`);
    };
    await undoSteps({ steps: toUndo, ctx, deploymentId: deployment.id, journal: host.journal, ledger: host.ledger, onEvent });
  }
  const restored = undone.find((d) => d.startsWith('restored backup '));
  const message = `the agent stopped during "${lastStep}" of the update to ${deployment.toVersion ?? ctx?.to.manifest?.version ?? '?'}: rolled back to ${deployment.fromVersion ?? 'nothing'}${restored ? `, ${restored}` : ''}`;
  host.ledger.finishDeployment(deployment.id, { outcome: 'rolled-back', error: message });
  return { deploymentId: deployment.id, outcome: 'rolled-back', releaseId: deployment.fromId, message };
}

/** What the journal says of one update: the steps begun (in order), ended, undone, and the facts each recorded. */
function readJournal(entries: JournalEntry[]) {
  const begun: PipelineStepName[] = [];
  const ended = new Set<string>();
  const undone = new Set<string>();
  const facts: Record<string, Record<string, unknown>> = {};
  for (const entry of entries) {
    if (entry.phase === 'begin' && !begun.includes(entry.step as PipelineStepName)) begun.push(entry.step as PipelineStepName);
    if (entry.phase === 'end' && entry.outcome !== 'failed') ended.add(entry.step);
    if (entry.phase === 'undo-end' && entry.outcome === 'undone') undone.add(entry.step);
    if ((entry.phase === 'facts' || entry.phase === 'end') && entry.data) facts[entry.step] = { ...facts[entry.step], ...entry.data };
  }
  return { begun, ended, undone, facts: facts as StepFacts };
}

/** The interrupted update's context, from the ledger's record and the journal's facts; null when its releases are gone from disk. */
async function rebuildUpdate(host: UpdateHost, deployment: DeploymentRecord, facts: StepFacts, log: (line: string) => void): Promise<UpdateContext | null> {
  const fromManifest = deployment.fromId ? await readInstalledManifest(host.layout, deployment.fromId) : null;
  // The release to go back to is no longer on disk: nothing can be put back, the host stays as it is.
  if (deployment.fromId && !fromManifest) return null;
  const toManifest = deployment.toId ? await readInstalledManifest(host.layout, deployment.toId) : null;
  return {
    ...host,
    kind: deployment.kind === 'deploy' ? 'deploy' : 'rollback',
    deploymentId: deployment.id,
    who: deployment.who,
    reason: deployment.reason,
    // Nothing is fetched or verified again: recovery only undoes.
    signatures: { required: false, publicKeysPem: [] },
    from: deployment.fromId && fromManifest ? { id: deployment.fromId, manifest: fromManifest } : null,
    to: { id: deployment.toId ?? '', ...(toManifest ? { manifest: toManifest } : {}) },
    allowOlder: false,
    facts,
    running: {},
    maintenance: new MaintenanceWindow(host.runtime),
    plan: () => Promise.reject(new Error('recovery only undoes: it plans nothing')),
    record: async (step, stepFacts) => {
      facts[step] = { ...facts[step], ...stepFacts } as StepFacts[typeof step];
    },
    progress: (line) => log(`recovery: ${line}`),
  };
}

/** A lock whose holder died (the previous agent) is released; a live holder's lock is kept. */
async function releaseDeadLock(layout: HostLayout): Promise<void> {
  const lock = await readLock(layout.lockFile);
  if (lock && (lock.stale || lock.pid === process.pid)) await forceReleaseLock(layout.lockFile);
}
