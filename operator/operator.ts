import { labels as apiLabels } from '../api/index.js';
import { ipamResources } from '../allocator/index.js';
import type { KubeClient } from '../kube/index.js';
import { ClusterState } from './cluster-state.js';
import { Controller } from './controller.js';
import { canonicalJson } from './equality.js';
import { eventRecorder } from '../runtime/index.js';
import type { HealthObservations } from './health.js';
import { LeaderElector } from './leader.js';
import { malformedReporter } from './malformed.js';
import { reservationReconciler } from './reservation-reconciler.js';
import type { Logger } from '../common/index.js';
import type { OperatorMetrics } from './metrics.js';
import { nodeReconciler } from './node-reconciler.js';
import { poolsAffectedBy, poolView } from './plan/pools.js';
import { poolReconciler } from './pool-reconciler.js';
import { operatorDefaults } from './settings.js';

export interface OperatorOptions {
  readonly client: KubeClient;
  /** Namespace of the leader Lease and of the operator's own objects. */
  readonly namespace: string;
  /** This replica's name (its pod name in a cluster). */
  readonly identity: string;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  readonly leaseName?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Every key is reconciled again this often, so nothing drifts for long even if an event was missed. */
  readonly resyncMs?: number;
  /**
   * Overrides the IPAMConfig's leakGracePeriodSeconds: for tests, which share one API server and must not
   * change its cluster-wide IPAMConfig.
   */
  readonly leakGraceMs?: number;
  readonly staleClaimMs?: number;
  readonly workers?: number;
}

/** How long after a pod's deletion its node is looked at for leaked addresses. */
const podGoneLookMs = 5_000;

interface Controllers {
  readonly nodes: Controller;
  readonly pools: Controller;
  readonly reservations: Controller;
}

const each = ({ nodes, pools, reservations }: Controllers): Controller[] => [nodes, pools, reservations];

/**
 * The operator: informers on every replica (the admission webhook reads them too); the controllers
 * only on the replica holding the leader Lease.
 */
export class Operator {
  readonly state: ClusterState;
  private controllers: Controllers | undefined;
  private readonly elector: LeaderElector;
  private readonly startedAt = Date.now();
  private cachesSynced = false;

  constructor(private readonly options: OperatorOptions) {
    this.state = new ClusterState(ipamResources(options.client), options.log);
    this.elector = new LeaderElector({
      client: options.client,
      namespace: options.namespace,
      name: options.leaseName ?? operatorDefaults.leaseName,
      identity: options.identity,
      log: options.log,
      ...(options.leaseDurationMs !== undefined ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs !== undefined ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs !== undefined ? { retryPeriodMs: options.retryPeriodMs } : {}),
    });
    this.watchForChanges();
  }

  isLeader(): boolean {
    return this.elector.isLeader();
  }

  /**
   * Runs until `signal` aborts, or leadership is lost: then it resolves 'lost' at once, with the
   * informers stopping and the controllers told to stop but not awaited. The process should exit
   * then (main does), so that its Deployment restarts it and it campaigns again with a clean slate.
   */
  async run(signal: AbortSignal): Promise<'stopped' | 'lost'> {
    const informersStop = new AbortController();
    const stopInformers = () => {
      informersStop.abort();
    };
    signal.addEventListener('abort', stopInformers, { once: true });
    const informers = this.state.run(informersStop.signal);
    try {
      if (!(await untilAborted(this.state.synced(), signal))) return 'stopped';
      this.cachesSynced = true;
      this.options.log.info('caches synced');
      const outcome = await this.elector.run(signal, (leadership) => this.lead(leadership));
      if (outcome === 'lost') return outcome;
      await informers;
      return outcome;
    } finally {
      signal.removeEventListener('abort', stopInformers);
      informersStop.abort();
    }
  }

  /** What the health probes judge this replica by, now. */
  observeHealth(): HealthObservations {
    const controllers = this.controllers;
    return {
      startedAt: this.startedAt,
      lastApiAnswerAt: this.options.client.lastAnsweredAt(),
      cachesSynced: this.cachesSynced,
      controllers: controllers ? each(controllers).map((controller) => controller.progress()) : [],
    };
  }

  /** True once every informer has listed: the webhook may answer and the controllers may act. */
  async ready(): Promise<void> {
    await this.state.synced();
  }

  /** Resolves when the controllers have nothing queued or in progress (for tests and benchmarks). */
  isIdle(): boolean {
    const controllers = this.controllers;
    return controllers !== undefined && each(controllers).every((controller) => controller.queue.isIdle());
  }

