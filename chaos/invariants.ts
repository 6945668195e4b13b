/**
 * The chaos run's verdict, as a pure function of what the driver saw: every ADD and DEL it ran (with
 * its outcome and when it started and ended) and the IPAMBlocks it read at quiet moments, when no plugin
 * was running. No I/O: the driver gathers, this decides.
 *
 * Records are matched to the driver's pods by the pod namespace and name the plugin writes on each
 * allocation (from CNI_ARGS), not by the handle's spelling, which is the plugin's own business.
 */
import type { IPAMBlock } from '../api/index.js';
import {
  addressAtOrdinal,
  addressToString,
  cidrOverlaps,
  safeParseAddress,
  safeParseCidr,
} from '../ipam/index.js';

/** How one plugin invocation ended. A killed one may or may not have written its block. */
export type InvocationOutcome =
  | { readonly kind: 'ok'; readonly address?: string }
  | { readonly kind: 'error'; readonly code: number }
  | { readonly kind: 'killed' };

/** One ADD or DEL of one pod (`owner`, namespace/name). The driver never runs two at once for one pod. */
export interface Operation {
  readonly owner: string;
  readonly command: 'ADD' | 'DEL';
  /** Milliseconds on one monotonic clock. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: InvocationOutcome;
}

export interface RecordedAllocation {
  readonly ordinal: number;
  /** namespace/name of the pod, or the raw handle for a record without pod details. */
  readonly owner: string;
}

export interface RecordedBlock {
  readonly name: string;
  readonly cidr: string;
  readonly allocations: readonly RecordedAllocation[];
}

/** Every IPAMBlock as read at `at`, while no plugin ran. The final one follows the clean-up DEL of every pod. */
export interface Snapshot {
  readonly label: string;
  readonly at: number;
  readonly blocks: readonly RecordedBlock[];
  readonly final?: boolean;
}

export type Violation =
  /** Two pods held one address at the same time, by what their ADDs returned. */
  | {
      readonly kind: 'address-held-twice';
      readonly address: string;
      readonly owners: readonly [string, string];
    }
  /** One address recorded for two pods (in one block or in two overlapping ones). */
  | {
      readonly kind: 'address-recorded-twice';
      readonly snapshot: string;
      readonly address: string;
      readonly owners: readonly string[];
    }
  | { readonly kind: 'blocks-overlap'; readonly snapshot: string; readonly blocks: readonly [string, string] }
  | {
      readonly kind: 'owner-recorded-twice';
      readonly snapshot: string;
      readonly owner: string;
      readonly addresses: readonly string[];
    }
  /** A pod whose last ADD succeeded has no record of that address with its name. */
  | {
      readonly kind: 'unrecorded';
      readonly snapshot: string;
      readonly owner: string;
      readonly address: string;
    }
  /** A repeated ADD, with no DEL since the first, returned another address. */
  | { readonly kind: 'readdressed'; readonly owner: string; readonly before: string; readonly after: string }
  /**
   * The ADD after one that failed or crashed returned another address than the one recorded for the pod
   * in between (a crash must not cost a pod its address, nor give it a second one).
   */
  | {
      readonly kind: 'readdressed-after-failure';
      readonly snapshot: string;
      readonly owner: string;
      readonly recorded: readonly string[];
      readonly returned: string;
    }
  /** A record of a pod that was DELeted, never ADDed, or (at the end) anything left at all. */
  | {
      readonly kind: 'leaked';
      readonly snapshot: string;
      readonly owner: string;
      readonly address: string;
      readonly block: string;
    }
  | { readonly kind: 'cleanup-failed'; readonly owner: string; readonly outcome: string }
  | { readonly kind: 'block-not-empty'; readonly block: string; readonly allocations: number }
  | {
      readonly kind: 'unreadable-block';
      readonly snapshot: string;
      readonly block: string;
      readonly cidr: string;
    }
  | { readonly kind: 'unreadable-address'; readonly owner: string; readonly address: string };

