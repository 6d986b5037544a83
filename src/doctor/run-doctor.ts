/** Runs every doctor check for one environment (or only the machine's when the project file cannot be read). */
import { promises as fs } from 'node:fs';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { readEnvFile } from '../host/app-env.js';
import type { HostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import { slipwayHome } from '../paths.js';
import {
  checkAgent,
  checkClockSkew,
  checkDatabaseTools,
  checkDiskSpace,
  checkDocker,
  checkEnvFile,
  checkHostFileModes,
  checkHostRoot,
  checkNodeVersion,
  checkProxyPort,
  checkOffsiteStore,
  checkStore,
  checkTls,
  type DoctorCheck,
} from './checks.js';

export interface DoctorReport {
  environment: string | null;
  /** false when any check failed */
  ok: boolean;
  checks: DoctorCheck[];
}

export interface DoctorTarget {
  project: LoadedProject;
  environment: EnvironmentConfig;
  layout: HostLayout;
}

export async function runDoctor(o: {
  target: DoctorTarget | null;
  /** a failed check to report first, e.g. a project file that does not load */
  earlier?: DoctorCheck[];
  processEnv: NodeJS.ProcessEnv;
}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [...(o.earlier ?? [])];
  checks.push(checkNodeVersion());
  if (!o.target) {
    checks.push(await checkDiskSpace({ dir: slipwayHome(o.processEnv) }));
    return { environment: null, ok: checks.every((c) => c.ok), checks };
  }
  const { project, environment, layout } = o.target;
  checks.push(await checkDiskSpace({ dir: layout.root }));
  checks.push(await checkHostRoot(layout.root));
  checks.push(await checkEnvFile(layout.envFile));
  checks.push(await checkHostFileModes({ root: layout.root, ledgerFile: layout.ledgerFile }));
  // An env file with loose permissions is reported above; its values are still worth using here.
  const envFile = await readEnvFile(layout.envFile).catch(() => ({}) as Record<string, string>);
  checks.push(...(await checkDatabaseTools({ databases: project.config.data.databases, values: { ...o.processEnv, ...envFile }, pathEnv: o.processEnv.PATH })));
  // Only apps that run containers list the engine's checks; a process-only app never needs one.
  const docker = await checkDocker({ services: project.config.services, accessories: project.config.accessories, env: o.processEnv });
  checks.push(...docker.filter((check) => check.status !== 'skip'));
  checks.push(await checkClockSkew({ store: environment.store }));
  checks.push(await checkProxyPort({ bind: environment.bind, port: environment.port, layout, environment: environment.name }));
  checks.push(await checkAgent({ layout, environment: environment.name, shouldRun: environment.pull !== null || (await servesARelease(layout)) }));
  checks.push(await checkStore({ store: environment.store, projectDir: project.dir, app: project.config.app }));
  if (environment.offsiteStore) checks.push(await checkOffsiteStore({ store: environment.offsiteStore, projectDir: project.dir, app: project.config.app, environment: environment.name }));
  checks.push(...(await checkTls({ tls: environment.tls, layout, projectDir: project.dir, environment: environment.name, bind: environment.bind, port: environment.port })));
  return { environment: environment.name, ok: checks.every((c) => c.ok), checks };
}

/** Whether the ledger names a current release: then the agent should be serving it. */
async function servesARelease(layout: HostLayout): Promise<boolean> {
  if (!(await fs.stat(layout.ledgerFile).then(() => true, () => false))) return false;
  try {
    const ledger = openLedger(layout.ledgerFile, { readonly: true });
    try {
      return ledger.getState().currentId !== null;
    } finally {
      ledger.close();
    }
  } catch {
    return false;
  }
}
