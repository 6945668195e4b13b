import { X509Certificate } from 'node:crypto';
import type https from 'node:https';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPPool } from '../../api/index.js';
import {
  type CertificateAuthority,
  type ServingCertificate,
  generateCertificateAuthority,
  issueServingCertificate,
} from './x509.js';
import { type Decision, createWebhookServer } from './server.js';
import { ipPoolReview } from './testing.js';

let ca: CertificateAuthority;
let serving: ServingCertificate;
let server: https.Server;
let port: number;
const registry = new Registry();
const decisions: Decision[] = [];
const pools: IPPool[] = [{ metadata: { name: 'default' }, spec: { cidr: '192.168.0.0/16' } }];

beforeAll(async () => {
  const now = new Date();
  ca = await generateCertificateAuthority({ commonName: 'test CA', now });
  serving = await issueServingCertificate(ca, { dnsNames: ['webhook'], ipAddresses: ['127.0.0.1'], now });
  server = createWebhookServer({
    tls: serving,
    pools: () => pools,
    registry,
    onDecision: (decision) => decisions.push(decision),
    maxBodyBytes: 64 * 1024,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  status: number;
  body: unknown;
  peer: X509Certificate;
}

function post(
  path: string,
  body: string,
  options: { method?: string; contentType?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'POST',
        ca: ca.certPem,
        agent: false,
        headers: { 'Content-Type': options.contentType ?? 'application/json' },
      },
      (response) => {
        const { socket } = response;
        if (!(socket instanceof TLSSocket)) throw new Error('not a TLS connection');
        const peer = socket.getPeerX509Certificate();
        if (peer === undefined) throw new Error('no peer certificate');
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text), peer });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

const review = (operation: string, object: unknown, uid = 'abc-123') =>
  JSON.stringify(
    ipPoolReview({ uid, name: 'rack-1', operation, userInfo: { username: 'admin' }, object, dryRun: false }),
  );

describe('the webhook server', () => {
  it('answers an AdmissionReview with one, echoing the uid, over TLS with a certificate from the CA', async () => {
    const answer = await post(
      '/validate-ippool?timeout=10s',
      review('CREATE', { metadata: { name: 'rack-1' }, spec: { cidr: '192.168.1.0/24' } }, 'uid-7'),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'uid-7',
        allowed: false,
        status: {
          status: 'Failure',
          code: 422,
          reason: 'Invalid',
          message: 'IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
          details: {
            name: 'rack-1',
            group: 'ipam.topology-ipam.dev',
            kind: 'IPPool',
            causes: [
              {
                reason: 'FieldValueInvalid',
                field: 'spec.cidr',
                message:
                  'IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
              },
            ],
          },
        },
      },
    });
    expect(answer.peer.serialNumber).toBe(new X509Certificate(serving.certPem).serialNumber);
  });

  it('counts decisions by operation and outcome', async () => {
    decisions.length = 0;
    await post(
      '/validate-ippool',
      review('CREATE', { metadata: { name: 'x' }, spec: { cidr: '10.0.0.0/24' } }),
    );
    await post('/validate-ippool', review('DELETE', undefined));
    expect(decisions).toEqual([
      { operation: 'CREATE', allowed: true },
      { operation: 'DELETE', allowed: true },
    ]);
    const metric = await registry.getSingleMetric('topology_ipam_webhook_decisions_total')?.get();
    const count = (operation: string, allowed: string) =>
      metric?.values.find((v) => v.labels.operation === operation && v.labels.allowed === allowed)?.value;
    expect(count('CREATE', 'false')).toBe(1);
    expect(count('CREATE', 'true')).toBe(1);
    expect(count('DELETE', 'true')).toBe(1);
  });

  it.each([
    ['an unknown path', '/mutate', {}, 'x', 404],
    ['a GET', '/validate-ippool', { method: 'GET' }, '', 405],
    ['another content type', '/validate-ippool', { contentType: 'text/plain' }, '{}', 415],
    ['a body that is not JSON', '/validate-ippool', {}, '{"apiVersion":', 400],
    ['JSON that is not an AdmissionReview', '/validate-ippool', {}, '{"kind":"Pod"}', 400],
    ['a review without a uid', '/validate-ippool', {}, review('CREATE', {}, ''), 400],
    ['a body over the limit', '/validate-ippool', {}, JSON.stringify({ pad: 'x'.repeat(70 * 1024) }), 413],
  ])('answers %s with a JSON error', async (_, path, options, body, status) => {
    const answer = await post(path, body, options);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ error: { code: status, message: expect.any(String) as string } });
  });

  it('serves a new certificate after setSecureContext, without a restart', async () => {
    const next = await issueServingCertificate(ca, {
      dnsNames: ['webhook'],
      ipAddresses: ['127.0.0.1'],
      now: new Date(),
    });
    server.setSecureContext({ key: next.keyPem, cert: next.certPem });
    const answer = await post('/validate-ippool', review('DELETE', undefined));
    expect(answer.status).toBe(200);
    expect(answer.peer.serialNumber).toBe(new X509Certificate(next.certPem).serialNumber);
  });
});
