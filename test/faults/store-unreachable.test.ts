import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createHostFixture, type HostFixture } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultColumn, sqliteSchema } from './fault-case.js';

// Fault matrix, column "store unreachable": the local store (the host's
// $SLIPWAY_HOME/store, a link to the fixture's store) is renamed away while the update
// is at each step, and put back once the update has ended. Only the fetch reads the
// store: before it the update is refused with nothing changed; after it the release is
// already on the host and the update goes through.

const storeOf = (host: HostFixture) => path.join(host.home, 'store');
const awayOf = (host: HostFixture) => path.join(host.home, 'store.away');

function putStoreBack(host: HostFixture): void {
  if (existsSync(awayOf(host))) renameSync(awayOf(host), storeOf(host));
}

it('the store disappears at every step of an update', { timeout: 240_000 }, async (t) => {
  await runFaultColumn(t, {
    column: 'store-unreachable',
    fixture: () => createHostFixture(t, { ...FIXTURE_OPTIONS, build: ['v1', 'v2'] }),
    spec: {
      pauseWhen: 'before',
      async inject({ host }) {
        renameSync(storeOf(host), awayOf(host));
      },
      async lift({ host }) {
        putStoreBack(host);
      },
      async cleanup(host) {
        putStoreBack(host);
      },
      schema: sqliteSchema,
    },
  });
});
