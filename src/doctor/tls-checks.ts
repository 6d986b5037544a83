/**
 * `tls:` of an environment: each certificate the proxy serves (issuer, expiry, the last
 * renewal error), and a user key file others can read, which the agent refuses.
 */
import { describeTls, type CertificateView } from '../agent/certificate-report.js';
import { checkKeyFileMode, userCertificateFiles } from '../agent/certificate-files.js';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import { isSlipwayError } from '../errors.js';
import net from 'node:net';
import { errorText, result, type DoctorCheck } from './check-result.js';
import { probeAgent } from './agent-checks.js';

const DAY_MS = 86_400_000;

function certificateCheck(view: CertificateView, o: { environment: string; now: Date }): DoctorCheck {
  const name = `certificate ${view.domain}`;
  const until = view.notAfter ? ` until ${view.notAfter.slice(0, 10)}` : '';
  const days = view.notAfter ? Math.floor((new Date(view.notAfter).getTime() - o.now.getTime()) / DAY_MS) : null;
  const lastError = view.lastError && (view.lastRenewalAt === null || view.lastError.at > view.lastRenewalAt) ? view.lastError : null;
  const errorNote = lastError ? `; last renewal failed at ${lastError.at}: ${lastError.message}` : '';
  const acme = view.source === 'acme';
  switch (view.state) {
    case 'missing':
      return acme
        ? result(name, 'warn', `not obtained yet${errorNote}`, `the agent orders it when it starts (\`slipway deploy\`); ${view.domain} must point at this host and port 80 reach slipway's proxy`)
        : result(name, 'fail', `${view.file} cannot be read`, `check environments.${o.environment}.tls.cert_file in slipway.yml`);
    case 'unreadable':
      return result(name, 'fail', `${view.file} is not a PEM certificate`, acme ? `remove ${view.file}: the agent orders a new one` : `replace ${view.file} with a PEM certificate chain`);
    case 'expired':
      return result(name, 'fail', `expired on ${view.notAfter} (issuer ${view.issuer})${errorNote}`, acme ? 'check that the agent runs and that the last renewal error is fixed; it retries on its own' : `replace ${view.file} with a renewed certificate (the agent reloads it within the hour)`);
    case 'renewal-due':
      return result(name, lastError ? 'warn' : 'ok', `issued by ${view.issuer}, valid${until} (${days} days left), renewal due${errorNote}`, lastError ? 'fix the cause of the last renewal error; the agent retries on its own and serves the current certificate meanwhile' : undefined);
    default:
      if (!acme && days !== null && days < 14) return result(name, 'warn', `issued by ${view.issuer}, expires in ${days} days (${view.notAfter})`, `renew it and replace ${view.file}`);
      return result(name, lastError ? 'warn' : 'ok', `issued by ${view.issuer}, valid${until} (${days} days left)${errorNote}`, lastError ? 'the agent retries on its own' : undefined);
  }
}

/** The HTTPS and challenge ports must be free, or held by this environment's own agent (which then holds its port too). */
async function checkTlsPort(o: { name: string; bind: string; port: number; agentPort: () => Promise<number | null>; ownPort: number; setting: string }): Promise<DoctorCheck> {
  const where = `${o.bind}:${o.port}`;
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const server = net.createServer();
    server.once('error', (e) => resolve(e as NodeJS.ErrnoException));
    server.listen({ host: o.bind, port: o.port, exclusive: true }, () => server.close(() => resolve(null)));
  });
  if (!error) return result(o.name, 'ok', `${where} is free`);
  if (error.code === 'EADDRINUSE') {
    if ((await o.agentPort()) === o.ownPort) return result(o.name, 'ok', `${where} is held by this environment's agent`);
    return result(o.name, 'fail', `${where} is in use by another program`, `find it with \`ss -ltnp 'sport = :${o.port}'\` and stop it, or change ${o.setting} in slipway.yml`);
  }
  if (error.code === 'EACCES') {
    return result(o.name, 'fail', `not allowed to listen on ${where} (ports below 1024 need privileges)`, `grant the capability (setcap cap_net_bind_service=+ep $(which node)), or change ${o.setting} in slipway.yml`);
  }
  return result(o.name, 'fail', `cannot listen on ${where}: ${errorText(error)}`, `check the environment's bind address in slipway.yml`);
}

export async function checkTls(o: { tls: TlsConfig | undefined; layout: HostLayout; projectDir: string; environment: string; bind?: string; port?: number; now?: Date }): Promise<DoctorCheck[]> {
  if (!o.tls) return [];
  const now = o.now ?? new Date();
  const checks: DoctorCheck[] = [];
  if (o.bind !== undefined && o.port !== undefined) {
    let agentPort: Promise<number | null> | undefined;
    const ask = () => (agentPort ??= probeAgent(o.layout.agentSocket).then((a) => a?.port ?? null, () => null));
    const common = { bind: o.bind, agentPort: ask, ownPort: o.port };
    checks.push(await checkTlsPort({ ...common, name: 'https port', port: o.tls.port, setting: `environments.${o.environment}.tls.port` }));
    if (o.tls.httpPort !== o.port) checks.push(await checkTlsPort({ ...common, name: 'challenge port', port: o.tls.httpPort, setting: `environments.${o.environment}.tls.http_port` }));
  }
  if (o.tls.kind === 'files') {
    const { key } = userCertificateFiles(o.tls, o.projectDir);
    try {
      await checkKeyFileMode(key);
      checks.push(result('tls key file', 'ok', `${key} is readable by its owner only`));
    } catch (error) {
      if (!isSlipwayError(error)) throw error;
      checks.push(result('tls key file', 'fail', error.message, error.hint));
    }
  }
  const view = await describeTls({ tls: o.tls, layout: o.layout, projectDir: o.projectDir, now });
  checks.push(...view.certificates.map((certificate) => certificateCheck(certificate, { environment: o.environment, now })));
  return checks;
}
