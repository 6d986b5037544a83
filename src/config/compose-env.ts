/**
 * The environment of a compose service: `env_file` files read first, then `environment`
 * (a list of NAME=value or a mapping) over them, as compose does. Each variable keeps
 * where it was written, so a finding about it names that line.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hasUrlWithPassword, looksLikeSecretName } from './secret-rules.js';
import { interpolate, isRecord, singleReference, type Findings } from './compose-source.js';
import type { PathSegment } from './yaml-source.js';

export interface ComposeVariable {
  name: string;
  /** undefined: compose takes it from the shell that runs it (a bare name, or an unresolved ${NAME}) */
  value: string | undefined;
  /** where it was written: a path in the compose file, or a line of an env file */
  from: { path: PathSegment[] } | { file: string; line: number };
}

/** A variable's value is a secret: its name says so, or it is a URL with a password in it. */
export function isSecretVariable(variable: Pick<ComposeVariable, 'name' | 'value'>): boolean {
  return looksLikeSecretName(variable.name) || (variable.value !== undefined && hasUrlWithPassword(variable.value));
}

/** KEY=VALUE lines as compose reads them: # comments, optional `export `, one pair of quotes stripped. */
export function parseEnvFileText(text: string): { name: string; value: string; line: number }[] {
  const out: { name: string; value: string; line: number }[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) return;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    out.push({ name: match[1]!, value, line: index + 1 });
  });
  return out;
}

/** The `.env` beside the compose file: the values `${NAME}` takes (none when there is no such file). */
export function readInterpolationFile(composeDir: string): Record<string, string> {
  try {
    const vars: Record<string, string> = {};
    for (const entry of parseEnvFileText(readFileSync(path.join(composeDir, '.env'), 'utf8'))) vars[entry.name] = entry.value;
    return vars;
  } catch {
    return {};
  }
}

/** env_file entries: a path, a list of paths, or a list of { path, required }. */
function envFilesOf(value: unknown): { file: string; required: boolean; index: number | undefined }[] {
  if (typeof value === 'string') return [{ file: value, required: true, index: undefined }];
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry, index) => {
    if (typeof entry === 'string') return [{ file: entry, required: true, index }];
    if (isRecord(entry) && typeof entry.path === 'string') return [{ file: entry.path, required: entry.required !== false, index }];
    return [];
  });
}

/** Every variable of a compose service, env files first and `environment` over them. */
export function serviceVariables(o: {
  service: Record<string, unknown>;
  at: PathSegment[];
  composeDir: string;
  /** the folder of the compose file as messages name it */
  shownDir: string;
  interpolation: Record<string, string>;
  findings: Findings;
}): ComposeVariable[] {
  const byName = new Map<string, ComposeVariable>();
  for (const { file, required, index } of envFilesOf(o.service.env_file)) {
    const where = index === undefined ? [...o.at, 'env_file'] : [...o.at, 'env_file', index];
    const relative = interpolate(file, o.interpolation).value;
    const full = path.resolve(o.composeDir, relative);
    const shown = path.isAbsolute(relative) ? relative : path.join(o.shownDir, relative);
    let text: string;
    try {
      text = readFileSync(full, 'utf8');
    } catch (error) {
      if (required) o.findings.at(where, `cannot read the env file ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}): its variables are not mapped; set them with \`slipway config production set NAME\``, 'value');
      continue;
    }
    for (const entry of parseEnvFileText(text)) {
      byName.set(entry.name, { name: entry.name, value: entry.value, from: { file: shown, line: entry.line } });
    }
  }
  const environment = o.service.environment;
  const add = (name: string, raw: unknown, at: PathSegment[]) => {
    if (raw === null || raw === undefined) {
      byName.set(name, { name, value: undefined, from: { path: at } });
      return;
    }
    const text = String(raw);
    const { value, unresolved } = interpolate(text, o.interpolation);
    const fromShell = unresolved.length > 0 && singleReference(text) !== undefined;
    if (unresolved.length > 0 && !fromShell) {
      o.findings.at(at, `uses ${unresolved.map((n) => `\${${n}}`).join(', ')}, which the .env beside the compose file does not set: read as empty`, 'value');
    }
    byName.set(name, { name, value: fromShell ? undefined : value, from: { path: at } });
  };
  if (Array.isArray(environment)) {
    environment.forEach((entry, index) => {
      if (typeof entry !== 'string') return;
      const eq = entry.indexOf('=');
      add(eq === -1 ? entry : entry.slice(0, eq), eq === -1 ? undefined : entry.slice(eq + 1), [...o.at, 'environment', index]);
    });
  } else if (isRecord(environment)) {
    for (const [name, raw] of Object.entries(environment)) add(name, raw, [...o.at, 'environment', name]);
  }
  return [...byName.values()].filter((variable) => {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable.name)) return true;
    const message = `\`${variable.name}\` is not a variable name slipway passes on (letters, digits and _): not mapped`;
    if ('path' in variable.from) o.findings.at(variable.from.path, message);
    else o.findings.inFile(variable.from.file, variable.from.line, '', message);
    return false;
  });
}

/**
 * A value that names another service of the compose file by its host name (`db`, or the
 * host of postgres://…@db:5432/app) rewritten for host networking: accessories listen on
 * 127.0.0.1 at their loopback port. Returns the value unchanged when it names none.
 */
export function rewriteHosts(o: { name: string; value: string; accessories: ReadonlyMap<string, number | undefined> }): { value: string; host?: string } {
  const url = /^([a-z][a-z0-9+.-]{0,31}:\/\/(?:[^\s/@]*@)?)([A-Za-z0-9_.-]+)(?::(\d+))?(.*)$/i.exec(o.value);
  if (url) {
    const host = url[2]!;
    if (!o.accessories.has(host)) return { value: o.value };
    const port = o.accessories.get(host) ?? (url[3] === undefined ? undefined : Number(url[3]));
    return { value: `${url[1]}127.0.0.1${port === undefined ? '' : `:${port}`}${url[4]}`, host };
  }
  if (/HOST/i.test(o.name) && o.accessories.has(o.value)) return { value: '127.0.0.1', host: o.value };
  return { value: o.value };
}
