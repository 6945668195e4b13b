import http from 'node:http';
import type { Registry } from 'prom-client';

/** A probe's answer: ok, or why not. */
export interface Verdict {
  readonly ok: boolean;
  /** Why not, one line each, for the probe's body and the logs. */
  readonly reasons: readonly string[];
}

/** /healthz, /readyz (200 "ok", or 503 with the reasons) and /metrics on one plain HTTP port. */
export function startHealthServer(options: {
  port: number;
  host?: string;
  metrics: { readonly registry: Registry };
  /** Judges the process now; called on every probe. */
  check: () => { live: Verdict; ready: Verdict };
}): Promise<http.Server> {
  const answer = (response: http.ServerResponse, verdict: Verdict) =>
    response
      .writeHead(verdict.ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end(verdict.ok ? 'ok' : `${verdict.reasons.join('\n')}\n`);
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    if (url === '/healthz') {
      answer(response, options.check().live);
    } else if (url === '/readyz') {
      answer(response, options.check().ready);
    } else if (url === '/metrics') {
      options.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': options.metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else {
      response.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      resolve(server);
    });
  });
}
