/**
 * Progress of a long phase (hashing, packing, uploading): a bar redrawn in place on a
 * terminal, otherwise a plain line now and then, and always one line when it ends.
 */
import { formatBytes } from '../util/format.js';
import type { CliContext } from './context.js';

const BAR_WIDTH = 24;
const PLAIN_EVERY_MS = 5_000;
const REDRAW_EVERY_MS = 100;

export function phaseProgress(ctx: CliContext, label: string, unit: 'bytes' | 'files'): (done: number, total: number) => void {
  let started = 0;
  let lastDraw = 0;
  let finished = false;
  const amount = (n: number) => (unit === 'bytes' ? formatBytes(n) : `${n.toLocaleString('en-US')} files`);
  return (done, total) => {
    if (finished) return;
    const now = Date.now();
    // The clock starts with the phase's first report, not when the reporter was made.
    if (started === 0) started = now;
    const complete = done >= total;
    if (complete) {
      finished = true;
      const text = `${label}: ${amount(total)} in ${((now - started) / 1000).toFixed(1)} s`;
      if (ctx.progressInPlace && lastDraw > 0) ctx.progressInPlace(`${text}\n`);
      else ctx.progress(text);
      return;
    }
    const fraction = total > 0 ? done / total : 0;
    if (ctx.progressInPlace) {
      if (now - lastDraw < REDRAW_EVERY_MS) return;
      lastDraw = now;
      const filled = Math.round(fraction * BAR_WIDTH);
      ctx.progressInPlace(`${label} [${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}% ${amount(done)} of ${amount(total)}`);
    } else if (now - (lastDraw || started) >= PLAIN_EVERY_MS) {
      lastDraw = now;
      ctx.progress(`${label}: ${amount(done)} of ${amount(total)} (${Math.floor(fraction * 100)}%)`);
    }
  };
}
