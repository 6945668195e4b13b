import type { z } from 'zod';
import {
  type BlockAffinity,
  type IPAMBlock,
  type IPAMConfig,
  type IPAMConfigSpec,
  type IPPool,
  type IPReservation,
  type ReservationSet,
  blockAffinitySpecSchema,
  compileReservations,
  ipamBlockSpecSchema,
  ipamConfigName,
  ipamConfigSpecSchema,
  labels as apiLabels,
  reservationProblems,
  specProblems,
  workloadAnnotationNames,
} from '../api/index.js';
import type { IpamResources } from '../allocator/index.js';
import {
  ApiError,
  Informer,
  type KubeObject,
  type Namespace,
  type Node,
  type Pod,
  ResourceClient,
  coreResources,
  trimMetadata,
} from '../kube/index.js';
import type { Logger } from '../common/index.js';
import { type PoolStanding, type PoolView, poolStandings, poolView } from './plan/pools.js';

/**
 * An object the operator skips because its spec does not parse (stored before the CRD was as strict); of
 * an IPReservation, only the entries that do not parse are skipped.
 */
export interface MalformedObject {
  readonly kind: 'IPAMBlock' | 'BlockAffinity' | 'IPAMConfig' | 'IPReservation';
  readonly object: KubeObject;
  /** `spec.field: what is wrong`, each. */
  readonly problems: readonly string[];
}

/** What is wrong with a spec: by a schema, or by a check of its own (an IPReservation's entries). */
type SpecCheck = z.ZodType | ((spec: unknown) => string[]);

/** How long our own block writes override the informer's view, at most (it normally catches up in ms). */
const expectationTtlMs = 5_000;

/**
 * The operator's view of the cluster: informers on every resource it reads, plus what it wrote itself
 * but the informers may not show yet (so a reconcile right after a claim does not claim again).
 */
export class ClusterState {
  readonly nodes: Informer<Node>;
  readonly pools: Informer<IPPool>;
  readonly blocks: Informer<IPAMBlock>;
  readonly affinities: Informer<BlockAffinity>;
  readonly pods: Informer<Pod>;
  /** Trimmed to their pool annotations: which pools a namespace's pods ask for. */
  readonly namespaces: Informer<Namespace>;
  readonly configs: Informer<IPAMConfig>;
  readonly reservations: Informer<IPReservation>;
  /** The reservations compiled, until the informer next changes. */
  private compiledReservations: ReservationSet | undefined;
  private readonly podsApi: ResourceClient<Pod>;
  private readonly views = new Map<string, { resourceVersion: string | undefined; view: PoolView }>();
  private readonly expected = new Map<string, { block: IPAMBlock | undefined; at: number }>();
  /** Problems of each object the informers hold; an informer stores a new object for every version. */
  private readonly problems = new WeakMap<object, readonly string[]>();

  constructor(
    readonly resources: IpamResources,
    log: Logger,
  ) {
    const onError = (resource: string) => (error: unknown) => {
      // 429 while the API server (re)initializes a just-created CRD's storage is routine at start.
      const level = error instanceof ApiError && error.status === 429 ? 'debug' : 'warn';
      log[level]('watch failed; re-listing', { resource, error: String(error) });
    };
    const client = resources.client;
    this.nodes = new Informer(new ResourceClient<Node>(client, coreResources.nodes), {
      onError: onError('nodes'),
    });
    this.podsApi = new ResourceClient<Pod>(client, coreResources.pods);
    this.pods = new Informer(this.podsApi, { onError: onError('pods') });
    this.namespaces = new Informer(new ResourceClient<Namespace>(client, coreResources.namespaces), {
      onError: onError('namespaces'),
      transform: (namespace) =>
        trimMetadata(namespace, { annotations: workloadAnnotationNames, labels: false }),
    });
    this.pools = new Informer(resources.pools, { onError: onError('ippools') });
    this.blocks = new Informer(resources.blocks, { onError: onError('ipamblocks') });
    this.affinities = new Informer(resources.affinities, { onError: onError('blockaffinities') });
    this.configs = new Informer(resources.configs, { onError: onError('ipamconfigs') });
    this.reservations = new Informer(resources.reservations, { onError: onError('ipreservations') });
    this.reservations.onChange(() => (this.compiledReservations = undefined));
    this.blocks.onChange((event, block) => {
      const expectation = this.expected.get(block.metadata.name);
      if (!expectation) return;
      const caughtUp =
        event === 'deleted'
          ? expectation.block === undefined
          : expectation.block?.metadata.resourceVersion === block.metadata.resourceVersion;
      if (caughtUp) this.expected.delete(block.metadata.name);
    });
  }

