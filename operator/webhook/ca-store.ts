/**
 * The webhook CA's store: a Secret in the operator's namespace, created create-if-absent so that
 * replicas starting together agree on one CA (the loser of the create reads the winner's).
 */
import {
  type KubeObject,
  type ResourceClient,
  type ResourceType,
  isAlreadyExists,
  isNotFound,
} from '../../kube/index.js';
import {
  type CertificateAuthority,
  checkCertificateAuthority,
  generateCertificateAuthority,
} from './x509.js';

/** The core/v1 Secret, as far as the CA needs it. */
export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export const secretResourceType = {
  group: '',
  version: 'v1',
  plural: 'secrets',
  kind: 'Secret',
  namespaced: true,
} as const satisfies ResourceType;

const fromBase64 = (value: string | undefined): string =>
  value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
const toBase64 = (value: string): string => Buffer.from(value, 'utf8').toString('base64');

export interface EnsureCertificateAuthorityOptions {
  readonly namespace: string;
  readonly secretName: string;
  readonly now: Date;
  readonly commonName?: string;
}

/**
 * The CA kept in Secret `namespace/secretName` (type kubernetes.io/tls: `tls.crt`, `tls.key`), creating
 * it if absent. Two callers racing both end up with the CA of whichever create won. An existing Secret
 * that does not hold a usable CA is an error, never overwritten: another replica may be serving with it.
 */
export async function ensureCertificateAuthority(
  secrets: ResourceClient<Secret>,
  options: EnsureCertificateAuthorityOptions,
): Promise<{ readonly ca: CertificateAuthority; readonly created: boolean }> {
  const { namespace, secretName, now } = options;
  const where = `Secret ${namespace}/${secretName}`;
  const load = (secret: Secret): CertificateAuthority => {
    const ca = {
      certPem: fromBase64(secret.data?.['tls.crt']),
      keyPem: fromBase64(secret.data?.['tls.key']),
    };
    checkCertificateAuthority(ca, now, where);
    return ca;
  };
  try {
    return { ca: load(await secrets.get(secretName, namespace)), created: false };
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const ca = await generateCertificateAuthority({
    commonName: options.commonName ?? `topology-ipam webhook CA (${namespace})`,
    now,
  });
  try {
    await secrets.create({
      metadata: {
        name: secretName,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'topology-ipam' },
        annotations: {
          'ipam.topology-ipam.dev/description':
            'CA of the IPPool admission webhook; each operator replica issues its serving certificate from it',
        },
      },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': toBase64(ca.certPem), 'tls.key': toBase64(ca.keyPem) },
    });
    return { ca, created: true };
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  return { ca: load(await secrets.get(secretName, namespace)), created: false };
}
