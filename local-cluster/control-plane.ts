import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../common/index.js';
import { type ControlPlaneBinaries, ensureBinaries } from './binaries.js';
import { freePort } from './ports.js';
import { spawnServer, startReaper, stopScript } from './processes.js';

export interface ControlPlaneOptions {
  /** Where etcd data, certificates, logs and the kubeconfig go; a fresh temp folder by default. */
  readonly stateDir?: string;
  /**
   * Keep the servers running after this process exits (for `npm run cluster:up`). Otherwise a reaper
   * stops them and removes the state as soon as this process is gone, even if it was killed.
   */
  readonly detached?: boolean;
  /**
   * Start that reaper (the default unless detached); off when the caller reaps a folder that holds this
   * one (a local cluster with nodes, local-cluster/node/cluster.ts).
   */
  readonly reaper?: boolean;
  /**
   * Also run kube-controller-manager and kube-scheduler, as a cluster with nodes needs. Without them
   * nothing makes the `default` ServiceAccount, so the ServiceAccount admission plugin is off.
   */
  readonly controllers?: boolean;
  /** Serve real nodes and their pods (local-cluster/node/cluster.ts); loopback only when absent. */
  readonly nodeNetwork?: NodeNetwork;
  readonly readyTimeoutMs?: number;
}

/**
 * What real nodes and their pods need of the API server, with no kube-proxy to reach it through the
 * kubernetes Service: an address they can reach (a pod's loopback is its own), and a client certificate
 * to the kubelets, whose `clientCAFile` is `pki/kubelet-client-ca.crt` (for `kubectl logs`/`exec`).
 */
export interface NodeNetwork {
  /** Bound and advertised (the kubernetes Service's endpoint), and in the serving certificate. */
  readonly address: string;
}

/** The CA the kubelets of a control plane with a NodeNetwork trust for client certificates. */
export const kubeletClientCa = (stateDir: string): string =>
  path.join(stateDir, 'pki', 'kubelet-client-ca.crt');

/** What a second process needs to find and stop a detached control plane. */
export interface ControlPlaneState {
  readonly stateDir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly binDir: string;
  readonly pids: readonly number[];
}

const serviceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';

/** A real etcd + kube-apiserver on loopback, with RBAC on and an admin kubeconfig. */
export class ControlPlane {
  private etcd: ChildProcess | undefined;
  private apiServer: ChildProcess | undefined;
  private reaper: ChildProcess | undefined;
  private controllers: ChildProcess[] = [];

  private constructor(
    readonly binaries: ControlPlaneBinaries,
    readonly stateDir: string,
    readonly kubeconfigPath: string,
    readonly apiServerPort: number,
    private readonly etcdPort: number,
    private readonly etcdPeerPort: number,
    private readonly adminToken: string,
    private readonly options: ControlPlaneOptions,
  ) {}

  get server(): string {
    return `https://${this.address}:${this.apiServerPort}`;
  }

  get address(): string {
    return this.options.nodeNetwork?.address ?? '127.0.0.1';
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const binaries = ensureBinaries();
    const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-cp-'));
    fs.mkdirSync(path.join(stateDir, 'pki'), { recursive: true });
    const [apiServerPort, etcdPort, etcdPeerPort] = [await freePort(), await freePort(), await freePort()];
    const adminToken = randomBytes(24).toString('hex');
    writeCredentials(stateDir, adminToken);
    if (options.nodeNetwork) writeKubeletClientCredentials(path.join(stateDir, 'pki'));
    const kubeconfigPath = path.join(stateDir, 'kubeconfig');
    const plane = new ControlPlane(
      binaries,
      stateDir,
      kubeconfigPath,
      apiServerPort,
      etcdPort,
      etcdPeerPort,
      adminToken,
      options,
    );
    try {
      if (options.reaper ?? options.detached !== true) plane.reaper = startReaper(stateDir, stopScript);
      plane.startEtcd();
      await plane.startApiServer();
      writeKubeconfig(kubeconfigPath, plane.server, path.join(stateDir, 'pki', 'apiserver.crt'), adminToken);
      if (options.controllers === true) plane.startControllers();
    } catch (error) {
      await plane.stop();
      throw error;
    }
    return plane;
  }

