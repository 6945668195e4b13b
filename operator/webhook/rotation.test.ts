import { afterEach, describe, expect, it, vi } from 'vitest';
import { ROTATION_RETRY_MS, ServingCertificateRotation, renewalTime } from './rotation.js';
import type { ServingCertificate } from './x509.js';

describe('renewalTime', () => {
  it.each([
    ['2030-01-01T00:00:00Z', '2030-01-31T00:00:00Z', '2030-01-21T00:00:00.000Z'],
    ['2030-01-01T00:00:00Z', '2030-01-01T00:00:03Z', '2030-01-01T00:00:02.000Z'],
  ])('from %s to %s is %s', (from, to, at) => {
    expect(renewalTime(new Date(from), new Date(to)).toISOString()).toBe(at);
  });
});

describe('ServingCertificateRotation', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const fake = (notBefore: number, life: number, id: string): ServingCertificate => ({
    certPem: id,
    keyPem: id,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + life),
    renewAt: renewalTime(new Date(notBefore), new Date(notBefore + life)),
  });

  it('issues the next certificate at 2/3 of the life of the current one, and again after that', async () => {
    vi.useFakeTimers({ now: 0 });
    const life = 30 * 24 * 3600 * 1000;
    let issued = 0;
    const rotated: string[] = [];
    const rotation = new ServingCertificateRotation({
      initial: fake(0, life, 'cert-0'),
      issue: () => Promise.resolve(fake(Date.now(), life, `cert-${++issued}`)),
      now: () => new Date(),
      onRotated: (certificate) => rotated.push(certificate.certPem),
      onError: (error) => {
        throw error;
      },
    });
    await vi.advanceTimersByTimeAsync(20 * 24 * 3600 * 1000 - 1);
    expect(rotated).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(rotated).toEqual(['cert-1']);
    expect(rotation.current.certPem).toBe('cert-1');
    await vi.advanceTimersByTimeAsync(20 * 24 * 3600 * 1000);
    expect(rotated).toEqual(['cert-1', 'cert-2']);
    rotation.stop();
    await vi.advanceTimersByTimeAsync(60 * 24 * 3600 * 1000);
    expect(rotated).toEqual(['cert-1', 'cert-2']);
  });

  it('retries a failed issue a minute later, keeping the current certificate', async () => {
    vi.useFakeTimers({ now: 0 });
    const errors: unknown[] = [];
    let attempts = 0;
    const rotation = new ServingCertificateRotation({
      initial: fake(0, 3000, 'cert-0'),
      issue: () =>
        ++attempts === 1
          ? Promise.reject(new Error('no entropy'))
          : Promise.resolve(fake(Date.now(), 3000, 'cert-1')),
      now: () => new Date(),
      onRotated: () => undefined,
      onError: (error) => errors.push(error),
    });
    await vi.advanceTimersByTimeAsync(2000);
    expect(errors).toHaveLength(1);
    expect(rotation.current.certPem).toBe('cert-0');
    await vi.advanceTimersByTimeAsync(ROTATION_RETRY_MS);
    expect(rotation.current.certPem).toBe('cert-1');
    rotation.stop();
  });
});
