/**
 * What `init --from-compose` makes of a compose file before it is written out: the
 * sections of slipway.yml (compose-render.ts writes them), and the values that go to the
 * host's env file instead (secrets never go in slipway.yml).
 */
import { registerSecret } from '../errors.js';
import type { ComposeDocument, Findings } from './compose-source.js';

export interface ServiceDraft {
  name: string;
  build?: { context: string; dockerfile?: string; target?: string; args: Record<string, string> };
  image?: string;
  command?: string;
  portEnv: string;
  env: Record<string, string>;
  /** http false: no HTTP check (a worker that listens on no port) */
  health: { path: string; timeout?: string; deadline?: string; http?: false };
}

export interface AccessoryDraft {
  name: string;
  image: string;
  volumes: string[];
  env: Record<string, string>;
  secrets: string[];
  port?: number;
  command?: string[];
  /** why the command is there, when slipway added it */
  commandWhy?: string;
}

export interface DatabaseDraft {
  name: string;
  engine: 'postgres' | 'mysql';
  urlEnv: string;
  accessory: string;
}

export interface ConfigKeyDraft {
  name: string;
  required: boolean;
  secret: boolean;
  description?: string;
}

export interface ProjectDraft {
  app: string;
  /** the compose file, as named in the header comment */
  composeFile: string;
  services: ServiceDraft[];
  accessories: AccessoryDraft[];
  databases: DatabaseDraft[];
  folders: string[];
  config: ConfigKeyDraft[];
  /** public port of the proxy: where the compose file published the web service */
  port: number;
  migrate?: string;
}

/**
 * The values for the host's env file, by name. The first value a name gets is kept; a
 * different one later is a conflict the caller reports. Every value is registered for
 * redaction at once, so no message or log line can show it.
 */
export class HostValues {
  private readonly values = new Map<string, string>();

  /** 'set' (new), 'same' (already that value) or 'conflict' (already another value: kept) */
  set(name: string, value: string): 'set' | 'same' | 'conflict' {
    registerSecret(value);
    const before = this.values.get(name);
    if (before === undefined) {
      this.values.set(name, value);
      return 'set';
    }
    return before === value ? 'same' : 'conflict';
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  entries(): { name: string; value: string }[] {
    return [...this.values].map(([name, value]) => ({ name, value }));
  }
}

/** Adds a config key, or makes an existing one stricter (required, secret). */
export function addConfigKey(keys: ConfigKeyDraft[], key: ConfigKeyDraft): void {
  const existing = keys.find((k) => k.name === key.name);
  if (existing === undefined) {
    keys.push(key);
    return;
  }
  existing.required ||= key.required;
  existing.secret ||= key.secret;
  existing.description ??= key.description;
}

/** A compose service that became an accessory, as the services that talk to it need to know it. */
export interface AccessoryHost {
  /** its name in slipway.yml */
  name: string;
  /** its loopback port */
  port: number | undefined;
  engine?: 'postgres' | 'mysql';
}

/** A variable of an app service whose value pointed at an accessory by its compose name. */
export interface AccessoryReference {
  variable: string;
  /** the compose service it named */
  host: string;
  /** the value after rewriting for host networking */
  value: string;
}

/** What every part of the mapping reads and adds to. */
export interface MappingContext {
  doc: ComposeDocument;
  /** folder of the compose file: env_file and build contexts are relative to it */
  composeDir: string;
  /** folder of slipway.yml: build contexts in it are relative to this */
  projectDir: string;
  /** the values of the .env beside the compose file, for ${NAME} */
  interpolation: Record<string, string>;
  findings: Findings;
  /** one line per thing mapped, for the summary */
  mapped: string[];
  hostValues: HostValues;
  draft: ProjectDraft;
  /** compose service name → the accessory it became */
  accessories: Map<string, AccessoryHost>;
  references: AccessoryReference[];
}
