import { errorMessage } from '../common/index.js';

/** A Kubernetes API answer other than success: branch on `status` (404, 409, 410, 422...), never on text. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    /** The Status object's `reason` (NotFound, AlreadyExists, Conflict, Expired, Invalid...), if any. */
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
  }
}

/** The API server could not be reached or did not answer in time. */
export class ApiUnreachableError extends Error {
  override readonly name: string = 'ApiUnreachableError';
  constructor(
    readonly server: string,
    readonly method: string,
    readonly path: string,
    options: { cause: unknown },
  ) {
    const cause = errorMessage(options.cause);
    super(`cannot reach the Kubernetes API server at ${server} (${method} ${path}): ${cause}`, options);
  }
}

/**
 * The API server did not answer within the request's time limit (a hung connection, an overloaded or
 * stopped server). A kind of unreachable: retry later, as for a refused connection.
 */
export class ApiTimeoutError extends ApiUnreachableError {
  override readonly name = 'ApiTimeoutError';
  constructor(
    server: string,
    method: string,
    path: string,
    readonly timeoutMs: number,
  ) {
    super(server, method, path, { cause: new Error(`no complete answer within ${timeoutMs} ms`) });
  }
}

/** The kubeconfig (or in-cluster service account) could not be loaded. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}

export const isNotFound = (error: unknown): boolean => error instanceof ApiError && error.status === 404;
export const isAlreadyExists = (error: unknown): boolean =>
  error instanceof ApiError && error.status === 409 && error.reason === 'AlreadyExists';
/** A resourceVersion precondition failed: someone else wrote first. */
export const isConflict = (error: unknown): boolean =>
  error instanceof ApiError && error.status === 409 && error.reason !== 'AlreadyExists';
export const isGone = (error: unknown): boolean => error instanceof ApiError && error.status === 410;
