/**
 * The admission decision for IPPools, as a pure function of one admission.k8s.io/v1 request and the
 * pools that exist: no I/O, no clock. The HTTPS server parses the AdmissionReview and calls it.
 *
 * - CREATE: refuse a spec that breaks any rule of `validatePoolSpec`, a CIDR that overlaps any
 *   existing pool (a pool being deleted still holds its blocks, so it counts), and a block size other
 *   than that of a block already in the range (`blockSizeConflicts`), all reasons at once. The one
 *   overlap allowed is a split's (`overlapFromSplit`): a pool inside the disabled pool it names in its
 *   split-from annotation.
 * - UPDATE: a change that leaves the spec alone (labels, finalizers: the controller removing its
 *   finalizer from a pool being deleted) is always allowed, so that an object written before the
 *   webhook was installed can still be cleaned up. A spec change is validated with the immutability
 *   rules; overlaps are refused only if the CIDR changed (already refused as immutable). An overlap the
 *   pool already had is reported as a warning, not a refusal: refusing would forbid disabling or fixing
 *   the pool, and the reconciler already keeps the newer pool of the pair unallocatable.
 * - CREATE and UPDATE of a spec asking for what this project does not do (IP-in-IP or VXLAN, BGP export
 *   off): admitted with a warning each (`poolSpecWarnings`), which kubectl prints.
 * - DELETE, CONNECT and subresources: allowed.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import {
  type IPAMBlock,
  type IPPool,
  type PoolValidationError,
  type SplitParty,
  apiGroup,
  blockSizeConflicts,
  formatPoolValidationError,
  overlapFromSplit,
  splitFromAnnotation,
  poolSpecWarnings,
  validatePoolSpec,
} from '../../api/index.js';
import { type Cidr, cidrEquals, findOverlapsWith, formatOverlap, safeParseCidr } from '../../ipam/index.js';

const groupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });
const groupVersionResource = z.object({ group: z.string(), version: z.string(), resource: z.string() });

/** The part of an admission.k8s.io/v1 AdmissionRequest this webhook reads; other fields pass through. */
export const AdmissionRequestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: groupVersionKind,
  resource: groupVersionResource,
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});
export type AdmissionRequest = z.infer<typeof AdmissionRequestSchema>;
export type AdmissionOperation = AdmissionRequest['operation'];

export const admissionReviewApiVersion = 'admission.k8s.io/v1';

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.literal(admissionReviewApiVersion),
  kind: z.literal('AdmissionReview'),
  request: AdmissionRequestSchema,
});

/** One field-level reason, as in a Kubernetes Status's `details.causes`. */
export interface StatusCause {
  readonly reason: 'FieldValueInvalid' | 'FieldValueForbidden';
  readonly field: string;
  readonly message: string;
}

/** A metav1.Status for a refusal. The API server prefixes `message` with the webhook's name. */
export interface AdmissionStatus {
  readonly status: 'Failure';
  /** 422 for a pool that breaks a rule, 400 for a request this webhook cannot review. */
  readonly code: 400 | 422;
  readonly reason: 'Invalid' | 'BadRequest';
  readonly message: string;
  readonly details?: {
    readonly name?: string;
    readonly group: string;
    readonly kind: string;
    readonly causes: readonly StatusCause[];
  };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  /** Shown by kubectl as `Warning: ...` on an allowed request. */
  readonly warnings?: readonly string[];
}

const poolObject = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.unknown(),
});
type PoolObject = z.infer<typeof poolObject>;

const allow = (uid: string, warnings: readonly string[] = []): AdmissionResponse =>
  warnings.length === 0 ? { uid, allowed: true } : { uid, allowed: true, warnings };

function badRequest(uid: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { status: 'Failure', code: 400, reason: 'BadRequest', message } };
}

/** The CIDR to compare for overlaps, or undefined for a pool whose CIDR does not parse (it is never used). */
function poolCidr(spec: unknown): Cidr | undefined {
  if (typeof spec !== 'object' || spec === null || !('cidr' in spec) || typeof spec.cidr !== 'string') {
    return undefined;
  }
  const parsed = safeParseCidr(spec.cidr);
  return parsed.ok ? parsed.value : undefined;
}

