import { agentClient, isAgentRunning } from '../agent/control-client.js';
import { containerStatus, offlineStatus } from '../agent/status.js';
import type { StatusReport } from '../agent/api.js';
import { openAnyEnvironment, type OpenedEnvironment } from './environment.js';
import { formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { openStore } from '../store/open-store.js';
import { readHostStatuses } from '../store/status-reports.js';
import { printable } from '../util/terminal-text.js';
import { environmentAccessories } from '../config/environment-accessories.js';
import { describeDataAge } from '../host/data-age.js';
import { describeTls } from '../agent/certificate-report.js';

interface StatusOptions {
  args: string[];
  json?: boolean;
  config?: string;
  host?: string;
}

/** What an environment serves now. Read from the agent when it runs, from the ledger when it does not. */
export default async function status(options: StatusOptions, ctx: CliContext): Promise<CommandResult> {
  const target = await openAnyEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (target.remote) {
    const { statusFleet } = await import('./fleet-status.js');
    return statusFleet({ project: target.project, environment: target.environment, host: options.host, json: options.json }, ctx);
  }
  const opened = target;
  const { layout, environment } = opened;
  const report: StatusReport = (await isAgentRunning(layout.agentSocket)) ? await agentClient(layout.agentSocket).call('status') : await offlineStatus({ environment, layout });
  // In pull mode every host reports to the store: show them all.
  if (environment.pull) {
    try {
      const store = await openStore(environment.store, opened.project.dir);
      report.hosts = (await readHostStatuses(store, opened.project.config.app, environment.name)).map((h) => ({
        host: h.host,
        current: h.current,
        health: h.health,
        reportedAt: h.reportedAt,
        failedRelease: h.failedRelease,
      }));
    } catch (error) {
      report.hosts = null;
      ctx.progress(`warning: cannot read the hosts' status reports from the store: ${(error as Error).message}`);
    }
  }
  const engine = await engineFacts(opened, report, ctx);
  // Read from the host's files: the agent records each renewal there, so it shows whether the agent runs or not.
  const tls = environment.tls ? await describeTls({ tls: environment.tls, layout, projectDir: opened.project.dir }) : null;
  // Added fields only: the contract's fields stay as they are.
  if (options.json) return jsonOutput({ ...report, ...(engine ? { containers: engine.containers, accessories: engine.accessories } : {}), ...(tls ? { tls } : {}) });
  // Versions, hosts, lock holders and reasons come from the store or the ledger: one line each, no escapes reach the terminal.
  const p = (text: string | null | undefined) => printable(text ?? '');
  const lines = [
    `${opened.project.config.app} ${report.environment}: ${report.current ? `${p(report.current.version)} (${report.current.id.slice(0, 12)})` : 'no release deployed'}`,
    `  url          ${report.url}`,
    `  health       ${report.health}`,
    `  previous     ${report.previous ? `${p(report.previous.version)} (${report.previous.id.slice(0, 12)})` : '-'}`,
    ...(report.standby ? [`  standby      ${p(report.standby.version)} warm in slot ${report.standby.slot} until ${report.standby.until} (rollback to it is a proxy switch)`] : []),
    `  lock         ${report.lock ? `${report.lock.stale ? 'STALE ' : ''}held by ${p(report.lock.holder)} (pid ${report.lock.pid}) since ${report.lock.since}: ${p(report.lock.reason)}` : 'free'}`,
    `  maintenance  ${report.maintenance ? report.maintenance.mode : 'off'}`,
    `  data         ${p(describeDataAge(report.dataAge ?? null))}`,
    `  agent        ${report.agent ? `pid ${report.agent.pid}, up ${report.agent.uptimeSeconds} s` : 'not running (start it with `slipway agent`, or deploy)'}`,
  ];
  if (tls) {
    const host = environment.tls?.kind === 'acme' ? environment.tls.domains[0] : environment.bind === '0.0.0.0' ? '127.0.0.1' : environment.bind;
    lines.splice(2, 0, `  https        https://${host}${tls.port === 443 ? '' : `:${tls.port}`} (plain HTTP on ${tls.httpPort} ${tls.redirectHttp ? 'redirects to it' : 'serves too'})`);
    lines.push(
      '',
      formatTable(
        ['CERTIFICATE', 'STATE', 'ISSUER', 'EXPIRES (UTC)', 'LAST RENEWAL ERROR'],
        tls.certificates.map((c) => [p(c.domain), c.state, p(c.issuer ?? '-'), c.notAfter ? c.notAfter.replace('T', ' ').slice(0, 16) : '-', c.lastError && (c.lastRenewalAt === null || c.lastError.at > c.lastRenewalAt) ? p(`${c.lastError.at.slice(0, 16)} ${c.lastError.message}`) : '-']),
      ),
    );
  }
  if (report.hosts && report.hosts.length > 0) {
    lines.push('', formatTable(['HOST', 'CURRENT', 'HEALTH', 'REPORTED (UTC)', 'FAILED RELEASE'], report.hosts.map((h) => [p(h.host), p(h.current?.version ?? '-'), p(h.health), p(h.reportedAt.replace('T', ' ').slice(0, 19)), p(h.failedRelease?.version ?? '-')])));
  }
  if (report.slots.length > 0) {
    lines.push('', formatTable(['SLOT', 'VERSION', 'SERVICE', 'PORT', 'PID', 'STATE', 'RESTARTS'], report.slots.flatMap((slot) => slot.services.map((s) => [slot.name, p(slot.version), s.name, String(s.port), String(s.pid ?? '-'), s.state, String(s.restarts)]))));
  }
  if (engine && engine.containers.length > 0) {
    lines.push('', formatTable(['SERVICE', 'SLOT', 'VERSION', 'CONTAINER', 'IMAGE', 'STATE'], engine.containers.map((c) => [c.service, c.slot ?? '-', p(c.version ?? '-'), c.name, c.imageId, c.state])));
  }
  if (engine && engine.accessories.length > 0) {
    lines.push(
      '',
      formatTable(
        ['ACCESSORY', 'STATE', 'IMAGE', 'IMAGE ID', 'PORT'],
        engine.accessories.map((a) => [a.name, a.state, p(a.image), a.imageId ?? '-', a.port === null ? '-' : `${a.port} ${a.answering ? '(answering)' : '(not answering)'}`]),
      ),
      ...engine.accessories.flatMap((a) => a.drift.map((d) => `${a.name}: ${d}`)),
    );
  }
  return { stdout: lines.join('\n') };
}

/** The containers of the releases running and the accessories, when the project has any; a Docker engine that does not answer is a warning, not a failed status. */
async function engineFacts(opened: OpenedEnvironment, report: StatusReport, ctx: CliContext): Promise<Awaited<ReturnType<typeof containerStatus>> | null> {
  const { config } = opened.project;
  if (!config.services.some((s) => s.container !== undefined) && config.accessories.length === 0) return null;
  const releaseIds = [...new Set([...report.slots.map((s) => s.releaseId), report.current?.id, report.standby?.id].filter((id): id is string => typeof id === 'string'))];
  try {
    return await containerStatus({ app: config.app, environment: opened.environment.name, layout: opened.layout, releaseIds, accessories: environmentAccessories(config.accessories, opened.environment) });
  } catch (error) {
    ctx.progress(`warning: cannot ask the Docker engine about the containers: ${(error as Error).message}`);
    return null;
  }
}
