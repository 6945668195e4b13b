import { z } from 'zod';

/** The name of a Kubernetes object (a node, an IPPool): a DNS subdomain, at most 253 characters. */
export const kubeName = z.string().min(1).max(253);

/** An RFC 3339 time as Kubernetes writes them; the CRD checks it as `format: date-time`. */
export const timestamp = z.iso.datetime({ offset: true });
