import { describe, expect, it } from 'vitest';
import { type ValidatingWebhookConfiguration, caBundleOf, withCaBundle } from './ca-bundle.js';

const caPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const bundle = caBundleOf(caPem);

const config = (...bundles: (string | undefined)[]): ValidatingWebhookConfiguration => ({
  metadata: { name: 'topology-ipam', resourceVersion: '7' },
  webhooks: bundles.map((caBundle, i) => ({
    name: `w${i}.ipam.topology-ipam.dev`,
    sideEffects: 'None',
    clientConfig: {
      service: { namespace: 'kube-system', name: 'topology-ipam-webhook', path: '/validate-ippool' },
      ...(caBundle === undefined ? {} : { caBundle }),
    },
  })),
});

describe('caBundleOf', () => {
  it('base64-encodes the PEM', () => {
    expect(Buffer.from(bundle, 'base64').toString('utf8')).toBe(caPem);
  });
});

describe('withCaBundle', () => {
  it.each([
    ['no bundle yet', config(undefined)],
    ['an old bundle', config('b2xk')],
    ['one webhook of two behind', config(bundle, '')],
  ])('sets every webhook to the CA when one has %s, keeping the rest', (_, before) => {
    const after = withCaBundle(before, bundle);
    expect(after?.metadata.resourceVersion).toBe('7');
    expect(after?.webhooks?.map((w) => w.clientConfig.caBundle)).toEqual(before.webhooks?.map(() => bundle));
    expect(after?.webhooks?.[0]?.clientConfig.service).toEqual(before.webhooks?.[0]?.clientConfig.service);
    expect(after?.webhooks?.[0]?.sideEffects).toBe('None');
  });

  it.each([
    ['every webhook has the CA', config(bundle, bundle)],
    ['there are no webhooks', config()],
  ])('changes nothing when %s', (_, current) => {
    expect(withCaBundle(current, bundle)).toBeUndefined();
  });
});
