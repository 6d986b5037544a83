/**
 * The update plan: a pure function from what the host runs, what the store holds
 * and the host's config to what an update will do, and whether it must be refused.
 * `slipway plan` prints this object; `slipway deploy` checks the same one before it
 * changes anything (DESIGN.md, pipeline step 3).
 */
import { closestMatch } from '../config/did-you-mean.js';
import type { PipelineStepName } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import { formatBytes } from '../util/format.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { compareVersions, parseVersionRange, satisfiesRange } from '../util/version.js';

export type PlannedRelease = ReleaseManifest & {
  id: string;
  /** when the store got it (its ReleaseInfo.createdAt): the build order, for versions that do not compare; absent when unknown */
  builtAt?: string;
};

export interface UpdatePlanInput {
  environment: string;
  /** what the host serves now; null on a fresh host */
  current: PlannedRelease | null;
  target: PlannedRelease;
  /** releases in the store between current and target (any order; others are ignored) */
  between: PlannedRelease[];
  /** the host's config values: env file, then the agent's environment for the keys it knows */
  hostConfig: Record<string, string>;
  /** free bytes under the host root */
  freeBytes: number;
  /** what the backup before the update will take on disk */
  backupEstimateBytes: number;
  kind: 'deploy' | 'rollback';
  /** `deploy --allow-older`: a deploy may go to an older release */
  allowOlder?: boolean;
  /** environments.<env>.health_window, for the watch step's phrase */
  healthWindowMs?: number;
  /** the update brings a backup's data back (rollback --with-data, restore, data copy): no migration, a restore instead */
  restoresBackup?: boolean;
}

export type PlanDirection = 'upgrade' | 'downgrade' | 'same' | 'first';

export interface UpdatePlan {
  environment: string;
  kind: 'deploy' | 'rollback';
  from: { id: string; version: string } | null;
  to: { id: string; version: string };
  direction: PlanDirection;
  /** every release after current up to and including target, oldest first (upgrades and first deploys only) */
  notes: Array<{ version: string; notes: string }>;
  config: {
    /** required by the target, with no value on the host and no default */
    missing: string[];
    /** declared by the target, not by the current release */
    added: string[];
    /** declared by the current release, not by the target */
    removed: string[];
    /** a guess: a removed key and an added key that look like the same setting */
    renamed: Array<{ from: string; to: string }>;
  };
  migrations: { runs: boolean; reversible: boolean; command: string | null };
  downtime: 'none' | 'maintenance-window';
  backup: {
    estimateBytes: number;
    freeBytes: number;
    /** the target's unpacked size */
    releaseBytes: number;
    /** backup + the release twice (download and unpack) + a margin */
    neededBytes: number;
    fits: boolean;
  };
  /** the first release to deploy when the target cannot be reached from current directly */
  requiredIntermediate: string | null;
  /** versions to deploy in order to reach the target (ends with it); null when no path exists in the store */
  upgradePath: string[] | null;
  /** why the update must be refused; empty when it can go ahead */
  blockers: string[];
  /** stable codes of the blockers, same order */
  blockerCodes: string[];
  /** what to do about the blockers, in order */
  nextSteps: string[];
  /** `<step>: what it will do`, one per pipeline step, in order; a step the pipeline will skip reads `<step>: skipped: why` */
  steps: string[];
  /** the same, as data: whether the pipeline will do the step or skip it, and what it does or why not */
  pipeline: PlannedStep[];
}

export interface PlannedStep {
  step: PipelineStepName;
  /** false: the pipeline records the step as skipped */
  runs: boolean;
  /** what it will do, or why it is skipped */
  what: string;
}

/** Room kept free beyond what the update needs (the same margin deploy's disk check uses). */
export const DISK_MARGIN_BYTES = 64 * 1024 * 1024;

/** What ordering two releases looks at. */
export type ReleaseOrderFacts = Pick<ReleaseManifest, 'version' | 'date'> & Partial<Pick<PlannedRelease, 'id' | 'commit' | 'builtAt'>>;

/**
 * A release built without --version is named by its short commit id: that names no
 * place in an order, even when the id happens to be all digits.
 */
export function isCommitNamed(r: { version: string; commit?: string }): boolean {
  return r.commit !== undefined && r.version.length >= 7 && r.commit.toLowerCase().startsWith(r.version.toLowerCase());
}

/** -1, 0 or 1 by version alone; null when the versions do not compare (a commit id, two tag schemes). */
export function compareReleaseVersions(a: ReleaseOrderFacts, b: ReleaseOrderFacts): number | null {
  if (isCommitNamed(a) || isCommitNamed(b)) return null;
  return compareVersions(a.version, b.version);
}

/**
 * Newer release first: by version when both versions compare, else (or on a tie)
 * by build order in the store. Commit dates decide only when the build order is
 * not known (a release no longer in the store, a store out of reach): a hotfix
 * committed after the next release, or two tags of one second, would misorder.
 * Negative when a is older than b.
 */
export function compareReleases(a: ReleaseOrderFacts, b: ReleaseOrderFacts): number {
  if (a.id !== undefined && a.id === b.id) return 0;
  const byVersion = compareReleaseVersions(a, b);
  if (byVersion !== null && byVersion !== 0) return byVersion;
  const builtA = a.builtAt === undefined ? NaN : Date.parse(a.builtAt);
  const builtB = b.builtAt === undefined ? NaN : Date.parse(b.builtAt);
  if (!Number.isNaN(builtA) && !Number.isNaN(builtB)) return Math.sign(builtA - builtB);
  return Math.sign(Date.parse(a.date) - Date.parse(b.date));
}