export type ViolationKind = Violation['kind'];

export interface Verdict {
  /** Addresses returned by successful ADDs, each checked against the others and the records. */
  readonly allocationsChecked: number;
  /** Allocation records read over all snapshots. */
  readonly recordsChecked: number;
  /** Successful ADDs after a failed or crashed one, checked against the address recorded in between. */
  readonly reAddsAfterFailureChecked: number;
  readonly duplicates: number;
  readonly leakedRecords: number;
  readonly violations: readonly Violation[];
}

const duplicateKinds: ReadonlySet<ViolationKind> = new Set([
  'address-held-twice',
  'address-recorded-twice',
  'blocks-overlap',
]);

/** What the driver reads from the API server, reduced to what the checker needs. */
export function recordedBlocks(blocks: readonly IPAMBlock[]): RecordedBlock[] {
  return blocks.map((block) => ({
    name: block.metadata.name,
    cidr: block.spec.cidr,
    allocations: block.spec.allocations.map((allocation) => ({
      ordinal: allocation.ordinal,
      owner:
        allocation.namespace !== undefined && allocation.pod !== undefined
          ? `${allocation.namespace}/${allocation.pod}`
          : allocation.handle,
    })),
  }));
}

/** An address in one canonical spelling (and without a prefix length), or undefined if unparseable. */
function canonical(text: string): string | undefined {
  const parsed = safeParseAddress(text.replace(/\/\d+$/, ''));
  return parsed.ok ? addressToString(parsed.value) : undefined;
}

/** The pod's state as of a moment: holding an address, surely holding nothing, or either. */
type OwnerState = { kind: 'holds'; address: string } | { kind: 'none' } | { kind: 'unknown' };

function stateAfter(operation: Operation | undefined): OwnerState {
  if (!operation) return { kind: 'none' };
  const { outcome } = operation;
  if (outcome.kind !== 'ok') return { kind: 'unknown' };
  if (operation.command === 'DEL') return { kind: 'none' };
  const address = outcome.address === undefined ? undefined : canonical(outcome.address);
  return address === undefined ? { kind: 'unknown' } : { kind: 'holds', address };
}

interface Hold {
  readonly owner: string;
  readonly address: string;
  readonly from: number;
  readonly until: number;
}

/**
 * The times each pod surely held an address: from the end of a successful ADD to the start of its next
 * DEL (whatever became of that DEL), or for ever. A repeated ADD keeps the hold going.
 */
function holdsOf(owner: string, operations: readonly Operation[], violations: Violation[]): Hold[] {
  const holds: Hold[] = [];
  let current: { address: string; from: number } | undefined;
  for (const operation of operations) {
    if (operation.command === 'DEL') {
      if (current) holds.push({ owner, ...current, until: operation.startedAt });
      current = undefined;
      continue;
    }
    const { outcome } = operation;
    if (outcome.kind !== 'ok') continue;
    const address = outcome.address === undefined ? undefined : canonical(outcome.address);
    if (address === undefined) {
      violations.push({ kind: 'unreadable-address', owner, address: outcome.address ?? '(none)' });
      continue;
    }
    if (current && current.address !== address) {
      violations.push({ kind: 'readdressed', owner, before: current.address, after: address });
      holds.push({ owner, ...current, until: operation.startedAt });
      current = undefined;
    }
    current ??= { address, from: operation.endedAt };
  }
  if (current) holds.push({ owner, ...current, until: Number.POSITIVE_INFINITY });
  return holds;
}

function overlappingHolds(holds: readonly Hold[]): Violation[] {
  const byAddress = new Map<string, Hold[]>();
  for (const hold of holds) byAddress.set(hold.address, [...(byAddress.get(hold.address) ?? []), hold]);
  const violations: Violation[] = [];
  for (const [address, list] of byAddress) {
    const sorted = [...list].sort((a, b) => a.from - b.from);
    let latest: Hold | undefined;
    for (const hold of sorted) {
      if (latest && hold.from < latest.until && hold.owner !== latest.owner) {
        violations.push({ kind: 'address-held-twice', address, owners: [latest.owner, hold.owner] });
      }
      if (!latest || hold.until > latest.until) latest = hold;
    }
  }
  return violations;
}

