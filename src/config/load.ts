/**
 * Reads `slipway.yml`: YAML → schema → normalized ProjectConfig, with every problem
 * reported at once as file:line:column.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import { SlipwayError, redactSecrets, usageError } from '../errors.js';
import { checkCrossFieldRules } from './cross-field-rules.js';
import { closestMatch } from './did-you-mean.js';
import { formatProblem, plainWordsErrorMap, problemsFromIssues, sortProblems, type ConfigProblem } from './problems.js';
import { projectFileSchema } from './schema.js';
import { checkSecrets } from './secret-rules.js';
import { toProjectConfig } from './to-project-config.js';
import type { EnvironmentConfig, LoadedProject, ProjectConfig } from './types.js';
import { pathOfKeyAt, positionOfOffset, formatPath, type YamlSource } from './yaml-source.js';

export type { ConfigProblem } from './problems.js';
export { formatProblem } from './problems.js';

export const PROJECT_FILE_NAME = 'slipway.yml';

export interface ParsedProjectText {
  /** present only when there are no problems */
  config?: ProjectConfig;
  problems: ConfigProblem[];
  warnings: string[];
}

/**
 * Parses and validates the text of a project file. Pure: `file` is only used to
 * name the file in problems and warnings.
 */
export function parseProjectText(text: string, file: string): ParsedProjectText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    merge: true,
    prettyErrors: false,
    // yaml would otherwise print some warnings to stderr itself; ours go through `warnings`
    logLevel: 'error',
  });
  const source: YamlSource = { doc, lineCounter };
  const warnings = doc.warnings.map((warning) => {
    const { line, column } = positionOfOffset(source, warning.pos[0]);
    return `${file}:${line}:${column}: ${plainYamlMessage(warning.message)}`;
  });

  const yamlProblems = doc.errors.map((error): ConfigProblem => {
    const { line, column } = positionOfOffset(source, error.pos[0]);
    if (error.code === 'DUPLICATE_KEY') {
      const keyPath = pathOfKeyAt(source, error.pos[0]);
      const key = keyPath?.[keyPath.length - 1];
      return {
        file,
        line,
        column,
        path: keyPath ? formatPath(keyPath) : '',
        message: key === undefined ? 'duplicate key: each key may appear only once in a mapping' : `duplicate key \`${key}\`: each key may appear only once in a mapping`,
      };
    }
    return { file, line, column, path: '', message: `YAML syntax error: ${plainYamlMessage(error.message)}` };
  });
  // After a syntax error the document's shape is a guess; checking it would only add noise.
  if (doc.errors.some((error) => error.code !== 'DUPLICATE_KEY')) {
    return { problems: sortProblems(yamlProblems), warnings };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    // unresolved aliases and alias bombs only surface when the document is turned into values
    const { line, column } = positionOfOffset(source, firstAliasOffset(source) ?? 0);
    return { problems: [{ file, line, column, path: '', message: `YAML error: ${plainYamlMessage((error as Error).message)}` }], warnings };
  }
  const problems = [...yamlProblems, ...checkSecrets({ source, file, data })];
  const crossField = checkCrossFieldRules({ source, file, data });
  problems.push(...crossField.problems);
  warnings.push(...crossField.warnings);

  const parsed = projectFileSchema.safeParse(data, { error: plainWordsErrorMap });
  if (!parsed.success) problems.push(...problemsFromIssues({ issues: parsed.error.issues, source, file, data }));

  if (problems.length > 0 || !parsed.success) {
    // A value the secret rules flag may also fail a field's own check, whose message quotes it (upgrade.from does).
    const redacted = problems.map((problem) => ({
      ...problem,
      message: redactSecrets(problem.message),
      ...(problem.expected === undefined ? {} : { expected: redactSecrets(problem.expected) }),
    }));
    return { problems: sortProblems(redacted), warnings };
  }
  return { config: toProjectConfig(parsed.data), problems: [], warnings };
}

/** Where the trouble with aliases most likely is: the first one that resolves to nothing, else the first one. */
function firstAliasOffset(source: YamlSource): number | undefined {
  let first: number | undefined;
  let unresolved: number | undefined;
  visit(source.doc, {
    Alias(_key, node) {
      first ??= node.range?.[0];
      if (node.resolve(source.doc) !== undefined) return undefined;
      unresolved = node.range?.[0];
      return visit.BREAK;
    },
  });
  return unresolved ?? first;
}

/** yaml's messages, without its own "at line …" suffix (we print positions ourselves). */
function plainYamlMessage(message: string): string {
  return message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '').trim();
}

/**
 * Finds, reads and validates the project file: `file` (the --config path, relative
 * to `cwd`) or slipway.yml in `cwd` (default: the process's working folder).
 */
export async function loadProject(options: { file?: string; cwd?: string } = {}): Promise<LoadedProject> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = path.resolve(cwd, options.file ?? PROJECT_FILE_NAME);
  const shownName = displayPath(file, cwd);

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw await notFoundError({ file, cwd, explicit: options.file !== undefined, cause: error });
    throw usageError('CONFIG_UNREADABLE', `cannot read ${shownName}: ${(error as Error).message}`, {
      hint: 'check the file permissions, or pass --config <path>',
      cause: error,
    });
  }

  const result = parseProjectText(text, shownName);
  if (result.problems.length > 0 || result.config === undefined) {
    const count = result.problems.length;
    throw usageError('CONFIG_INVALID', `${shownName} has ${count} problem${count === 1 ? '' : 's'}`, {
      details: result.problems.map(formatProblem),
      hint: `fix ${count === 1 ? 'it' : 'them'} in ${shownName} and run the command again (\`slipway init\` writes a commented example of every section)`,
    });
  }
  return { config: result.config, file, dir: path.dirname(file), warnings: result.warnings };
}

async function notFoundError(options: { file: string; cwd: string; explicit: boolean; cause: unknown }): Promise<SlipwayError> {
  const shownName = displayPath(options.file, options.cwd);
  if (options.explicit) {
    return usageError('CONFIG_NOT_FOUND', `config file ${shownName} not found`, {
      hint: 'check the path given to --config, or run `slipway init` to create a slipway.yml',
      cause: options.cause,
    });
  }
  const yamlSpelling = path.join(options.cwd, 'slipway.yaml');
  const hasYamlSpelling = await stat(yamlSpelling).then((info) => info.isFile(), () => false);
  return usageError('CONFIG_NOT_FOUND', `no ${PROJECT_FILE_NAME} in ${options.cwd}`, {
    hint: hasYamlSpelling
      ? 'found slipway.yaml: rename it to slipway.yml, or pass --config slipway.yaml'
      : 'run `slipway init` to create one, or pass --config <path>',
    cause: options.cause,
  });
}

/** Relative to cwd when inside it (shorter, clickable in editors), absolute otherwise. */
function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

/** The named environment, or a usage error listing the known ones. */
export function getEnvironment(project: LoadedProject | ProjectConfig, name: string): EnvironmentConfig {
  const config = 'config' in project && 'file' in project ? project.config : (project as ProjectConfig);
  const found = config.environments.find((env) => env.name === name);
  if (found) return found;
  const known = config.environments.map((env) => env.name);
  const suggestion = closestMatch(name, known);
  throw usageError('CONFIG_UNKNOWN_ENVIRONMENT', `unknown environment \`${name}\``, {
    hint: `${suggestion === undefined ? '' : `did you mean \`${suggestion}\`? `}known environments: ${known.join(', ')} (defined under environments: in ${PROJECT_FILE_NAME})`,
  });
}
