/**
 * What the agent knows of its node without asking: its IPAMBlocks (label-selected), the IPPools, its own
 * Node (for the labels pool selectors match), the IPAMConfig and the IPReservations, each kept by an
 * informer (list, watch, re-list on 410 or error). A steady-state ADD or DEL reads nothing from the API
 * server.
 *
 * The agent's own writes are visible at once: a block it wrote is kept here until the watch delivers
 * that version or a later one, so the next batch starts from what it wrote, not from what the watch has
 * shown so far. Correctness does not rest on this cache: every write is a compare-and-swap at the
 * version read, so a stale copy costs a conflict and one read of that block, never a lost update.
 */
import type { IpamResources } from '../allocator/index.js';
import {
  type IPAMBlock,
  type IPAMConfig,
  type IPAMConfigSpec,
  type IPPool,
  type IPReservation,
  type ReservationSet,
  compileReservations,
  ipamConfigName,
  ipamConfigSpecSchema,
  labels,
  reservationsCovering,
  specProblems,
} from '../api/index.js';
import type { Address } from '../ipam/index.js';
import { CniError } from '../cni/errors.js';
import { wellFormedBlocks } from '../cni/plan.js';
import {
  Informer,
  type InformerHandler,
  type Node,
  ResourceClient,
  coreResources,
  healthProblems,
  isNotFound,
} from '../kube/index.js';
import type { BlockStore } from './block-writer.js';

/** Compares two resourceVersions when both are etcd revisions (as every API server writes them). */
function newer(a: IPAMBlock, b: IPAMBlock): boolean {
  const ra = a.metadata.resourceVersion ?? '';
  const rb = b.metadata.resourceVersion ?? '';
  return /^\d+$/.test(ra) && /^\d+$/.test(rb) ? BigInt(ra) > BigInt(rb) : ra !== rb;
}

export interface CacheHealth {
  readonly ready: boolean;
  /** Why not, one line per cache. */
  readonly reasons: readonly string[];
}

export class NodeCache implements BlockStore {
  private readonly blockInformer: Informer<IPAMBlock>;
  private readonly poolInformer: Informer<IPPool>;
  private readonly nodeInformer: Informer<Node>;
  private readonly configInformer: Informer<IPAMConfig>;
  private readonly reservationInformer: Informer<IPReservation>;
  /** The reservations compiled, until the informer next changes. */
  private compiledReservations: ReservationSet | undefined;
  /** Blocks as this agent last wrote them, until the watch shows that version or a later one. */
  private readonly written = new Map<string, IPAMBlock>();
  /** Whether each cached block's spec parses, by object. */
  private readonly checked = new WeakMap<IPAMBlock, boolean>();
  /** When (Date.now()) any informer last delivered something: the cache's age on /metrics. */
  lastEventAt = 0;

  constructor(
    private readonly resources: IpamResources,
    readonly node: string,
    onError?: (what: string, error: unknown) => void,
  ) {
    const options = (what: string, selector: { labelSelector?: string; fieldSelector?: string }) => ({
      ...selector,
      maxBackoffMs: 5_000,
      onError: (error: unknown) => onError?.(what, error),
    });
    this.blockInformer = new Informer(
      resources.blocks,
      options('blocks', { labelSelector: `${labels.node}=${node}` }),
    );
    this.poolInformer = new Informer(resources.pools, options('pools', {}));
    this.nodeInformer = new Informer(
      new ResourceClient<Node>(resources.client, coreResources.nodes),
      options('node', { fieldSelector: `metadata.name=${node}` }),
    );
    this.configInformer = new Informer(
      resources.configs,
      options('ipamconfig', { fieldSelector: `metadata.name=${ipamConfigName}` }),
    );
    this.reservationInformer = new Informer(resources.reservations, options('ipreservations', {}));
    this.reservationInformer.onChange(() => (this.compiledReservations = undefined));
    this.blockInformer.onChange((_event, block) => {
      this.lastEventAt = Date.now();
      // Dropped once the watch shows that version or a later one (a deletion of an older incarnation
      // of the name, before this agent claimed it again, leaves the newer one).
      const mine = this.written.get(block.metadata.name);
      if (mine !== undefined && !newer(mine, block)) this.written.delete(block.metadata.name);
    });
    for (const informer of [
      this.poolInformer,
      this.nodeInformer,
      this.configInformer,
      this.reservationInformer,
    ] as const) {
      informer.onChange(() => (this.lastEventAt = Date.now()));
    }
  }

