/**
 * Whole lines out of streamed output. A process's output arrives in chunks that
 * end wherever the pipe happened to cut it: a line can arrive in two chunks, and a
 * character of several bytes can too. The splitter keeps the unfinished line (and
 * the unfinished character) until the rest arrives, and gives the last line, the
 * one with no newline after it, when the stream ends.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export interface LineSplitter {
  /** Takes the next chunk; calls onLine for every line it completes. */
  push(chunk: Buffer | string): void;
  /** The stream ended: gives the unfinished last line, if any. Pushing after end starts afresh. */
  end(): void;
}

export interface LineSplitterOptions {
  /**
   * A line longer than this (output that never prints a newline) is given in pieces of
   * this length, so a runaway process cannot fill the memory. Default 1 MiB.
   */
  maxLineLength?: number;
}

const DEFAULT_MAX_LINE_LENGTH = 1024 * 1024;

/**
 * Lines end at "\n"; a "\r" just before it (a "\r\n" ending) is not part of the line.
 * Empty lines are given too: callers that do not want them skip them.
 */
export function createLineSplitter(onLine: (line: string) => void, options: LineSplitterOptions = {}): LineSplitter {
  const maxLength = Math.max(1, options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  let decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (line: string) => onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  const take = (text: string) => {
    // Only the new text can hold a newline: the pending part had none.
    const from = pending.length;
    pending += text;
    let start = 0;
    for (let newline = pending.indexOf('\n', from); newline >= 0; newline = pending.indexOf('\n', start)) {
      emit(pending.slice(start, newline));
      start = newline + 1;
    }
    pending = pending.slice(start);
    while (pending.length > maxLength) {
      onLine(pending.slice(0, maxLength));
      pending = pending.slice(maxLength);
    }
  };
  return {
    push(chunk) {
      take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    },
    end() {
      take(decoder.end());
      decoder = new StringDecoder('utf8');
      const last = pending;
      pending = '';
      if (last !== '') emit(last);
    },
  };
}

/** Feeds every line of `stream` to `onLine`; the last one when the stream ends. */
export function onLines(stream: Readable, onLine: (line: string) => void, options: LineSplitterOptions = {}): LineSplitter {
  const splitter = createLineSplitter(onLine, options);
  stream.on('data', (chunk: Buffer | string) => splitter.push(chunk));
  stream.on('end', () => splitter.end());
  return splitter;
}
