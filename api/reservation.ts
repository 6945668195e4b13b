/**
 * IPReservation: addresses that automatic assignment never hands out, as in Calico. A reservation only
 * stops new assignments: an address already held when it appears stays with its holder until released,
 * and is not handed out again afterwards.
 *
 * The entries compile into a `ReservationSet` (merged ranges per family), which every assigner consults:
 * the node agent for pods, the operator when it counts a node's free addresses, `kubectl ipam show --ip`,
 * and requested addresses (`isReserved`).
 */
import { z } from 'zod';
import {
  type Address,
  type Cidr,
  type IpFamily,
  cidrContainsAddress,
  cidrEnd,
  cidrOf,
  familyBits,
  type Result,
  safeParseAddress,
  safeParseCidr,
} from '../ipam/index.js';
import { type Condition, conditionSchema } from './pool.js';
import { specProblems } from './problems.js';

/** Bounds that keep the API server's CEL cost estimate of the entry rule low. */
export const MAX_RESERVED_CIDRS = 1024;
const maxEntryLength = 64;

export const ipReservationSpecSchema = z.object({
  reservedCIDRs: z
    .array(z.string().max(maxEntryLength))
    .max(MAX_RESERVED_CIDRS)
    .default([])
    .describe(
      'Addresses and CIDRs, IPv4 or IPv6 (10.0.0.5, 10.0.1.0/28, fd00::7), that are never assigned ' +
        'automatically. An address already assigned when it is reserved stays with its pod until released, ' +
        'and is then not assigned again. Host bits of a CIDR are ignored (10.0.1.3/28 reserves 10.0.1.0/28).',
    ),
});
export type IPReservationSpec = z.output<typeof ipReservationSpecSchema>;

export const reservationConditionTypes = { entriesValid: 'EntriesValid' } as const;

export const ipReservationStatusSchema = z
  .object({
    conditions: z
      .array(conditionSchema)
      .optional()
      .describe(
        'EntriesValid: False (reason MalformedEntries) while an entry is neither an address nor a CIDR; ' +
          'such an entry reserves nothing until fixed.',
      ),
  })
  .strict();
export type IPReservationStatus = z.infer<typeof ipReservationStatusSchema>;

/**
 * One entry as a CIDR: an address is its /32 or /128, and a CIDR with host bits set is its network (as
 * Calico's ParseCIDROrIP reads it); otherwise the parser's message of why the entry is neither.
 */
export function safeParseReservedEntry(text: string): Result<Cidr, string> {
  if (text.includes('/')) {
    const cidr = safeParseCidr(text);
    if (cidr.ok) return cidr;
    return cidr.error.code === 'cidr-host-bits-set'
      ? { ok: true, value: cidr.error.network }
      : { ok: false, error: cidr.error.message };
  }
  const address = safeParseAddress(text);
  return address.ok
    ? { ok: true, value: cidrOf(address.value, familyBits(address.value.family)) }
    : { ok: false, error: address.error.message };
}

/** `safeParseReservedEntry`'s CIDR, or undefined when the entry is neither an address nor a CIDR. */
export function parseReservedEntry(text: string): Cidr | undefined {
  const parsed = safeParseReservedEntry(text);
  return parsed.ok ? parsed.value : undefined;
}

/**
 * What is wrong with a reservation, as `spec.field: message` lines ([] if nothing): a spec that does not
 * parse, or each entry that is neither an address nor a CIDR (stored before the CRD checked entries).
 * Assigners skip such an entry and honour the others; the operator reports it.
 */
export function reservationProblems(spec: unknown): string[] {
  const parsed = ipReservationSpecSchema.safeParse(spec);
  if (!parsed.success) return specProblems(ipReservationSpecSchema, spec);
  return parsed.data.reservedCIDRs.flatMap((entry, index) => {
    const cidr = safeParseReservedEntry(entry);
    return cidr.ok ? [] : [`spec.reservedCIDRs[${index}]: ${cidr.error}; skipped, so it reserves nothing`];
  });
}

/**
 * The status the operator writes: the EntriesValid condition from `reservationProblems`. Its transition
 * time moves only when its status flips, as Kubernetes conditions do.
 */
