/**
 * An image out of the engine as content objects: the engine's save (a tar of the config and a
 * tar per layer) read as a stream, each layer hashed as it goes by (its sha256 is its diff id)
 * and written to a folder, the ones already stored skipped. The store puts them
 * (src/store/image-objects.ts); the build calls this (src/release/image-build.ts).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar';
import { engineFailure, type DockerClient } from './engine.js';
import { SlipwayError } from '../errors.js';

/** The hex digest of an image id (`sha256:<hex>`). */
export function imageIdHex(id: string): string {
  return id.startsWith('sha256:') ? id.slice('sha256:'.length) : id;
}

/**
 * Reads an image out of the engine (its save tar: one `<dir>/layer.tar` per layer, the
 * config `<hex>.json`, manifest.json) as one stream, and writes into `dir`, one file
 * named by digest, the config and each layer `skip` does not name. Every layer is
 * hashed as it streams: the diff ids the config lists are what the files hold.
 * Returns the size of every layer and of the config.
 */
export async function saveImageObjects(o: { engine: DockerClient; id: string; layers: readonly string[]; dir: string; skip?: (sha256: string) => boolean }): Promise<Map<string, number>> {
  await fs.mkdir(o.dir, { recursive: true });
  const configHex = imageIdHex(o.id);
  const sizes = new Map<string, number>();
  let saved: NodeJS.ReadableStream;
  try {
    saved = await o.engine.getImage(o.id).get();
  } catch (error) {
    throw engineFailure(`reading image ${o.id.slice(0, 19)} out of the engine`, error);
  }
  const parser = new tar.Parser({ strict: true });
  const work: Array<Promise<void>> = [];
  let temp = 0;
  parser.on('entry', (entry: tar.ReadEntry) => {
    const name = entry.path;
    if (entry.type === 'File' && /^[^/]+\/layer\.tar$/.test(name)) {
      const file = path.join(o.dir, `.layer-${temp++}.tmp`);
      work.push(writeHashed(entry, file).then(async ({ sha256, size }) => {
        sizes.set(sha256, size);
        if (o.skip?.(sha256)) await fs.rm(file, { force: true });
        else await fs.rename(file, path.join(o.dir, sha256));
      }));
    } else if (entry.type === 'File' && name === `${configHex}.json`) {
      work.push(writeHashed(entry, path.join(o.dir, `.config.tmp`)).then(async ({ sha256, size }) => {
        if (sha256 !== configHex) throw imageSaveInvalid(o.id, `its config hashes to ${sha256.slice(0, 12)}`);
        sizes.set(sha256, size);
        await fs.rename(path.join(o.dir, '.config.tmp'), path.join(o.dir, sha256));
      }));
    } else {
      // links to a layer saved once already (a layer twice in one image), VERSION, json, repositories
      entry.resume();
    }
  });
  let streamError: unknown;
  await pipeline(saved as Readable, parser as unknown as NodeJS.WritableStream).catch((error: unknown) => {
    streamError = error;
  });
  // Every entry's write has ended (settled, so none fails unheard) before the outcome is decided.
  const written = await Promise.allSettled(work);
  if (streamError !== undefined) throw engineFailure(`reading image ${o.id.slice(0, 19)} out of the engine`, streamError);
  for (const outcome of written) if (outcome.status === 'rejected') throw outcome.reason;
  if (!sizes.has(configHex)) throw imageSaveInvalid(o.id, 'its config was not in it');
  const missing = o.layers.filter((layer) => !sizes.has(layer));
  if (missing.length > 0) throw imageSaveInvalid(o.id, `layer ${missing[0]!.slice(0, 12)} was not in it`);
  return sizes;
}

async function writeHashed(entry: tar.ReadEntry, file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  let size = 0;
  try {
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
  } catch (error) {
    entry.resume(); // the rest of the entry is drained, so the save stream (and its other entries) still ends
    out.destroy();
    throw error;
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { sha256: hash.digest('hex'), size };
}

function imageSaveInvalid(id: string, why: string): SlipwayError {
  return new SlipwayError('IMAGE_SAVE_INVALID', `the engine's copy of image ${id.slice(0, 19)} is not what its id says: ${why}`, {
    hint: 'check the engine (`docker image inspect`, `docker save`); remove the image and build again',
  });
}