  /** Runs every informer until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return Promise.all([
      this.blockInformer.run(signal),
      this.poolInformer.run(signal),
      this.nodeInformer.run(signal),
      this.configInformer.run(signal),
      this.reservationInformer.run(signal),
    ]).then(() => undefined);
  }

  /** Resolves once every informer has listed once. */
  get synced(): Promise<void> {
    return Promise.all([
      this.blockInformer.synced,
      this.poolInformer.synced,
      this.nodeInformer.synced,
      this.configInformer.synced,
      this.reservationInformer.synced,
    ]).then(() => undefined);
  }

  health(): CacheHealth {
    const reasons = [
      ...healthProblems('IPAMBlocks of this node', this.blockInformer.health()),
      ...healthProblems('IPPools', this.poolInformer.health()),
      ...healthProblems(`Node ${this.node}`, this.nodeInformer.health()),
      ...healthProblems(`IPAMConfig ${ipamConfigName}`, this.configInformer.health()),
      ...healthProblems('IPReservations', this.reservationInformer.health()),
    ];
    return { ready: reasons.length === 0, reasons };
  }

  /** The node's well-formed blocks, pending ones and those being released included. */
  blocks(): IPAMBlock[] {
    const byName = new Map(this.blockInformer.list().map((block) => [block.metadata.name, block]));
    for (const [name, block] of this.written) byName.set(name, block);
    return [...byName.values()].filter((block) => this.isWellFormed(block));
  }

  /** Cached objects are never changed in place, so each is checked once, not on every request. */
  private isWellFormed(block: IPAMBlock): boolean {
    let verdict = this.checked.get(block);
    if (verdict === undefined) {
      verdict = wellFormedBlocks([block]).length === 1;
      this.checked.set(block, verdict);
    }
    return verdict;
  }

  cached(name: string): IPAMBlock | undefined {
    return this.written.get(name) ?? this.blockInformer.get(name);
  }

  async read(name: string): Promise<IPAMBlock> {
    try {
      const block = await this.resources.blocks.get(name);
      if (block.metadata.labels?.[labels.node] === this.node) this.remember(block);
      return block;
    } catch (error) {
      if (isNotFound(error)) this.written.delete(name);
      throw error;
    }
  }

  async write(block: IPAMBlock): Promise<IPAMBlock> {
    try {
      const written = await this.resources.blocks.replace(block);
      if (written.metadata.labels?.[labels.node] === this.node) this.remember(written);
      return written;
    } catch (error) {
      // Gone: the watch may never say so (a re-list does not report what it never held).
      if (isNotFound(error)) this.written.delete(block.metadata.name);
      throw error;
    }
  }

  /** A block of this node written or read here (a claim's, a write's): seen before the watch shows it. */
  remember(block: IPAMBlock): void {
    const known = this.cached(block.metadata.name);
    if (known === undefined || newer(block, known)) this.written.set(block.metadata.name, block);
  }

  pools(): IPPool[] {
    return this.poolInformer.list();
  }

  onPoolChange(handler: InformerHandler<IPPool>): void {
    this.poolInformer.onChange(handler);
  }

  /** What every IPReservation reserves, compiled once per change of any of them. */
  reservations(): ReservationSet {
    this.compiledReservations ??= compileReservations(this.reservationInformer.list());
    return this.compiledReservations;
  }

  /** The IPReservations covering `address`, by name: what refuses a pod's requested address. */
  reservationsCovering(address: Address): string[] {
    return reservationsCovering(this.reservationInformer.list(), address);
  }

  /** The node's labels, or undefined while there is no such Node. */
  nodeLabels(): Record<string, string> | undefined {
    const node = this.nodeInformer.get(this.node);
    return node === undefined ? undefined : (node.metadata.labels ?? {});
  }

  /** The cluster's IPAM settings: the defaults when there is no IPAMConfig; an error when it does not parse. */
  settings(): IPAMConfigSpec {
    const object = this.configInformer.get(ipamConfigName);
    if (object === undefined) return ipamConfigSpecSchema.parse({});
    const parsed = ipamConfigSpecSchema.safeParse(object.spec);
    if (parsed.success) return parsed.data;
    // Settings an admin chose (strictAffinity...) are not silently replaced by defaults.
    throw new CniError({
      kind: 'invalid-config',
      path: `IPAMConfig ${ipamConfigName}`,
      reason: `the cluster's IPAMConfig does not parse; fix it: ${specProblems(ipamConfigSpecSchema, object.spec).join('; ')}`,
    });
  }
}