interface ReadRecord {
  readonly owner: string;
  readonly address: string;
  readonly block: string;
}

function readSnapshot(snapshot: Snapshot, violations: Violation[]): ReadRecord[] {
  const parsed = snapshot.blocks.flatMap((block) => {
    const cidr = safeParseCidr(block.cidr);
    if (cidr.ok) return [{ block, cidr: cidr.value }];
    violations.push({
      kind: 'unreadable-block',
      snapshot: snapshot.label,
      block: block.name,
      cidr: block.cidr,
    });
    return [];
  });
  for (const [i, a] of parsed.entries()) {
    for (const b of parsed.slice(i + 1)) {
      if (cidrOverlaps(a.cidr, b.cidr)) {
        violations.push({
          kind: 'blocks-overlap',
          snapshot: snapshot.label,
          blocks: [a.block.name, b.block.name],
        });
      }
    }
  }
  return parsed.flatMap(({ block, cidr }) =>
    block.allocations.map((allocation) => ({
      owner: allocation.owner,
      address: addressToString(addressAtOrdinal(cidr, allocation.ordinal)),
      block: block.name,
    })),
  );
}

function checkSnapshot(
  snapshot: Snapshot,
  records: readonly ReadRecord[],
  operationsByOwner: ReadonlyMap<string, readonly Operation[]>,
  violations: Violation[],
): void {
  const label = snapshot.label;
  const ownersByAddress = new Map<string, Set<string>>();
  const addressesByOwner = new Map<string, string[]>();
  for (const record of records) {
    ownersByAddress.set(record.address, (ownersByAddress.get(record.address) ?? new Set()).add(record.owner));
    addressesByOwner.set(record.owner, [...(addressesByOwner.get(record.owner) ?? []), record.address]);
  }
  for (const [address, owners] of ownersByAddress) {
    if (owners.size > 1) {
      violations.push({
        kind: 'address-recorded-twice',
        snapshot: label,
        address,
        owners: [...owners].sort(),
      });
    }
  }
  for (const [owner, addresses] of addressesByOwner) {
    if (addresses.length > 1)
      violations.push({ kind: 'owner-recorded-twice', snapshot: label, owner, addresses });
  }
  const stateAt = (owner: string): OwnerState =>
    stateAfter((operationsByOwner.get(owner) ?? []).filter((op) => op.endedAt <= snapshot.at).at(-1));
  for (const record of records) {
    // At the end every pod has been DELeted: whatever is left is leaked, whoever it names.
    if (snapshot.final === true || stateAt(record.owner).kind === 'none') {
      violations.push({ kind: 'leaked', snapshot: label, ...record });
    }
  }
  for (const owner of operationsByOwner.keys()) {
    const state = stateAt(owner);
    if (state.kind === 'holds' && !(addressesByOwner.get(owner) ?? []).includes(state.address)) {
      violations.push({ kind: 'unrecorded', snapshot: label, owner, address: state.address });
    }
  }
  if (snapshot.final === true) {
    for (const block of snapshot.blocks) {
      if (block.allocations.length > 0) {
        violations.push({
          kind: 'block-not-empty',
          block: block.name,
          allocations: block.allocations.length,
        });
      }
    }
  }
}

/**
 * A successful ADD whose previous operation was an ADD that failed or crashed, read against the last
 * snapshot between the two: if that snapshot records addresses for the pod, the ADD must return one of
 * them. Only when every earlier DEL of the pod succeeded: a DEL that crashed may still release the
 * address after the snapshot (its agent goes on with a request whose forwarder died).
 */
