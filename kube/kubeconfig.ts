import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KubeconfigError } from './errors.js';

/** Everything needed to open a TLS connection to the API server and authenticate. */
export interface Connection {
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** Returns the bearer token to send, if any; re-read each time so rotated tokens are picked up. */
  readonly token?: () => string;
}

const execSchema = z.object({
  command: z.string(),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
  apiVersion: z.string().optional(),
});

const kubeconfigSchema = z.object({
  'current-context': z.string().optional(),
  clusters: z.array(
    z.object({
      name: z.string(),
      cluster: z.object({
        server: z.string(),
        'certificate-authority': z.string().optional(),
        'certificate-authority-data': z.string().optional(),
        'insecure-skip-tls-verify': z.boolean().optional(),
      }),
    }),
  ),
  users: z
    .array(
      z.object({
        name: z.string(),
        user: z
          .object({
            token: z.string().optional(),
            tokenFile: z.string().optional(),
            'client-certificate': z.string().optional(),
            'client-certificate-data': z.string().optional(),
            'client-key': z.string().optional(),
            'client-key-data': z.string().optional(),
            exec: execSchema.optional(),
          })
          .nullish(),
      }),
    )
    .default([]),
  contexts: z.array(
    z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional() }) }),
  ),
});

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The connection for a kubeconfig file, or — with no file given — for the in-cluster service account
 * when running in a pod. Paths inside a kubeconfig are relative to the file, as kubectl reads them.
 */
export function loadConnection(kubeconfigPath?: string): Connection {
  if (kubeconfigPath === undefined || kubeconfigPath === '') return inClusterConnection();
  let text: string;
  try {
    text = fs.readFileSync(kubeconfigPath, 'utf8');
  } catch (error) {
    throw new KubeconfigError(`cannot read kubeconfig ${kubeconfigPath}: ${(error as Error).message}`);
  }
  const parsed = kubeconfigSchema.safeParse(parseYaml(text));
  if (!parsed.success) {
    throw new KubeconfigError(`kubeconfig ${kubeconfigPath} is not valid: ${z.prettifyError(parsed.error)}`);
  }
  const config = parsed.data;
  const base = path.dirname(kubeconfigPath);
  const contextName = config['current-context'] ?? config.contexts[0]?.name;
  const context = config.contexts.find((c) => c.name === contextName)?.context;
  if (!context)
    throw new KubeconfigError(`kubeconfig ${kubeconfigPath} has no context "${contextName ?? ''}"`);
  const cluster = config.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new KubeconfigError(`kubeconfig ${kubeconfigPath} has no cluster "${context.cluster}"`);
  const user = config.users.find((u) => u.name === context.user)?.user ?? {};
  const read = (data: string | undefined, file: string | undefined): Buffer | undefined =>
    data !== undefined
      ? Buffer.from(data, 'base64')
      : file !== undefined
        ? fs.readFileSync(path.resolve(base, file))
        : undefined;
  const connection: { -readonly [K in keyof Connection]: Connection[K] } = {
    server: cluster.server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] ?? false,
  };
  const ca = read(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca) connection.ca = ca;
  const cert = read(user['client-certificate-data'], user['client-certificate']);
  if (cert) connection.cert = cert;
  const key = read(user['client-key-data'], user['client-key']);
  if (key) connection.key = key;
  const { token, tokenFile, exec } = user;
  if (token !== undefined) connection.token = () => token;
  else if (tokenFile !== undefined)
    connection.token = () => fs.readFileSync(path.resolve(base, tokenFile), 'utf8').trim();
  else if (exec) connection.token = execTokenSource(exec);
  return connection;
}

function inClusterConnection(): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (host === undefined || host === '') {
    throw new KubeconfigError(
      'no kubeconfig given and not running in a pod (KUBERNETES_SERVICE_HOST is unset)',
    );
  }
  const server = host.includes(':') ? `https://[${host}]:${port}` : `https://${host}:${port}`;
  return {
    server,
    ca: fs.readFileSync(path.join(serviceAccountDir, 'ca.crt')),
    insecureSkipTlsVerify: false,
    // Projected tokens rotate; reading the file per request costs microseconds.
    token: () => fs.readFileSync(path.join(serviceAccountDir, 'token'), 'utf8').trim(),
  };
}

/** Runs a client-go credential plugin (as cloud providers' kubeconfigs use) and caches its token until expiry. */
function execTokenSource(exec: z.infer<typeof execSchema>): () => string {
  let cached: { token: string; expiresAt: number } | undefined;
  return () => {
    if (cached && cached.expiresAt > Date.now() + 10_000) return cached.token;
    const env = { ...process.env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])) };
    const output = execFileSync(exec.command, exec.args ?? [], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const credential = z
      .object({ status: z.object({ token: z.string(), expirationTimestamp: z.string().optional() }) })
      .parse(JSON.parse(output));
    const expiry = credential.status.expirationTimestamp;
    cached = {
      token: credential.status.token,
      expiresAt: expiry ? Date.parse(expiry) : Number.POSITIVE_INFINITY,
    };
    return cached.token;
  };
}
