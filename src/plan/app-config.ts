/**
 * The app's config as a release sees it (`slipway config show`), and edits of the
 * host's env file (`config set`, its value in the argument or on stdin, and `unset`).
 * Values come from where the agent takes them (src/host/app-env.ts): the env file, then
 * the agent's environment, then the schema's default. Secret values never leave this
 * module unredacted.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ConfigKeyConfig } from '../config/types.js';
import { SlipwayError, usageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export const REDACTED = '***';
/** Any environment variable name (the same rule as slipway.yml's config keys): `database__client` works as well as `NOTES_TITLE`. */
// __proto__ is the one name a plain object cannot hold as a key (the env file's reader drops it too).
export const CONFIG_KEY_PATTERN = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]*$/;

export type ConfigValueSource = 'env-file' | 'environment' | 'default' | 'missing';

export interface ConfigEntry {
  name: string;
  required: boolean;
  secret: boolean;
  description?: string;
  source: ConfigValueSource;
  /** the value, `***` for a secret, null when there is none */
  value: string | null;
}

export interface AppConfigView {
  entries: ConfigEntry[];
  /** keys in the env file that the schema does not declare (values not shown: slipway cannot tell whether they are secret) */
  undeclared: string[];
  /** required keys with no value anywhere */
  missing: string[];
}

/** Pure: each key of the schema with its value and where it comes from. */
export function describeAppConfig(o: { schema: ConfigKeyConfig[]; envFile: Record<string, string>; processEnv: NodeJS.ProcessEnv }): AppConfigView {
  const entries = o.schema.map((key): ConfigEntry => {
    const [source, value]: [ConfigValueSource, string | null] =
      o.envFile[key.name] !== undefined
        ? ['env-file', o.envFile[key.name]!]
        : o.processEnv[key.name] !== undefined
          ? ['environment', o.processEnv[key.name]!]
          : key.default !== undefined
            ? ['default', key.default]
            : ['missing', null];
    return {
      name: key.name,
      required: key.required,
      secret: key.secret,
      ...(key.description === undefined ? {} : { description: key.description }),
      source,
      value: value !== null && key.secret && source !== 'default' ? REDACTED : value,
    };
  });
  const declared = new Set(o.schema.map((k) => k.name));
  return {
    entries,
    undeclared: Object.keys(o.envFile).filter((name) => !declared.has(name)).sort(),
    missing: entries.filter((e) => e.required && e.source === 'missing').map((e) => e.name).sort(),
  };
}

export function assertConfigKey(key: string): void {
  if (!CONFIG_KEY_PATTERN.test(key)) {
    throw usageError('CONFIG_KEY_INVALID', `"${key}" is not a config key name`, {
      hint: 'a config key is an environment variable name: letters, digits and _, not starting with a digit (e.g. NOTES_TITLE or database__client)',
    });
  }
}

/** `KEY=VALUE` from the command line; the value may be empty, and may contain `=`. */
export function parseAssignment(text: string): { key: string; value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) {
    throw usageError('CONFIG_ASSIGNMENT_INVALID', `expected KEY=VALUE, got "${text.includes('=') ? text : text.slice(0, 40)}"`, {
      hint: 'write it as one argument, e.g. `slipway config production set NOTES_TITLE="My notes"`',
    });
  }
  const key = text.slice(0, eq);
  assertConfigKey(key);
  const value = text.slice(eq + 1);
  assertConfigValue(key, value);
  return { key, value };
}

/** A value fits on one line of the env file. The message never shows the value: it may be a secret. */
export function assertConfigValue(key: string, value: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw usageError('CONFIG_VALUE_INVALID', `the value of ${key} contains a line break or a NUL byte`, {
      hint: 'the env file holds one KEY=VALUE per line; encode multi-line values (e.g. base64) and decode them in the app',
    });
  }
}

/**
 * The argument of `config set`: `KEY=VALUE`, or `KEY` alone (or `KEY=-`) for a value read from
 * stdin, so that a secret never has to be in argv (which other users see in `ps`) or in the
 * shell's history. A literal `-` is given on stdin too.
 */
export function parseSetArgument(text: string): { key: string; value: string } | { key: string; fromStdin: true } {
  const eq = text.indexOf('=');
  const key = eq === -1 ? text : text.slice(0, eq);
  if (key !== '' && (eq === -1 || text.slice(eq + 1) === '-')) {
    assertConfigKey(key);
    return { key, fromStdin: true };
  }
  return parseAssignment(text);
}