function checkReAddsAfterFailure(
  owner: string,
  operations: readonly Operation[],
  snapshots: readonly { readonly snapshot: Snapshot; readonly records: readonly ReadRecord[] }[],
  violations: Violation[],
): number {
  let checked = 0;
  let delsSucceeded = true;
  operations.forEach((operation, index) => {
    const previous = operations[index - 1];
    if (operation.command === 'DEL') delsSucceeded &&= operation.outcome.kind === 'ok';
    const { outcome } = operation;
    if (
      operation.command !== 'ADD' ||
      outcome.kind !== 'ok' ||
      outcome.address === undefined ||
      previous?.command !== 'ADD' ||
      previous.outcome.kind === 'ok' ||
      !delsSucceeded
    )
      return;
    const between = snapshots.findLast(
      ({ snapshot }) => snapshot.at >= previous.endedAt && snapshot.at <= operation.startedAt,
    );
    const recorded = between?.records.filter((record) => record.owner === owner).map((r) => r.address);
    const returned = canonical(outcome.address);
    if (between === undefined || recorded === undefined || recorded.length === 0 || returned === undefined)
      return;
    checked++;
    if (!recorded.includes(returned)) {
      violations.push({
        kind: 'readdressed-after-failure',
        snapshot: between.snapshot.label,
        owner,
        recorded,
        returned,
      });
    }
  });
  return checked;
}

/**
 * Checks a run: no address held or recorded twice, no overlapping blocks, every successful ADD recorded
 * with its pod, a repeated ADD returns the same address (the one recorded, after an ADD that failed or
 * crashed), nothing recorded for a pod with no address, and
 * after the final clean-up (every pod's last operation a successful DEL) nothing recorded at all.
 */
export function checkRun(operations: readonly Operation[], snapshots: readonly Snapshot[]): Verdict {
  const violations: Violation[] = [];
  const operationsByOwner = new Map<string, Operation[]>();
  for (const operation of [...operations].sort((a, b) => a.startedAt - b.startedAt)) {
    operationsByOwner.set(operation.owner, [...(operationsByOwner.get(operation.owner) ?? []), operation]);
  }
  const holds = [...operationsByOwner].flatMap(([owner, list]) => holdsOf(owner, list, violations));
  violations.push(...overlappingHolds(holds));
  const read = [...snapshots]
    .sort((a, b) => a.at - b.at)
    .map((snapshot) => ({ snapshot, records: readSnapshot(snapshot, violations) }));
  for (const { snapshot, records } of read) checkSnapshot(snapshot, records, operationsByOwner, violations);
  let reAddsAfterFailureChecked = 0;
  for (const [owner, list] of operationsByOwner)
    reAddsAfterFailureChecked += checkReAddsAfterFailure(owner, list, read, violations);
  const recordsChecked = read.reduce((sum, { records }) => sum + records.length, 0);
  const final = snapshots.find((snapshot) => snapshot.final === true);
  if (final) {
    for (const [owner, list] of operationsByOwner) {
      const last = list.at(-1);
      if (last?.command !== 'DEL' || last.outcome.kind !== 'ok') {
        violations.push({ kind: 'cleanup-failed', owner, outcome: describeLast(last) });
      }
    }
  }
  return {
    allocationsChecked: operations.filter(
      (operation) => operation.command === 'ADD' && operation.outcome.kind === 'ok',
    ).length,
    recordsChecked,
    reAddsAfterFailureChecked,
    duplicates: violations.filter((violation) => duplicateKinds.has(violation.kind)).length,
    leakedRecords: violations.filter((violation) => violation.kind === 'leaked').length,
    violations,
  };
}

function describeLast(operation: Operation | undefined): string {
  if (!operation) return 'never run';
  const { outcome } = operation;
  switch (outcome.kind) {
    case 'ok':
      return `last ${operation.command} succeeded`;
    case 'error':
      return `last ${operation.command} failed with code ${outcome.code}`;
    case 'killed':
      return `last ${operation.command} was killed`;
  }
}
