/**
 * The update plan: a pure function from what the host runs, what the store holds
 * and the host's config to what an update will do, and whether it must be refused.
 * `slipway plan` prints this object; `slipway deploy` checks the same one before it
 * changes anything (DESIGN.md, pipeline step 3).
 *
 * Assembled here from its parts: the plan's shapes (plan-types), how releases order
 * (release-order), which can be reached from which (upgrade-path), and what changes
 * in config keys (config-changes).
 */
import { SlipwayError } from '../errors.js';
import { formatBytes } from '../util/format.js';
import { parseVersionRange } from '../util/version.js';
import { configChanges } from './config-changes.js';
import type { DescribeSteps, PlanDirection, PlannedRelease, UpdatePlan, UpdatePlanInput } from './plan-types.js';
import { compareReleases, orderBasis, releasesBetween } from './release-order.js';
import { findUpgradePath, isReachable } from './upgrade-path.js';
import { filesBytes } from '../release/manifest-size.js';

export type {
  DescribeSteps,
  PlanDirection,
  PlannedRelease,
  PlannedStep,
  StepPlanFacts,
  UpdatePlan,
  UpdatePlanInput,
} from './plan-types.js';
export { compareReleaseVersions, compareReleases, isCommitNamed, releasesBetween, type ReleaseOrderFacts } from './release-order.js';
export { isReachable } from './upgrade-path.js';
export { dataParts, formatDuration, plural } from './plan-phrases.js';

/** Room kept free beyond what the update needs (the same margin deploy's disk check uses). */
export const DISK_MARGIN_BYTES = 64 * 1024 * 1024;

interface Blocker {
  code: string;
  message: string;
  /** commands or actions, in order */
  fixes: string[];
}

export function createUpdatePlan(input: UpdatePlanInput, describeSteps: DescribeSteps): UpdatePlan {
  const { current, target, kind } = input;
  const direction = directionOf(current, target);
  const between = direction === 'upgrade' ? releasesBetween(input.between, current, target) : [];
  const blockers: Blocker[] = [];

  // Upgrade path first: when the target cannot be reached, it is the first thing to fix.
  let upgradePath: string[] | null = [target.version];
  if (direction === 'upgrade' && current) {
    // Everything the caller knows about, not only what lies between: the date fallback needs the range's releases.
    const known = [current, ...input.between, target];
    if (!isReachable(current, target, known)) {
      upgradePath = findUpgradePath(current, target, between, known);
      blockers.push(unreachableBlocker({ environment: input.environment, current, target, path: upgradePath }));
    }
  }

  if (kind === 'deploy' && direction === 'downgrade' && !input.allowOlder && current) {
    const env = input.environment;
    blockers.push({
      code: 'RELEASE_OLDER',
      message: `${target.version} is not newer than the running ${current.version} (${orderBasis(target, current)})`,
      // Two honest ways back; one fix (either … or …) since they are alternatives, not steps.
      fixes: [
        `either go back with \`slipway rollback ${env} --to ${target.version}\` (the code still on the host; add --with-data to also restore the data the update from ${target.version} took before it migrated), ` +
          `or update to it anyway with \`slipway deploy ${env} --version ${target.version} --allow-older\` (the normal pipeline: backup, then ${target.version}'s own migrations run against today's data)`,
      ],
    });
  }

  const config = configChanges(input);
  if (config.missing.length > 0) {
    const renamedFrom = (key: string) => config.renamed.find((r) => r.to === key && input.hostConfig[r.from] !== undefined)?.from;
    const described = config.missing.map((key) => {
      const from = renamedFrom(key);
      return from ? `${key} (renamed from ${from}? the host still has ${from})` : key;
    });
    blockers.push({
      code: 'CONFIG_KEYS_MISSING',
      message: `${target.version} needs config key${config.missing.length === 1 ? '' : 's'} this host does not have: ${described.join(', ')}`,
      fixes: config.missing.map((key) => `slipway config ${input.environment} set ${key}=<value>`),
    });
  }

  const releaseBytes = filesBytes(target.files);
  const neededBytes = input.backupEstimateBytes + releaseBytes * 2 + DISK_MARGIN_BYTES;
  const backup = { estimateBytes: input.backupEstimateBytes, freeBytes: input.freeBytes, releaseBytes, neededBytes, fits: input.freeBytes >= neededBytes };
  if (!backup.fits) {
    blockers.push({
      code: 'DISK_SPACE_LOW',
      message: `only ${formatBytes(input.freeBytes)} free on the host; the update needs about ${formatBytes(neededBytes)} (backup ~${formatBytes(input.backupEstimateBytes)}, release ${formatBytes(releaseBytes)} twice, ${formatBytes(DISK_MARGIN_BYTES)} margin)`,
      fixes: [`free at least ${formatBytes(neededBytes - input.freeBytes)} on the host (\`slipway prune ${input.environment}\` removes old releases)`],
    });
  }

  // A rollback runs no migration (its data comes back from a backup, if at all).
  const migrate = kind === 'deploy' && !input.restoresBackup ? target.runtime.migrate : null;
  const migrations = { runs: migrate !== null, reversible: migrate?.reversible ?? true, command: migrate?.command ?? null };
  // The pipeline holds requests only while an existing release serves and the data changes. On a
  // first deploy nothing serves yet: the migration runs, and there is nobody's writes to hold.
  const downtime = (migrations.runs && current !== null) || input.restoresBackup ? 'maintenance-window' : 'none';
  const pipeline = describeSteps({ input, migrations, downtime, direction });

  const notes = direction === 'upgrade' ? [...between, target] : direction === 'first' ? [target] : [];
  return {
    environment: input.environment,
    kind,
    from: current ? { id: current.id, version: current.version } : null,
    to: { id: target.id, version: target.version },
    direction,
    notes: notes.map((release) => ({ version: release.version, notes: release.notes })),
    config,
    migrations,
    downtime,
    backup,
    requiredIntermediate: upgradePath && upgradePath.length > 1 ? upgradePath[0]! : null,
    upgradePath,
    blockers: blockers.map((b) => b.message),
    blockerCodes: blockers.map((b) => b.code),
    nextSteps: nextSteps(input, blockers, upgradePath),
    steps: pipeline.map((s) => `${s.step}: ${s.runs ? '' : 'skipped: '}${s.what}`),
    pipeline,
  };
}

