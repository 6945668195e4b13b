/** One sentence for each way talking to the cluster fails, naming what the user can act on. Pure. */
import { apiGroup } from '../api/index.js';
import { errorMessage } from '../common/index.js';
import { ApiError, ApiUnreachableError, KubeconfigError } from '../kube/index.js';

/** kubectl's verb for a request: what RBAC must allow. */
export function verbOf(method: string, path: string): string {
  const named = !/\/(ippools|ipamblocks|blockaffinities|ipamconfigs|nodes|pods|namespaces)$/.test(path);
  switch (method) {
    case 'GET':
      return named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return method.toLowerCase();
  }
}

/** The resource (`ipamblocks.<group>`, `pods`) a REST path addresses. */
export function resourceOf(path: string): string {
  const match = /^\/apis?\/(?:([^/]+)\/)?v[^/]+(?:\/namespaces\/[^/]+)?\/([^/]+)/.exec(path);
  if (match === null) return path;
  const [, group, plural] = match;
  return !group?.includes('.') ? (plural ?? path) : `${plural ?? ''}.${group}`;
}

export function describeError(error: unknown): string {
  if (error instanceof KubeconfigError || error instanceof ApiUnreachableError) return error.message;
  if (error instanceof ApiError) {
    const resource = resourceOf(error.path);
    if (error.status === 401)
      return 'the API server did not accept the credentials of the kubeconfig (401 Unauthorized)';
    if (error.status === 403)
      return `permission denied: you may not ${verbOf(error.method, error.path)} ${resource} (ask for this verb on this resource in a Role or ClusterRole)`;
    if (
      error.status === 404 &&
      resource.endsWith(`.${apiGroup}`) &&
      verbOf(error.method, error.path) === 'list'
    )
      return `the topology-ipam CRDs are not installed in this cluster (${resource} is unknown to the API server)`;
    return error.message;
  }
  return errorMessage(error);
}
