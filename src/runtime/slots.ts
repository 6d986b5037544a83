import path from 'node:path';
import { promises as fs } from 'node:fs';
import { SlipwayError } from '../errors.js';
import { shortId, type ReleaseManifest } from '../release/manifest.js';
import { waitUntilHealthy } from './health-check.js';
import { findFreePort } from './ports.js';
import { startService, type SupervisedService } from './supervisor.js';
import type { ServiceConfig } from '../config/types.js';
import { releaseDir, type HostLayout } from '../host/layout.js';
import { serviceEnvironment, type SecretSources } from '../host/app-env.js';

export type SlotName = 'blue' | 'green';

/** One release running: every service of it, each on its own loopback port. */
export interface Slot {
  name: SlotName;
  releaseId: string;
  version: string;
  /**
   * The release's manifest, verified against its id when the slot started. Kept so that an update
   * from or back to a running release does not read and check every file's entry again (a large
   * app's manifest lists tens of thousands: reading one costs more than a warm rollback).
   */
  manifest: ReleaseManifest;
  /** port of the service the proxy sends traffic to */
  port: number;
  startedAt: string;
  services: { config: ServiceConfig; port: number; process: SupervisedService }[];
}

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

export function slotLogFile(layout: HostLayout, service: string, slot: SlotName): string {
  return path.join(layout.logsDir, `${service}.${slot}.log`);
}

/**
 * Starts every service of a release in a slot and waits until each passes its
 * health check. On failure everything it started is stopped again and the
 * error carries the last lines of the failing service's output.
 */
export async function startSlot(options: {
  layout: HostLayout;
  name: SlotName;
  manifest: ReleaseManifest;
  releaseId: string;
  appConfig: Record<string, string>;
  processEnv: NodeJS.ProcessEnv;
  environment: string;
  /** the environment's config naming slipway's own secrets, which the services do not get */
  secrets: SecretSources;
  /** which of the release's services this host runs (absent: all) */
  services?: string[];
}): Promise<Slot> {
  const { layout, manifest, name } = options;
  const services = servicesForHost(manifest, options.services);
  const cwd = releaseDir(layout, options.releaseId);
  await fs.mkdir(layout.logsDir, { recursive: true });
  const started: Slot['services'] = [];
  try {
    for (const service of services) {
      const port = await findFreePort();
      const env = serviceEnvironment({
        processEnv: options.processEnv,
        secrets: options.secrets,
        appConfig: options.appConfig,
        serviceEnv: service.env,
        extra: {
          [service.portEnv]: String(port),
          SLIPWAY_ENV: options.environment,
          SLIPWAY_RELEASE_ID: options.releaseId,
          SLIPWAY_VERSION: manifest.version,
          SLIPWAY_SLOT: name,
        },
      });
      const process = startService({
        name: `${service.name}.${name}`,
        command: service.command,
        cwd,
        env,
        logFile: slotLogFile(layout, service.name, name),
        pidFile: path.join(layout.runDir, `${service.name}.${name}.pid`),
      });
      started.push({ config: service, port, process });
    }
    for (const entry of started) {
      try {
        await waitUntilHealthy({
          url: `http://127.0.0.1:${entry.port}${entry.config.health.path}`,
          check: entry.config.health,
          isAlive: () => entry.process.state() !== 'failed' && entry.process.state() !== 'stopped' && entry.process.restarts() === 0,
        });
      } catch (error) {
        const output = sinceLastStart(await entry.process.lastOutput(40).catch(() => [] as string[])).slice(-15);
        const reason = error instanceof SlipwayError ? error.message : String(error);
        throw new SlipwayError('RELEASE_UNHEALTHY', `${manifest.version} (${shortId(options.releaseId)}): service ${entry.config.name} did not become healthy: ${reason}`, {
          hint: `its log: ${slotLogFile(layout, entry.config.name, name)}`,
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

export async function stopSlot(slot: Slot, graceMs: number): Promise<void> {
  await Promise.allSettled(slot.services.map((s) => s.process.stop({ graceMs })));
}

export function otherSlot(name: SlotName | undefined): SlotName {
  return name === 'blue' ? 'green' : 'blue';
}

/** A slot's log holds earlier releases' runs too: keep the lines of the latest start only (its crash restarts included). */
export function sinceLastStart(lines: string[]): string[] {
  for (let i = lines.length - 1; i >= 0; i -= 1) if (lines[i]!.includes('[slipway] starting ') && !lines[i]!.includes('(restart ')) return lines.slice(i);
  return lines;
}