/** How two releases were ordered, for messages: people must be able to check the claim. */
function orderBasis(a: ReleaseOrderFacts, b: ReleaseOrderFacts): string {
  const byVersion = compareReleaseVersions(a, b);
  if (byVersion !== null && byVersion !== 0) return 'by version';
  const known = a.builtAt !== undefined && b.builtAt !== undefined;
  const why = byVersion === 0 ? 'the versions are equal' : 'the versions do not compare';
  return known ? `${why}, so by build order in the store` : `${why} and the store's build order is unknown, so by commit date`;
}

/**
 * The releases strictly between current and target, oldest first, one per version
 * (the last one given wins: pass the store's list oldest-published first).
 */
export function releasesBetween<T extends PlannedRelease>(all: readonly T[], current: PlannedRelease | null, target: PlannedRelease): T[] {
  if (!current) return [];
  const byVersion = new Map<string, T>();
  for (const release of all) {
    if (release.id === current.id || release.id === target.id) continue;
    if (release.version === current.version || release.version === target.version) continue;
    if (compareReleases(release, current) > 0 && compareReleases(release, target) < 0) byVersion.set(release.version, release);
  }
  return [...byVersion.values()].sort(compareReleases);
}

interface Blocker {
  code: string;
  message: string;
  /** commands or actions, in order */
  fixes: string[];
}

/** What a step's description is decided from: the plan's input and what the plan concluded. */
export interface StepPlanFacts {
  input: UpdatePlanInput;
  migrations: UpdatePlan['migrations'];
  downtime: UpdatePlan['downtime'];
  direction: PlanDirection;
}

/**
 * The steps' own descriptions (src/update/steps/), in pipeline order: what `deploy` prints before
 * it asks is what each step decides, so plan and pipeline cannot disagree.
 */
export type DescribeSteps = (facts: StepPlanFacts) => PlannedStep[];

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

  const releaseBytes = target.files.reduce((sum, file) => sum + file.size, 0);
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

/**
 * Whether `to` may be deployed over `from`. A `from` whose version is not
 * comparable with the range (a short commit id, another tag scheme) is placed
 * against the oldest known release that satisfies the range, by build order.
 */
export function isReachable(from: PlannedRelease, to: PlannedRelease, known: readonly PlannedRelease[]): boolean {
  if (to.upgradeFrom === undefined) return true;
  const parsed = parseVersionRange(to.upgradeFrom);
  if (!parsed.ok) return false;
  const satisfied = isCommitNamed(from) ? null : satisfiesRange(from.version, parsed.range);
  if (satisfied !== null) return satisfied;
  const oldestSatisfying = known
    .filter((r) => r.id !== to.id && !isCommitNamed(r) && satisfiesRange(r.version, parsed.range) === true)
    .sort(compareReleases)[0];
  return oldestSatisfying !== undefined && compareReleases(from, oldestSatisfying) >= 0;
}

/** Greedy: from where the host is, the newest release it can reach, until the target is reachable. */
function findUpgradePath(current: PlannedRelease, target: PlannedRelease, between: PlannedRelease[], known: PlannedRelease[]): string[] | null {
  const path: string[] = [];
  let at = current;
  for (let hops = 0; hops <= between.length; hops++) {
    if (isReachable(at, target, known)) return [...path, target.version];
    const next = between.filter((r) => compareReleases(r, at) > 0 && isReachable(at, r, known)).at(-1);
    if (!next) return null;
    path.push(next.version);
    at = next;
  }
  return null;
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

function configChanges(input: UpdatePlanInput): UpdatePlan['config'] {
  const targetKeys = input.target.runtime.config;
  const targetNames = new Set(targetKeys.map((k) => k.name));
  const currentNames = new Set((input.current?.runtime.config ?? []).map((k) => k.name));
  const missing = new Set<string>();
  for (const key of targetKeys) {
    if (key.required && input.hostConfig[key.name] === undefined && key.default === undefined) missing.add(key.name);
  }
  // requiredConfig is the same list, kept in the manifest on its own; honour it even if runtime.config lost a key
  for (const name of input.target.requiredConfig) {
    if (!targetNames.has(name) && input.hostConfig[name] === undefined) missing.add(name);
  }
  const added = [...targetNames].filter((n) => !currentNames.has(n)).sort();
  const removed = [...currentNames].filter((n) => !targetNames.has(n)).sort();
  return { missing: [...missing].sort(), added, removed, renamed: guessRenames(removed, added) };
}

/** Pairs a removed key with an added one when the names are close (a typo fixed, a prefix added or dropped). */
function guessRenames(removed: string[], added: string[]): Array<{ from: string; to: string }> {
  const renamed: Array<{ from: string; to: string }> = [];
  const free = new Set(added);
  for (const from of removed) {
    const to = closestMatch(from, [...free]) ?? [...free].find((candidate) => sharesWordsWith(from, candidate));
    if (to) {
      renamed.push({ from, to });
      free.delete(to);
    }
  }
  return renamed;
}

/** NOTES_TITLE and TITLE, APP_SECRET and SECRET_KEY: at least half the words of the shorter name. */
function sharesWordsWith(a: string, b: string): boolean {
  const wa = a.split('_').filter(Boolean);
  const wb = b.split('_').filter(Boolean);
  const common = wa.filter((w) => wb.includes(w) && w.length >= 3).length;
  return common > 0 && common * 2 >= Math.min(wa.length, wb.length);
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

/** "1 database and 2 folders": the data a release declares, in words. */
export function dataParts(release: PlannedRelease): string[] {
  const data = release.runtime.data;
  return [data.databases.length > 0 ? plural(data.databases.length, 'database') : '', data.folders.length > 0 ? plural(data.folders.length, 'folder') : ''].filter(Boolean);
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
