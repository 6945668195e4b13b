import { describe, expect, it } from 'vitest';
import { ApiError } from '../kube/index.js';
import { describeError, resourceOf, verbOf } from './errors.js';

const group = '/apis/ipam.topology-ipam.dev/v1alpha1';

describe('describeError', () => {
  it.each([
    [
      new ApiError(
        404,
        'NotFound',
        'the server could not find the requested resource',
        'GET',
        `${group}/ippools`,
      ),
      /CRDs are not installed.*ippools\.ipam\.topology-ipam\.dev/,
    ],
    [new ApiError(403, 'Forbidden', 'no', 'GET', '/api/v1/pods'), /may not list pods/],
    [
      new ApiError(403, 'Forbidden', 'no', 'PUT', `${group}/ipamblocks/10-0-0-0-26`),
      /may not update ipamblocks\.ipam\.topology-ipam\.dev/,
    ],
    [new ApiError(403, 'Forbidden', 'no', 'GET', '/api/v1/namespaces/app/pods/web'), /may not get pods/],
    [new ApiError(401, 'Unauthorized', 'no', 'GET', '/api/v1/nodes'), /credentials/],
    [new ApiError(404, 'NotFound', 'gone', 'GET', `${group}/ipamblocks/x`), /404 NotFound: gone/],
  ])('%s', (error, message) => {
    expect(describeError(error)).toMatch(message);
  });

  it.each([
    ['GET', '/api/v1/pods', 'list', 'pods'],
    ['DELETE', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l', 'delete', 'leases.coordination.k8s.io'],
    ['POST', `${group}/ipamconfigs`, 'create', 'ipamconfigs.ipam.topology-ipam.dev'],
  ])('%s %s is %s on %s', (method, path, verb, resource) => {
    expect(verbOf(method, path)).toBe(verb);
    expect(resourceOf(path)).toBe(resource);
  });
});
