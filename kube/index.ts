/** The Kubernetes adapter: kubeconfig loading, a small REST client, typed resource verbs and informers. */
export {
  type KubeClientOptions,
  type Method,
  type RequestCounts,
  type RequestOptions,
  type WatchEvent,
  KubeClient,
  defaultRequestTimeoutMs,
} from './client.js';
export {
  ApiError,
  ApiTimeoutError,
  ApiUnreachableError,
  KubeconfigError,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
} from './errors.js';
export {
  type InformerEvent,
  type InformerHandler,
  type InformerHealth,
  Informer,
  healthProblems,
  objectKey,
  trimMetadata,
} from './informer.js';
export { type Connection, loadConnection } from './kubeconfig.js';
export {
  type KubeObject,
  type Lease,
  type Namespace,
  type Node,
  type ObjectList,
  type ObjectMeta,
  type Pod,
  type ResourceType,
  coreResources,
} from './objects.js';
export { type CallOptions, type ListOptions, ResourceClient } from './resource-client.js';
