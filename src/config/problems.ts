/**
 * Problems found in a project file, each pinned to a line and column, and the
 * translation of zod's issues into them (plain words, "did you mean").
 */
import type { z } from 'zod';
import { closestMatch } from './did-you-mean.js';
import { knownKeysAt } from './schema.js';
import { formatPath, locate, type PathSegment, type YamlSource } from './yaml-source.js';

export interface ConfigProblem {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
  /** dotted path of the key, e.g. services.web.health.interval; '' for the file as a whole */
  path: string;
  message: string;
  /** what would have been accepted, in plain words */
  expected?: string;
}

/** `slipway.yml:12:7: services.web.port_env: unknown key …` */
export function formatProblem(problem: ConfigProblem): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  return problem.path === '' ? `${where}: ${problem.message}` : `${where}: ${problem.path}: ${problem.message}`;
}

export function makeProblem(options: {
  source: YamlSource;
  file: string;
  path: readonly PathSegment[];
  message: string;
  at?: 'value' | 'key';
  expected?: string;
}): ConfigProblem {
  const { line, column } = locate(options.source, options.path, options.at);
  const expected = options.expected ?? /^expected (.+)$/s.exec(options.message)?.[1];
  return {
    file: options.file,
    line,
    column,
    path: formatPath(options.path),
    message: options.message,
    ...(expected === undefined ? {} : { expected }),
  };
}

/** Problems sorted by position, without repeats. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems
    .filter((problem) => {
      const key = formatProblem(problem);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Zod's fallback wording, for issues the schema has no message of its own for. */
export function plainWordsErrorMap(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${describeType(issue.expected)}`;
    case 'invalid_value':
      return `expected one of: ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array' ? `expected at least ${issue.minimum} item(s)` : `expected at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array' ? `expected at most ${issue.maximum} item(s)` : `expected at most ${issue.maximum}`;
    default:
      return undefined;
  }
}

function describeType(type: string): string {
  switch (type) {
    case 'string':
      return 'text';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      return 'a list';
    default:
      return type;
  }
}

/** How a value found in the file is described back to its author (never the value itself: it might be a secret). */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'text';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a number' : 'a number with a fraction';
  if (typeof value === 'boolean') return 'true/false';
  return typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown; parent: unknown } {
  let current: unknown = root;
  let parent: unknown = undefined;
  for (const segment of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) {
      return { found: false, value: undefined, parent: current };
    }
    parent = current;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return { found: true, value: current, parent };
}

/** One or more problems for each zod issue, located in the YAML source. */
export function problemsFromIssues(options: {
  issues: readonly z.core.$ZodIssue[];
  source: YamlSource;
  file: string;
  /** the plain object zod validated */
  data: unknown;
}): ConfigProblem[] {
  const { source, file, data } = options;
  const problems: ConfigProblem[] = [];
  for (const issue of options.issues) {
    const path = issue.path.filter((segment): segment is PathSegment => typeof segment !== 'symbol');
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(path) ?? [];
        for (const key of issue.keys) {
          const match = closestMatch(key, known);
          const message =
            match === undefined
              ? `unknown key \`${key}\`; expected one of: ${known.join(', ')}`
              : `unknown key \`${key}\`; did you mean \`${match}\`?`;
          problems.push(makeProblem({ source, file, path: [...path, key], at: 'key', message, expected: match === undefined ? `one of: ${known.join(', ')}` : `\`${match}\`` }));
        }
        break;
      }
      case 'invalid_key': {
        const inner = issue.issues[0]?.message ?? 'invalid key';
        problems.push(makeProblem({ source, file, path, at: 'key', message: inner }));
        break;
      }
      case 'invalid_type': {
        const { found, value, parent } = valueAt(data, path);
        const key = path[path.length - 1];
        if (!found && key !== undefined && parent !== null && typeof parent === 'object') {
          const expectedText = /^expected (.+)$/s.exec(issue.message)?.[1];
          const message = `missing required key \`${String(key)}\`${expectedText ? ` (${expectedText})` : ''}`;
          problems.push(makeProblem({ source, file, path, message, ...(expectedText ? { expected: expectedText } : {}) }));
        } else {
          problems.push(makeProblem({ source, file, path, message: `${issue.message}, got ${describeValue(value)}` , expected: /^expected (.+)$/s.exec(issue.message)?.[1] }));
        }
        break;
      }
      default:
        problems.push(makeProblem({ source, file, path, message: issue.message }));
    }
  }
  return problems;
}
