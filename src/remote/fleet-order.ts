/**
 * Fleet ordering: which hosts must be updated before which. Pure; the rollout
 * walks the levels this returns.
 */
import { SlipwayError } from '../errors.js';

export interface FleetHost {
  name: string;
  /** The services this host runs; empty = all of them. */
  services: string[];
  /** Host names or service names this host needs updated before it. */
  dependsOn: string[];
}

/**
 * Dependency levels: every host of a level depends only on hosts of earlier levels
 * (each host sits one level after its deepest dependency). File order is kept inside a level.
 *
 * A dependsOn entry that is a host name means that host. Otherwise it is a service name
 * and means every host running it: hosts listing it, and hosts listing no services
 * (they run all). A host never depends on itself through its own services.
 * Unknown names, duplicate host names and cycles → FLEET_ORDER (exit code 2).
 */
export function orderFleet(hosts: FleetHost[]): string[][] {
  const names = hosts.map((h) => h.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new SlipwayError('FLEET_ORDER', `Host "${duplicate}" is listed twice in the fleet.`, {
      exitCode: 2,
      hint: 'Give every host its own name in slipway.yml.',
    });
  }

  const dependencies = resolveDependencies(hosts);
  const cycle = findCycle(names, dependencies);
  if (cycle) {
    throw new SlipwayError('FLEET_ORDER', `The hosts depend on each other in a cycle: ${cycle.join(' → ')} (each depends on the next).`, {
      exitCode: 2,
      hint: 'Remove one of these depends_on entries in slipway.yml so the fleet has an update order.',
    });
  }

  const levelOf = new Map<string, number>();
  const level = (name: string): number => {
    const known = levelOf.get(name);
    if (known !== undefined) return known;
    let deepest = -1;
    for (const dependency of dependencies.get(name)!) deepest = Math.max(deepest, level(dependency));
    levelOf.set(name, deepest + 1);
    return deepest + 1;
  };
  const levels: string[][] = [];
  for (const name of names) {
    const index = level(name);
    while (levels.length <= index) levels.push([]);
    levels[index]!.push(name);
  }
  return levels;
}

/** Each host's dependencies as host names, in file order, without itself. */
function resolveDependencies(hosts: FleetHost[]): Map<string, string[]> {
  const hostNames = new Set(hosts.map((h) => h.name));
  const serviceNames = new Set(hosts.flatMap((h) => h.services));
  const dependencies = new Map<string, string[]>();
  for (const host of hosts) {
    const resolved = new Set<string>();
    for (const entry of host.dependsOn) {
      if (hostNames.has(entry)) {
        // Naming itself is a cycle, reported as such (a → a).
        resolved.add(entry);
        continue;
      }
      if (!serviceNames.has(entry)) {
        const valid = [...hostNames, ...[...serviceNames].filter((s) => !hostNames.has(s))];
        throw new SlipwayError('FLEET_ORDER', `Host "${host.name}" depends on "${entry}", which is neither a host nor a service of this fleet.`, {
          exitCode: 2,
          hint: `Use one of: ${valid.join(', ')}.`,
        });
      }
      for (const other of hosts) {
        if (other.name === host.name) continue;
        if (other.services.length === 0 || other.services.includes(entry)) resolved.add(other.name);
      }
    }
    dependencies.set(host.name, [...resolved]);
  }
  return dependencies;
}

/** One cycle as a path that starts and ends on the same host (a → b → a), or null. */
function findCycle(names: string[], dependencies: Map<string, string[]>): string[] | null {
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (name: string): string[] | null => {
    const at = onPath.indexOf(name);
    if (at !== -1) return [...onPath.slice(at), name];
    if (done.has(name)) return null;
    onPath.push(name);
    for (const dependency of dependencies.get(name)!) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(name);
    return null;
  };
  for (const name of names) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return null;
}
