import { isSlipwayError } from '../errors.js';
import type { DoctorCheck } from '../doctor/checks.js';
import { runDoctor, type DoctorReport } from '../doctor/run-doctor.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { openEnvironment, type OpenedEnvironment } from './environment.js';

interface DoctorOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** Errors that mean "the command was called wrong": reported as usage errors, not as a failed check. */
const USAGE_CODES = new Set(['ENVIRONMENT_REQUIRED', 'CONFIG_UNKNOWN_ENVIRONMENT', 'REMOTE_HOST_UNSUPPORTED', 'HOST_NAME_INVALID']);

/** `slipway doctor [env]`: exit 1 when any check fails. */
export default async function doctor(options: DoctorOptions, ctx: CliContext): Promise<CommandResult> {
  let target: OpenedEnvironment | null = null;
  const earlier: DoctorCheck[] = [];
  try {
    target = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  } catch (error) {
    if (!isSlipwayError(error) || USAGE_CODES.has(error.code)) throw error;
    earlier.push({
      name: 'project file',
      ok: false,
      status: 'fail',
      detail: [error.message, ...error.details].join('\n'),
      fix: error.hint ?? 'fix slipway.yml',
    });
  }
  const report = await runDoctor({ target, earlier, processEnv: ctx.env });
  const exitCode = report.ok ? 0 : 1;
  if (options.json) return { ...jsonOutput(report), exitCode };
  return { stdout: renderDoctorText(report, target), exitCode };
}

const MARKS: Record<DoctorCheck['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function renderDoctorText(report: DoctorReport, target: OpenedEnvironment | null): string {
  const lines = [target ? `slipway doctor: ${target.project.config.app} ${target.environment.name} (host root ${target.layout.root})` : 'slipway doctor: this machine (no project)', ''];
  const width = Math.max(...report.checks.map((c) => c.name.length));
  for (const check of report.checks) {
    const [first, ...rest] = check.detail.split('\n');
    lines.push(`  ${MARKS[check.status]}  ${check.name.padEnd(width)}  ${first}`);
    for (const line of rest) lines.push(`        ${' '.repeat(width)}  ${line}`);
    if (check.fix && check.status !== 'ok' && check.status !== 'skip') lines.push(`        ${' '.repeat(width)}  fix: ${check.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  lines.push('', failed > 0 ? `${failed} check${failed === 1 ? '' : 's'} failed${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}` : `all checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`);
  return lines.join('\n');
}
