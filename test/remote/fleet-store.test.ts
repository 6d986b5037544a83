import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { netnsUnavailableReason } from '../helpers/netns.js';
import { startS3Server } from '../helpers/s3.js';
import { createFleet } from '../helpers/fleet-fixture.js';

// Issue 6, release transfer: a host that reaches the environment's store pulls the
// release itself; one that cannot gets it streamed over SSH; a host that has it gets nothing.

const skip = sshdUnavailableReason();

it('hosts pull the release from the S3 store when they can, and get it over SSH when they cannot', { skip: skip ?? false, timeout: 300_000 }, async (t) => {
  const s3 = await startS3Server({ buckets: ['fleet-releases'] });
  t.after(() => s3.stop());
  // The far host sits in a network namespace where the store's loopback address is not the store;
  // without namespaces it has no credentials for the bucket instead. Either way it cannot pull.
  const isolated = netnsUnavailableReason() === null;
  const fleet = await createFleet(
    t,
    [
      { name: 'near', sessionEnv: s3.env },
      { name: 'far', ...(isolated ? { netns: true, sessionEnv: s3.env } : {}) },
    ],
    {
      build: false,
      store: { yaml: `{ type: s3, bucket: fleet-releases, endpoint: "${s3.endpoint}", force_path_style: true, region: us-east-1 }`, env: s3.env },
    },
  );
  const published = await fleet.cli(['publish', 'production', '--ref', 'v1']);
  assert.equal(published.code, 0, published.stderr);
  assert.equal((await fleet.cli(['setup', 'production'])).code, 0);

  const first = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes', '--json']);
  assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
  const transfer = (stdout: string, host: string) => JSON.parse(stdout).rows.find((r: any) => r.host === host).transfer;
  assert.equal(transfer(first.stdout, 'near'), 'pulled', first.stderr);
  assert.equal(transfer(first.stdout, 'far'), 'streamed');
  assert.match(first.stderr, /far: cannot pull from the store \(.+\); sending the release over SSH/, first.stderr);
  for (const host of ['near', 'far']) assert.equal((await fleet.get(host, '/version')).body, 'v1');

  // Gone from the store's view of the near host? No: the same release again is found on every host.
  const again = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(transfer(again.stdout, 'near'), 'present');
  assert.equal(transfer(again.stdout, 'far'), 'present');
  assert.ok(JSON.parse(again.stdout).rows.every((r: any) => r.outcome === 'unchanged'), again.stdout);
});
