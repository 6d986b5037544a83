/**
 * `.dockerignore` in a build context: the files it names are left out of the context sent to
 * the engine, as `docker build` does on the client side (the engine itself only drops the
 * Dockerfile and .dockerignore from COPY). Matching follows Docker's own rules (patterns rooted
 * at the context, `**`, `!` exceptions) through the port of its matcher dockerode already uses.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import dockerignoreModule from '@balena/dockerignore';

// A CommonJS module whose types say `export default`: from ESM its function is the default export itself.
const dockerignore = ((dockerignoreModule as unknown as { default?: unknown }).default ?? dockerignoreModule) as unknown as typeof dockerignoreModule.default;

/** Which paths of the context (relative, `/`-separated) go to the engine; everything when there is no .dockerignore. */
export async function buildContextFilter(contextDir: string, dockerfile: string): Promise<(relativePath: string, isDirectory: boolean) => boolean> {
  const text = await fs.readFile(path.join(contextDir, '.dockerignore'), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (text === null) return () => true;
  const patterns = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const matcher = dockerignore().add(patterns);
  // With an exception (`!keep/this`), a folder that matches may still hold a file that goes: walk into it.
  const hasExceptions = patterns.some((p) => p.startsWith('!'));
  const alwaysSent = new Set([path.posix.normalize(dockerfile), '.dockerignore']);
  return (relativePath, isDirectory) => {
    const clean = path.posix.normalize(relativePath.replace(/^\.\//, '')).replace(/\/$/, '');
    if (alwaysSent.has(clean)) return true;
    if (!matcher.ignores(clean)) return true;
    // the folders that hold the Dockerfile are walked, to reach it
    if (isDirectory && [...alwaysSent].some((sent) => sent.startsWith(`${clean}/`))) return true;
    return isDirectory && hasExceptions;
  };
}
