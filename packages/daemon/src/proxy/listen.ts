import type net from 'node:net';
import { PipcacheError } from '@pipcache/shared';

/** Listens on host:port; a busy address is a coded error that says what to try. */
export function listen(server: net.Server, host: string, port: number): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use (another pipcache or another program; try --port)' : err.message;
      reject(new PipcacheError('E_DAEMON_START_FAILED', `cannot listen on ${host}:${port}: ${why}`, { cause: err }));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve(server.address() as net.AddressInfo);
    });
  });
}
