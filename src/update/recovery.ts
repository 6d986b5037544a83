import { promises as fs } from 'node:fs';
import { forceReleaseLock, readLock } from '../host/lock.js';
import { pointCurrentAt, readCurrent } from '../host/current-link.js';
import { isReleaseInstalled } from '../host/install-release.js';
import type { HostLayout } from '../host/layout.js';
import type { Journal } from '../host/journal.js';
import type { Ledger } from '../host/ledger.js';

export interface RecoveryReport {
  deploymentId: number;
  /** what the host was left on */
  outcome: 'rolled-forward' | 'rolled-back';
  releaseId: string | null;
  message: string;
}

/**
 * After the agent died mid-update (crash, SIGKILL, power loss), puts the host back
 * on one complete release. An update whose health window had passed is finished;
 * any other is undone: `current` and the ledger point at the release that served
 * before it. The journal says how far the update got; the real host (the `current`
 * link, the release folders, the lock) is asked before anything is changed.
 */
export async function recoverUnfinishedUpdate(o: {
  layout: HostLayout;
  ledger: Ledger;
  journal: Journal;
  /** restores a backup this update took, with the data config of the release it goes back to */
  restoreData?(backupId: string, releaseId: string): Promise<void>;
}): Promise<RecoveryReport | null> {
  const deployment = o.ledger.unfinishedDeployment();
  await releaseDeadLock(o.layout);
  if (!deployment) return null;

  const entries = await o.journal.entriesFor(deployment.id);
  const ended = new Set(entries.filter((e) => e.phase === 'end' && e.outcome !== 'failed').map((e) => e.step));
  const begun = entries.filter((e) => e.phase === 'begin').map((e) => e.step);
  const lastStep = begun[begun.length - 1] ?? 'lock';
  const target = deployment.toId;

  if (ended.has('watch') && target && (await isReleaseInstalled(o.layout, target))) {
    if ((await readCurrent(o.layout).catch(() => null)) !== target) await pointCurrentAt(o.layout, target);
    if (o.ledger.getState().currentId !== target) o.ledger.setCurrent({ currentId: target, previousId: deployment.fromId });
    const message = `the agent stopped during "${lastStep}" after ${deployment.toVersion} passed its health window: update completed`;
    o.ledger.finishDeployment(deployment.id, { outcome: 'succeeded', error: message });
    return { deploymentId: deployment.id, outcome: 'rolled-forward', releaseId: target, message };
  }

  const back = deployment.fromId;
  let restored = '';
  if (back && (await isReleaseInstalled(o.layout, back))) {
    if ((await readCurrent(o.layout).catch(() => null)) !== back) await pointCurrentAt(o.layout, back);
    const previousBefore = o.ledger.getStateValue(previousBeforeKey(deployment.id));
    o.ledger.setCurrent({ currentId: back, previousId: previousBefore === null ? o.ledger.getState().previousId : previousBefore || null });
    // The data step may have changed the data (migrated or restored): bring back the backup this update took first.
    const preBackup = begun.includes('migrate') ? o.ledger.listBackups({ deploymentId: deployment.id }).find((b) => (b.reason === 'pre-deploy' || b.reason === 'pre-restore') && b.release?.id === back) : undefined;
    if (preBackup && o.restoreData) {
      await o.restoreData(preBackup.id, back);
      restored = `, its data restored from backup ${preBackup.id}`;
    }
  } else if (!back) {
    await fs.rm(o.layout.currentLink, { force: true });
    o.ledger.setCurrent({ currentId: null, previousId: null });
  }
  o.ledger.setStateValue(previousBeforeKey(deployment.id), null);
  const message = `the agent stopped during "${lastStep}" of the update to ${deployment.toVersion ?? '?'}: rolled back to ${deployment.fromVersion ?? 'nothing'}${restored}`;
  o.ledger.finishDeployment(deployment.id, { outcome: 'rolled-back', error: message });
  return { deploymentId: deployment.id, outcome: 'rolled-back', releaseId: back, message };
}

/** Where an update keeps the host's previous release from before it, for recovery to put back. */
export function previousBeforeKey(deploymentId: number): string {
  return `deployment.${deploymentId}.previous-before`;
}

/** A lock whose holder died (the previous agent) is released; a live holder's lock is kept. */
async function releaseDeadLock(layout: HostLayout): Promise<void> {
  const lock = await readLock(layout.lockFile);
  if (lock && (lock.stale || lock.pid === process.pid)) await forceReleaseLock(layout.lockFile);
}
