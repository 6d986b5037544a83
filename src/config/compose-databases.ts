/**
 * A PostgreSQL or MariaDB/MySQL accessory becomes a database of `data.databases`, backed up
 * before every update. slipway reaches it through a URL variable: the one the app already
 * uses to name it, else DATABASE_URL made from the accessory's own settings.
 */
import { addConfigKey, type AccessoryDraft, type MappingContext } from './compose-draft.js';

const SCHEMES: Record<'postgres' | 'mysql', RegExp> = { postgres: /^postgres(ql)?:\/\//i, mysql: /^(mysql|mariadb)(\+\w+)?:\/\//i };

export interface SqlAccessory {
  composeName: string;
  accessory: AccessoryDraft;
  engine: 'postgres' | 'mysql';
}

export function mapDatabases(ctx: MappingContext, sql: SqlAccessory[]): void {
  for (const { composeName, accessory, engine } of sql) {
    const name = sql.length === 1 ? 'main' : accessory.name;
    const reference = ctx.references.find((r) => r.host === composeName && SCHEMES[engine].test(r.value));
    let urlEnv: string;
    if (reference !== undefined) {
      urlEnv = reference.variable;
      if (!ctx.hostValues.has(urlEnv)) {
        // a URL without a password stayed in the service's env: slipway's backups read the host env file
        for (const service of ctx.draft.services) delete service.env[urlEnv];
        ctx.hostValues.set(urlEnv, reference.value);
        addConfigKey(ctx.draft.config, { name: urlEnv, required: true, secret: true });
      }
      ctx.mapped.push(`database ${name}: ${engine} in accessory ${accessory.name}, reached through $${urlEnv} (the app's own variable)`);
    } else {
      const taken = new Set([...ctx.draft.config.map((k) => k.name), ...ctx.draft.databases.map((d) => d.urlEnv)]);
      urlEnv = taken.has('DATABASE_URL') ? `${accessory.name.toUpperCase().replace(/-/g, '_')}_DATABASE_URL` : 'DATABASE_URL';
      const url = connectionUrl(ctx, accessory, engine);
      addConfigKey(ctx.draft.config, { name: urlEnv, required: true, secret: true, description: `connection URL of accessory ${accessory.name}: slipway's backups use it` });
      if (url === undefined) {
        ctx.findings.at(['services', composeName], `slipway's backups reach ${accessory.name} through $${urlEnv}, and its password is not in the compose file: set it with \`slipway config production set ${urlEnv}\``);
      } else {
        ctx.hostValues.set(urlEnv, url);
        ctx.findings.at(['services', composeName], `slipway's backups reach ${accessory.name} through $${urlEnv}, written to the host env file from the accessory's settings (no app service named it in a URL)`);
      }
      ctx.mapped.push(`database ${name}: ${engine} in accessory ${accessory.name}, reached through $${urlEnv}`);
    }
    ctx.draft.databases.push({ name, engine, urlEnv, accessory: accessory.name });
  }
}

/** postgres://user:password@127.0.0.1:5432/db from the image's own variables; undefined when its password is unknown. */
function connectionUrl(ctx: MappingContext, accessory: AccessoryDraft, engine: 'postgres' | 'mysql'): string | undefined {
  const read = (...names: string[]) => {
    for (const n of names) {
      const value = accessory.env[n] ?? ctx.hostValues.entries().find((e) => e.name === n && accessory.secrets.includes(n))?.value;
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  };
  let user: string;
  let password: string | undefined;
  let database: string | undefined;
  if (engine === 'postgres') {
    user = read('POSTGRES_USER') ?? 'postgres';
    password = read('POSTGRES_PASSWORD');
    database = read('POSTGRES_DB') ?? user;
    if (password === undefined && accessory.env.POSTGRES_HOST_AUTH_METHOD !== 'trust') return undefined;
  } else {
    const appUser = read('MARIADB_USER', 'MYSQL_USER');
    user = appUser ?? 'root';
    password = appUser !== undefined ? read('MARIADB_PASSWORD', 'MYSQL_PASSWORD') : read('MARIADB_ROOT_PASSWORD', 'MYSQL_ROOT_PASSWORD');
    database = read('MARIADB_DATABASE', 'MYSQL_DATABASE');
    if (password === undefined) return undefined;
  }
  const credentials = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  const scheme = engine === 'postgres' ? 'postgres' : 'mysql';
  return `${scheme}://${credentials}@127.0.0.1:${accessory.port ?? (engine === 'postgres' ? 5432 : 3306)}/${encodeURIComponent(database ?? '')}`;
}