/**
 * The error `deploy` refuses with when the plan has blockers (nothing was changed);
 * null when the update can go ahead. Its code is the first blocker's.
 */
export function planRefusal(plan: UpdatePlan): SlipwayError | null {
  if (plan.blockers.length === 0) return null;
  const what = `${plan.kind} ${plan.to.version} to ${plan.environment}`;
  const message = plan.blockers.length === 1 ? `cannot ${what}: ${plan.blockers[0]}` : `cannot ${what}: ${plan.blockers.length} problems`;
  return new SlipwayError(plan.blockerCodes[0]!, message, {
    details: plan.blockers.length === 1 ? [] : plan.blockers.map((b) => `- ${b}`),
    hint: `${plan.nextSteps.join('; then ')} (\`slipway plan ${plan.environment}${plan.kind === 'deploy' ? ` --version ${plan.to.version}` : ''}\` shows the whole plan)`,
  });
}

function directionOf(current: PlannedRelease | null, target: PlannedRelease): PlanDirection {
  if (!current) return 'first';
  if (current.id === target.id) return 'same';
  const order = compareReleases(target, current);
  return order > 0 ? 'upgrade' : order < 0 ? 'downgrade' : 'same';
}

function unreachableBlocker(o: { environment: string; current: PlannedRelease; target: PlannedRelease; path: string[] | null }): Blocker {
  const range = o.target.upgradeFrom!;
  const base = `${o.target.version} can only be reached from ${range}, and ${o.environment} runs ${o.current.version}`;
  if (o.path) {
    const intermediates = o.path.slice(0, -1);
    return {
      code: 'UPGRADE_PATH_REQUIRED',
      message: `${base}: deploy ${intermediates.join(', then ')} first`,
      fixes: intermediates.map((v) => `slipway deploy ${o.environment} --version ${v}`),
    };
  }
  const valid = parseVersionRange(range).ok;
  return {
    code: 'UPGRADE_PATH_MISSING',
    message: valid
      ? `${base}, and no release in the store between them gets there`
      : `${o.target.version} declares upgrade.from "${range}", which is not a version range`,
    fixes: [valid ? `build and deploy a release in ${range} first (\`slipway build --ref <tag>\`)` : 'fix upgrade.from in slipway.yml and build the release again'],
  };
}

function nextSteps(input: UpdatePlanInput, blockers: Blocker[], path: string[] | null): string[] {
  if (blockers.length === 0) return [];
  const steps = blockers.flatMap((b) => b.fixes);
  const needsIntermediate = path !== null && path.length > 1;
  // After the intermediate deploys the plan changes; say how to look again.
  steps.push(
    input.kind === 'deploy'
      ? `slipway plan ${input.environment} --version ${input.target.version}${needsIntermediate ? ' (after each deploy)' : ''}`
      : `slipway plan ${input.environment}`,
  );
  return steps;
}