  state(): ControlPlaneState {
    const pids = [this.etcd, this.apiServer, ...this.controllers]
      .map((child) => child?.pid)
      .filter((pid): pid is number => pid !== undefined);
    return {
      stateDir: this.stateDir,
      kubeconfigPath: this.kubeconfigPath,
      server: this.server,
      binDir: this.binaries.binDir,
      pids,
    };
  }

  /** Starts (or restarts, on the same port and data) kube-apiserver and waits until /readyz says ok. */
  async startApiServer(): Promise<void> {
    const pki = path.join(this.stateDir, 'pki');
    this.apiServer = this.spawnServer('kube-apiserver', this.binaries.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${this.etcdPort}`,
      `--secure-port=${this.apiServerPort}`,
      `--bind-address=${this.address}`,
      `--advertise-address=${this.address}`,
      // With no --tls-cert-file, kube-apiserver generates a CA and a serving cert for localhost here.
      `--cert-dir=${pki}`,
      `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${serviceAccountIssuer}`,
      `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // Without a controller-manager nothing would create the `default` ServiceAccount pods need.
      ...(this.options.controllers === true ? [] : ['--disable-admission-plugins=ServiceAccount']),
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      ...(this.options.nodeNetwork ? nodeNetworkFlags(pki) : []),
    ]);
    await this.waitReady(this.options.readyTimeoutMs ?? 120_000);
  }

  /** Kills kube-apiserver with SIGKILL, as a crash would; etcd and its data stay. */
  async killApiServer(): Promise<void> {
    await killAndWait(this.apiServer, 'SIGKILL');
    this.apiServer = undefined;
  }

  /**
   * Freezes kube-apiserver with SIGSTOP, as a hung server: the kernel still accepts connections on its
   * port, but nothing answers until resumeApiServer.
   */
  pauseApiServer(): void {
    this.apiServer?.kill('SIGSTOP');
  }

  resumeApiServer(): void {
    this.apiServer?.kill('SIGCONT');
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.apiServer?.exitCode !== null && this.apiServer?.exitCode !== undefined) {
        throw new Error(
          `kube-apiserver exited with code ${this.apiServer.exitCode}; see ${this.logPath('kube-apiserver')}`,
        );
      }
      try {
        const status = await getStatus(`${this.server}/readyz`, this.adminToken);
        if (status === 200) return;
        lastProblem = `HTTP ${status}`;
      } catch (error) {
        lastProblem = errorMessage(error);
      }
      await sleep(250);
    }
    throw new Error(
      `kube-apiserver not ready after ${timeoutMs} ms (${lastProblem}); see ${this.logPath('kube-apiserver')}`,
    );
  }

  async stop(): Promise<void> {
    for (const controller of this.controllers) await killAndWait(controller, 'SIGTERM');
    await killAndWait(this.apiServer, 'SIGTERM');
    await killAndWait(this.etcd, 'SIGTERM');
    this.reaper?.kill('SIGKILL');
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  logPath(server: string): string {
    return path.join(this.stateDir, `${server}.log`);
  }

  private startEtcd(): void {
    const peerUrl = `http://127.0.0.1:${this.etcdPeerPort}`;
    const clientUrl = `http://127.0.0.1:${this.etcdPort}`;
    this.etcd = this.spawnServer('etcd', this.binaries.etcd, [
      `--data-dir=${path.join(this.stateDir, 'etcd')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // Test data is thrown away; skipping fsync makes the suite several times faster on slow disks.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
  }

  /**
   * kube-controller-manager (Deployments, ReplicaSets, ServiceAccounts, garbage collection, node
   * lifecycle) and kube-scheduler, both as the admin and without leader election (one of each).
   */
  private startControllers(): void {
    const pki = path.join(this.stateDir, 'pki');
    const common = [`--kubeconfig=${this.kubeconfigPath}`, '--leader-elect=false', '--secure-port=0'];
    this.controllers = [
      this.spawnServer('kube-controller-manager', this.binaries.kubeControllerManager, [
        ...common,
        // Published in every namespace as kube-root-ca.crt, which each pod's service-account volume mounts.
        `--root-ca-file=${path.join(pki, 'apiserver.crt')}`,
        `--service-account-private-key-file=${path.join(pki, 'sa.key')}`,
        '--profiling=false',
      ]),
      this.spawnServer('kube-scheduler', this.binaries.kubeScheduler, [...common, '--profiling=false']),
    ];
  }

  private spawnServer(name: string, binary: string, args: readonly string[]): ChildProcess {
    return spawnServer(this.stateDir, name, binary, args, { detached: this.options.detached === true });
  }
}

function writeCredentials(stateDir: string, adminToken: string): void {
  const pki = path.join(stateDir, 'pki');
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  fs.writeFileSync(path.join(pki, 'sa.pub'), publicKey);
  fs.writeFileSync(path.join(pki, 'sa.key'), privateKey, { mode: 0o600 });
  // token,user,uid,"group": system:masters bypasses RBAC, which is what an admin kubeconfig is for.
  fs.writeFileSync(path.join(pki, 'tokens.csv'), `${adminToken},admin,admin,"system:masters"\n`, {
    mode: 0o600,
  });
}

/**
 * Without kube-proxy, a Service's ClusterIP leads nowhere: the API server calls webhooks at an endpoint
 * of their Service instead. It reaches kubelets at their InternalIP (the node names do not resolve) with
 * a client certificate; the kubelets' serving certificates are self-signed, so they are not verified.
 */
function nodeNetworkFlags(pki: string): string[] {
  return [
    '--enable-aggregator-routing=true',
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-client-certificate=${path.join(pki, 'kubelet-client.crt')}`,
    `--kubelet-client-key=${path.join(pki, 'kubelet-client.key')}`,
  ];
}

/** A CA for the kubelets' clientCAFile and the API server's client certificate signed by it. */
function writeKubeletClientCredentials(pki: string): void {
  const openssl = (args: readonly string[]): void => {
    execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    ['req', '-x509', ...key, '-keyout', 'kubelet-client-ca.key', '-out', 'kubelet-client-ca.crt'].concat([
      '-days',
      '30',
      '-subj',
      '/CN=kubelet-client-ca',
    ]),
  );
  openssl(
    ['req', ...key, '-keyout', 'kubelet-client.key', '-out', 'kubelet-client.csr'].concat([
      '-subj',
      '/O=system:masters/CN=kube-apiserver-kubelet-client',
    ]),
  );
  openssl([
    'x509',
    '-req',
    '-in',
    'kubelet-client.csr',
    '-CA',
    'kubelet-client-ca.crt',
    '-CAkey',
    'kubelet-client-ca.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-out',
    'kubelet-client.crt',
  ]);
}

function writeKubeconfig(file: string, server: string, caFile: string, token: string): void {
  // JSON is valid YAML, so every kubeconfig reader takes it and no YAML writer is needed.
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'local',
        cluster: { server, 'certificate-authority-data': fs.readFileSync(caFile).toString('base64') },
      },
    ],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
    'current-context': 'local',
  };
  fs.writeFileSync(file, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
}

function getStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      // The serving cert is generated at start; readiness is all this checks, so it is not verified here.
      { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

/** Sends `signal` and waits for the exit; SIGKILL after 10 s. Nothing to do if the child is gone. */
export async function killAndWait(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (child?.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  child.kill(signal);
  const escalate = setTimeout(() => {
    child.kill('SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(escalate);
}