export function reservationStatus(
  reservation: {
    readonly metadata: { readonly generation?: number };
    readonly spec?: unknown;
    readonly status?: IPReservationStatus;
  },
  now: Date,
): IPReservationStatus {
  const problems = reservationProblems(reservation.spec);
  const status = problems.length === 0 ? 'True' : 'False';
  const previous = reservation.status?.conditions?.find(
    (condition) => condition.type === reservationConditionTypes.entriesValid,
  );
  const { generation } = reservation.metadata;
  const condition: Condition = {
    type: reservationConditionTypes.entriesValid,
    status,
    reason: problems.length === 0 ? 'EntriesParse' : 'MalformedEntries',
    message: problems.join('; '),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : now.toISOString(),
  };
  return { conditions: [condition] };
}

/** An inclusive range of address values of one family. */
interface Span {
  readonly first: bigint;
  readonly last: bigint;
}

/** What every IPReservation reserves: merged, sorted ranges per family. Build it with `compileReservations`. */
export interface ReservationSet {
  readonly spans: Readonly<Record<IpFamily, readonly Span[]>>;
  /** Entries that are neither an address nor a CIDR (stored before the CRD checked them): skipped. */
  readonly malformed: readonly { readonly reservation: string; readonly entry: string }[];
}

export const noReservations: ReservationSet = { spans: { 4: [], 6: [] }, malformed: [] };

function mergeSpans(spans: Span[]): Span[] {
  spans.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (last !== undefined && span.first <= last.last + 1n) {
      if (span.last > last.last) merged[merged.length - 1] = { first: last.first, last: span.last };
    } else {
      merged.push(span);
    }
  }
  return merged;
}

/** Compiles reservations (objects straight from the API server: a spec of unknown shape is skipped). */
export function compileReservations(
  reservations: readonly { readonly metadata: { readonly name: string }; readonly spec?: unknown }[],
): ReservationSet {
  const spans: Record<IpFamily, Span[]> = { 4: [], 6: [] };
  const malformed: { reservation: string; entry: string }[] = [];
  for (const { metadata, spec } of reservations) {
    const parsed = ipReservationSpecSchema.safeParse(spec);
    if (!parsed.success) {
      malformed.push({ reservation: metadata.name, entry: JSON.stringify(spec) });
      continue;
    }
    for (const entry of parsed.data.reservedCIDRs) {
      const cidr = parseReservedEntry(entry);
      if (cidr === undefined) malformed.push({ reservation: metadata.name, entry });
      else spans[cidr.family].push({ first: cidr.network, last: cidrEnd(cidr) });
    }
  }
  return { spans: { 4: mergeSpans(spans[4]), 6: mergeSpans(spans[6]) }, malformed };
}

/** The reserved spans that share an address with `first..last`. */
function spansOverlapping(set: ReservationSet, family: IpFamily, first: bigint, last: bigint): Span[] {
  return set.spans[family].filter((span) => span.first <= last && span.last >= first);
}

/** Whether a reservation covers `address`: automatic assignment never hands it out, nor may a pod request it. */
export function isReserved(set: ReservationSet, address: Address): boolean {
  return spansOverlapping(set, address.family, address.value, address.value).length > 0;
}

/** The names of the reservations with an entry covering `address`: what a refusal or a look-up names. */
export function reservationsCovering(
  reservations: readonly {
    readonly metadata: { readonly name: string };
    readonly spec: { readonly reservedCIDRs?: readonly string[] };
  }[],
  address: Address,
): string[] {
  return reservations
    .filter((reservation) =>
      // Objects stored before the CRD defaulted the list may lack it.
      (reservation.spec.reservedCIDRs ?? []).some((entry) => {
        const cidr = parseReservedEntry(entry);
        return cidr !== undefined && cidrContainsAddress(cidr, address);
      }),
    )
    .map((reservation) => reservation.metadata.name);
}

/** Whether reservations cover every address of `cidr` (a block that could never give an address). */
export function isWhollyReserved(set: ReservationSet, cidr: Cidr): boolean {
  const first = cidr.network;
  const last = cidrEnd(cidr);
  // Spans are merged, so one span covers the CIDR or none does.
  return spansOverlapping(set, cidr.family, first, last).some((s) => s.first <= first && s.last >= last);
}

/** The ordinals of `block` that reservations cover, ascending. */
export function reservedOrdinalsIn(set: ReservationSet, block: Cidr): number[] {
  const first = block.network;
  const last = cidrEnd(block);
  const ordinals: number[] = [];
  for (const span of spansOverlapping(set, block.family, first, last)) {
    const from = Number((span.first > first ? span.first : first) - first);
    const to = Number((span.last < last ? span.last : last) - first);
    for (let ordinal = from; ordinal <= to; ordinal++) ordinals.push(ordinal);
  }
  return ordinals;
}