  get informers(): readonly Informer<never>[] {
    return [
      this.nodes,
      this.pods,
      this.namespaces,
      this.pools,
      this.blocks,
      this.affinities,
      this.configs,
      this.reservations,
    ] as unknown as Informer<never>[];
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.run(signal)));
  }

  async synced(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.synced));
  }

  /** The settings; the defaults while there is no IPAMConfig or it does not parse (see `malformed`). */
  config(): IPAMConfigSpec {
    const object = this.configs.get(ipamConfigName);
    const usable = object !== undefined && this.problemsOf(ipamConfigSpecSchema, object).length === 0;
    return ipamConfigSpecSchema.parse(usable ? object.spec : {});
  }

  /** What every IPReservation reserves, compiled once per change of any of them. */
  reservedAddresses(): ReservationSet {
    this.compiledReservations ??= compileReservations(this.reservations.list());
    return this.compiledReservations;
  }

  private problemsOf(schema: SpecCheck, object: KubeObject & { spec: unknown }): readonly string[] {
    let problems = this.problems.get(object);
    if (problems === undefined) {
      problems = typeof schema === 'function' ? schema(object.spec) : specProblems(schema, object.spec);
      this.problems.set(object, problems);
    }
    return problems;
  }

  private wellFormedBlock = (block: IPAMBlock): boolean =>
    this.problemsOf(ipamBlockSpecSchema, block).length === 0;

  /** Affinities whose spec parses; the others are in `malformed`. */
  wellFormedAffinities(): BlockAffinity[] {
    return this.affinities
      .list()
      .filter((affinity) => this.problemsOf(blockAffinitySpecSchema, affinity).length === 0);
  }

  /** Every object the controllers skip because it does not parse, with what is wrong with it. */
  malformed(): MalformedObject[] {
    const found: MalformedObject[] = [];
    const check = (kind: MalformedObject['kind'], schema: SpecCheck, objects: readonly KubeObject[]) => {
      for (const object of objects as (KubeObject & { spec: unknown })[]) {
        const problems = this.problemsOf(schema, object);
        if (problems.length > 0) found.push({ kind, object, problems });
      }
    };
    check('IPAMBlock', ipamBlockSpecSchema, this.blocks.list());
    check('BlockAffinity', blockAffinitySpecSchema, this.affinities.list());
    check('IPAMConfig', ipamConfigSpecSchema, this.configs.list());
    check('IPReservation', reservationProblems, this.reservations.list());
    return found;
  }

  /** Every pool, parsed once per resourceVersion. */
  poolViews(): PoolView[] {
    const pools = this.pools.list();
    const live = new Set<string>();
    const views = pools.map((pool) => {
      live.add(pool.metadata.name);
      const cached = this.views.get(pool.metadata.name);
      if (cached && cached.resourceVersion === pool.metadata.resourceVersion) return cached.view;
      const view = poolView(pool);
      this.views.set(pool.metadata.name, { resourceVersion: pool.metadata.resourceVersion, view });
      return view;
    });
    for (const name of this.views.keys()) if (!live.has(name)) this.views.delete(name);
    return views;
  }

  poolStandings(views: readonly PoolView[] = this.poolViews()): Map<string, PoolStanding> {
    return poolStandings(views);
  }

  /** Blocks as the informer shows them, overlaid with our own writes it has not shown yet; malformed ones too. */
  allBlocks(): IPAMBlock[] {
    const now = Date.now();
    const byName = new Map(this.blocks.list().map((block) => [block.metadata.name, block]));
    for (const [name, { block, at }] of this.expected) {
      if (now - at > expectationTtlMs) {
        this.expected.delete(name);
        continue;
      }
      if (block) byName.set(name, block);
      else byName.delete(name);
    }
    return [...byName.values()];
  }

  /** The blocks whose spec parses; the others are in `malformed`. */
  wellFormedBlocks(): IPAMBlock[] {
    return this.allBlocks().filter(this.wellFormedBlock);
  }

  /** The node's blocks whose spec parses; the others are in `malformed`. */
  blocksOfNode(node: string): IPAMBlock[] {
    return this.wellFormedBlocks().filter((block) => block.metadata.labels?.[apiLabels.node] === node);
  }

  /** The pool's blocks whose spec parses; the others are in `malformed`. */
  blocksOfPool(pool: string): IPAMBlock[] {
    return this.wellFormedBlocks().filter((block) => block.spec.pool === pool);
  }

  /** Remembers a block we created, changed (`block`) or deleted (`undefined`) until the informer shows it. */
  expect(name: string, block: IPAMBlock | undefined): void {
    // The watch event can arrive before the write's own response does.
    const seen = this.blocks.get(name);
    const alreadySeen =
      block === undefined
        ? seen === undefined
        : seen?.metadata.resourceVersion === block.metadata.resourceVersion;
    if (alreadySeen) this.expected.delete(name);
    else this.expected.set(name, { block, at: Date.now() });
  }

  /** The pod as the informer cache shows it (see `pods.health()` for whether that is current). */
  pod(namespace: string, name: string): Pod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  /** The pod as the API server has it now, bypassing the cache: throws ApiError 404 if there is none. */
  readPod(namespace: string, name: string): Promise<Pod> {
    return this.podsApi.get(name, namespace);
  }
}
