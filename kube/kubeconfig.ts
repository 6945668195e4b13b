import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { YAMLError, parse as parseYaml } from 'yaml';
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

const execCredentialSchema = z.object({
  status: z.object({ token: z.string(), expirationTimestamp: z.string().optional() }),
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

/** Credential files are small (a kubeconfig with embedded certificates is a few KiB); refuse anything larger. */
export const maxCredentialFileBytes = 1024 * 1024;

/**
 * Reads a credential file (kubeconfig, token, certificate, key) in full, refusing what is not a regular
 * file (a FIFO would block the open, /dev/zero never ends) or is larger than `maxCredentialFileBytes`.
 * Errors name the file and what is wrong with it, never its contents.
 */
export function readCredentialFile(file: string, what: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    throw new KubeconfigError(
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new KubeconfigError(`${what} ${file} is not a regular file`);
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, stat.size + 1));
      const read = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      length += read;
      if (length > maxCredentialFileBytes) {
        throw new KubeconfigError(`${what} ${file} is larger than ${maxCredentialFileBytes} bytes`);
      }
    }
    return Buffer.concat(chunks, length);
  } catch (error) {
    if (error instanceof KubeconfigError) throw error;
    throw new KubeconfigError(
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Parses the kubeconfig's YAML. The yaml library's messages quote the offending lines, which may hold a
 * token or a key: report only the kind of error and where it is.
 */
function parseKubeconfigText(text: string, file: string): z.infer<typeof kubeconfigSchema> {
  let document: unknown;
  try {
    // logLevel 'error': warnings (unknown tags...) would otherwise go to stderr with their source line.
    document = parseYaml(text, { logLevel: 'error' });
  } catch (error) {
    if (error instanceof YAMLError) {
      const at = error.linePos?.[0];
      const where = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`;
      throw new KubeconfigError(`kubeconfig ${file} is not valid YAML: ${error.code}${where}`);
    }
    throw new KubeconfigError(`kubeconfig ${file} is not valid YAML`);
  }
  const parsed = kubeconfigSchema.safeParse(document);
  if (!parsed.success) {
    // Each issue by field path and zod's message (which states the expected type, not the value found).
    const issues = parsed.error.issues.slice(0, 3).map((issue) => {
      const field = issue.path.map(String).join('.');
      return `${field === '' ? '(top level)' : field}: ${issue.message}`;
    });
    throw new KubeconfigError(`kubeconfig ${file} is not valid: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The connection for a kubeconfig file, or — with no file given — for the in-cluster service account
 * when running in a pod. Paths inside a kubeconfig are relative to the file, as kubectl reads them.
 * `contextName` picks a context other than the file's current one (kubectl's `--context`).
 */
export function loadConnection(kubeconfigPath?: string, contextName?: string): Connection {
  if (kubeconfigPath === undefined || kubeconfigPath === '') return inClusterConnection();
  const text = readCredentialFile(kubeconfigPath, 'kubeconfig').toString('utf8');
  const config = parseKubeconfigText(text, kubeconfigPath);
  const base = path.dirname(kubeconfigPath);
  const chosen = contextName ?? config['current-context'] ?? config.contexts[0]?.name;
  const context = config.contexts.find((c) => c.name === chosen)?.context;
  if (!context) throw new KubeconfigError(`kubeconfig ${kubeconfigPath} has no context "${chosen ?? ''}"`);
  const cluster = config.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new KubeconfigError(`kubeconfig ${kubeconfigPath} has no cluster "${context.cluster}"`);
  const user = config.users.find((u) => u.name === context.user)?.user ?? {};
  const read = (data: string | undefined, file: string | undefined, what: string): Buffer | undefined =>
    data !== undefined
      ? Buffer.from(data, 'base64')
      : file !== undefined
        ? readCredentialFile(path.resolve(base, file), what)
        : undefined;
  const connection: { -readonly [K in keyof Connection]: Connection[K] } = {
    server: cluster.server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] ?? false,
  };
  const ca = read(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate authority',
  );
  if (ca) connection.ca = ca;
  const cert = read(user['client-certificate-data'], user['client-certificate'], 'client certificate');
  if (cert) connection.cert = cert;
  const key = read(user['client-key-data'], user['client-key'], 'client key');
  if (key) connection.key = key;
  const { token, tokenFile, exec } = user;
  if (token !== undefined) connection.token = () => token;
  else if (tokenFile !== undefined)
    connection.token = () =>
      readCredentialFile(path.resolve(base, tokenFile), 'token file').toString('utf8').trim();
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
    ca: readCredentialFile(path.join(serviceAccountDir, 'ca.crt'), 'service account CA'),
    insecureSkipTlsVerify: false,
    // Projected tokens rotate; reading the file per request costs microseconds.
    token: () =>
      readCredentialFile(path.join(serviceAccountDir, 'token'), 'service account token')
        .toString('utf8')
        .trim(),
  };
}

/** Runs a client-go credential plugin (as cloud providers' kubeconfigs use) and caches its token until expiry. */
function execTokenSource(exec: z.infer<typeof execSchema>): () => string {
  let cached: { token: string; expiresAt: number } | undefined;
  return () => {
    if (cached && cached.expiresAt > Date.now() + 10_000) return cached.token;
    const env = { ...process.env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])) };
    let output: string;
    try {
      output = execFileSync(exec.command, exec.args ?? [], {
        env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: maxCredentialFileBytes,
      });
    } catch (error) {
      throw new KubeconfigError(
        `the kubeconfig's credential plugin ${exec.command} failed: ${(error as NodeJS.ErrnoException).code ?? 'non-zero exit'}`,
      );
    }
    // Its output is a credential: say what is wrong with it, never quote it (JSON.parse's messages do).
    let json: unknown;
    try {
      json = JSON.parse(output);
    } catch {
      throw new KubeconfigError(`the kubeconfig's credential plugin ${exec.command} did not print JSON`);
    }
    const parsed = execCredentialSchema.safeParse(json);
    if (!parsed.success) {
      throw new KubeconfigError(
        `the kubeconfig's credential plugin ${exec.command} printed no ExecCredential with status.token`,
      );
    }
    const credential = parsed.data;
    const expiry = credential.status.expirationTimestamp;
    cached = {
      token: credential.status.token,
      expiresAt: expiry ? Date.parse(expiry) : Number.POSITIVE_INFINITY,
    };
    return cached.token;
  };
}
