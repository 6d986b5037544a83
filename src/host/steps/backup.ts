import type { UpdateStep } from '../update-context.js';

/** Step 4: backup of every database and folder, tagged with the current release. */
export const backupStep: UpdateStep = {
  name: 'backup',
  async run() {
    return { outcome: 'skipped', detail: 'not configured: backups are not available in this version of slipway yet' };
  },
};
