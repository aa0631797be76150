import type { ProgressEvent } from '@pipcache/shared';
import { formatBytes } from './output.js';

const WIDTH = 24;
const MIN_FILES = 20;
const MIN_BYTES = 50 * 1024 * 1024;
const EVERY_MS = 100;

/**
 * A one-line progress bar on a terminal, shown only for large exports
 * (many files or many bytes); silent when the stream is not a TTY.
 */
export function progressBar(stream: NodeJS.WriteStream): { update: (p: ProgressEvent) => void; done: () => void } {
  let last = 0;
  let shown = false;
  const enabled = Boolean(stream.isTTY);
  return {
    update(p) {
      if (!enabled || (p.total < MIN_FILES && p.totalBytes < MIN_BYTES)) return;
      const now = Date.now();
      if (now - last < EVERY_MS && p.done < p.total) return;
      last = now;
      const filled = p.total === 0 ? 0 : Math.round((p.done / p.total) * WIDTH);
      stream.write(
        `\r${p.phase.padEnd(8)} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${p.done}/${p.total} files, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}\x1b[K`,
      );
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
