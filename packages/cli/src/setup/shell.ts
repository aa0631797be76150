import { PipcacheError } from '@pipcache/shared';

/** One change to the caller's environment: set a variable, or remove it. */
export type EnvAction = { name: string; value: string } | { name: string; unset: true };

export const SHELLS = ['sh', 'bash', 'zsh', 'fish', 'powershell'] as const;
export type Shell = (typeof SHELLS)[number];

export function isUnset(action: EnvAction): action is { name: string; unset: true } {
  return 'unset' in action;
}

/** POSIX single quoting; plain words stay bare so the common output reads as it always did. */
function shQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Inside fish single quotes only `\` and `'` are special. */
function fishQuote(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** PowerShell single-quoted strings escape a quote by doubling it. */
function psQuote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function line(action: EnvAction, shell: Shell): string {
  const { name } = action;
  switch (shell) {
    case 'fish':
      return isUnset(action) ? `set -e ${name}` : `set -gx ${name} ${fishQuote(action.value)}`;
    case 'powershell':
      // On Windows HTTPS_PROXY and https_proxy are one variable: the second removal must not fail.
      return isUnset(action) ? `Remove-Item Env:${name} -ErrorAction SilentlyContinue` : `$env:${name} = ${psQuote(action.value)}`;
    default:
      return isUnset(action) ? `unset ${name}` : `export ${name}=${shQuote(action.value)}`;
  }
}

/** The lines that apply `actions` when evaluated by `shell`. */
export function renderShell(actions: readonly EnvAction[], shell: Shell): string {
  return actions.map((a) => line(a, shell)).join('\n');
}

export function parseShell(value: string | undefined): Shell {
  const shell = (value ?? 'sh').toLowerCase();
  if (shell === 'pwsh') return 'powershell';
  if ((SHELLS as readonly string[]).includes(shell)) return shell as Shell;
  throw new PipcacheError('E_USAGE', `unknown shell ${JSON.stringify(value)}: use one of ${SHELLS.join(', ')}`);
}
