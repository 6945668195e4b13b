import { X509Certificate, createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_MS,
  type CertificateAuthority,
  CertificateAuthorityError,
  SERVING_LIFETIME_MS,
  type ServingCertificate,
  checkCertificateAuthority,
  generateCertificateAuthority,
  issueServingCertificate,
  serviceDnsNames,
} from './x509.js';

const now = new Date('2030-06-01T12:00:00.500Z');
let ca: CertificateAuthority;
let serving: ServingCertificate;

beforeAll(async () => {
  ca = await generateCertificateAuthority({ commonName: 'test CA', now });
  serving = await issueServingCertificate(ca, {
    dnsNames: serviceDnsNames('topology-ipam-webhook', 'kube-system'),
    ipAddresses: ['127.0.0.1', '::1'],
    now,
  });
});

describe('serviceDnsNames', () => {
  it('lists the names a Service is reached by', () => {
    expect(serviceDnsNames('svc', 'ns')).toEqual(['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local']);
  });
});

describe('the CA', () => {
  it('is a self-signed CA certificate with its key', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=test CA');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now.getTime() + 9 * 365 * 24 * 3600 * 1000);
    expect(() => {
      checkCertificateAuthority(ca, now, 'test');
    }).not.toThrow();
  });

  it.each([
    [
      'a CA that expires too soon',
      () => ({ ...ca }),
      new Date(now.getTime() + 3650 * 24 * 3600 * 1000),
      /expires/,
    ],
    ['a key of another certificate', () => ({ ...ca, keyPem: serving.keyPem }), now, /key does not belong/],
    ['a certificate that is not a CA', () => serving, now, /not a CA/],
    ['text that is not PEM', () => ({ certPem: 'x', keyPem: 'y' }), now, /not a PEM/],
  ])('refuses %s', (_, make, at, error) => {
    expect(() => {
      checkCertificateAuthority(make(), at, 'Secret ns/ca');
    }).toThrow(CertificateAuthorityError);
    expect(() => {
      checkCertificateAuthority(make(), at, 'Secret ns/ca');
    }).toThrow(error);
  });
});

describe('a serving certificate', () => {
  it('names the Service DNS names and the IP SANs', () => {
    const cert = new X509Certificate(serving.certPem);
    expect(cert.subjectAltName?.split(', ')).toEqual([
      'DNS:topology-ipam-webhook',
      'DNS:topology-ipam-webhook.kube-system',
      'DNS:topology-ipam-webhook.kube-system.svc',
      'DNS:topology-ipam-webhook.kube-system.svc.cluster.local',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    expect(cert.checkHost('topology-ipam-webhook.kube-system.svc')).toBe(
      'topology-ipam-webhook.kube-system.svc',
    );
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('elsewhere.example')).toBeUndefined();
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('chains to the CA', () => {
    const cert = new X509Certificate(serving.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
    // Another CA did not issue it.
    expect(cert.verify(new X509Certificate(serving.certPem).publicKey)).toBe(false);
  });

  it('lives 30 days from now, valid from a little before, renewed at 2/3 of its life; the dates match the certificate', () => {
    const cert = new X509Certificate(serving.certPem);
    expect(serving.notBefore).toEqual(new Date('2030-06-01T11:55:00Z'));
    expect(serving.notAfter).toEqual(new Date('2030-07-01T12:00:00Z'));
    expect(new Date(cert.validFrom)).toEqual(serving.notBefore);
    expect(new Date(cert.validTo)).toEqual(serving.notAfter);
    const life = serving.notAfter.getTime() - now.getTime();
    expect(life).toBe(SERVING_LIFETIME_MS - 500);
    expect(serving.renewAt.getTime()).toBe(now.getTime() + Math.floor((life * 2) / 3));
    expect(serving.renewAt).toEqual(new Date('2030-06-21T12:00:00.166Z'));
    expect(serving.notBefore.getTime()).toBe(now.getTime() - CLOCK_SKEW_MS - 500);
  });

  it('has a fresh positive serial number each time', async () => {
    const other = await issueServingCertificate(ca, { dnsNames: ['a'], now });
    const serials = [serving, other].map((c) => new X509Certificate(c.certPem).serialNumber);
    expect(serials[0]).not.toBe(serials[1]);
    for (const serial of serials) expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it.each([
    [{ dnsNames: [] }, /at least one DNS name/],
    [{ dnsNames: ['a'], ipAddresses: ['localhost'] }, /not an IP address/],
  ])('refuses bad names %j', async (names, error) => {
    await expect(issueServingCertificate(ca, { ...names, now })).rejects.toThrow(error);
  });
});