  private async lead(leadership: AbortSignal): Promise<void> {
    const { log, metrics } = this.options;
    const events = eventRecorder(this.options.client, {
      component: 'topology-ipam-operator',
      instance: this.options.identity,
      log,
    });
    const reportMalformed = malformedReporter({ events, log, metrics });
    const workers = this.options.workers ?? 4;
    const nodes = new Controller({
      name: 'nodes',
      log,
      metrics,
      workers,
      reconcile: nodeReconciler({
        state: this.state,
        events,
        log,
        metrics,
        reportMalformed,
        ...(this.options.leakGraceMs === undefined ? {} : { leakGraceMs: this.options.leakGraceMs }),
        staleClaimMs: this.options.staleClaimMs ?? 60_000,
      }),
    });
    const pools = new Controller({
      name: 'pools',
      log,
      metrics,
      workers: 1,
      reconcile: poolReconciler({ state: this.state, events, log, metrics, reportMalformed }),
    });
    const reservations = new Controller({
      name: 'reservations',
      log,
      metrics,
      workers: 1,
      reconcile: reservationReconciler({ state: this.state }),
    });
    this.controllers = { nodes, pools, reservations };
    metrics.leader.set(1);
    nodes.start();
    pools.start();
    reservations.start();
    this.resyncAll();
    const resyncMs = this.options.resyncMs ?? operatorDefaults.resyncSeconds * 1000;
    const resync = setInterval(() => {
      this.resyncAll();
    }, resyncMs);
    await new Promise<void>((resolve) => {
      leadership.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
    });
    clearInterval(resync);
    this.controllers = undefined;
    metrics.leader.set(0);
    await Promise.all([nodes.stop(), pools.stop(), reservations.stop()]);
  }

  private resyncAll(): void {
    for (const node of this.state.nodes.list()) this.enqueueNode(node.metadata.name);
    for (const block of this.state.blocks.list()) this.enqueueNode(block.metadata.labels?.[apiLabels.node]);
    this.enqueueAllPools();
    for (const reservation of this.state.reservations.list())
      this.controllers?.reservations.queue.add(reservation.metadata.name);
  }

  private enqueueNode(name: string | undefined): void {
    if (name !== undefined && name !== '') this.controllers?.nodes.queue.add(name);
  }

  private enqueueAllPools(): void {
    for (const pool of this.state.pools.list()) this.controllers?.pools.queue.add(pool.metadata.name);
  }

  private enqueueAllNodes(): void {
    for (const node of this.state.nodes.list()) this.enqueueNode(node.metadata.name);
  }

  /** Event handlers only enqueue keys: which nodes and pools a change can affect. */
  private watchForChanges(): void {
    const { state } = this;
    state.nodes.onChange((event, node, previous) => {
      if (
        event === 'modified' &&
        canonicalJson(node.metadata.labels) === canonicalJson(previous?.metadata.labels)
      )
        return;
      this.enqueueNode(node.metadata.name);
      this.enqueueAllPools();
    });
    state.pools.onChange((event, pool, previous) => {
      // Our own status writes change nothing a plan depends on.
      const same =
        event === 'modified' &&
        previous !== undefined &&
        previous.metadata.generation === pool.metadata.generation &&
        previous.metadata.deletionTimestamp === pool.metadata.deletionTimestamp &&
        canonicalJson(previous.metadata.finalizers) === canonicalJson(pool.metadata.finalizers);
      if (same) return;
      this.enqueueAllPools();
      // Only nodes the change can matter to: those any affected pool selected before or selects now,
      // and those holding blocks of an affected pool.
      const after = event === 'deleted' ? undefined : poolView(pool);
      const before = previous ? poolView(previous) : event === 'deleted' ? poolView(pool) : undefined;
      const affected = poolsAffectedBy(before, after, state.poolViews());
      for (const node of state.nodes.list()) {
        const labels = node.metadata.labels ?? {};
        if (affected.some((view) => view.valid?.selector.matches(labels)))
          this.enqueueNode(node.metadata.name);
      }
      for (const view of affected) {
        for (const block of state.blocksOfPool(view.name))
          this.enqueueNode(block.metadata.labels?.[apiLabels.node]);
      }
    });
    state.blocks.onChange((_, block) => {
      this.enqueueNode(block.metadata.labels?.[apiLabels.node]);
      this.controllers?.pools.queue.add(block.spec.pool);
    });
    state.pods.onChange((event, pod) => {
      const node = pod.spec?.nodeName;
      // Its addresses become suspects: by then the kubelet's CNI DEL has usually freed them, sparing a read.
      if (event === 'deleted' && node !== undefined) {
        this.controllers?.nodes.queue.addAfter(node, podGoneLookMs);
      }
    });
    state.configs.onChange(() => {
      this.enqueueAllNodes();
    });
    // Reserved addresses are not free: a node may need another block ahead of time.
    state.reservations.onChange((_event, reservation) => {
      this.enqueueAllNodes();
      this.controllers?.reservations.queue.add(reservation.metadata.name);
    });
  }
}

/** Waits for `work`; false if `signal` aborts first. */
async function untilAborted(work: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => {
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work.then(() => true), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
