/**
 * The webhook's X.509 work, pure of I/O (see docs/adr/0004-webhook-certificates.md): a long-lived CA, the
 * short-lived serving certificates it signs for the Service's DNS names, and the check that a CA read back
 * is usable. Keys come from node:crypto (fast, native); node-forge only builds and signs the
 * certificates. Forge signs with RSA only, so every key is RSA.
 */
import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { renewalTime } from './rotation.js';

const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
export const SERVING_LIFETIME_MS = 30 * DAY_MS;
/** Certificates are valid from a little before they are issued, for clocks that lag ours. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const RSA_BITS = 2048;

export interface KeyAndCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
}

export type CertificateAuthority = KeyAndCertificate;

export interface ServingCertificate extends KeyAndCertificate {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When to issue the next one: 2/3 of the way from its issue to `notAfter`. */
  readonly renewAt: Date;
}

export class CertificateAuthorityError extends Error {
  override readonly name = 'CertificateAuthorityError';
}

/** The names a Service is reached by inside the cluster, shortest first. */
export function serviceDnsNames(serviceName: string, namespace: string): string[] {
  return [
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.cluster.local`,
  ];
}

const generateRsaKeyPair = promisify(generateKeyPair);

async function newKeyPair(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const { publicKey, privateKey } = await generateRsaKeyPair('rsa', {
    modulusLength: RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** A positive, minimally encoded 128-bit serial number in hex (RFC 5280 allows up to 20 octets). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x40 | ((bytes[0] ?? 0) & 0x3f);
  return bytes.toString('hex');
}

function certificateFor(
  publicKeyPem: string,
  commonName: string,
  notBefore: Date,
  notAfter: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return cert;
}

/** Whole seconds: X.509 times have no fractions, and the dates returned must match the certificate's. */
const floorToSecond = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

/** A new self-signed CA that may sign server certificates and nothing below them. */
export async function generateCertificateAuthority(options: {
  readonly commonName: string;
  readonly now: Date;
  readonly lifetimeMs?: number;
}): Promise<CertificateAuthority> {
  const keys = await newKeyPair();
  const notBefore = floorToSecond(options.now.getTime() - CLOCK_SKEW_MS);
  const notAfter = floorToSecond(options.now.getTime() + (options.lifetimeMs ?? CA_LIFETIME_MS));
  const cert = certificateFor(keys.publicKeyPem, options.commonName, notBefore, notAfter);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** A server certificate for `dnsNames` and `ipAddresses`, signed by `ca`, valid from a little before `now`. */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  options: {
    readonly dnsNames: readonly string[];
    readonly ipAddresses?: readonly string[];
    readonly now: Date;
    readonly lifetimeMs?: number;
  },
): Promise<ServingCertificate> {
  const [commonName] = options.dnsNames;
  if (commonName === undefined) throw new Error('a serving certificate needs at least one DNS name');
  for (const ip of options.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new Error(`${JSON.stringify(ip)} is not an IP address`);
  }
  const keys = await newKeyPair();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const notBefore = floorToSecond(options.now.getTime() - CLOCK_SKEW_MS);
  const notAfter = floorToSecond(options.now.getTime() + (options.lifetimeMs ?? SERVING_LIFETIME_MS));
  // The most specific in-cluster name as the subject; clients look only at the SANs.
  const cert = certificateFor(keys.publicKeyPem, options.dnsNames[2] ?? commonName, notBefore, notAfter);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...options.dnsNames.map((value) => ({ type: 2, value })),
        ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: keys.privateKeyPem,
    notBefore,
    notAfter,
    renewAt: renewalTime(options.now, notAfter),
  };
}

/**
 * Checks that `ca` is a usable CA: a CA certificate, its key, valid now and for at least one more
 * serving certificate's life. Throws CertificateAuthorityError saying what is wrong.
 */
export function checkCertificateAuthority(ca: CertificateAuthority, now: Date, where: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(ca.keyPem))) {
      throw new CertificateAuthorityError(`${where}: the key does not belong to the certificate`);
    }
  } catch (error) {
    if (error instanceof CertificateAuthorityError) throw error;
    throw new CertificateAuthorityError(`${where}: not a PEM certificate and key: ${String(error)}`, {
      cause: error,
    });
  }
  if (!cert.ca) throw new CertificateAuthorityError(`${where}: the certificate is not a CA`);
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() < now.getTime() + SERVING_LIFETIME_MS) {
    throw new CertificateAuthorityError(
      `${where}: the CA expires ${validTo.toISOString()}, too soon to issue serving certificates; ` +
        `delete the Secret and restart the operator to generate a new CA`,
    );
  }
}
