/**
 * A compose file as `slipway init --from-compose` reads it: YAML with positions (so every
 * finding names its line), `${VAR}` interpolation from the `.env` file beside it, and the
 * findings themselves: what could not be mapped, where, and why.
 */
import { LineCounter, parseDocument } from 'yaml';
import { usageError } from '../errors.js';
import { formatProblem, sortProblems, type ConfigProblem } from './problems.js';
import { formatPath, locate, positionOfOffset, type PathSegment, type YamlSource } from './yaml-source.js';

/** Something of the compose file slipway.yml does not say the same way: where it is, and why. */
export type ComposeFinding = ConfigProblem;

export const formatFinding = formatProblem;

export interface ComposeDocument {
  /** the file as shown in messages */
  file: string;
  source: YamlSource;
  data: Record<string, unknown>;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Parses the compose file's text; YAML errors and a file that is not a mapping of services are file:line errors (exit 2). */
export function parseComposeText(text: string, file: string): ComposeDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, merge: true, prettyErrors: false, logLevel: 'error' });
  const source: YamlSource = { doc, lineCounter };
  const problems = doc.errors.map((error): ComposeFinding => {
    const { line, column } = positionOfOffset(source, error.pos[0]);
    const message = error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '').trim();
    return { file, line, column, path: '', message: error.code === 'DUPLICATE_KEY' ? `duplicate key: ${message}` : `YAML syntax error: ${message}` };
  });
  if (problems.length > 0) throw composeInvalid(file, sortProblems(problems));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw composeInvalid(file, [{ file, line: 1, column: 1, path: '', message: `YAML error: ${(error as Error).message}` }]);
  }
  const expected = 'expected a compose file: a mapping with `services:`, like services: { web: { build: . } }';
  if (!isRecord(data)) {
    const { line, column } = locate(source, []);
    throw composeInvalid(file, [{ file, line, column, path: '', message: expected }]);
  }
  if (!isRecord(data.services) || Object.keys(data.services).length === 0) {
    const { line, column } = locate(source, ['services'], 'key');
    throw composeInvalid(file, [{ file, line, column, path: 'services', message: expected }]);
  }
  return { file, source, data };
}

function composeInvalid(file: string, problems: ComposeFinding[]) {
  const count = problems.length;
  return usageError('COMPOSE_INVALID', `${file} cannot be read as a compose file (${count} problem${count === 1 ? '' : 's'})`, {
    details: problems.map(formatFinding),
    hint: `fix ${count === 1 ? 'it' : 'them'} in ${file} and run \`slipway init --from-compose\` again; nothing was written`,
  });
}

/** Collects findings pinned to the compose file's keys. */
export class Findings {
  readonly list: ComposeFinding[] = [];
  constructor(private readonly doc: ComposeDocument) {}

  /** A finding at a key of the compose file (or the value, with at: 'value'). */
  at(path: readonly PathSegment[], message: string, at: 'key' | 'value' = 'key'): void {
    const { line, column } = locate(this.doc.source, path, at);
    this.list.push({ file: this.doc.file, line, column, path: formatPath(path), message });
  }

  /** A finding about a line of another file (an env_file). */
  inFile(file: string, line: number, path: string, message: string): void {
    // An env_file several services load would otherwise say the same thing once per service.
    if (this.list.some((f) => f.file === file && f.line === line && f.message === message)) return;
    this.list.push({ file, line, column: 1, path, message });
  }

  sorted(): ComposeFinding[] {
    const own = this.list.filter((f) => f.file === this.doc.file);
    const others = this.list.filter((f) => f.file !== this.doc.file);
    return [...sortProblems(own), ...others];
  }
}

/**
 * Compose's variable substitution: `$$` is a `$`; `${NAME}`, `$NAME`, `${NAME:-default}`,
 * `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`, `${NAME:+alt}`. Values come from the
 * `.env` file beside the compose file only, never from this shell: what slipway writes must
 * not depend on who ran init. Names left unresolved are returned, and read as empty.
 */
export function interpolate(text: string, vars: Record<string, string>): { value: string; unresolved: string[] } {
  const unresolved: string[] = [];
  const value = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare)!;
    const set = Object.hasOwn(vars, name) ? vars[name]! : undefined;
    const usable = set !== undefined && (colon !== ':' || set !== '');
    if (op === '+') return usable ? (arg ?? '') : '';
    if (usable) return set;
    if (op === '-') return arg ?? '';
    unresolved.push(name);
    return '';
  });
  return { value, unresolved };
}

/** The whole value is one `${NAME}` or `$NAME` reference (with no default): its value comes from outside. */
export function singleReference(text: string): string | undefined {
  return /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[?][^}]*)?\}$|^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(text)?.slice(1).find((n) => n !== undefined);
}
