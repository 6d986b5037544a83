/** Checks of what serves the app: the agent answers on its socket, and the proxy's public port is free or the agent's own. */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { HostLayout } from '../host/layout.js';
import { assertTrustedSocket } from '../agent/socket-trust.js';
import { controlSocketPath } from '../paths.js';
import { SlipwayError } from '../errors.js';
import { errorText, result, type DoctorCheck } from './check-result.js';

interface AgentAnswer {
  pid: number;
  port: number | null;
  current: string | null;
}

/**
 * Asks the agent's socket for its status; null when nothing listens there. Rejects when
 * something answers that is not an agent, or when the socket is not to be trusted (in a
 * folder another user may write to): doctor talks only where the CLI would.
 */
export async function probeAgent(layoutSocketPath: string, timeoutMs = 3_000): Promise<AgentAnswer | null> {
  // Where the agent really listens (a long host root's socket is in the private runtime folder).
  const socketPath = controlSocketPath(layoutSocketPath);
  await assertTrustedSocket(socketPath);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path: '/v1/status', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (res.statusCode !== 200 || typeof body?.agent?.pid !== 'number') throw new Error(`answered ${res.statusCode} without an agent status`);
          const port = Number(/:(\d+)$/.exec(String(body.url ?? ''))?.[1] ?? NaN);
          resolve({ pid: body.agent.pid, port: Number.isFinite(port) ? port : null, current: body.current?.version ?? null });
        } catch (error) {
          reject(new Error(`something answers on ${socketPath} but it is not a slipway agent (${(error as Error).message})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') resolve(null);
      else reject(error);
    });
    req.end();
  });
}

async function readAgentInfo(file: string): Promise<{ pid: number } | null> {
  try {
    const info = JSON.parse(await fs.readFile(file, 'utf8'));
    return typeof info?.pid === 'number' ? { pid: info.pid } : null;
  } catch {
    return null;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The agent must answer on its socket when the host serves a release (or polls its
 * channel); before the first deploy it need not run.
 */
export async function checkAgent(o: { layout: HostLayout; environment: string; shouldRun: boolean; timeoutMs?: number }): Promise<DoctorCheck> {
  const name = 'agent';
  const start = `slipway agent --env ${o.environment}`;
  const socket = controlSocketPath(o.layout.agentSocket);
  let answer: AgentAnswer | null;
  try {
    answer = await probeAgent(socket, o.timeoutMs);
  } catch (error) {
    // An untrusted socket says itself what to do.
    const hint = error instanceof SlipwayError && error.hint ? error.hint : `stop whatever holds ${socket} (or remove the file if nothing does), then start the agent: \`${start}\``;
    return result(name, 'fail', errorText(error), hint);
  }
  if (answer) return result(name, 'ok', `pid ${answer.pid} answers on ${socket}${answer.current ? `, serving ${answer.current}` : ''}`);
  const info = await readAgentInfo(o.layout.agentInfoFile);
  if (info && isProcessAlive(info.pid)) {
    return result(name, 'fail', `the agent's pid ${info.pid} is alive but nothing answers on ${socket}`, `stop it (\`kill ${info.pid}\`) and start it again: \`${start}\``);
  }
  if (o.shouldRun) {
    return result(name, 'fail', `not running: nothing answers on ${socket}, so the app is not served`, `start it: \`${start}\` (or any \`slipway deploy\` starts it in the background)`);
  }
  return result(name, 'skip', 'not running (nothing deployed yet; `slipway deploy` starts it)');
}

/** The proxy's public port must be free, or held by this environment's own agent. */
export async function checkProxyPort(o: { bind: string; port: number; layout: HostLayout; environment: string }): Promise<DoctorCheck> {
  const name = 'proxy port';
  const where = `${o.bind}:${o.port}`;
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const server = net.createServer();
    server.once('error', (e) => resolve(e as NodeJS.ErrnoException));
    server.listen({ host: o.bind, port: o.port, exclusive: true }, () => server.close(() => resolve(null)));
  });
  if (!error) return result(name, 'ok', `${where} is free`);
  if (error.code === 'EADDRINUSE') {
    const agent = await probeAgent(o.layout.agentSocket).catch(() => null);
    if (agent && agent.port === o.port) return result(name, 'ok', `${where} is held by this environment's agent (pid ${agent.pid})`);
    return result(name, 'fail', `${where} is in use by another program`, `find it with \`ss -ltnp 'sport = :${o.port}'\` and stop it, or change environments.${o.environment}.port in slipway.yml`);
  }
  if (error.code === 'EACCES') {
    return result(name, 'fail', `not allowed to listen on ${where} (ports below 1024 need privileges)`, `use a port of 1024 or more in environments.${o.environment}.port (HTTPS on 443 is environments.${o.environment}.tls), or grant the capability (setcap cap_net_bind_service=+ep $(which node))`);
  }
  return result(name, 'fail', `cannot listen on ${where}: ${errorText(error)}`, `check environments.${o.environment}.bind in slipway.yml: it must be an address of this machine`);
}
