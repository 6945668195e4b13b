import { describe, expect, it } from 'vitest';
import { ApiError, ApiUnreachableError, KubeconfigError } from '../kube/index.js';
import { CniError, type CniFailure, cniErrorCodes, toCniError } from './errors.js';
import { type IpamResult, addressesOfResult, formatResult } from './result.js';
import { supportedVersions, versionInfo } from './versions.js';

const result: IpamResult = {
  ips: [
    { family: 4, address: '10.0.0.5/26' },
    { family: 6, address: 'fd00::5/122' },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

describe('formatResult', () => {
  it.each(['1.1.0', '1.0.0'] as const)('%s: ips without version', (version) => {
    const formatted = formatResult(version, result);
    expect(formatted).toMatchObject({
      cniVersion: version,
      ips: [{ address: '10.0.0.5/26' }, { address: 'fd00::5/122' }],
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
    });
    expect((formatted.ips as object[])[0]).not.toHaveProperty('version');
  });

  it.each(['0.4.0', '0.3.1', '0.3.0'] as const)('%s: ips carry their version', (version) => {
    expect(formatResult(version, result)).toMatchObject({
      cniVersion: version,
      ips: [
        { version: '4', address: '10.0.0.5/26' },
        { version: '6', address: 'fd00::5/122' },
      ],
    });
  });

  it('keeps the 1.1.0 route attributes only for 1.1.0', () => {
    expect(formatResult('1.1.0', result).routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 }]);
    expect(formatResult('1.0.0', result).routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
  });

  it('omits routes and dns when there are none, and reports a gateway when there is one', () => {
    const formatted = formatResult('1.0.0', {
      ips: [{ family: 4, address: '10.0.0.5/26', gateway: '10.0.0.1' }],
      routes: [],
    });
    expect(formatted).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.5/26', gateway: '10.0.0.1' }],
    });
  });

  it('reads the addresses back from a previous result of any version', () => {
    for (const version of supportedVersions) {
      expect(addressesOfResult(formatResult(version, result))).toEqual(['10.0.0.5', 'fd00::5']);
    }
    expect(addressesOfResult({})).toBeUndefined();
  });

  it.each([
    ['a string', 'garbage', /^prevResult: is not a CNI result object/],
    ['ips not a list', { ips: 'x' }, /^prevResult\.ips: is not a list/],
    [
      'an ip without address',
      { ips: [{ gateway: '10.0.0.1' }] },
      /^prevResult\.ips\[0\]\.address: is missing/,
    ],
    [
      'an address without prefix',
      { ips: [{ address: '10.0.0.5' }] },
      /^prevResult\.ips\[0\]\.address: "10\.0\.0\.5" is not/,
    ],
    [
      'a non-address',
      { ips: [{ address: '10.0.0.5/26' }, { address: 'x/26' }] },
      /^prevResult\.ips\[1\]\.address/,
    ],
  ])('refuses a previous result with %s (code 7, naming the field)', (_, prevResult, message) => {
    let error: unknown;
    try {
      addressesOfResult(prevResult);
    } catch (caught) {
      error = caught;
    }
    expect(toCniError(error)).toMatchObject({ code: 7, details: expect.stringMatching(message) as unknown });
  });
});

describe('VERSION', () => {
  it('lists every supported version', () => {
    expect(JSON.parse(versionInfo())).toEqual({
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });
});

describe('toCniError', () => {
  const failures: [CniFailure, number][] = [
    [{ kind: 'incompatible-version', version: '0.2.0', reason: 'r' }, 1],
    [{ kind: 'unsupported-field', path: 'ipam.x', reason: 'r' }, 2],
    [{ kind: 'invalid-env', variable: 'CNI_IFNAME', reason: 'r' }, 4],
    [{ kind: 'decode', reason: 'r' }, 6],
    [{ kind: 'invalid-config', path: 'ipam.pools[0]', reason: 'r' }, 7],
    [{ kind: 'try-again', reason: 'r' }, 11],
    [{ kind: 'not-available', reason: 'r' }, 50],
    [{ kind: 'pool-exhausted', node: 'n', family: 4, pools: ['p'], reason: 'r' }, 100],
    [{ kind: 'no-pool-for-node', node: 'n', family: 6, reason: 'r' }, 101],
    [{ kind: 'not-recorded', handle: 'h', reason: 'r' }, 104],
  ];

  it.each(failures)('maps %j to code %i with the spec shape', (failure, code) => {
    const object = toCniError(new CniError(failure), '0.4.0');
    expect(object).toEqual({ cniVersion: '0.4.0', code, msg: expect.any(String) as unknown, details: 'r' });
  });

  it.each([
    [
      new ApiUnreachableError('https://10.0.0.1:6443', 'GET', '/x', { cause: new Error('ECONNREFUSED') }),
      cniErrorCodes.apiUnreachable,
    ],
    [new ApiError(409, 'Conflict', 'changed', 'PUT', '/x'), cniErrorCodes.tryAgainLater],
    [new ApiError(503, 'ServiceUnavailable', 'down', 'GET', '/x'), cniErrorCodes.tryAgainLater],
    [new ApiError(429, 'TooManyRequests', 'slow down', 'GET', '/x'), cniErrorCodes.tryAgainLater],
    [new ApiError(403, 'Forbidden', 'no', 'GET', '/x'), cniErrorCodes.apiRefused],
    [new ApiError(422, 'Invalid', 'bad', 'PUT', '/x'), cniErrorCodes.apiRefused],
    [new KubeconfigError('cannot read kubeconfig /x'), cniErrorCodes.apiUnreachable],
    [new Error('bug'), cniErrorCodes.internal],
    ['a string', cniErrorCodes.internal],
  ])('maps %s to code %i', (error, code) => {
    expect(toCniError(error).code).toBe(code);
  });

  it('explains what the kubeconfig user needs on 403', () => {
    expect(toCniError(new ApiError(403, 'Forbidden', 'no', 'GET', '/x')).details).toMatch(/ipamblocks/);
  });
});
