/** The update plan's shapes: what it is made from (UpdatePlanInput), what it says (UpdatePlan), and its steps. */
import type { PipelineStepName } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';

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
