/**
 * Rules that involve more than one field, checked on the file as written so they
 * are reported together with the schema's problems.
 */
import { makeProblem, formatProblem, type ConfigProblem } from './problems.js';
import type { YamlSource } from './yaml-source.js';
import { dataCopyProblems } from './schema-data-copy.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function checkCrossFieldRules(options: { source: YamlSource; file: string; data: unknown }): {
  problems: ConfigProblem[];
  warnings: string[];
} {
  const { source, file, data } = options;
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  if (!isObject(data)) return { problems, warnings };

  // a database run by an accessory names one the file declares
  const accessories = isObject(data.accessories) ? Object.keys(data.accessories) : [];
  if (isObject(data.data) && isObject(data.data.databases)) {
    for (const [dbName, db] of Object.entries(data.data.databases)) {
      if (!isObject(db) || typeof db.accessory !== 'string' || accessories.includes(db.accessory)) continue;
      problems.push(
        makeProblem({
          source,
          file,
          path: ['data', 'databases', dbName, 'accessory'],
          message: `unknown accessory \`${db.accessory}\`; ${accessories.length === 0 ? 'the file declares no accessories' : `accessories: ${accessories.join(', ')}`}`,
        }),
      );
    }
  }
  // The service the proxy fronts (web, else the first) must answer an HTTP check: traffic is switched on it.
  const fronted = (names: string[]) => (names.includes('web') ? 'web' : names[0]);
  const withoutHttp = (name: string | undefined) => {
    const service = name !== undefined && isObject(data.services) ? data.services[name] : undefined;
    return isObject(service) && (service.health === false || (isObject(service.health) && service.health.http === false));
  };
  if (isObject(data.services)) {
    const primary = fronted(Object.keys(data.services));
    if (withoutHttp(primary)) {
      problems.push(makeProblem({ source, file, path: ['services', primary!, 'health'], message: `${primary} is the service slipway's proxy sends traffic to, so it needs an HTTP health check; \`health: false\` is for services that listen on no port (workers)` }));
    }
  }
  if (!isObject(data.environments)) return { problems, warnings };

  const portOwners = new Map<string, string>();
  for (const [name, env] of Object.entries(data.environments)) {
    if (!isObject(env)) continue;

    // data_copy copies from another environment of this file
    if (isObject(env.data_copy) && typeof env.data_copy.from === 'string') {
      for (const message of dataCopyProblems(name, { from: env.data_copy.from }, Object.keys(data.environments))) {
        problems.push(makeProblem({ source, file, path: ['environments', name, 'data_copy', 'from'], message }));
      }
    }

    const keys = env.public_keys;
    if (env.require_signature === true && !(Array.isArray(keys) && keys.length > 0)) {
      problems.push(
        makeProblem({
          source,
          file,
          path: ['environments', name, 'require_signature'],
          message: 'require_signature is true but no public key is listed; add public_keys: [keys/<env>.pub] with the keys this environment accepts',
        }),
      );
    }

    const projectServices = isObject(data.services) ? Object.keys(data.services) : [];
    const checkServiceNames = (names: unknown, at: (string | number)[]) => {
      if (!Array.isArray(names) || projectServices.length === 0) return;
      names.forEach((service, index) => {
        if (typeof service === 'string' && !projectServices.includes(service)) {
          problems.push(makeProblem({ source, file, path: [...at, index], message: `unknown service \`${service}\`; the project's services: ${projectServices.join(', ')}` }));
        }
      });
    };
    checkServiceNames(env.services, ['environments', name, 'services']);
    if (isObject(env.hosts)) {
      for (const [hostName, host] of Object.entries(env.hosts)) {
        if (isObject(host)) checkServiceNames(host.services, ['environments', name, 'hosts', hostName, 'services']);
      }
    }

    if (isObject(env.hosts)) {
      const hostNames = Object.keys(env.hosts);
      const serviceNames = projectServices;
      for (const [hostName, host] of Object.entries(env.hosts)) {
        if (!isObject(host) || !Array.isArray(host.depends_on)) continue;
        host.depends_on.forEach((dependency, index) => {
          if (typeof dependency !== 'string' || dependency === hostName || hostNames.includes(dependency) || serviceNames.includes(dependency)) return;
          problems.push(
            makeProblem({
              source,
              file,
              path: ['environments', name, 'hosts', hostName, 'depends_on', index],
              message: `unknown host or service \`${dependency}\`; hosts: ${hostNames.join(', ')}; services: ${serviceNames.join(', ') || 'none'}`,
            }),
          );
        });
      }
    }

    // an environment's accessory settings name accessories the file declares; two environments on one host need two ports
    const overrides = isObject(env.accessories) ? env.accessories : {};
    for (const accessoryName of Object.keys(overrides)) {
      if (accessories.includes(accessoryName)) continue;
      problems.push(
        makeProblem({
          source,
          file,
          path: ['environments', name, 'accessories', accessoryName],
          message: `unknown accessory \`${accessoryName}\`; ${accessories.length === 0 ? 'the file declares no accessories' : `accessories: ${accessories.join(', ')}`}`,
        }),
      );
    }
    for (const accessoryName of accessories) {
      const declared = isObject(data.accessories) ? data.accessories[accessoryName] : undefined;
      const override = overrides[accessoryName];
      const port = isObject(override) && typeof override.port === 'number' ? override.port : isObject(declared) && typeof declared.port === 'number' ? declared.port : undefined;
      if (port === undefined) continue;
      const host = typeof env.host === 'string' ? env.host : isObject(env.hosts) ? undefined : 'local';
      if (host === undefined) continue;
      const slot = `accessory\n${host}\n${port}`;
      const other = portOwners.get(slot);
      if (other === undefined) {
        portOwners.set(slot, name);
        continue;
      }
      const at = isObject(override) && typeof override.port === 'number' ? ['environments', name, 'accessories', accessoryName, 'port'] : ['accessories', accessoryName, 'port'];
      warnings.push(
        formatProblem(
          makeProblem({
            source,
            file,
            path: at,
            message: `environments \`${other}\` and \`${name}\` both run the accessory ${accessoryName} on port ${port} on host ${host}; give one its own port: environments.${name}.accessories.${accessoryName}: { port: <another>, env: { PGPORT: "<another>" } } (the variable or command its server reads)`,
          }),
        ),
      );
    }

    if (typeof env.port === 'number') {
      const host = typeof env.host === 'string' ? env.host : 'local';
      const slot = `${host}\n${env.port}`;
      const other = portOwners.get(slot);
      if (other === undefined) {
        portOwners.set(slot, name);
      } else {
        const warning = makeProblem({
          source,
          file,
          path: ['environments', name, 'port'],
          message: `environments \`${other}\` and \`${name}\` both use port ${env.port} on host ${host}; they cannot run at the same time`,
        });
        warnings.push(formatProblem(warning));
      }
    }
  }
  return { problems, warnings };
}
