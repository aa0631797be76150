import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import { canonicalHosts, encodeNameConstraints } from './name-constraints.js';

describe('name constraints for the local CA', () => {
  it('is the same for the same hosts in any order or case', () => {
    expect(encodeNameConstraints(['PyPI.org', 'files.pythonhosted.org', 'pypi.org'])).toEqual(encodeNameConstraints(['files.pythonhosted.org', 'pypi.org']));
    expect(canonicalHosts(['B.example', 'a.example', 'b.example', '[::1]'])).toEqual(['::1', 'a.example', 'b.example']);
  });

  it('permits dNSName subtrees and excludes every IP address when no IP is intercepted', () => {
    const der = encodeNameConstraints(['pypi.org']);
    // SEQUENCE { [0] { SEQUENCE { [2] "pypi.org" } } [1] { SEQUENCE { [7] 0/0 } SEQUENCE { [7] ::/0 } } }
    expect(der.subarray(0, 8).toString('hex')).toBe('3040a00c300a8208');
    expect(der.subarray(8, 16).toString('ascii')).toBe('pypi.org');
    expect(der.subarray(16, 30).toString('hex')).toBe('a130300a8708' + '00'.repeat(8));
  });

  it('permits an IP literal with a full mask, and excludes every DNS name when only IPs are intercepted', () => {
    const der = encodeNameConstraints(['::1']);
    const permitted = Buffer.concat([Buffer.from('8720', 'hex'), Buffer.alloc(15), Buffer.from([1]), Buffer.alloc(16, 0xff)]);
    expect(der.includes(permitted)).toBe(true);
    expect(der.subarray(-6).toString('hex')).toBe('a1043002' + '8200');
  });

  it('rejects a name that is not ASCII with a coded error', () => {
    let err: unknown;
    try {
      encodeNameConstraints(['pypi.örg']);
    } catch (e) {
      err = e;
    }
    expect(isPipcacheError(err, 'E_CONFIG_INVALID')).toBe(true);
  });
});
