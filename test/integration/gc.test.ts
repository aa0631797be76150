import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcResult } from '@pipcache/shared';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;

beforeAll(async () => {
  world = await createWorld('gc', [{ name: 'gcpkg', version: '1.0' }]);
});

afterAll(async () => {
  await world?.close();
});

describe('pipcache gc', () => {
  it('keeps fresh orphans while running, frees them and a crash\'s temp files at the next start, and keeps what records hold', async () => {
    const d = await world.startDaemon();
    const f = world.file('gcpkg', '1.0');
    const client = proxyClient(d.address, d.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/gcpkg/')).status).toBe(200);
      expect((await client.get(`https://files.pythonhosted.org${pythonhostedPath(f)}`)).status).toBe(200);
    } finally {
      await client.close();
    }
    // A blob no record holds and a temp file no writer owns, as a killed run leaves them.
    const orphan = Buffer.from('published, never recorded');
    const sha = createHash('sha256').update(orphan).digest('hex');
    await mkdir(join(d.home, 'blobs', sha.slice(0, 2)), { recursive: true });
    await writeFile(join(d.home, 'blobs', sha.slice(0, 2), sha), orphan);
    await writeFile(join(d.home, 'tmp', 'cut.part'), 'half');

    // Just written: a running daemon cannot tell them from a publish about to be recorded.
    const running = await d.cli(['gc', '--json']);
    expect(running.code, running.stderr).toBe(0);
    expect(JSON.parse(running.stdout) as GcResult).toEqual({ blobs: { count: 0, bytes: 0 }, temp: { count: 0, bytes: 0 }, keptRecent: 1 });
    const text = await d.cli(['gc']);
    expect(text.stdout).toContain('freed 0 B: 0 blobs no record held (0 B), 0 temp files of unfinished writes (0 B)');
    expect(text.stdout).toContain('kept 1 blobs published moments ago');

    await d.stop();
    const again = await world.startDaemon({ home: d.home });
    const checked = (await again.logs()).filter((l) => l.msg.startsWith('store checked'));
    expect(checked.at(-1)).toMatchObject({ blobsFreed: 1, blobBytesFreed: orphan.length, tempFreed: 1, tempBytesFreed: 4, recordsForgotten: 0 });
    expect(await readdir(join(again.home, 'tmp'))).toEqual([]);
    expect(await readdir(join(again.home, 'blobs', sha.slice(0, 2))).catch(() => [])).not.toContain(sha);
    const after = await again.cli(['gc', '--json']);
    expect(JSON.parse(after.stdout) as GcResult).toEqual({ blobs: { count: 0, bytes: 0 }, temp: { count: 0, bytes: 0 }, keptRecent: 0 });
    const ls = JSON.parse((await again.cli(['ls', 'gcpkg', '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
    expect(ls.files).toEqual([expect.objectContaining({ filename: f.filename, stored: true })]);
  });
});