/** The largest value `config set` reads from stdin: a key or a certificate fits, a stray file piped in by mistake does not. */
export const MAX_STDIN_VALUE_BYTES = 64 * 1024;

/**
 * The value of `key` from what was read on stdin: one final line break (\n or \r\n) is not part
 * of it (`echo value |` adds one); it must fit on one line, be non-empty (`KEY=` sets an empty
 * value), and be at most MAX_STDIN_VALUE_BYTES.
 */
export function valueFromStdin(key: string, input: Buffer): string {
  if (input.length > MAX_STDIN_VALUE_BYTES) {
    throw usageError('CONFIG_VALUE_TOO_LONG', `the value of ${key} on stdin is longer than ${MAX_STDIN_VALUE_BYTES / 1024} KiB`, {
      hint: 'a config value is one line of the env file; keep large content in a file the app reads, and set its path',
    });
  }
  const value = input.toString('utf8').replace(/\r?\n$/, '');
  if (value === '') {
    throw usageError('CONFIG_VALUE_MISSING', `no value for ${key} on stdin`, {
      hint: `pipe it in (\`printf %s "$VALUE" | slipway config <env> set ${key}\`), type it when asked, or set an empty value with ${key}=`,
    });
  }
  assertConfigValue(key, value);
  return value;
}

/** The line for a value that reads back exactly (src/host/app-env.ts trims, and strips one pair of quotes). */
function envLine(key: string, value: string): string {
  const quotedAlready = value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0];
  return value !== value.trim() || quotedAlready ? `${key}="${value}"` : `${key}=${value}`;
}

function lineKey(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const eq = trimmed.indexOf('=');
  return eq > 0 ? trimmed.slice(0, eq).trim() : null;
}

export interface EnvFileEdit {
  file: string;
  /** false when the file already said so */
  changed: boolean;
  created: boolean;
  /** the file's mode before, when it was not 0600 (it is now) */
  fixedMode: number | null;
}

async function readRaw(file: string): Promise<{ text: string; mode: number } | null> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    return { text, mode: stat.mode & 0o777 };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null; // no file yet (writing it says why it cannot be made)
    throw new SlipwayError('ENV_FILE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      hint: 'run slipway as the user that owns the host folder',
      cause: error,
    });
  }
}

/**
 * Writes the whole file again (temp file, fsync, rename) with mode 0600, keeping
 * comments and the order of the other lines. The folder is made owner-and-group only.
 */
async function writeEnvFile(file: string, lines: string[]): Promise<void> {
  const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o750 });
    await writeFileAtomic(file, text, 0o600);
    await fs.chmod(file, 0o600); // the umask may have narrowed it further; never wider
  } catch (error) {
    throw new SlipwayError('ENV_FILE_UNWRITABLE', `cannot write ${file}: ${(error as Error).message}`, {
      hint: `check that ${path.dirname(file)} is a folder the user running slipway can write (\`slipway doctor\` checks the host folders)`,
      cause: error,
    });
  }
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

export async function setEnvFileValue(file: string, key: string, value: string): Promise<EnvFileEdit> {
  assertConfigKey(key);
  const before = await readRaw(file);
  const lines = before ? splitLines(before.text) : [];
  const wanted = envLine(key, value);
  const out: string[] = [];
  let placed = false;
  for (const line of lines) {
    if (lineKey(line) !== key) out.push(line);
    else if (!placed) {
      out.push(wanted);
      placed = true;
    } // a later duplicate would override the value we set: drop it
  }
  if (!placed) out.push(wanted);
  const changed = before === null || out.join('\n') !== lines.join('\n');
  const fixedMode = before && before.mode !== 0o600 ? before.mode : null;
  if (changed || fixedMode !== null) await writeEnvFile(file, out);
  return { file, changed, created: before === null, fixedMode };
}

export async function unsetEnvFileValue(file: string, key: string): Promise<EnvFileEdit> {
  assertConfigKey(key);
  const before = await readRaw(file);
  if (!before) return { file, changed: false, created: false, fixedMode: null };
  const lines = splitLines(before.text);
  const out = lines.filter((line) => lineKey(line) !== key);
  const changed = out.length !== lines.length;
  const fixedMode = before.mode !== 0o600 ? before.mode : null;
  if (changed || fixedMode !== null) await writeEnvFile(file, out);
  return { file, changed, created: false, fixedMode };
}
