/**
 * The fault matrix: rows are the pipeline steps, columns the faults, a cell says
 * where the host ended after the fault hit the update v1 → v2 at that step.
 *
 * Each column runs in its own test file (so two run at once), hence in its own
 * process: a column writes its cells to a folder shared by the files of one
 * `node --test` run (named after the runner process), and the last column of the
 * run to end prints the whole matrix (a column run alone prints it with the others
 * marked "not run").
 *
 * To add a column: add it to FAULT_COLUMNS; give it `elsewhere` when its cells
 * come from another suite, else write test/faults/<id>.test.ts that calls
 * runFaultColumn (fault-case.ts) with that id.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIPELINE_STEPS } from '../../src/config/types.js';

export interface FaultColumn {
  id: string;
  title: string;
  /** the column is proven by another suite: its cells read this */
  elsewhere?: string;
}

export const FAULT_COLUMNS: readonly FaultColumn[] = [
  { id: 'agent-sigkill', title: 'agent SIGKILL' },
  { id: 'cli-sigkill', title: 'CLI SIGKILL' },
  { id: 'database-away', title: 'database away' },
  { id: 'disk-full', title: 'disk full' },
  { id: 'health-failing', title: 'health check failing' },
  { id: 'store-unreachable', title: 'store unreachable' },
  { id: 'network-drop', title: 'network drop (SSH)' },
];

/** One cell: where the host ended, and whether the invariant held there. */
export interface Cell {
  text: string;
  red: boolean;
}

export interface ColumnRecorder {
  record(step: string, cell: Cell): void;
  /** every cell of the column says `text` (the column could not run here) */
  skipAll(text: string): void;
  /** saves the column; the last column of the run prints the matrix */
  finish(): void;
}

/**
 * The folder the columns of one `node --test` run share: the runner is every file's
 * parent, and its pid with its start time names the run (a pid alone can come back).
 */
function runDir(): string {
  let started = '0';
  try {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    // no /proc: the pid alone
  }
  return path.join(os.tmpdir(), `slipway-fault-matrix-${process.ppid}-${started}`);
}

/**
 * The columns whose files this run runs: the runner's arguments name the files (or
 * folders holding them); without any, it runs every test file it finds.
 */
function columnsInThisRun(): string[] {
  const own = FAULT_COLUMNS.filter((c) => !c.elsewhere).map((c) => ({ id: c.id, file: path.join(HERE, `${c.id}.test.js`) }));
  let targets: string[] = [];
  try {
    const cwd = readlinkSync(`/proc/${process.ppid}/cwd`);
    const args = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1);
    targets = args.filter((a) => !a.startsWith('-')).map((a) => path.resolve(cwd, a));
  } catch {
    // cannot see the runner: every column
  }
  if (targets.length === 0) return own.map((c) => c.id);
  return own.filter((c) => targets.some((t) => c.file === t || c.file.startsWith(`${t}${path.sep}`))).map((c) => c.id);
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function startColumn(id: string): ColumnRecorder {
  if (!FAULT_COLUMNS.some((c) => c.id === id)) throw new Error(`unknown fault column ${id}: add it to FAULT_COLUMNS`);
  const dir = runDir();
  mkdirSync(dir, { recursive: true });
  const cells: Record<string, Cell> = {};
  return {
    record(step, cell) {
      cells[step] = cell;
    },
    skipAll(text) {
      for (const step of PIPELINE_STEPS) cells[step] = { text, red: false };
    },
    finish() {
      writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(cells));
      const expected = new Set([...columnsInThisRun(), id]);
      const waitingFor = [...expected].filter((c) => !existsSync(path.join(dir, `${c}.json`)));
      if (waitingFor.length > 0) {
        console.log(`fault matrix: column ${id} done; the last column of this run (${waitingFor.join(', ')} still running) prints the matrix`);
        return;
      }
      // Two columns ending together: one prints.
      try {
        closeSync(openSync(path.join(dir, 'printed'), 'wx'));
      } catch {
        return;
      }
      console.log(renderMatrix(readColumns(dir)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type ColumnState = { state: 'done'; cells: Record<string, Cell> } | { state: 'not run' };

function readColumns(dir: string): Map<string, ColumnState> {
  const states = new Map<string, ColumnState>();
  for (const column of FAULT_COLUMNS) {
    const file = path.join(dir, `${column.id}.json`);
    states.set(column.id, existsSync(file) ? { state: 'done', cells: JSON.parse(readFileSync(file, 'utf8')) as Record<string, Cell> } : { state: 'not run' });
  }
  return states;
}

/** The matrix as a text table; RED marks a cell whose invariant broke. */
function renderMatrix(columns: Map<string, ColumnState>): string {
  const header = ['step', ...FAULT_COLUMNS.map((c) => c.title)];
  const rows = PIPELINE_STEPS.map((step) => [
    step,
    ...FAULT_COLUMNS.map((column) => {
      if (column.elsewhere) return column.elsewhere;
      const state = columns.get(column.id) ?? { state: 'not run' };
      if (state.state !== 'done') return '(not run)';
      const cell = state.cells[step];
      if (!cell) return '(no result)';
      return cell.red ? `RED ${cell.text}` : cell.text;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const reds = rows.flat().filter((c) => c.startsWith('RED ')).length;
  return [
    'fault matrix: update v1 → v2 with the fault injected at each step; a cell is where the host ended once the fault was lifted',
    '(→v1: the update was undone, →v2: it went through; every cell passed the invariant unless marked RED)',
    line(header),
    line(header.map((_, i) => '-'.repeat(widths[i]!))),
    ...rows.map(line),
    reds > 0 ? `${reds} RED cell(s)` : '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}
