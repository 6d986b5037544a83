/**
 * Release notes for a version, read from the built tree: `releases/<version>.md`, else the
 * section of CHANGELOG.md whose heading names the version, else ''.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw error;
  }
}

const withoutV = (v: string) => v.replace(/^v(?=\d)/, '');

/** The section of a markdown changelog whose heading names `version` (with or without a leading v). */
export function changelogSection(markdown: string, version: string): string | undefined {
  const wanted = withoutV(version);
  const lines = markdown.split(/\r?\n/);
  let start = -1;
  let level = 0;
  let inFence = false;
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(```|~~~)/.test(lines[i])) inFence = !inFence;
    if (inFence) continue;
    const heading = /^(#{1,6})\s+(.*)$/.exec(lines[i]);
    if (!heading) continue;
    const headingLevel = heading[1].length;
    if (start >= 0) {
      if (headingLevel <= level) return lines.slice(start, i).join('\n').trim();
      continue;
    }
    // Words of the heading, e.g. "[2.0.0] - 2024-05-01" → "2.0.0", "2024-05-01".
    const words = heading[2].match(/[0-9A-Za-z][0-9A-Za-z._+-]*/g) ?? [];
    if (words.some((w) => withoutV(w.replace(/\.+$/, '')) === wanted)) {
      start = i + 1;
      level = headingLevel;
    }
  }
  return start >= 0 ? lines.slice(start).join('\n').trim() : undefined;
}

export async function readReleaseNotes(treeDir: string, version: string): Promise<string> {
  const bare = withoutV(version);
  for (const name of new Set([version, bare, `v${bare}`])) {
    const notes = await readIfPresent(path.join(treeDir, 'releases', `${name}.md`));
    if (notes !== undefined) return notes.trim();
  }
  const changelog = await readIfPresent(path.join(treeDir, 'CHANGELOG.md'));
  return (changelog !== undefined ? changelogSection(changelog, version) : undefined) ?? '';
}
