/**
 * An accessory's output, as the engine keeps it (its json-file log): the last lines, and new
 * ones as they come. The container runs without a terminal, so the engine sends stdout and
 * stderr multiplexed in frames (8-byte header: stream, 0, 0, 0, big-endian length).
 */
import { Writable } from 'node:stream';
import { connectEngine, engineFailure, type DockerClient } from '../container/engine.js';
import { accessoryContainerName, inspectAccessory, type AccessoryOwner } from './accessory-container.js';
import { SlipwayError } from '../errors.js';

export type OutputStream = 'stdout' | 'stderr';

/** Splits the engine's multiplexed log buffer into its stdout and stderr chunks, in order. */
export function demuxLogBuffer(buffer: Buffer): Array<{ stream: OutputStream; chunk: Buffer }> {
  const out: Array<{ stream: OutputStream; chunk: Buffer }> = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const kind = buffer[offset]!;
    const size = buffer.readUInt32BE(offset + 4);
    const chunk = buffer.subarray(offset + 8, offset + 8 + size);
    out.push({ stream: kind === 2 ? 'stderr' : 'stdout', chunk });
    offset += 8 + size;
  }
  return out;
}

async function requireContainer(docker: DockerClient, owner: AccessoryOwner): Promise<void> {
  const { state } = await inspectAccessory(docker, owner);
  if (state === 'missing') {
    throw new SlipwayError('ACCESSORY_MISSING', `the accessory ${owner.accessory} has no container yet, so no output`, {
      hint: `create and start it: \`slipway accessory start ${owner.environment} ${owner.accessory}\``,
    });
  }
}

/** The last `lines` lines of its output (stdout and stderr interleaved as written). */
export async function accessoryLogLines(o: { owner: AccessoryOwner; lines: number; docker?: DockerClient }): Promise<string[]> {
  const docker = o.docker ?? (await connectEngine());
  await requireContainer(docker, o.owner);
  const name = accessoryContainerName(o.owner);
  let buffer: Buffer;
  try {
    buffer = await docker.getContainer(name).logs({ stdout: true, stderr: true, follow: false, tail: o.lines });
  } catch (error) {
    throw engineFailure(`reading the output of ${name}`, error);
  }
  const text = Buffer.concat(demuxLogBuffer(buffer).map((part) => part.chunk)).toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return o.lines === 0 ? [] : lines.slice(-o.lines);
}

/**
 * Writes the last `lines` lines, then every new chunk as it comes, until `signal` aborts or the
 * engine ends the stream (the container was removed).
 */
export async function followAccessoryLogs(o: {
  owner: AccessoryOwner;
  lines: number;
  write: (chunk: Buffer, stream: OutputStream) => void;
  signal: AbortSignal;
  docker?: DockerClient;
}): Promise<void> {
  const docker = o.docker ?? (await connectEngine());
  await requireContainer(docker, o.owner);
  const name = accessoryContainerName(o.owner);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getContainer(name).logs({ stdout: true, stderr: true, follow: true, tail: o.lines });
  } catch (error) {
    throw engineFailure(`following the output of ${name}`, error);
  }
  const sink = (kind: OutputStream) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        o.write(chunk, kind);
        callback();
      },
    });
  docker.modem.demuxStream(stream, sink('stdout'), sink('stderr'));
  await new Promise<void>((resolve) => {
    const stop = () => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      resolve();
    };
    if (o.signal.aborted) return stop();
    o.signal.addEventListener('abort', stop, { once: true });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', resolve);
  });
}
