/**
 * `tls:` of an environment: each certificate the proxy serves (issuer, expiry, the last
 * renewal error), and a user key file others can read, which the agent refuses.
 */
import { describeTls, type CertificateView } from '../agent/certificate-report.js';
import { accountKeyFile, checkKeyFileMode, domainFiles, looseKeyMode, readRenewal, userCertificateFiles } from '../agent/certificate-files.js';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import { isSlipwayError } from '../errors.js';
import net from 'node:net';
import { errorText, result, type DoctorCheck } from './check-result.js';
import { probeAgent } from './agent-checks.js';

const DAY_MS = 86_400_000;

/** When the agent tries again (agent/certificates.ts): its backoff, and its start. */
const RETRIES = 'the agent retries on its own (after 5 min, then 10, 20… up to 6 h) and at once when the agent is restarted, unless it tried less than 5 minutes before';

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
        ? result(name, 'warn', `not obtained yet${errorNote}`, `the agent orders it when it starts (\`slipway deploy\`); ${view.domain} must point at this host and port 80 reach slipway's proxy${lastError ? `; ${RETRIES}` : ''}`)
        : result(name, 'fail', `${view.file} cannot be read`, `check environments.${o.environment}.tls.cert_file in slipway.yml`);
    case 'unreadable':
      return result(name, 'fail', `${view.file} is not a PEM certificate`, acme ? `remove ${view.file}: the agent orders a new one` : `replace ${view.file} with a PEM certificate chain`);
    case 'expired':
      return result(name, 'fail', `expired on ${view.notAfter} (issuer ${view.issuer})${errorNote}`, acme ? `check that the agent runs and that the cause of the last renewal error is fixed; ${RETRIES}` : `replace ${view.file} with a renewed certificate (the running agent serves it as soon as the file changes)`);
    case 'renewal-due':
      return result(name, lastError ? 'warn' : 'ok', `issued by ${view.issuer}, valid${until} (${days} days left), renewal due${errorNote}`, lastError ? `fix the cause of the last renewal error; ${RETRIES}, and serves the current certificate meanwhile` : undefined);
    default:
      if (!acme && days !== null && days < 14) return result(name, 'warn', `issued by ${view.issuer}, expires in ${days} days (${view.notAfter})`, `renew it and replace ${view.file}`);
      return result(name, lastError ? 'warn' : 'ok', `issued by ${view.issuer}, valid${until} (${days} days left)${errorNote}`, lastError ? RETRIES : undefined);
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

/**
 * The keys slipway obtained (the ACME account's, each certificate's), which it writes 0600. One
 * found readable by other users is set to 0600 by the agent at its start, which then orders a new
 * certificate (the key may have been copied): doctor says so before, and while that order is pending.
 */
async function obtainedKeysCheck(o: { domains: string[]; layout: HostLayout }): Promise<DoctorCheck | null> {
  const keys = [{ domain: null as string | null, file: accountKeyFile(o.layout) }, ...o.domains.map((domain) => ({ domain, file: domainFiles(o.layout, domain).key }))];
  const loose: string[] = [];
  const pending: string[] = [];
  let present = 0;
  for (const key of keys) {
    const mode = await looseKeyMode(key.file).catch(() => undefined);
    if (mode === undefined) continue;
    present++;
    if (mode !== null) loose.push(`${key.file} has mode ${mode}`);
    const exposed = key.domain === null ? null : (await readRenewal(o.layout, key.domain)).keyExposed;
    if (mode === null && exposed) pending.push(`${key.domain} (its key had mode ${exposed.mode} at ${exposed.at})`);
  }
  if (present === 0) return null;
  if (loose.length > 0) {
    return result('tls keys', 'fail', `${loose.join('; ')}: other users can read ${loose.length === 1 ? 'this private key' : 'these private keys'}`, `chmod 600 ${loose.map((line) => line.split(' has mode ')[0]).join(' ')}; the agent also does it when it starts, and then orders new certificates, since a key others could read may have been copied`);
  }
  if (pending.length > 0) return result('tls keys', 'warn', `a new certificate and key are being ordered for ${pending.join(', ')}`, 'the agent replaces them on its own; see the certificate checks for the last renewal error');
  return result('tls keys', 'ok', `${present === 1 ? 'the key is' : `all ${present} keys are`} readable by their owner only`);
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
  if (o.tls.kind === 'acme') {
    const keys = await obtainedKeysCheck({ domains: o.tls.domains, layout: o.layout });
    if (keys) checks.push(keys);
  }
  const view = await describeTls({ tls: o.tls, layout: o.layout, projectDir: o.projectDir, now });
  checks.push(...view.certificates.map((certificate) => certificateCheck(certificate, { environment: o.environment, now })));
  return checks;
}
