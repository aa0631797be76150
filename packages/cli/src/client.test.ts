import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, PipcacheError, type HelloResult } from '@pipcache/shared';
import { call, checkProtocol } from './client.js';

/** A control socket that answers `hello` with `protocol` and every other command with its own name. */
async function fakeDaemon(protocol: number): Promise<{ socket: string; commands: string[]; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pipcache-client-'));
  const socket = join(dir, 'daemon.sock');
  const commands: string[] = [];
  const server = net.createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = JSON.parse(buf.slice(0, nl)) as { id: number; command: string };
      commands.push(req.command);
      const result = req.command === 'hello' ? { protocol, version: '0.0.0', pid: 1 } : { answered: req.command };
      conn.end(`${JSON.stringify({ id: req.id, ok: true, result })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    commands,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let closeDaemon: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeDaemon?.();
  closeDaemon = undefined;
});

describe('checkProtocol', () => {
  it('accepts the protocol this CLI speaks', () => {
    expect(() => checkProtocol({ protocol: PROTOCOL_VERSION, version: '0.1.0', pid: 1 })).not.toThrow();
  });
  it('names both protocols and the way out on a mismatch', () => {
    const theirs = PROTOCOL_VERSION + 1;
    let err: unknown;
    try {
      checkProtocol({ protocol: theirs, version: '9.9.9', pid: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipcacheError);
    expect((err as PipcacheError).code).toBe('E_PROTOCOL');
    expect((err as PipcacheError).message).toBe(
      `the running daemon speaks protocol ${theirs}, this CLI speaks ${PROTOCOL_VERSION}: restart it with \`pipcache stop && pipcache start\``,
    );
  });
  it('treats a hello without a protocol as a mismatch', () => {
    expect(() => checkProtocol({} as HelloResult)).toThrow(/speaks an unknown protocol/);
  });
});

describe('call', () => {
  it('refuses a daemon of another protocol before sending the command', async () => {
    const daemon = await fakeDaemon(PROTOCOL_VERSION + 1);
    closeDaemon = daemon.close;
    const err = await call(daemon.socket, 'status').catch((e: unknown) => e);
    expect((err as PipcacheError).code).toBe('E_PROTOCOL');
    expect((err as PipcacheError).message).toMatch(/restart it with `pipcache stop && pipcache start`/);
    expect(daemon.commands).toEqual(['hello']);
  });
  it('still says hello to and stops a daemon of another protocol', async () => {
    const daemon = await fakeDaemon(PROTOCOL_VERSION + 1);
    closeDaemon = daemon.close;
    expect(await call<HelloResult>(daemon.socket, 'hello')).toMatchObject({ protocol: PROTOCOL_VERSION + 1 });
    expect(await call(daemon.socket, 'stop')).toEqual({ answered: 'stop' });
    expect(daemon.commands).toEqual(['hello', 'stop']);
  });
  it('sends the command to a daemon of the same protocol', async () => {
    const daemon = await fakeDaemon(PROTOCOL_VERSION);
    closeDaemon = daemon.close;
    expect(await call(daemon.socket, 'status')).toEqual({ answered: 'status' });
    expect(daemon.commands).toEqual(['hello', 'status']);
  });
});
