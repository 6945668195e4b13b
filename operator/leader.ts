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
import type { Logger } from '../common/index.js';
import { operatorDefaults } from './settings.js';

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
 * successor takes over at once. The deadline counts from the renewTime written, not from when the
 * answer came, and no lease request may outlive it: a hung API server cannot keep a replica leading
 * after its lease may have passed to another.
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
    this.durationMs = options.leaseDurationMs ?? operatorDefaults.leaseDurationSeconds * 1000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? operatorDefaults.renewDeadlineSeconds * 1000;
    this.retryMs = options.retryPeriodMs ?? operatorDefaults.retryPeriodSeconds * 1000;
    this.now = options.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Waits until this replica leads, then runs `lead` with a signal that aborts when leadership is lost
   * or `signal` aborts. On a stop, waits for `lead` to finish and releases the lease. On a loss, returns
   * 'lost' at once, without waiting for `lead`: whatever it still runs must not delay the exit.
   */
  async run(
    signal: AbortSignal,
    lead: (leadership: AbortSignal) => Promise<void>,
  ): Promise<'stopped' | 'lost'> {
    let acquiredAt = await this.tryAcquireOrRenew(this.renewDeadlineMs);
    while (acquiredAt === undefined) {
      if (!(await pause(this.retryMs, signal))) return 'stopped';
      acquiredAt = await this.tryAcquireOrRenew(this.renewDeadlineMs);
    }
    let renewedAt = acquiredAt;
    this.leading = true;
    this.options.log.info('became leader', { lease: this.options.name, identity: this.options.identity });
    const leadership = new AbortController();
    const leading = lead(leadership.signal);
    let outcome: 'stopped' | 'lost' = 'stopped';
    for (;;) {
      const deadline = renewedAt + this.renewDeadlineMs;
      if (!(await pause(Math.min(this.retryMs, deadline - this.now()), signal))) break;
      if (this.now() >= deadline) {
        outcome = 'lost';
        this.options.log.error('lost leadership', {
          lease: this.options.name,
          lastRenewal: new Date(renewedAt).toISOString(),
          renewDeadlineMs: this.renewDeadlineMs,
        });
        break;
      }
      renewedAt = (await this.tryAcquireOrRenew(deadline - this.now())) ?? renewedAt;
    }
    this.leading = false;
    leadership.abort();
    if (outcome === 'lost') return outcome;
    await leading;
    await this.release();
    return outcome;
  }

  /** One attempt, answered within `timeoutMs`; the renewTime written if it holds the lease now. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<number | undefined> {
    const { namespace, name, identity } = this.options;
    const now = this.now();
    const call = { timeoutMs: Math.max(1, timeoutMs) };
    const spec: Lease['spec'] = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.durationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      let lease: Lease;
      try {
        lease = await this.leases.get(name, namespace, call);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.leases.create(
          {
            metadata: { name, namespace },
            spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
          },
          call,
        );
        return now;
      }
      const holder = lease.spec.holderIdentity;
      const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
      const held = holder !== undefined && holder !== null && holder !== '' && holder !== identity;
      if (held && renewed + duration > now) return undefined;
      const takeover = holder !== identity;
      await this.leases.replace(
        {
          ...lease,
          spec: {
            ...lease.spec,
            ...spec,
            ...(takeover
              ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }
              : {}),
          },
        },
        call,
      );
      return now;
    } catch (error) {
      if (!isConflict(error) && !isAlreadyExists(error)) {
        this.options.log.warn('lease request failed', { lease: name, error: String(error) });
      }
      return undefined;
    }
  }

  private async release(): Promise<void> {
    // Bounded like a renewal, so a hung API server cannot hold up a clean stop past its grace period.
    const call = { timeoutMs: this.renewDeadlineMs };
    try {
      const lease = await this.leases.get(this.options.name, this.options.namespace, call);
      if (lease.spec.holderIdentity !== this.options.identity) return;
      await this.leases.replace(
        { ...lease, spec: { ...lease.spec, holderIdentity: null, renewTime: null } },
        call,
      );
      this.options.log.info('released leadership', { lease: this.options.name });
    } catch (error) {
      this.options.log.warn('could not release the lease', { error: String(error) });
    }
  }
}

/** Sleeps; false if the signal aborted instead. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(Math.max(0, ms), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
