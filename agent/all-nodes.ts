/**
 * Every Node's addresses, for the routes (a block's next hop is its node's InternalIP) and natOutgoing
 * (traffic to a node's address is never masqueraded). One informer serves both when both are on, so the
 * Nodes are listed and watched once; it trims each Node as it arrives to its InternalIPs and ExternalIPs,
 * so the cache holds no images, conditions or labels of a thousand nodes.
 */
import {
  Informer,
  type InformerEvent,
  type KubeClient,
  type Node,
  ResourceClient,
  coreResources,
  trimMetadata,
} from '../kube/index.js';

/** The addresses the routes and natOutgoing read; a Hostname or an InternalDNS is neither. */
const addressTypes: ReadonlySet<string> = new Set(['InternalIP', 'ExternalIP']);

const trimNode = (node: Node): Node => ({
  metadata: trimMetadata(node, { annotations: [], labels: false }).metadata,
  status: {
    addresses: (node.status?.addresses ?? []).filter((address) => addressTypes.has(address.type)),
  },
});

/** Every Node, trimmed to its addresses. */
export function nodeAddressInformer(client: KubeClient, onError: (error: unknown) => void): Informer<Node> {
  return new Informer(new ResourceClient<Node>(client, coreResources.nodes), {
    maxBackoffMs: 5_000,
    transform: trimNode,
    onError,
  });
}

const changed = (before: unknown, after: unknown) => JSON.stringify(before) !== JSON.stringify(after);

/** A Node added or deleted, or its addresses changed; not a heartbeat. */
export const nodeChangeMatters = (event: InformerEvent, node: Node, previous: Node | undefined): boolean =>
  event !== 'modified' || changed(trimNode(node).status, previous && trimNode(previous).status);

/** What the routes and natOutgoing read of the informer (its run and health are the agent's). */
export type NodeAddressCache = Pick<Informer<Node>, 'synced' | 'list' | 'onChange'>;
