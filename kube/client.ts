import http from 'node:http';
import https from 'node:https';
import { ApiError, ApiTimeoutError, ApiUnreachableError } from './errors.js';
import type { Connection } from './kubeconfig.js';
import { LineSplitter } from './lines.js';

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

export interface KubeClientOptions {
  readonly userAgent?: string;
  readonly maxSockets?: number;
  /**
   * Longest one request may take, from waiting for a socket to the last byte of the answer, unless the
   * request sets its own `timeoutMs`. A watch must send its headers within this, and is given its own
   * `timeoutSeconds` plus this to end.
   */
  readonly requestTimeoutMs?: number;
}

/** The time limit of a request when neither the client nor the request sets one. */
export const defaultRequestTimeoutMs = 30_000;
/** The server ends a watch after this long unless the caller asks otherwise, so every watch is bounded. */
const defaultWatchSeconds = 300;

/**
 * A small Kubernetes REST client over node:https with a keep-alive agent. Both the operator and the
 * CNI plugin use it: the plugin pays its start-up on every pod, so it loads nothing it does not need.
 * Every exchange has a deadline: a connection the server accepts but never answers fails with
 * ApiTimeoutError instead of blocking its caller (a lease renewal, a reconcile) forever.
 */
export class KubeClient {
  readonly counts: RequestCounts = { GET: 0, POST: 0, PUT: 0, PATCH: 0, DELETE: 0 };
  private readonly agent: https.Agent | http.Agent;
  private readonly url: URL;
  private readonly userAgent: string;
  private readonly requestTimeoutMs: number;
  private answeredAt: number | undefined;

  constructor(
    private readonly connection: Connection,
    options: KubeClientOptions = {},
  ) {
    this.url = new URL(connection.server);
    this.userAgent = options.userAgent ?? 'topology-ipam';
    this.requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
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

  get server(): string {
    return this.connection.server;
  }

  /**
   * When (Date.now()) the API server last answered anything but a server error (5xx), watch events
   * included; undefined until it first has. Health probes judge reachability by it.
   */
  lastAnsweredAt(): number | undefined {
    return this.answeredAt;
  }

  totalRequests(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }

  /**
   * Sends one request and parses the JSON answer; any non-2xx answer throws ApiError, no complete
   * answer within the time limit throws ApiTimeoutError.
   */
  async request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    const limitMs = options.timeoutMs ?? this.requestTimeoutMs;
    const deadline = new Deadline(limitMs, options.signal);
    try {
      const response = await this.send(method, path, { ...options, signal: deadline.signal });
      let text = '';
      for await (const chunk of textOf(response, deadline.signal)) text += chunk;
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) throw apiErrorOf(status, text, method, path);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (error) {
      throw deadline.expired() ? new ApiTimeoutError(this.server, method, path, limitMs) : error;
    } finally {
      deadline.clear();
    }
  }

  /**
   * Streams a watch: calls `onEvent` for each event until the server closes the stream or `signal`
   * aborts. Resolves when the stream ends; an ERROR event (e.g. 410 Expired) is thrown as ApiError.
   * The server is asked to end the watch after `timeoutSeconds` (300 unless given); a stream still
   * open well past that, or whose headers do not come within the request time limit, is a dead
   * connection and fails with ApiTimeoutError.
   */
  async watch<T>(
    path: string,
    options: RequestOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const requested = options.query?.timeoutSeconds;
    const watchSeconds = typeof requested === 'number' ? requested : defaultWatchSeconds;
    const query = {
      ...options.query,
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: watchSeconds,
    };
    const graceMs = options.timeoutMs ?? this.requestTimeoutMs;
    const deadline = new Deadline(graceMs, options.signal);
    try {
      const response = await this.send('GET', path, { ...options, query, signal: deadline.signal });
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        let text = '';
        for await (const chunk of textOf(response, deadline.signal)) text += chunk;
        throw apiErrorOf(status, text, 'GET', path);
      }
      deadline.extend(watchSeconds * 1000 + graceMs);
      const lines = new LineSplitter();
      for await (const chunk of textOf(response, deadline.signal)) {
        this.answeredAt = Date.now();
        for (const line of lines.push(chunk)) {
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
    } catch (error) {
      throw deadline.expired() ? new ApiTimeoutError(this.server, 'GET', path, deadline.limitMs) : error;
    } finally {
      deadline.clear();
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private send(
    method: Method,
    path: string,
    options: RequestOptions & { signal: AbortSignal },
  ): Promise<http.IncomingMessage> {
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
        (response) => {
          if ((response.statusCode ?? 0) < 500) this.answeredAt = Date.now();
          resolve(response);
        },
      );
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

/**
 * A time limit on one exchange, merged with the caller's signal: when it expires the signal aborts,
 * which destroys the socket (so a hung keep-alive connection is never reused).
 */
class Deadline {
  private readonly timeout = new AbortController();
  private timer: NodeJS.Timeout;
  private limit: number;
  readonly signal: AbortSignal;

  constructor(limitMs: number, callerSignal: AbortSignal | undefined) {
    this.limit = limitMs;
    this.timer = this.start(limitMs);
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.timeout.signal]) : this.timeout.signal;
  }

  /** Restarts the clock with a new limit (a watch, once its headers came). */
  extend(limitMs: number): void {
    clearTimeout(this.timer);
    this.limit = limitMs;
    this.timer = this.start(limitMs);
  }

  get limitMs(): number {
    return this.limit;
  }

  expired(): boolean {
    return this.timeout.signal.aborted;
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private start(limitMs: number): NodeJS.Timeout {
    return setTimeout(() => {
      this.timeout.abort();
    }, limitMs);
  }
}

/** The body as text; when `signal` aborts, the stream is destroyed and the iteration throws. */
async function* textOf(response: http.IncomingMessage, signal: AbortSignal): AsyncIterable<string> {
  response.setEncoding('utf8');
  const abort = () => response.destroy(new Error('aborted'));
  if (signal.aborted) abort();
  signal.addEventListener('abort', abort, { once: true });
  try {
    yield* response as AsyncIterable<string>;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

function apiErrorOf(status: number, text: string, method: string, path: string): ApiError {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, body.reason ?? '', body.message ?? text, method, path);
  } catch {
    return new ApiError(status, '', text, method, path);
  }
}
