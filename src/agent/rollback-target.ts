import { SlipwayError } from '../errors.js';
import type { Ledger } from '../host/ledger.js';
import { releaseNotFoundOnHost } from '../host/install-release.js';

/**
 * The release a rollback goes to: `to` (a version, an id, or an id's first 7+ digits)
 * among the releases on the host, else the previous one. Used by the control socket's
 * rollback and by the management API's (the dashboard's).
 */
export function resolveRollbackTarget(ledger: Ledger, to?: string | null): string {
  const installed = ledger.listReleases();
  if (to) {
    const match = installed.find((r) => r.version === to || r.id === to || (to.length >= 7 && r.id.startsWith(to)));
    if (!match) throw releaseNotFoundOnHost(to, installed.map((r) => r.version));
    return match.id;
  }
  const { previousId } = ledger.getState();
  if (!previousId) {
    throw new SlipwayError('NO_PREVIOUS_RELEASE', 'there is no previous release to go back to', {
      exitCode: 2,
      hint: installed.length > 1 ? `name one with --to: ${installed.map((r) => r.version).join(', ')}` : 'deploy a release first',
    });
  }
  return previousId;
}
