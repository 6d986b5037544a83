/**
 * A deterministic node_modules-like tree, the size of a real Node app after `npm ci`:
 * thousands of packages (`node_modules/<pkg>/{package.json,index.js,lib/*.js,README.md,LICENSE}`,
 * some scoped, some with a nested node_modules), mostly small compressible text with
 * lognormal sizes (median a few KB), a few dozen large files (1–20 MB; the native
 * `.node`, `.wasm` and executables incompressible), and, with `links`, the symbolic
 * links an install makes: `node_modules/.bin/<name> -> ../<pkg>/bin/cli.js`, two
 * workspace folders linked into node_modules, and a virtualenv whose
 * `venv/bin/python` points out of the tree at `/usr/bin/python3`.
 *
 * The same options give the same tree, byte for byte: every file's content comes from
 * its own PRNG stream seeded from `seed` and the file's index (no Math.random), so the
 * parallel writes cannot change it.
 *
 *   node dist/bench/big-tree.js <dir> [files] [bytes] [seed] [--no-links]
 */
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fs, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BigTreeOptions {
  /** regular files to write (default 50,000; links and folders not counted) */
  files?: number;
  /** total bytes of the regular files, roughly (default 600 MB) */
  bytes?: number;
  /** default 1 */
  seed?: number;
  /** the symbolic links an install makes (default true) */
  links?: boolean;
  /** with links: `venv/bin/python -> /usr/bin/python3`, a link out of the tree (default true) */
  outsideLink?: boolean;
  /** files written at once (default 64) */
  concurrency?: number;
}

export interface BigTreeSummary {
  files: number;
  bytes: number;
  /** bytes in the large (1–20 MB) files */
  largeBytes: number;
  largeFiles: number;
  /** of those, incompressible (random) bytes */
  incompressibleBytes: number;
  packages: number;
  links: { path: string; target: string }[];
  ms: number;
}

export const DEFAULT_FILES = 50_000;
export const DEFAULT_BYTES = 600 * 1000 * 1000;

// ---------------------------------------------------------------- randomness

/** sfc32: a small, fast, well-mixed 32-bit PRNG. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seeds: number[]) {
    // Mix any number of integer seeds into four words with a 64-bit-free splitmix-like hash.
    const h = createHash('sha256');
    for (const s of seeds) h.update(`${s};`);
    const words = h.digest();
    this.a = words.readUInt32LE(0);
    this.b = words.readUInt32LE(4);
    this.c = words.readUInt32LE(8);
    this.d = words.readUInt32LE(12) | 1;
    for (let i = 0; i < 12; i += 1) this.next();
  }

  /** uniform in [0, 2^32) */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** uniform in [0, 1) */
  float(): number {
    return this.next() / 4294967296;
  }

  /** whole number in [0, n) */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** standard normal (Box–Muller) */
  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** lognormal with the given median, clamped to [min, max] */
  lognormal(median: number, sigma: number, min: number, max: number): number {
    return Math.round(Math.min(max, Math.max(min, median * Math.exp(sigma * this.normal()))));
  }
}

