import { homePaths, resolveHome, type HomePaths } from '@pipcache/shared';

export interface GlobalArgs {
  json?: boolean;
}

export function paths(): HomePaths {
  return homePaths(resolveHome(process.env));
}
