/**
 * Test support for routes on the real kernel: "nodes" as network namespaces, each with a veth `eth0`
 * into a bridge in one more namespace (one L2 segment, IPv4 and IPv6), and their Node objects carrying
 * those addresses as InternalIPs. Needs root and iproute2; `remove` deletes every namespace it made.
 */
import { execFileSync } from 'node:child_process';
import type { AdminClients } from '../../local-cluster/clients.js';
import { createNodes } from '../../local-cluster/clients.js';

export const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });

export interface NodeSegment {
  /** The network namespace of the node at `index`. */
  netns(index: number): string;
  v4(index: number): string;
  v6(index: number): string;
  /** Deletes every namespace made (also those of a set-up that failed half-way). */
  remove(): void;
}

/**
 * `count` node namespaces `<tag>-n1`... on a bridge in `<tag>-br`, with 172.31.<octet>.<n>/24 and
 * fd00:<octet>::<n>/64 on their eth0 (n from 1).
 */
export function createNodeSegment(tag: string, count: number, octet: number): NodeSegment {
  const made: string[] = [];
  const bridgeNs = `${tag}-br`;
  const segment: NodeSegment = {
    netns: (index) => `${tag}-n${index + 1}`,
    v4: (index) => `172.31.${octet}.${index + 1}`,
    v6: (index) => `fd00:${octet.toString(16)}::${index + 1}`,
    remove: () => {
      for (const name of made.splice(0).reverse()) {
        try {
          ip('netns', 'del', name);
        } catch {
          // Gone already.
        }
      }
    },
  };
  const addNamespace = (name: string) => {
    ip('netns', 'add', name);
    made.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
  };
  try {
    addNamespace(bridgeNs);
    ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
    for (let index = 0; index < count; index++) {
      const netns = segment.netns(index);
      const port = `p${index + 1}`;
      addNamespace(netns);
      ip('-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', bridgeNs);
      ip('-n', bridgeNs, 'link', 'set', port, 'master', 'br0', 'up');
      ip('-n', netns, 'addr', 'add', `${segment.v4(index)}/24`, 'dev', 'eth0');
      ip('-n', netns, 'addr', 'add', `${segment.v6(index)}/64`, 'dev', 'eth0', 'nodad');
      ip('-n', netns, 'link', 'set', 'eth0', 'up');
    }
  } catch (error) {
    segment.remove();
    throw error;
  }
  return segment;
}

/** Creates the Nodes `names[i]` with the segment's addresses of node i as InternalIPs (IPv4 only where asked). */
export async function createSegmentNodes(
  admin: AdminClients,
  segment: NodeSegment,
  names: readonly string[],
  options: { readonly ipv4Only?: ReadonlySet<string>; readonly labels?: Record<string, string> } = {},
): Promise<void> {
  await createNodes(admin.nodes, names, options.labels);
  for (const [index, name] of names.entries()) {
    const node = await admin.nodes.get(name);
    const addresses = [
      { type: 'InternalIP', address: segment.v4(index) },
      ...(options.ipv4Only?.has(name) === true ? [] : [{ type: 'InternalIP', address: segment.v6(index) }]),
      { type: 'Hostname', address: name },
    ];
    await admin.nodes.replaceStatus({ ...node, status: { addresses } });
  }
}
