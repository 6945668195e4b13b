/**
 * The validating admission webhook for IPPools: one entry, `startAdmissionWebhook`, which loads or
 * creates the CA, serves HTTPS with a rotated serving certificate, and keeps the caBundle of the
 * ValidatingWebhookConfiguration pointed at the CA.
 */
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { IPAMBlock, IPPool } from '../../api/index.js';
import { type Logger, silentLogger } from '../../common/index.js';
import { type KubeClient, ResourceClient } from '../../kube/index.js';
import { keepCaBundle } from './ca-bundle.js';
import { type Secret, ensureCertificateAuthority, secretResourceType } from './ca-store.js';
import { ServingCertificateRotation } from './rotation.js';
import { createWebhookServer } from './server.js';
import { issueServingCertificate, serviceDnsNames } from './x509.js';

export {
  type CaBundleOutcome,
  type ValidatingWebhookConfiguration,
  caBundleOf,
  keepCaBundle,
  patchCaBundle,
  validatingWebhookConfigurationType,
  withCaBundle,
} from './ca-bundle.js';
export { ensureCertificateAuthority } from './ca-store.js';
export {
  type ServingCertificateRotationOptions,
  ServingCertificateRotation,
  renewalTime,
} from './rotation.js';
export {
  type CertificateAuthority,
  type KeyAndCertificate,
  type ServingCertificate,
  CA_LIFETIME_MS,
  CertificateAuthorityError,
  SERVING_LIFETIME_MS,
  generateCertificateAuthority,
  issueServingCertificate,
  serviceDnsNames,
} from './x509.js';
export {
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionStatus,
  AdmissionRequestSchema,
  AdmissionReviewSchema,
  reviewPool,
} from './review.js';
export {
  type Decision,
  DECISIONS_METRIC,
  VALIDATE_POOL_PATH,
  createWebhookServer,
  decisionsCounter,
} from './server.js';

export interface AdmissionWebhookOptions {
  readonly client: KubeClient;
  /** The operator's namespace: where the CA Secret lives and the Service is. */
  readonly namespace: string;
  /** The Service in front of the webhook; the serving certificate names it. */
  readonly serviceName: string;
  /** The ValidatingWebhookConfiguration whose caBundle to keep equal to the CA. */
  readonly webhookConfigurationName: string;
  /** The CA Secret's name; default `<serviceName>-ca`. */
  readonly caSecretName?: string;
  readonly host: string;
  /** 0 picks a free port; the one taken is returned. */
  readonly port: number;
  /** IP addresses the serving certificate is also valid for (127.0.0.1 when the API server calls a URL). */
  readonly ipSans?: readonly string[];
  /** The pools that exist now: pass a synced IPPool informer's `list`. */
  readonly pools: () => readonly IPPool[];
  /** The blocks that exist now (an IPAMBlock informer's `list`), for a new pool's block size. */
  readonly blocks?: () => readonly IPAMBlock[];
  readonly registry?: Registry;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** Life of each serving certificate; a new one is issued at 2/3 of it. Default 30 days. */
  readonly certificateLifetimeMs?: number;
}

export interface AdmissionWebhook {
  readonly port: number;
  /** The CA certificate (PEM) that signs the serving certificates. */
  readonly caPem: string;
  /** Stops serving, rotating and patching. */
  close(): Promise<void>;
}

function listen(server: https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Starts the webhook: the CA from (or into) Secret `<namespace>/<caSecretName>`, a serving certificate
 * for the Service's DNS names and `ipSans`, renewed at 2/3 of its life and swapped into the running
 * server, and the caBundle keeper. Resolves once the server listens. Start it after the IPPool informer
 * has synced, or an early review may miss an overlap.
 */
export async function startAdmissionWebhook(options: AdmissionWebhookOptions): Promise<AdmissionWebhook> {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? silentLogger;
  const secretName = options.caSecretName ?? `${options.serviceName}-ca`;
  const secrets = new ResourceClient<Secret>(options.client, secretResourceType);
  const { ca, created } = await ensureCertificateAuthority(secrets, {
    namespace: options.namespace,
    secretName,
    now: now(),
  });
  log.info(created ? 'created the webhook CA' : 'loaded the webhook CA', {
    secret: `${options.namespace}/${secretName}`,
  });

  const issue = () =>
    issueServingCertificate(ca, {
      dnsNames: serviceDnsNames(options.serviceName, options.namespace),
      ...(options.ipSans === undefined ? {} : { ipAddresses: options.ipSans }),
      ...(options.certificateLifetimeMs === undefined ? {} : { lifetimeMs: options.certificateLifetimeMs }),
      now: now(),
    });
  const first = await issue();
  const server = createWebhookServer({
    tls: first,
    pools: options.pools,
    ...(options.blocks === undefined ? {} : { blocks: options.blocks }),
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    log,
  });
  const rotation = new ServingCertificateRotation({
    initial: first,
    issue,
    now,
    onRotated: (certificate) => {
      server.setSecureContext({ key: certificate.keyPem, cert: certificate.certPem });
      log.info('rotated the webhook serving certificate', {
        notAfter: certificate.notAfter.toISOString(),
        renewAt: certificate.renewAt.toISOString(),
      });
    },
    onError: (error) => {
      log.error('issuing the webhook serving certificate failed; retrying', { error: String(error) });
    },
  });
  let port: number;
  try {
    port = await listen(server, options.port, options.host);
  } catch (error) {
    rotation.stop();
    throw error;
  }
  log.info('webhook serving', {
    address: `${options.host}:${port}`,
    notAfter: rotation.current.notAfter.toISOString(),
  });

  const stop = new AbortController();
  const keeping = keepCaBundle(
    { client: options.client, name: options.webhookConfigurationName, caPem: ca.certPem, log },
    stop.signal,
  );
  return {
    port,
    caPem: ca.certPem,
    async close() {
      stop.abort();
      rotation.stop();
      await Promise.all([closeServer(server), keeping]);
    },
  };
}
