import { call } from '../client.js';
import { paths } from '../context.js';

export async function offline(args: { state: string }): Promise<{ result: unknown; text: string }> {
  const on = args.state === 'on' ? true : args.state === 'off' ? false : undefined;
  const res = await call<{ offline: boolean }>(paths().socket, 'offline', on === undefined ? {} : { on });
  return { result: res, text: res.offline ? 'offline: no upstream traffic; installs are served from the cache' : 'online' };
}
