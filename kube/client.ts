import http from 'node:http';
import https from 'node:https';
import { ApiError, ApiUnreachableError } from './errors.js';
import type { Connection } from './kubeconfig.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: 'application/json' | 'application/merge-patch+json' | 'application/apply-patch+yaml';
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T> {
  readonly type: WatchEventType;
  readonly object: T;
}

/** How many requests of each method went out: tests and benchmarks count API calls with it. */
export type RequestCounts = Record<Method, number>;

/**
 * A small Kubernetes REST client over node:https with a keep-alive agent. Both the operator and the
 * CNI plugin use it: the plugin pays its start-up on every pod, so it loads nothing it does not need.
 */
export class KubeClient {
  readonly counts: RequestCounts = { GET: 0, POST: 0, PUT: 0, PATCH: 0, DELETE: 0 };
  private readonly agent: https.Agent | http.Agent;
  private readonly url: URL;

  constructor(
    private readonly connection: Connection,
    options: { userAgent?: string; maxSockets?: number } = {},
  ) {
    this.url = new URL(connection.server);
    this.userAgent = options.userAgent ?? 'topology-ipam';
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    this.agent =
      this.url.protocol === 'http:'
        ? new http.Agent(agentOptions)
        : new https.Agent({
            ...agentOptions,
            ...(connection.ca ? { ca: connection.ca } : {}),
            ...(connection.cert ? { cert: connection.cert } : {}),
            ...(connection.key ? { key: connection.key } : {}),
            rejectUnauthorized: !connection.insecureSkipTlsVerify,
          });
  }

  private readonly userAgent: string;

  get server(): string {
    return this.connection.server;
  }

  totalRequests(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }

  /** Sends one request and parses the JSON answer; any non-2xx answer throws ApiError. */
  async request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await readBody(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiErrorOf(status, text, method, path);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * Streams a watch: calls `onEvent` for each event until the server closes the stream or `signal`
   * aborts. Resolves when the stream ends; an ERROR event (e.g. 410 Expired) is thrown as ApiError.
   */
  async watch<T>(
    path: string,
    options: RequestOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const query = { ...options.query, watch: 'true', allowWatchBookmarks: 'true' };
    const response = await this.send('GET', path, { ...options, query });
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiErrorOf(status, await readBody(response), 'GET', path);
    response.setEncoding('utf8');
    let buffered = '';
    for await (const chunk of response as AsyncIterable<string>) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === '') continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === 'ERROR') {
          const statusObject = event.object as { code?: number; reason?: string; message?: string };
          throw new ApiError(
            statusObject.code ?? 500,
            statusObject.reason ?? '',
            statusObject.message ?? '',
            'WATCH',
            path,
          );
        }
        onEvent(event);
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private send(method: Method, path: string, options: RequestOptions): Promise<http.IncomingMessage> {
    this.counts[method]++;
    const url = new URL(path, this.url);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    const token = this.connection.token?.();
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        { method, headers, agent: this.agent, signal: options.signal },
        resolve,
      );
      if (options.timeoutMs !== undefined) {
        request.setTimeout(options.timeoutMs, () =>
          request.destroy(new Error(`no answer in ${options.timeoutMs} ms`)),
        );
      }
      request.on('error', (error) => {
        reject(
          error.name === 'AbortError'
            ? error
            : new ApiUnreachableError(this.server, method, path, { cause: error }),
        );
      });
      request.end(payload);
    });
  }
}

async function readBody(response: http.IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response as AsyncIterable<string>) text += chunk;
  return text;
}

function apiErrorOf(status: number, text: string, method: string, path: string): ApiError {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, body.reason ?? '', body.message ?? text, method, path);
  } catch {
    return new ApiError(status, '', text, method, path);
  }
}
