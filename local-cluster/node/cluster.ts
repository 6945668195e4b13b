/**
 * A local cluster with real nodes, as kind or a kubeadm cluster gives one: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler (../control-plane.ts) and a real node (node.ts) per entry of
 * `nodes`, all under one state folder: `control-plane/` and `nodes/<name>/`. Pods are created by their
 * controllers and placed by the scheduler. There is no kube-proxy: the API server and each node have an
 * address of their own (address.ts) that pods reach, and the API server calls webhooks at their pods. One reaper runs clean-cluster.sh on the folder once the
 * process that started it is gone, however it went; `npm run node:up` starts one that outlives it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane, kubeletClientCa } from '../control-plane.js';
import { installCrds } from '../crds.js';
import { eventually } from '../eventually.js';
import { startReaper } from '../processes.js';
import { addTestAddress } from './address.js';
import { type NodeOptions, RealNode } from './node.js';

const cleanClusterScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clean-cluster.sh');

export interface NodeSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface LocalClusterOptions {
  readonly nodes: readonly NodeSpec[];
  /** Created if missing, removed on stop; a fresh temp folder by default. */
  readonly stateDir?: string;
  /** Keep running after this process exits (`npm run node:up`); stop with `stopLocalCluster`. */
  readonly detached?: boolean;
  /** Who sets up the nodes' pod network (NodeOptions): `chart` leaves the nodes NotReady until it is installed. */
  readonly podNetwork?: NodeOptions['podNetwork'];
}

/** What a second process needs to use and stop a detached cluster. */
export interface LocalClusterState {
  readonly stateDir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly binDir: string;
  readonly nodes: readonly string[];
  readonly pids: readonly number[];
}

export class LocalCluster {
  private constructor(
    readonly stateDir: string,
    readonly plane: ControlPlane,
    readonly nodes: readonly RealNode[],
  ) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-cluster-'));
    fs.mkdirSync(path.join(stateDir, 'nodes'), { recursive: true });
    const detached = options.detached === true;
    if (!detached) startReaper(stateDir, cleanClusterScript);
    try {
      const plane = await ControlPlane.start({
        stateDir: path.join(stateDir, 'control-plane'),
        detached,
        reaper: false,
        controllers: true,
        nodeNetwork: { address: addTestAddress(stateDir) },
      });
      installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
      const nodes: RealNode[] = [];
      for (const spec of options.nodes) {
        nodes.push(
          await RealNode.start({
            ...spec,
            stateDir: path.join(stateDir, 'nodes', spec.name),
            kubelet: plane.binaries.kubelet,
            kubeconfig: plane.kubeconfigPath,
            detached,
            reaper: false,
            network: { kubeletClientCa: kubeletClientCa(plane.stateDir) },
            ...(options.podNetwork === undefined ? {} : { podNetwork: options.podNetwork }),
          }),
        );
      }
      const cluster = new LocalCluster(stateDir, plane, nodes);
      // The controller-manager makes it; until then the ServiceAccount admission plugin refuses pods.
      await eventually(() => cluster.kubectl(['get', 'serviceaccount', 'default', '-o', 'name']), {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      return cluster;
    } catch (error) {
      stopLocalCluster(stateDir);
      throw error;
    }
  }

  /** Runs the built kubectl against the cluster; returns stdout, throws with stderr on failure. */
  kubectl(args: readonly string[], input?: string): string {
    return execFileSync(this.plane.binaries.kubectl, args, {
      env: { ...process.env, KUBECONFIG: this.plane.kubeconfigPath },
      input,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  }

  state(): LocalClusterState {
    const plane = this.plane.state();
    return {
      stateDir: this.stateDir,
      kubeconfigPath: plane.kubeconfigPath,
      server: plane.server,
      binDir: plane.binDir,
      nodes: this.nodes.map((node) => node.options.name),
      pids: [...plane.pids, ...this.nodes.flatMap((node) => node.pids())],
    };
  }

  /** Stops every node (pods included) and the control plane, and removes the state folder. */
  stop(): void {
    stopLocalCluster(this.stateDir);
  }
}

/** Stops the cluster whose state folder is `stateDir`, started by this process or another. */
export function stopLocalCluster(stateDir: string): void {
  execFileSync('bash', [cleanClusterScript, stateDir], { stdio: 'ignore' });
}