/** n incompressible bytes, the same for the same (seed, index): AES-128-CTR keystream. */
function randomBytesFor(seed: number, index: number, n: number): Buffer {
  const key = createHash('sha256').update(`big-tree-bytes;${seed};${index}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()]);
}

// ---------------------------------------------------------------- text that looks like code

const WORDS = (
  'request response buffer stream handler options config value result error callback promise ' +
  'resolve reject parse format encode decode token node tree walk visit emit listen close open ' +
  'read write flush cache store key index length offset start end range match pattern source ' +
  'target module exports require define register plugin context state props children render ' +
  'update mount schema field type name path file folder url query header body status method ' +
  'client server socket retry timeout limit queue worker task job batch chunk size count total ' +
  'merge clone assign keys entries filter reduce map sort slice split join trim lower upper'
).split(' ');
const PROSE = (
  'the a this that it is are be can will should may must when if then with without for from into ' +
  'returns accepts option default value function module package install usage example note see also ' +
  'supports node browser version release breaking change fixed added removed deprecated'
).split(' ');

function identifier(r: Prng): string {
  const first = r.pick(WORDS);
  return r.chance(0.6) ? first + capitalize(r.pick(WORDS)) : first;
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function codeLine(r: Prng, indent: number): string {
  const pad = '  '.repeat(indent);
  switch (r.int(12)) {
    case 0:
      return `${pad}const ${identifier(r)} = require('./${r.pick(WORDS)}');`;
    case 1:
      return `${pad}function ${identifier(r)}(${identifier(r)}, ${identifier(r)}) {`;
    case 2:
      return `${pad}if (${identifier(r)} === ${r.chance(0.5) ? 'null' : 'undefined'}) return ${identifier(r)};`;
    case 3:
      return `${pad}return ${identifier(r)}.${r.pick(['map', 'filter', 'reduce', 'slice'])}((${r.pick(WORDS)}) => ${r.pick(WORDS)}.${identifier(r)});`;
    case 4:
      return `${pad}// ${Array.from({ length: 4 + r.int(8) }, () => r.pick(PROSE)).join(' ')}`;
    case 5:
      return `${pad}${identifier(r)}.${identifier(r)} = ${r.int(100_000)};`;
    case 6:
      return `${pad}throw new TypeError('${r.pick(WORDS)} must be a ${r.pick(['string', 'number', 'function', 'object'])}');`;
    case 7:
      return `${pad}for (let i = 0; i < ${identifier(r)}.length; i++) ${identifier(r)}(${identifier(r)}[i]);`;
    case 8:
      return `${pad}}`;
    case 9:
      return `${pad}var ${identifier(r)} = Object.create(null);`;
    case 10:
      return `${pad}exports.${identifier(r)} = ${identifier(r)};`;
    default:
      return `${pad}${identifier(r)}(${identifier(r)}, '${r.pick(WORDS)}-${r.int(1000)}');`;
  }
}

function proseLine(r: Prng): string {
  switch (r.int(6)) {
    case 0:
      return `## ${capitalize(r.pick(PROSE))} ${r.pick(WORDS)}`;
    case 1:
      return '```js';
    case 2:
      return `const ${identifier(r)} = require('${r.pick(WORDS)}-${r.pick(WORDS)}');`;
    case 3:
      return '```';
    default:
      return Array.from({ length: 8 + r.int(14) }, () => r.pick(r.chance(0.8) ? PROSE : WORDS)).join(' ') + '.';
  }
}

/** A few MB of text to cut files from: cheap to slice, realistic to compress. */
function makePool(r: Prng, bytes: number, line: (r: Prng) => string): string {
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const l = line(r);
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- the tree plan

type Kind = 'js' | 'md' | 'json' | 'license' | 'binary' | 'bigjs';

interface PlannedFile {
  path: string;
  kind: Kind;
  size: number;
  mode: number;
  /** for package.json */
  pkg?: { name: string; version: string; bin?: string; deps: string[] };
}

const SYLLABLES = 'ab ac ad al an ar as at ba be bi bo bu ca ce ci co cu da de di do du el en er es ex fa fe fi fo ga ge go ha he hi ho in is ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu ob ol on or pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu un ur va ve vi vo ya yo za ze zi zo'.split(' ');
const SUFFIXES = ['', '', '', '-js', '-utils', '-core', '-parser', '-plugin', '-loader', '-cli', '-types', '-polyfill', '-compat', '-lite'];

const LARGE = [
  { dir: '@img/sharp-linux-x64', file: 'lib/sharp-linux-x64.node', binary: true },
  { dir: 'typescript', file: 'lib/typescript.js', binary: false },
  { dir: '@esbuild/linux-x64', file: 'bin/esbuild', binary: true, exec: true },
  { dir: '@swc/core-linux-x64-gnu', file: 'swc.linux-x64-gnu.node', binary: true },
  { dir: 'typescript', file: 'lib/tsserver.js', binary: false },
  { dir: '@prisma/engines', file: 'libquery_engine-debian-openssl-3.0.x.so.node', binary: true },
  { dir: 'onnxruntime-web', file: 'dist/ort-wasm-simd.wasm', binary: true },
  { dir: 'pdfjs-dist', file: 'build/pdf.worker.js.map', binary: false },
  { dir: '@babel/standalone', file: 'babel.js', binary: false },
  { dir: 'canvas', file: 'build/Release/canvas.node', binary: true },
  { dir: 'monaco-editor', file: 'min/vs/editor/editor.main.js', binary: false },
  { dir: 'sql.js', file: 'dist/sql-wasm.wasm', binary: true },
];

const MIT = (name: string, year: number) =>
  `MIT License\n\nCopyright (c) ${year} ${name} contributors\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the "Software"), to deal\nin the Software without restriction, including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\nIMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\nFITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\nAUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\nLIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\nOUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\nSOFTWARE.\n`;

interface Plan {
  files: PlannedFile[];
  links: { path: string; target: string }[];
  packages: number;
}

function planTree(o: Required<Omit<BigTreeOptions, 'concurrency'>>): Plan {
  const r = new Prng(o.seed, 0);
  const files: PlannedFile[] = [];
  const links: { path: string; target: string }[] = [];
  const used = new Set<string>();
  let packages = 0;
  // At full size: ~190 packages with a bin; scaled with the file count, at least 3.
  const binTarget = Math.max(3, Math.round((o.files * 190) / DEFAULT_FILES));
  const largeCount = planLargeCount(o);
  const smallTarget = Math.max(10, o.files - largeCount * 2 - 12);

  const newName = (): string => {
    for (;;) {
      let name = r.pick(SYLLABLES) + r.pick(SYLLABLES) + (r.chance(0.5) ? r.pick(SYLLABLES) : '') + r.pick(SUFFIXES);
      if (r.chance(0.15)) name = `@${r.pick(SYLLABLES)}${r.pick(SYLLABLES)}/${name}`;
      if (!used.has(name)) {
        used.add(name);
        return name;
      }
    }
  };

  const version = () => `${r.int(8)}.${r.int(20)}.${r.int(30)}`;
  const topLevel: string[] = [];
  const addPackage = (dir: string, name: string, small: boolean): void => {
    packages += 1;
    const deps = topLevel.length > 0 ? Array.from({ length: r.int(4) }, () => r.pick(topLevel)) : [];
    files.push({ path: `${dir}/package.json`, kind: 'json', size: 0, mode: 0o644, pkg: { name, version: version(), deps } });
    files.push({ path: `${dir}/index.js`, kind: 'js', size: r.lognormal(1500, 0.9, 80, 60_000), mode: 0o644 });
    if (r.chance(0.9)) files.push({ path: `${dir}/README.md`, kind: 'md', size: r.lognormal(4000, 1.0, 200, 120_000), mode: 0o644 });
    if (r.chance(0.85)) files.push({ path: `${dir}/LICENSE`, kind: 'license', size: 0, mode: 0o644 });
    if (!small && r.chance(0.2)) files.push({ path: `${dir}/CHANGELOG.md`, kind: 'md', size: r.lognormal(6000, 1.0, 300, 200_000), mode: 0o644 });
    const libFiles = small ? r.int(3) : Math.min(80, r.lognormal(5, 1.0, 0, 80));
    for (let i = 0; i < libFiles; i += 1) {
      const base = `${r.pick(WORDS)}${i === 0 ? '' : `-${i}`}`;
      files.push({ path: `${dir}/lib/${base}.js`, kind: 'js', size: r.lognormal(3000, 1.1, 60, 400_000), mode: 0o644 });
      if (r.chance(0.25)) files.push({ path: `${dir}/lib/${base}.d.ts`, kind: 'js', size: r.lognormal(1200, 0.9, 60, 100_000), mode: 0o644 });
    }
  };

  while (files.length < smallTarget) {
    const name = newName();
    const dir = `node_modules/${name}`;
    topLevel.push(name);
    addPackage(dir, name, false);
    // Some packages need a version of a dependency other than the hoisted one.
    if (r.chance(0.08)) {
      const nested = 1 + r.int(3);
      for (let i = 0; i < nested; i += 1) {
        const dep = r.pick(SYLLABLES) + r.pick(SYLLABLES) + r.pick(SUFFIXES);
        const key = `${dir}/node_modules/${dep}`;
        if (used.has(key)) continue;
        used.add(key);
        addPackage(key, dep, true);
      }
    }
  }

  // Packages with a command: bin/cli.js, and (with links) node_modules/.bin/<name> pointing at it.
  const binNames = new Set<string>();
  const step = Math.max(1, Math.floor(topLevel.length / binTarget));
  for (let i = 0; i < topLevel.length && binNames.size < binTarget; i += step) {
    const pkg = topLevel[i]!;
    let bin = pkg.replace(/^@[^/]+\//, '');
    while (binNames.has(bin)) bin = `${bin}-x`;
    binNames.add(bin);
    files.push({ path: `node_modules/${pkg}/bin/cli.js`, kind: 'js', size: r.lognormal(2000, 0.8, 200, 50_000), mode: 0o755 });
    const json = files.find((f) => f.path === `node_modules/${pkg}/package.json`);
    if (json?.pkg) json.pkg.bin = bin;
    if (o.links) links.push({ path: `node_modules/.bin/${bin}`, target: `../${pkg}/bin/cli.js` });
  }

  // Workspaces: local packages, linked into node_modules by the install.
  for (const [folder, name, link, target] of [
    ['packages/app-shared', 'app-shared', 'node_modules/app-shared', '../packages/app-shared'],
    ['packages/app-config', '@app/config', 'node_modules/@app/config', '../../packages/app-config'],
  ] as const) {
    files.push({ path: `${folder}/package.json`, kind: 'json', size: 0, mode: 0o644, pkg: { name, version: '1.0.0', deps: [] } });
    files.push({ path: `${folder}/index.js`, kind: 'js', size: 2400, mode: 0o644 });
    files.push({ path: `${folder}/lib/util.js`, kind: 'js', size: 5200, mode: 0o644 });
    if (o.links) links.push({ path: link, target });
  }

  // A Python virtualenv beside it (a helper script's), as `python -m venv` makes it.
  files.push({ path: 'venv/pyvenv.cfg', kind: 'md', size: 120, mode: 0o644 });
  files.push({ path: 'venv/lib/python3.11/site-packages/helper/__init__.py', kind: 'md', size: 900, mode: 0o644 });
  if (o.links) {
    if (o.outsideLink) links.push({ path: 'venv/bin/python', target: '/usr/bin/python3' });
    links.push({ path: 'venv/bin/python3', target: 'python' });
  }

  // Large files: what fills a real tree's bytes (native modules, engines, bundles, maps).
  let smallBytes = 0;
  for (const f of files) smallBytes += f.kind === 'json' ? 700 : f.kind === 'license' ? 1100 : f.size;
  const remaining = Math.max(0, o.bytes - smallBytes);
  if (largeCount > 0) {
    const weights = Array.from({ length: largeCount }, () => 1 + r.float() * 19);
    const sum = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < largeCount; i += 1) {
      const t = LARGE[i % LARGE.length]!;
      const round = Math.floor(i / LARGE.length);
      const dir = `node_modules/${t.dir}${round === 0 ? '' : `-${round + 1}`}`;
      const size = Math.max(64 * 1024, Math.round((remaining * weights[i]!) / sum));
      if (!files.some((f) => f.path === `${dir}/package.json`)) {
        files.push({ path: `${dir}/package.json`, kind: 'json', size: 0, mode: 0o644, pkg: { name: dir.slice('node_modules/'.length), version: version(), deps: [] } });
      }
      files.push({ path: `${dir}/${t.file}`, kind: t.binary ? 'binary' : 'bigjs', size, mode: 'exec' in t && t.exec ? 0o755 : 0o644 });
    }
  }
  return { files, links, packages };
}

/** How many large files: none when the small files already reach `bytes`, else about one per 10 MB left. */
function planLargeCount(o: { files: number; bytes: number }): number {
  // Expected bytes of the small files: ~4.2 KB each on average with the sizes above.
  const left = o.bytes - o.files * 4200;
  if (left < 2 * 1024 * 1024) return 0;
  return Math.max(1, Math.min(60, Math.round(left / (10 * 1024 * 1024))));
}

// ---------------------------------------------------------------- writing

interface Pools {
  js: string;
  md: string;
}

function contentOf(f: PlannedFile, index: number, seed: number, pools: Pools): Buffer {
  const r = new Prng(seed, 1, index);
  switch (f.kind) {
    case 'json': {
      const p = f.pkg!;
      const json: Record<string, unknown> = {
        name: p.name,
        version: p.version,
        description: Array.from({ length: 5 + r.int(8) }, () => r.pick(PROSE)).join(' '),
        main: 'index.js',
        license: 'MIT',
        repository: { type: 'git', url: `git+https://git.example.invalid/${p.name.replace(/^@/, '')}.git` },
        keywords: Array.from({ length: r.int(6) }, () => r.pick(WORDS)),
      };
      if (p.bin) json.bin = { [p.bin]: 'bin/cli.js' };
      if (p.deps.length > 0) json.dependencies = Object.fromEntries(p.deps.map((d) => [d, `^${r.int(5)}.${r.int(10)}.0`]));
      json.engines = { node: `>=${10 + r.int(10)}` };
      return Buffer.from(`${JSON.stringify(json, null, 2)}\n`);
    }
    case 'license':
      return Buffer.from(MIT(path.basename(path.dirname(f.path)), 2010 + r.int(15)));
    case 'binary':
      return randomBytesFor(seed, index, f.size);
    case 'js':
    case 'bigjs':
    case 'md': {
      const pool = f.kind === 'md' ? pools.md : pools.js;
      const header = f.kind === 'md' ? `# ${f.path}\n\n` : `// ${f.path}\n'use strict';\n`;
      const parts: string[] = [header];
      let size = header.length;
      while (size < f.size) {
        // Slices of at most 64 KB from random places: no long repeats inside gzip's window.
        const want = Math.min(f.size - size, 64 * 1024);
        const at = pool.indexOf('\n', r.int(pool.length - want - 200)) + 1; // from a line's start
        const piece = pool.slice(at, at + want);
        parts.push(piece);
        size += piece.length;
      }
      return Buffer.from(parts.join('').slice(0, Math.max(f.size, header.length)));
    }
  }
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Writes the tree into `dir` (created; must be empty or absent). */
export async function generateBigTree(dir: string, options: BigTreeOptions = {}): Promise<BigTreeSummary> {
  const started = performance.now();
  const o = {
    files: options.files ?? DEFAULT_FILES,
    bytes: options.bytes ?? DEFAULT_BYTES,
    seed: options.seed ?? 1,
    links: options.links ?? true,
    outsideLink: options.outsideLink ?? true,
  };
  if (!(Number.isInteger(o.files) && o.files >= 20)) throw new RangeError(`files must be a whole number of at least 20, got ${o.files}`);
  if (!(o.bytes > 0)) throw new RangeError(`bytes must be positive, got ${o.bytes}`);
  await fs.mkdir(dir, { recursive: true });
  if ((await fs.readdir(dir)).length > 0) throw new Error(`${dir} is not empty`);

  const plan = planTree(o);
  const poolRng = new Prng(o.seed, 2);
  const pools: Pools = { js: makePool(poolRng, 4 * 1024 * 1024, (r) => codeLine(r, r.int(3))), md: makePool(poolRng, 1024 * 1024, proseLine) };

  const folders = new Set<string>();
  for (const p of [...plan.files.map((f) => f.path), ...plan.links.map((l) => l.path)]) folders.add(path.posix.dirname(p));
  // Deepest paths include their parents: mkdir -p only the leaves.
  const sorted = [...folders].sort();
  const leaves = sorted.filter((f, i) => !(sorted[i + 1]?.startsWith(`${f}/`) ?? false));
  await runLimited(leaves, 32, async (f) => {
    await fs.mkdir(path.join(dir, f), { recursive: true });
  });

  let bytes = 0;
  let largeBytes = 0;
  let largeFiles = 0;
  let incompressibleBytes = 0;
  await runLimited(plan.files, options.concurrency ?? 64, async (f, index) => {
    const data = contentOf(f, index, o.seed, pools);
    await fs.writeFile(path.join(dir, f.path), data, { mode: f.mode });
    if (f.mode !== 0o644) await fs.chmod(path.join(dir, f.path), f.mode); // the umask may have taken bits off
    bytes += data.length;
    if (f.kind === 'binary' || f.kind === 'bigjs') {
      largeBytes += data.length;
      largeFiles += 1;
      if (f.kind === 'binary') incompressibleBytes += data.length;
    }
  });
  for (const l of plan.links) await fs.symlink(l.target, path.join(dir, l.path));
  return { files: plan.files.length, bytes, largeBytes, largeFiles, incompressibleBytes, packages: plan.packages, links: plan.links, ms: performance.now() - started };
}

/**
 * Changes one line of one small text file, the same one each time for the same tree:
 * the first `.js` file under 64 KB in sorted order (links, `.bin` and `.git` skipped).
 * Its first `//` comment line gets ` (patched N)`, N counting the calls.
 * Returns the file's path relative to `dir`.
 */
export async function mutateOneFile(dir: string): Promise<string> {
  const find = async (rel: string): Promise<string | null> => {
    const entries = (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isFile() && e.name.endsWith('.js') && (await fs.stat(path.join(dir, child))).size < 64 * 1024) return child;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name === '.git' || e.name === '.bin') continue;
      const found = await find(rel === '' ? e.name : `${rel}/${e.name}`);
      if (found) return found;
    }
    return null;
  };
  const rel = await find('');
  if (!rel) throw new Error(`no .js file under 64 KB in ${dir}`);
  const file = path.join(dir, rel);
  const lines = (await fs.readFile(file, 'utf8')).split('\n');
  const at = lines.findIndex((l) => l.startsWith('//'));
  if (at === -1) {
    lines.unshift('// (patched 1)');
  } else {
    const m = / \(patched (\d+)\)$/.exec(lines[at]!);
    lines[at] = m ? lines[at]!.slice(0, m.index) + ` (patched ${Number(m[1]) + 1})` : `${lines[at]} (patched 1)`;
  }
  await fs.writeFile(file, lines.join('\n'));
  return rel;
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (args.length === 0) {
    console.error('usage: node dist/bench/big-tree.js <dir> [files] [bytes] [seed] [--no-links]');
    process.exit(2);
  }
  const summary = await generateBigTree(args[0]!, {
    files: args[1] === undefined ? undefined : Number(args[1]),
    bytes: args[2] === undefined ? undefined : Number(args[2]),
    seed: args[3] === undefined ? undefined : Number(args[3]),
    links: !process.argv.includes('--no-links'),
  });
  const { links, ...rest } = summary;
  console.log(JSON.stringify({ ...rest, links: links.length }, null, 2));
}
