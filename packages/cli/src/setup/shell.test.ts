import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseShell, renderShell, type EnvAction } from './shell.js';

const actions: EnvAction[] = [
  { name: 'HTTPS_PROXY', value: 'http://127.0.0.1:3143' },
  { name: 'PIP_CERT', value: "/home/o'brien/my certs/bundle.pem" },
  { name: 'NO_PROXY', unset: true },
];

describe('renderShell', () => {
  it('writes POSIX export/unset, quoting only what needs it', () => {
    expect(renderShell(actions, 'sh')).toBe(
      ["export HTTPS_PROXY=http://127.0.0.1:3143", "export PIP_CERT='/home/o'\\''brien/my certs/bundle.pem'", 'unset NO_PROXY'].join('\n'),
    );
    expect(renderShell(actions, 'bash')).toBe(renderShell(actions, 'zsh'));
  });

  it('round-trips through a real bash', () => {
    const script = `export NO_PROXY=x\n${renderShell(actions, 'bash')}\nprintf '%s|%s|%s' "$HTTPS_PROXY" "$PIP_CERT" "\${NO_PROXY-gone}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(r.stdout).toBe("http://127.0.0.1:3143|/home/o'brien/my certs/bundle.pem|gone");
  });

  it('writes fish set -gx / set -e with fish escapes', () => {
    expect(renderShell(actions, 'fish')).toBe(
      ["set -gx HTTPS_PROXY 'http://127.0.0.1:3143'", "set -gx PIP_CERT '/home/o\\'brien/my certs/bundle.pem'", 'set -e NO_PROXY'].join('\n'),
    );
    expect(renderShell([{ name: 'X', value: 'a\\b' }], 'fish')).toBe("set -gx X 'a\\\\b'");
  });

  it('writes PowerShell $env: assignments and Remove-Item', () => {
    expect(renderShell(actions, 'powershell')).toBe(
      [
        "$env:HTTPS_PROXY = 'http://127.0.0.1:3143'",
        "$env:PIP_CERT = '/home/o''brien/my certs/bundle.pem'",
        'Remove-Item Env:NO_PROXY -ErrorAction SilentlyContinue',
      ].join('\n'),
    );
  });

  it('knows its shells and refuses others', () => {
    expect(parseShell(undefined)).toBe('sh');
    expect(parseShell('pwsh')).toBe('powershell');
    expect(parseShell('FISH')).toBe('fish');
    expect(() => parseShell('tcsh')).toThrow(/unknown shell/);
  });
});
