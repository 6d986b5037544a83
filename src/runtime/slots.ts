import path from 'node:path';
import { promises as fs } from 'node:fs';
import { SlipwayError } from '../errors.js';
import { shortId, type ReleaseManifest } from '../release/manifest.js';
import { waitUntilHealthy, waitUntilRunning } from './health-check.js';
import { findFreePort } from './ports.js';
import { startSlotContainer } from './container-slot.js';
import { startService, type SupervisedService } from './supervisor.js';
import type { ServiceConfig } from '../config/types.js';
import type { RunningRelease, SlotName } from './app-runtime.js';

/** How long an error waits for a container's exit, already happened, to reach its log (the engine tells it late under load). */
const SETTLE_MS = 3_000;

export type { SlotName };

/** One release running: every service of it (a process, or a container when the manifest pins it an image), each on its own loopback port. */
export interface Slot extends RunningRelease {
  services: { config: ServiceConfig; port: number; process: SupervisedService }[];
}

/** The environment of one service of a release: the host composes it (the app's config, secrets withheld). */
export type ServiceEnvironment = (service: ServiceConfig, extra: Record<string, string>) => Record<string, string>;

/** The service the proxy fronts: the one named web, else the first. */
export function primaryService(services: ServiceConfig[]): ServiceConfig {
  return services.find((s) => s.name === 'web') ?? services[0]!;
}

/** The release's services this host runs; naming one the release lacks is refused before anything starts. */
export function servicesForHost(manifest: ReleaseManifest, names: string[] | undefined): ServiceConfig[] {
  if (names === undefined) return manifest.runtime.services;
  const missing = names.filter((n) => !manifest.runtime.services.some((s) => s.name === n));
  if (missing.length > 0 || names.length === 0) {
    throw new SlipwayError('SERVICE_NOT_IN_RELEASE', `${manifest.version} has no service ${missing.join(', ') || '(none named)'} for this host to run`, {
      hint: `its services: ${manifest.runtime.services.map((s) => s.name).join(', ')}; fix the host's services in slipway.yml`,
    });
  }
  return manifest.runtime.services.filter((s) => names.includes(s.name));
}

export function slotLogFile(logsDir: string, service: string, slot: SlotName): string {
  return path.join(logsDir, `${service}.${slot}.log`);
}

/**
 * Starts every service of a release in a slot (a container for a service whose manifest entry
 * pins an image, a supervised process otherwise) and waits until each passes its
 * health check. On failure everything it started is stopped again and the
 * error carries the last lines of the failing service's output.
 */
export async function startSlot(options: {
  name: SlotName;
  manifest: ReleaseManifest;
  releaseId: string;
  /** the release's folder: the services' working directory */
  cwd: string;
  logsDir: string;
  runDir: string;
  environmentName: string;
  serviceEnvironment: ServiceEnvironment;
  /** which of the release's services this host runs (absent: all) */
  services?: string[];
}): Promise<Slot> {
  const { manifest, name, cwd } = options;
  const services = servicesForHost(manifest, options.services);
  await fs.mkdir(options.logsDir, { recursive: true });
  const started: Slot['services'] = [];
  try {
    for (const service of services) {
      const port = await findFreePort();
      const env = options.serviceEnvironment(service, {
          [service.portEnv]: String(port),
          SLIPWAY_ENV: options.environmentName,
          SLIPWAY_RELEASE_ID: options.releaseId,
          SLIPWAY_VERSION: manifest.version,
          SLIPWAY_SLOT: name,
      });
      const logFile = slotLogFile(options.logsDir, service.name, name);
      let process: SupervisedService;
      if (service.image !== undefined) {
        process = await startSlotContainer({ service: { ...service, image: service.image }, slot: name, manifest, releaseId: options.releaseId, releaseDir: cwd, environmentName: options.environmentName, env, logFile });
      } else {
        if (service.command === undefined) throw new SlipwayError('SERVICE_HAS_NO_COMMAND', `service ${service.name} of ${manifest.version} has no command to run`, { hint: 'give it `command:` in slipway.yml, or `build:`/`image:` to run it as a container' });
        process = startService({ name: `${service.name}.${name}`, command: service.command, cwd, env, logFile, pidFile: path.join(options.runDir, `${service.name}.${name}.pid`) });
      }
      started.push({ config: service, port, process });
    }
    for (const entry of started) {
      try {
        const isAlive = () => entry.process.state() !== 'failed' && entry.process.state() !== 'stopped' && entry.process.restarts() === 0;
        // Without a probe, only a process that runs now counts: one in its restart backoff has already exited.
        if (entry.config.health.http === false) await waitUntilRunning({ check: entry.config.health, isAlive: () => isAlive() && entry.process.isAlive() });
        else await waitUntilHealthy({ url: `http://127.0.0.1:${entry.port}${entry.config.health.path}`, check: entry.config.health, isAlive });
      } catch (error) {
        const output = await lastRunOutput(entry.process);
        const reason = error instanceof SlipwayError ? error.message : String(error);
        throw new SlipwayError('RELEASE_UNHEALTHY', `${manifest.version} (${shortId(options.releaseId)}): service ${entry.config.name} did not become healthy: ${reason}`, {
          hint: `its log: ${slotLogFile(options.logsDir, entry.config.name, name)}`,
          details: output.length > 0 ? ['last output of the service:', ...output.map((l) => `  ${l}`)] : [],
          cause: error,
        });
      }
    }
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.process.stop({ graceMs: 3_000 })));
    throw error;
  }
  const primary = primaryService(services);
  return {
    name,
    releaseId: options.releaseId,
    version: manifest.version,
    manifest,
    port: started.find((s) => s.config.name === primary.name)!.port,
    startedAt: new Date().toISOString(),
    services: started,
  };
}

/** Stops every service of the slot; says in one line whether they all stopped or which still run until their engine answers. */
export async function stopSlot(slot: Slot, graceMs: number): Promise<string> {
  await Promise.allSettled(slot.services.map((s) => s.process.stop({ graceMs })));
  const waiting = slot.services.filter((s) => s.process.stopPostponed?.() === true).map((s) => s.config.name);
  if (waiting.length === 0) return `stopped ${slot.version}`;
  const which = waiting.length === 1 ? `its service ${waiting[0]} still runs` : `its services ${waiting.join(', ')} still run`;
  return `asked ${slot.version} to stop, but ${which}: the Docker engine did not answer, and it is stopped once the engine does`;
}

export function otherSlot(name: SlotName | undefined): SlotName {
  return name === 'blue' ? 'green' : 'blue';
}

/** The last lines a service wrote in its latest run (how it ended included, once that is known), for an error's details. */
export async function lastRunOutput(process: SupervisedService): Promise<string[]> {
  await process.settled?.(SETTLE_MS).catch(() => undefined);
  return sinceLastStart(await process.lastOutput(40).catch(() => [] as string[])).slice(-15);
}

/** A slot's log holds earlier releases' runs too: keep the lines of the latest start only (its crash restarts included). */
export function sinceLastStart(lines: string[]): string[] {
  for (let i = lines.length - 1; i >= 0; i -= 1) if (lines[i]!.includes('[slipway] starting ') && !lines[i]!.includes('(restart ')) return lines.slice(i);
  return lines;
}
