import { setTimeout as sleep } from 'node:timers/promises';
import {
  type KubeClient,
  type Lease,
  ResourceClient,
  coreResources,
  isAlreadyExists,
  isConflict,
  isNotFound,
} from '../kube/index.js';
import type { Logger } from './log.js';

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long a lease stays valid without renewal; a successor waits this long after the last renewal. */
  readonly leaseDurationMs?: number;
  /** A leader that has not renewed for this long stops leading (before anyone else may start). */
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '000Z');

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: acquire when the lease is free
 * or expired, renew every retry period with a resourceVersion precondition, give up leading when a
 * renewal has not succeeded within the renew deadline, and release the lease on a clean stop so a
 * successor takes over at once.
 */
export class LeaderElector {
  private readonly leases: ResourceClient<Lease>;
  private readonly durationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private leading = false;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leases = new ResourceClient<Lease>(options.client, coreResources.leases);
    this.durationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryMs = options.retryPeriodMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Waits until this replica leads, then runs `lead` with a signal that aborts when leadership is lost
   * or `signal` aborts. Resolves when `signal` aborts (after releasing the lease) or leadership is lost.
   */
  async run(
    signal: AbortSignal,
    lead: (leadership: AbortSignal) => Promise<void>,
  ): Promise<'stopped' | 'lost'> {
    while (!(await this.tryAcquireOrRenew())) {
      if (!(await pause(this.retryMs, signal))) return 'stopped';
    }
    this.leading = true;
    this.options.log.info('became leader', { lease: this.options.name, identity: this.options.identity });
    const leadership = new AbortController();
    const leading = lead(leadership.signal);
    let lastRenewal = this.now();
    let outcome: 'stopped' | 'lost' = 'stopped';
    while (await pause(this.retryMs, signal)) {
      if (await this.tryAcquireOrRenew()) {
        lastRenewal = this.now();
      } else if (this.now() - lastRenewal > this.renewDeadlineMs) {
        outcome = 'lost';
        this.options.log.error('lost leadership', { lease: this.options.name });
        break;
      }
    }
    this.leading = false;
    leadership.abort();
    await leading;
    if (outcome === 'stopped') await this.release();
    return outcome;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = this.now();
    const spec: Lease['spec'] = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.durationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      let lease: Lease;
      try {
        lease = await this.leases.get(name, namespace);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.leases.create({
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      }
      const holder = lease.spec.holderIdentity;
      const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
      const held = holder !== undefined && holder !== null && holder !== '' && holder !== identity;
      if (held && renewed + duration > now) return false;
      const takeover = holder !== identity;
      await this.leases.replace({
        ...lease,
        spec: {
          ...lease.spec,
          ...spec,
          ...(takeover
            ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }
            : {}),
        },
      });
      return true;
    } catch (error) {
      if (!isConflict(error) && !isAlreadyExists(error)) {
        this.options.log.warn('lease request failed', { lease: name, error: String(error) });
      }
      return false;
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.leases.get(this.options.name, this.options.namespace);
      if (lease.spec.holderIdentity !== this.options.identity) return;
      await this.leases.replace({ ...lease, spec: { ...lease.spec, holderIdentity: null, renewTime: null } });
      this.options.log.info('released leadership', { lease: this.options.name });
    } catch (error) {
      this.options.log.warn('could not release the lease', { error: String(error) });
    }
  }
}

/** Sleeps; false if the signal aborted instead. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
