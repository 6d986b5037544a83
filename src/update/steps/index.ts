import { PIPELINE_STEPS, type PipelineStepName } from '../../config/types.js';
import type { UpdateStep } from '../context.js';
import { lockStep } from './lock.js';
import { fetchStep } from './fetch.js';
import { preflightStep } from './preflight.js';
import { backupStep } from './backup.js';
import { maintenanceStep } from './maintenance.js';
import { migrateStep } from './migrate.js';
import { startStep } from './start.js';
import { switchStep } from './switch.js';
import { watchStep } from './watch.js';
import { finishStep } from './finish.js';

/** Every step by name: a step added to the pipeline's list (config/types.ts) cannot be left out here. */
const STEPS_BY_NAME: Record<PipelineStepName, UpdateStep> = {
  lock: lockStep,
  fetch: fetchStep,
  preflight: preflightStep,
  backup: backupStep,
  maintenance: maintenanceStep,
  migrate: migrateStep,
  start: startStep,
  switch: switchStep,
  watch: watchStep,
  finish: finishStep,
};

/** The update pipeline of DESIGN.md, steps 1–10, in order. Deploy and rollback share it. */
export const UPDATE_STEPS: readonly UpdateStep[] = PIPELINE_STEPS.map((name) => STEPS_BY_NAME[name]);

