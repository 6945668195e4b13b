/**
 * Every way the plugin can fail, as data, and the one place that turns a failure into the CNI error
 * object printed on stdout (`{cniVersion, code, msg, details}`). The codes below 100 are the spec's;
 * 100 and up are this plugin's own (documented in cni/README.md).
 */
import { errorStack } from '../common/index.js';
import { ApiError, ApiUnreachableError, KubeconfigError } from '../kube/index.js';
import { latestVersion } from './versions.js';

/** CNI error codes: the spec's well-known ones and this plugin's range. */
export const cniErrorCodes = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  invalidEnvironment: 4,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  pluginNotAvailable: 50,
  poolExhausted: 100,
  noPoolForNode: 101,
  apiUnreachable: 102,
  apiRefused: 103,
  notRecorded: 104,
  /** A pod's requested address (`ipAddrs`) is in use, reserved, or its pool or block cannot give it. */
  addressUnavailable: 105,
  internal: 199,
} as const;
export type CniErrorCode = (typeof cniErrorCodes)[keyof typeof cniErrorCodes];

export type CniFailure =
  | { readonly kind: 'incompatible-version'; readonly version: string; readonly reason: string }
  | { readonly kind: 'unsupported-field'; readonly path: string; readonly reason: string }
  | { readonly kind: 'invalid-env'; readonly variable: string; readonly reason: string }
  | { readonly kind: 'decode'; readonly reason: string }
  | { readonly kind: 'invalid-config'; readonly path: string; readonly reason: string }
  | {
      readonly kind: 'invalid-annotation';
      readonly annotation: string;
      /** Where it was found: the pod, or the pod's namespace. */
      readonly on: 'pod' | 'namespace';
      /** The pod it was read for, `namespace/name`. */
      readonly pod: string;
      readonly reason: string;
    }
  | { readonly kind: 'try-again'; readonly reason: string }
  | { readonly kind: 'not-available'; readonly reason: string }
  | {
      readonly kind: 'pool-exhausted';
      readonly node: string;
      readonly family: 4 | 6;
      readonly pools: readonly string[];
      readonly reason: string;
    }
  | {
      readonly kind: 'no-pool-for-node';
      readonly node: string;
      readonly family: 4 | 6;
      readonly reason: string;
    }
  | { readonly kind: 'not-recorded'; readonly handle: string; readonly reason: string }
  | {
      readonly kind: 'address-unavailable';
      readonly address: string;
      /** `namespace/name`. */
      readonly pod: string;
      readonly reason: string;
    };

/** A failure thrown through the I/O code; `toCniError` reads `failure`. */
export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly failure: CniFailure,
    options?: { cause: unknown },
  ) {
    super(failure.reason, options);
  }
}

export const fail = (failure: CniFailure): never => {
  throw new CniError(failure);
};

export interface CniErrorObject {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details: string;
}

function fromFailure(failure: CniFailure): { code: CniErrorCode; msg: string; details: string } {
  switch (failure.kind) {
    case 'incompatible-version':
      return {
        code: cniErrorCodes.incompatibleVersion,
        msg: `incompatible CNI version ${failure.version}`,
        details: failure.reason,
      };
    case 'unsupported-field':
      return {
        code: cniErrorCodes.unsupportedField,
        msg: `unsupported field ${failure.path}`,
        details: failure.reason,
      };
    case 'invalid-env':
      return {
        code: cniErrorCodes.invalidEnvironment,
        msg: `invalid ${failure.variable}`,
        details: failure.reason,
      };
    case 'decode':
      return {
        code: cniErrorCodes.decodingFailure,
        msg: 'cannot decode the network configuration',
        details: failure.reason,
      };
    case 'invalid-config':
      return {
        code: cniErrorCodes.invalidNetworkConfig,
        msg: `invalid network configuration: ${failure.path}`,
        details: failure.reason,
      };
    case 'invalid-annotation':
      return {
        code: cniErrorCodes.invalidNetworkConfig,
        msg: `invalid annotation ${failure.annotation} on ${failure.on === 'pod' ? 'pod' : 'the namespace of pod'} ${failure.pod}`,
        details: failure.reason,
      };
    case 'try-again':
      return { code: cniErrorCodes.tryAgainLater, msg: 'try again later', details: failure.reason };
    case 'not-available':
      return { code: cniErrorCodes.pluginNotAvailable, msg: 'plugin not available', details: failure.reason };
    case 'pool-exhausted':
      return {
        code: cniErrorCodes.poolExhausted,
        msg: `no free IPv${failure.family} address for node ${failure.node}`,
        details: failure.reason,
      };
    case 'no-pool-for-node':
      return {
        code: cniErrorCodes.noPoolForNode,
        msg: `no IPv${failure.family} pool selects node ${failure.node}`,
        details: failure.reason,
      };
    case 'not-recorded':
      return {
        code: cniErrorCodes.notRecorded,
        msg: `no address recorded for ${failure.handle}`,
        details: failure.reason,
      };
    case 'address-unavailable':
      return {
        code: cniErrorCodes.addressUnavailable,
        msg: `the address ${failure.address} requested for pod ${failure.pod} cannot be assigned`,
        details: failure.reason,
      };
  }
}

function fromApiError(error: ApiError): { code: CniErrorCode; msg: string; details: string } {
  const { status } = error;
  if (status === 409 || status === 429 || status >= 500) {
    return {
      code: cniErrorCodes.tryAgainLater,
      msg: `the API server answered ${status}`,
      details: error.message,
    };
  }
  if (status === 401 || status === 403) {
    return {
      code: cniErrorCodes.apiRefused,
      msg: `the API server refused the plugin's credentials (${status})`,
      details:
        `${error.message}. The kubeconfig's user needs get/list/create/update on ipamblocks, blockaffinities, ` +
        'ippools and ipamconfigs (ipam.topology-ipam.dev), get on nodes, and get on pods and namespaces.',
    };
  }
  return {
    code: cniErrorCodes.apiRefused,
    msg: `the API server answered ${status} ${error.reason}`,
    details: error.message,
  };
}

/** The CNI error object for anything thrown or returned as a failure. */
export function toCniError(error: unknown, cniVersion: string = latestVersion): CniErrorObject {
  let mapped: { code: CniErrorCode; msg: string; details: string };
  if (error instanceof CniError) mapped = fromFailure(error.failure);
  else if (error instanceof ApiUnreachableError) {
    mapped = {
      code: cniErrorCodes.apiUnreachable,
      msg: 'cannot reach the Kubernetes API server',
      details: `${error.message}. Check that the API server is up and that the node agent can reach it (its KUBECONFIG, or in a pod its service account and KUBERNETES_SERVICE_HOST).`,
    };
  } else if (error instanceof ApiError) mapped = fromApiError(error);
  else if (error instanceof KubeconfigError) {
    mapped = {
      code: cniErrorCodes.apiUnreachable,
      msg: 'the node agent cannot read its API server credentials',
      details: `${error.message}. Check the agent's KUBECONFIG, or in a pod its projected service account token.`,
    };
  } else {
    const text = errorStack(error);
    mapped = { code: cniErrorCodes.internal, msg: 'internal error in topology-ipam', details: text };
  }
  return { cniVersion, ...mapped };
}
