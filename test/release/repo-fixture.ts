/** A real temporary git repository holding a small app, for the release tests. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { LoadedProject, ProjectConfig } from '../../src/config/types.js';
import { tempDir } from '../helpers/temp-dir.js';

export interface RepoFixture {
  /** the repository's root */
  dir: string;
  /** a scratch folder beside it (for outDir and the like), removed with it */
  scratch: string;
  git(...args: string[]): string;
  write(rel: string, content: string | Buffer, mode?: number): void;
  commit(message: string): string;
  project(config?: Partial<ProjectConfig>, dir?: string): LoadedProject;
}

// Temp folders have their home in test/helpers; re-exported for the importers of this module.
export { tempDir };

export function makeRepo(t: TestContext): RepoFixture {
  const root = tempDir(t);
  const dir = path.join(root, 'repo');
  const scratch = path.join(root, 'scratch');
  fs.mkdirSync(dir);
  fs.mkdirSync(scratch);
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Slipway Test');
  git('config', 'user.email', 'test@example.invalid');
  git('config', 'commit.gpgsign', 'false');
  git('config', 'tag.gpgsign', 'false');
  const write = (rel: string, content: string | Buffer, mode?: number) => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    if (mode !== undefined) fs.chmodSync(file, mode);
  };
  const commit = (message: string) => {
    git('add', '-A');
    git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD').trim();
  };
  const project = (config: Partial<ProjectConfig> = {}, projectDir = dir): LoadedProject => ({
    config: {
      app: 'demo',
      services: [],
      accessories: [],
      build: { commands: [], include: [], exclude: [] },
      data: { databases: [], folders: [] },
      migrate: null,
      hooks: [],
      config: [],
      environments: [],
      signing: {},
      ...config,
    },
    // Not a committed file: builds fall back to this literal config instead of the committed slipway.yml.
    file: path.join(projectDir, 'uncommitted-slipway.yml'),
    dir: projectDir,
    warnings: [],
  });
  return { dir, scratch, git, write, commit, project };
}

/** A repository with a typical app: a server, an executable script, a changelog, tag v1. */
export function makeAppRepo(t: TestContext): RepoFixture & { v1: string } {
  const repo = makeRepo(t);
  repo.write('slipway.yml', 'app: demo\n');
  repo.write('package.json', '{"name":"demo","version":"1.0.0"}\n');
  repo.write('server.js', 'console.log("hello");\n');
  repo.write('bin/start.sh', '#!/bin/sh\nexec node server.js\n', 0o755);
  repo.write('public/app.js.map', '{}\n');
  repo.write('.gitignore', 'ignored.log\n');
  repo.write(
    'CHANGELOG.md',
    [
      '# Changelog',
      '',
      '## v2',
      '- second',
      '',
      '## [1] - 2024-05-01',
      '- first release',
      '### Details',
      '- a detail',
      '',
      '## 0.9',
      '- old',
      '',
    ].join('\n'),
  );
  const v1 = repo.commit('First release\n\nWith a body line.');
  repo.git('tag', 'v1');
  return { ...repo, v1 };
}