/** Whether the spec says `disabled: true` (a spec of the wrong shape is refused on its own). */
function isDisabled(spec: unknown): boolean {
  return typeof spec === 'object' && spec !== null && 'disabled' in spec && spec.disabled === true;
}

function poolRefs(pools: readonly IPPool[]): SplitParty[] {
  const refs: SplitParty[] = [];
  for (const pool of pools) {
    const cidr = poolCidr(pool.spec);
    if (cidr === undefined) continue;
    const created = pool.metadata.creationTimestamp;
    refs.push({
      name: pool.metadata.name,
      cidr,
      disabled: isDisabled(pool.spec),
      splitFrom: pool.metadata.annotations?.[splitFromAnnotation],
      ...(created === undefined ? {} : { createdAt: new Date(created) }),
    });
  }
  return refs;
}

function causeOf(error: PoolValidationError): StatusCause {
  const forbidden =
    error.code === 'cidr-immutable' ||
    error.code === 'block-size-immutable' ||
    error.code === 'load-balancer-use-immutable';
  return {
    reason: forbidden ? 'FieldValueForbidden' : 'FieldValueInvalid',
    field: error.field,
    message: error.message,
  };
}

/** Reviews one admission request for an IPPool against the pools and blocks that exist now. */
export function reviewPool(
  request: AdmissionRequest,
  existingPools: readonly IPPool[],
  existingBlocks: readonly IPAMBlock[] = [],
): AdmissionResponse {
  const { uid, operation } = request;
  if (request.kind.group !== apiGroup || request.kind.kind !== 'IPPool') {
    const { group, kind } = request.kind;
    return badRequest(uid, `this webhook reviews ${apiGroup} IPPools, not ${group || 'core'} ${kind}`);
  }
  // The status subresource cannot change the spec.
  if (request.subResource !== undefined && request.subResource !== '') return allow(uid);
  switch (operation) {
    case 'DELETE':
    case 'CONNECT':
      return allow(uid);
    case 'CREATE':
    case 'UPDATE':
      break;
  }
  const object = poolObject.safeParse(request.object);
  if (!object.success) return badRequest(uid, `request.object is not an IPPool`);
  const name = object.data.metadata?.name ?? request.name ?? '';
  if (name === '') return badRequest(uid, `request.object has no metadata.name`);
  let old: PoolObject | undefined;
  if (operation === 'UPDATE') {
    const parsed = poolObject.safeParse(request.oldObject);
    if (!parsed.success) return badRequest(uid, `an UPDATE request needs oldObject, the stored IPPool`);
    old = parsed.data;
    if (isDeepStrictEqual(old.spec, object.data.spec)) return allow(uid);
  }

  const errors =
    old === undefined
      ? [
          ...validatePoolSpec(object.data.spec),
          ...blockSizeConflicts(
            object.data.spec,
            existingBlocks.map((block) => block.spec),
          ),
        ]
      : validatePoolSpec(object.data.spec, { oldSpec: old.spec });
  const messages = errors.map(formatPoolValidationError);
  const causes = errors.map(causeOf);
  const warnings = poolSpecWarnings(object.data.spec);
  const cidr = poolCidr(object.data.spec);
  if (cidr !== undefined) {
    const oldCidr = old === undefined ? undefined : poolCidr(old.spec);
    const cidrChanged = oldCidr === undefined || !cidrEquals(oldCidr, cidr);
    const candidate: SplitParty = {
      name,
      cidr,
      disabled: isDisabled(object.data.spec),
      splitFrom: object.data.metadata?.annotations?.[splitFromAnnotation],
    };
    for (const overlap of findOverlapsWith(candidate, poolRefs(existingPools))) {
      if (overlapFromSplit(overlap)) continue;
      const text = formatOverlap(overlap, 'b');
      if (cidrChanged) {
        messages.push(text);
        causes.push({ reason: 'FieldValueInvalid', field: 'spec.cidr', message: text });
      } else {
        warnings.push(`${text}; of two overlapping pools only the older one is allocated from`);
      }
    }
  }
  if (messages.length === 0) return allow(uid, warnings);
  return {
    uid,
    allowed: false,
    status: {
      status: 'Failure',
      code: 422,
      reason: 'Invalid',
      message: messages.join('\n'),
      details: { name, group: apiGroup, kind: 'IPPool', causes },
    },
  };
}
