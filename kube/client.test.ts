import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from './client.js';
import { ApiError, ApiTimeoutError, ApiUnreachableError } from './errors.js';

// Loopback servers that misbehave the way a stopped or wedged API server does.

const servers: net.Server[] = [];
const openSockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of openSockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  server.on('connection', (socket) => openSockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Accepts every connection and never sends a byte; resolves `closed` once a client gives up on one. */
async function silentServer(): Promise<{ url: string; closed: Promise<void> }> {
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  const server = net.createServer((socket) => {
    socket.resume().on('close', onClose);
  });
  return { url: await listen(server), closed };
}

/** An HTTP server answering with `handler`; the last request's URL is kept. */
async function httpServer(
  handler: (request: http.IncomingMessage, response: http.ServerResponse) => void,
): Promise<{ url: string; lastUrl: () => URL | undefined }> {
  let last: URL | undefined;
  const server = http.createServer((request, response) => {
    last = new URL(request.url ?? '/', 'http://localhost');
    handler(request, response);
  });
  return { url: await listen(server), lastUrl: () => last };
}

const clientOf = (server: string, requestTimeoutMs = 200) =>
  new KubeClient({ server, insecureSkipTlsVerify: false }, { requestTimeoutMs });

describe('KubeClient time limits', () => {
  it('fails a request to a server that accepts but never answers with ApiTimeoutError, and drops the socket', async () => {
    const { url, closed } = await silentServer();
    const client = clientOf(url);
    const failure = await client.request('GET', '/api/v1/nodes').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiTimeoutError);
    expect(failure).toBeInstanceOf(ApiUnreachableError);
    expect(failure).toMatchObject({ method: 'GET', path: '/api/v1/nodes', timeoutMs: 200 });
    expect(String(failure)).toContain('no complete answer within 200 ms');
    await closed;
    client.close();
  });

  it('fails a request whose answer stops half-way with ApiTimeoutError', async () => {
    const { url } = await httpServer((_, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write('{"items": [');
    });
    const client = clientOf(url);
    await expect(client.request('GET', '/api/v1/pods')).rejects.toBeInstanceOf(ApiTimeoutError);
    client.close();
  });

  it("takes a request's own timeoutMs over the client's", async () => {
    const { url } = await silentServer();
    const client = clientOf(url, 60_000);
    await expect(client.request('GET', '/x', { timeoutMs: 100 })).rejects.toMatchObject({
      name: 'ApiTimeoutError',
      timeoutMs: 100,
    });
    client.close();
  });

  it('reports a caller abort as an abort, not a timeout', async () => {
    const { url } = await silentServer();
    const client = clientOf(url, 60_000);
    const caller = new AbortController();
    const pending = client.request('GET', '/x', { signal: caller.signal });
    caller.abort();
    const failure = await pending.catch((error: unknown) => error);
    expect(failure).not.toBeInstanceOf(ApiTimeoutError);
    expect(failure).toMatchObject({ name: 'AbortError' });
    client.close();
  });

  it('fails a watch whose headers never come with ApiTimeoutError', async () => {
    const { url } = await silentServer();
    const client = clientOf(url);
    await expect(client.watch('/api/v1/pods', {}, () => undefined)).rejects.toBeInstanceOf(ApiTimeoutError);
    client.close();
  });

  it('fails a watch the server keeps open past its timeoutSeconds with ApiTimeoutError', async () => {
    const { url, lastUrl } = await httpServer((_, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n`);
    });
    const client = clientOf(url);
    const events: unknown[] = [];
    const failure = await client
      .watch('/api/v1/pods', { query: { timeoutSeconds: 0.3 } }, (event) => events.push(event))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiTimeoutError);
    expect(failure).toMatchObject({ timeoutMs: 500 });
    expect(events).toHaveLength(1);
    expect(lastUrl()?.searchParams.get('timeoutSeconds')).toBe('0.3');
    client.close();
  });

  it('asks the server to end a watch after 300 s when the caller names no limit', async () => {
    const { url, lastUrl } = await httpServer((_, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end();
    });
    const client = clientOf(url);
    await client.watch('/api/v1/pods', {}, () => undefined);
    expect(Object.fromEntries(lastUrl()?.searchParams ?? [])).toEqual({
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '300',
    });
    client.close();
  });
});

describe('KubeClient.lastAnsweredAt', () => {
  it.each<{ status: number; counts: boolean }>([
    { status: 200, counts: true },
    { status: 404, counts: true },
    { status: 409, counts: true },
    { status: 429, counts: true },
    { status: 500, counts: false },
    { status: 503, counts: false },
  ])('counts an answer $status as reachable: $counts', async ({ status, counts }) => {
    const { url } = await httpServer((_, response) => {
      response.writeHead(status, { 'Content-Type': 'application/json' }).end('{}');
    });
    const client = clientOf(url);
    expect(client.lastAnsweredAt()).toBeUndefined();
    const before = Date.now();
    const outcome = await client.request('GET', '/x').catch((error: unknown) => error);
    if (status >= 300) expect(outcome).toBeInstanceOf(ApiError);
    if (counts) expect(client.lastAnsweredAt()).toBeGreaterThanOrEqual(before);
    else expect(client.lastAnsweredAt()).toBeUndefined();
    client.close();
  });

  it('stays unset when the server never answers', async () => {
    const { url } = await silentServer();
    const client = clientOf(url);
    await client.request('GET', '/x').catch(() => undefined);
    expect(client.lastAnsweredAt()).toBeUndefined();
    client.close();
  });
});
