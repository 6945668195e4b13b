/**
 * The webhook's HTTPS server: `POST /validate-ippool` takes an admission.k8s.io/v1 AdmissionReview and
 * answers one with the decision of `reviewPool`, echoing the request's uid. Anything else gets a JSON
 * error with the matching HTTP status; the API server then applies the webhook's failurePolicy.
 */
import type http from 'node:http';
import https from 'node:https';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import type { IPAMBlock, IPPool } from '../../api/index.js';
import { type Logger, errorMessage, silentLogger } from '../../common/index.js';
import type { KeyAndCertificate } from './x509.js';
import {
  type AdmissionOperation,
  type AdmissionResponse,
  AdmissionReviewSchema,
  admissionReviewApiVersion,
  reviewPool,
} from './review.js';

export const VALIDATE_POOL_PATH = '/validate-ippool';
/** An IPPool review is a few kilobytes; Kubernetes objects are at most ~1.5 MiB, and a review holds two. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
export const DECISIONS_METRIC = 'topology_ipam_webhook_decisions_total';

export interface Decision {
  readonly operation: AdmissionOperation;
  readonly allowed: boolean;
}

export interface WebhookServerOptions {
  readonly tls: KeyAndCertificate;
  /** The pools that exist now (an informer's `list()`); called once per review. */
  readonly pools: () => readonly IPPool[];
  /** The blocks that exist now, for a new pool's block size; none: not checked. */
  readonly blocks?: () => readonly IPAMBlock[];
  /** Where to register `topology_ipam_webhook_decisions_total{operation,allowed}`. */
  readonly registry?: Registry;
  /** Called after each decision, besides the counter. */
  readonly onDecision?: (decision: Decision) => void;
  readonly log?: Logger;
  readonly maxBodyBytes?: number;
}

/** The decisions counter in `registry`, created on first use (so two servers may share a registry). */
export function decisionsCounter(registry: Registry): Counter<'operation' | 'allowed'> {
  const existing = registry.getSingleMetric(DECISIONS_METRIC);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name: DECISIONS_METRIC,
    help: 'Admission decisions on IPPools by the validating webhook, by operation and outcome.',
    labelNames: ['operation', 'allowed'] as const,
    registers: [registry],
  });
}

class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function send(response: http.ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

function readBody(request: http.IncomingMessage, limit: number): Promise<string> {
  const tooLarge = () => new HttpError(413, `the request body exceeds ${limit} bytes`);
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    request.on('error', reject);
  });
}

/** Creates (but does not start) the server. Swap certificates later with `server.setSecureContext`. */
export function createWebhookServer(options: WebhookServerOptions): https.Server {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const counter = options.registry === undefined ? undefined : decisionsCounter(options.registry);
  const log = options.log ?? silentLogger;

  const review = async (request: http.IncomingMessage): Promise<AdmissionResponse> => {
    const contentType = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(contentType)) {
      throw new HttpError(415, `expected Content-Type application/json, got ${JSON.stringify(contentType)}`);
    }
    const text = await readBody(request, limit);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, `the request body is not JSON: ${errorMessage(error)}`);
    }
    const parsed = AdmissionReviewSchema.safeParse(body);
    if (!parsed.success) {
      throw new HttpError(
        400,
        `expected an ${admissionReviewApiVersion} AdmissionReview with a request: ${z.prettifyError(parsed.error)}`,
      );
    }
    const admission = parsed.data.request;
    const response = reviewPool(admission, options.pools(), options.blocks?.() ?? []);
    counter?.inc({ operation: admission.operation, allowed: String(response.allowed) });
    options.onDecision?.({ operation: admission.operation, allowed: response.allowed });
    const name =
      admission.name ??
      (admission.object as { metadata?: { name?: unknown } } | undefined)?.metadata?.name ??
      '';
    log[response.allowed ? 'debug' : 'info'](response.allowed ? 'admitted IPPool' : 'refused IPPool', {
      uid: admission.uid,
      operation: admission.operation,
      name,
      dryRun: admission.dryRun ?? false,
      ...(response.status === undefined
        ? {}
        : { code: response.status.code, message: response.status.message }),
      ...(response.warnings === undefined ? {} : { warnings: response.warnings }),
    });
    return response;
  };

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    try {
      const { pathname } = new URL(request.url ?? '/', 'https://webhook');
      if (pathname !== VALIDATE_POOL_PATH) throw new HttpError(404, `no handler for ${pathname}`);
      if (request.method !== 'POST') {
        throw new HttpError(405, `${pathname} takes POST, not ${request.method ?? ''}`, { Allow: 'POST' });
      }
      const answer = await review(request);
      send(response, 200, {
        apiVersion: admissionReviewApiVersion,
        kind: 'AdmissionReview',
        response: answer,
      });
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message = errorMessage(error);
      if (status === 500) log.error('webhook request failed', { error: message });
      else log.warn('bad webhook request', { status, error: message, url: request.url ?? '' });
      const headers = error instanceof HttpError ? error.headers : {};
      // The body may not have been read; close the connection rather than read on.
      send(response, status, { error: { code: status, message } }, { ...headers, Connection: 'close' });
    }
  };

  const server = https.createServer(
    {
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      minVersion: 'TLSv1.2',
      // The API server waits 10 s by default (at most 30 s) for an answer.
      requestTimeout: 30_000,
      headersTimeout: 10_000,
    },
    (request, response) => {
      void handle(request, response);
    },
  );
  return server;
}
