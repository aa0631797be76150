import { createReadStream, existsSync, statSync, watchFile, unwatchFile } from 'node:fs';
import { createInterface } from 'node:readline';
import { PipcacheError } from '@pipcache/shared';
import { paths } from '../context.js';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino line, readable. Lines that are not JSON are printed as they are. */
export function formatLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : '';
  const level = LEVELS[rec.level as number] ?? String(rec.level);
  if (rec.msg === 'request') {
    const parts = [rec.method, rec.host, rec.path ?? '', rec.cache, rec.status ?? '', `${rec.bytes ?? 0}B`, rec.ms !== undefined ? `${rec.ms}ms` : ''];
    return `${time} ${level.padEnd(5)} ${parts.filter((p) => p !== '').join(' ')}${rec.reason ? ` (${rec.reason})` : ''}`;
  }
  const skip = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'mod']);
  const extra = Object.entries(rec)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)} ${rec.mod ? `[${rec.mod}] ` : ''}${rec.msg ?? ''}${extra ? ` ${extra}` : ''}`;
}

async function printFrom(file: string, start: number): Promise<number> {
  const stream = createReadStream(file, { start, encoding: 'utf8' });
  let read = start;
  stream.on('data', (chunk) => (read += Buffer.byteLength(chunk as string)));
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (line) process.stdout.write(`${formatLine(line)}\n`);
  }
  return read;
}

export async function logs(args: { follow?: boolean }): Promise<void> {
  const file = paths().logFile;
  if (!existsSync(file)) throw new PipcacheError('E_NOT_FOUND', `no log file at ${file} yet`);
  let pos = await printFrom(file, 0);
  if (!args.follow) return;
  await new Promise<void>((resolve) => {
    let busy = false;
    watchFile(file, { interval: 250 }, () => {
      if (busy) return;
      busy = true;
      const size = statSync(file).size;
      if (size < pos) pos = 0;
      printFrom(file, pos)
        .then((p) => (pos = p))
        .finally(() => (busy = false));
    });
    process.once('SIGINT', () => {
      unwatchFile(file);
      resolve();
    });
  });
}
