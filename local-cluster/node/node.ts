/**
 * One real Kubernetes node on this machine: containerd 2 (built from its pinned module, with Debian's
 * runc) and a kubelet built from the pinned Kubernetes module, registered against a test control plane,
 * with this project's CNI plugin set up by the installer's own code and the node agent running for it.
 * Everything lives under the node's state folder except what the README lists (cgroups, a bridge,
 * kernel settings, a few sockets); `clean.sh` removes or restores all of it, on `stop()` or, through the
 * reaper, once the process that started the node is gone however it went.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { agentNodeFlags } from '../../agent/settings.js';
import { type InstalledPlugin, agentSettings, agentSocket, debianPlugins } from '../../cni/testing.js';
import { buildForwarder } from '../../cni/build.js';
import { pluginName } from '../../common/index.js';
import { copyIfChanged, installOnce, installerSettings, writeIfChanged } from '../../installer/index.js';
import { killAndWait } from '../control-plane.js';
import { componentArgs } from '../operator-process.js';
import { freePort } from '../ports.js';
import { spawnServer, startReaper } from '../processes.js';
import { testImage, writeTestImage } from './image.js';
import { type NodeNamespaces, inNamespaces, startNodeNamespaces } from './namespaces.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const cleanScript = path.join(here, 'clean.sh');
const cgroupMount = '/sys/fs/cgroup';
/**
 * The kernel settings a kubelet sets on start when protectKernelDefaults is off (on, it refuses to start
 * unless they are set already); saved first so that clean.sh puts them back.
 */
const kubeletSysctls = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];
/** The network name: the first part of every allocation's handle. */
export const networkName = 'k8s-pod-network';

export interface NodeOptions {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The node's own folder; created, and removed on stop. */
  readonly stateDir: string;
  /**
   * The kubelet binary (local-cluster/tools/build.sh builds it, and beside it containerd, its shim,
   * ctr, and the CNI plugins in `cni/`).
   */
  readonly kubelet: string;
  /** The credentials the kubelet and the node agent use. */
  readonly kubeconfig: string;
  /** Keep running after this process exits (`npm run node:up`); stop with clean.sh. */
  readonly detached?: boolean;
  /**
   * Run clean.sh from a reaper once this process is gone (the default unless detached); off when the
   * caller reaps a folder that holds this one.
   */
  readonly reaper?: boolean;
  readonly readyTimeoutMs?: number;
  /**
   * Network and mount namespaces of the node's own (namespaces.ts) with an InternalIP the API server
   * reaches, for logs/exec too; cluster.ts gives every node them. Without, the node is the host's.
   */
  readonly network?: NodeAddressing;
  /**
   * Who sets up the pod network: `harness` (the default) installs the forwarder and the conflist and runs
   * the node agent as a process of its own, as the chart would; `chart` leaves the node with its runtime's
   * plugins only (not Ready) for the chart's DaemonSet to install ours, with the agent at
   * `paths.agentSocket`.
   */
  readonly podNetwork?: 'harness' | 'chart';
}

export interface NodeAddressing {
  /** The CA of the API server's client certificate (the kubelet's clientCAFile). */
  readonly kubeletClientCa: string;
}

/** A CNI network configuration list, as the node's CNI folder holds it. */
export interface Conflist {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly {
    readonly type: string;
    readonly ipam?: { readonly type?: string; readonly [key: string]: unknown };
    readonly [key: string]: unknown;
  }[];
  readonly [key: string]: unknown;
}

export interface NodePaths {
  readonly containerdSocket: string;
  readonly cniBinDir: string;
  readonly cniNetDir: string;
  readonly agentSocket: string;
}

/** A name unique to this node on the host, for what lives outside its folder (≤ 15 characters: a link name). */
const hostName = (): string => `tipam${randomBytes(4).toString('hex')}`;

/** The node's daemons `restart` knows. */
export type Daemon = 'containerd' | 'kubelet';

export class RealNode {
  private readonly children: ChildProcess[] = [];
  /** How each daemon was started, to restart it. */
  private readonly daemons = new Map<Daemon, { child: ChildProcess; start: () => Promise<ChildProcess> }>();
  /** With `options.network`. */
  private namespaces: NodeNamespaces | undefined;

  private constructor(
    readonly options: NodeOptions,
    readonly paths: NodePaths,
    /** The node's cgroup root and bridge name. */
    readonly hostId: string,
  ) {}

  static async start(options: NodeOptions): Promise<RealNode> {
    const dir = options.stateDir;
    fs.mkdirSync(dir, { recursive: true });
    const hostId = hostName();
    fs.writeFileSync(path.join(dir, 'host-id'), hostId);
    const plugin: InstalledPlugin = {
      root: dir,
      binDir: path.join(dir, 'cni', 'bin'),
      executable: path.join(dir, 'cni', 'bin', pluginName),
      kubeconfig: options.kubeconfig,
      agents: new Map(),
      startingAgents: new Map(),
    };
    const paths: NodePaths = {
      containerdSocket: path.join(dir, 'containerd.sock'),
      cniBinDir: plugin.binDir,
      cniNetDir: path.join(dir, 'cni', 'net.d'),
      agentSocket:
        options.podNetwork === 'chart'
          ? path.join(dir, 'run', 'agent.sock')
          : agentSocket(plugin, options.name),
    };
    const node = new RealNode(options, paths, hostId);
    try {
      if (options.reaper ?? options.detached !== true) startReaper(dir, cleanScript);
      createCgroupRoot(hostId);
      if (options.network)
        node.namespaces = await startNodeNamespaces(dir, hostId, (binary, args) =>
          node.spawn('namespaces', binary, args),
        );
      node.installNodePlugins();
      const harness = options.podNetwork !== 'chart';
      if (harness) await node.startAgent(plugin);
      await node.startDaemon('containerd', () => node.startContainerd());
      const kubelet = await node.startDaemon('kubelet', () => node.startKubelet());
      // As the chart's DaemonSet does on a node that is up: the network turns ready once the conflist is there.
      if (harness) await node.installCni();
      await node.waitForNode(kubelet, options.readyTimeoutMs ?? 120_000, harness);
    } catch (error) {
      node.stop();
      throw error;
    }
    return node;
  }

  /** The node's InternalIP, with `options.network`. */
  get address(): string | undefined {
    return this.namespaces?.address;
  }

  /**
   * Stops containerd or the kubelet (SIGTERM, as systemd would) and starts it again with the same
   * settings; pods keep running (containerd's shims hold them). Resolves once it serves again.
   */
  async restart(daemon: Daemon): Promise<void> {
    const running = this.daemons.get(daemon);
    if (running === undefined) throw new Error(`${daemon} was not started`);
    await killAndWait(running.child, 'SIGTERM');
    await this.startDaemon(daemon, running.start);
  }

  /** Runs `ctr` in containerd's Kubernetes namespace; returns stdout. */
  ctr(args: readonly string[]): string {
    return execFileSync(
      this.binary('ctr'),
      ['--address', this.paths.containerdSocket, '--namespace', 'k8s.io', ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  }

  /** The processes it runs (not its pods). */
  pids(): number[] {
    return this.children.map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
  }

  logPath(component: string): string {
    return path.join(this.options.stateDir, `${component}.log`);
  }

  /** Kills everything the node started (pods included) and removes what it wrote. */
  stop(): void {
    execFileSync('bash', [cleanScript, this.options.stateDir], { stdio: 'ignore' });
    for (const child of this.children) child.kill('SIGKILL');
  }

  /**
   * The conflist containerd uses: of the files in the CNI folder that libcni reads, the first by name
   * (containerd loads that one only).
   */
  conflist(): { readonly file: string; readonly json: Conflist } {
    const [name] = fs
      .readdirSync(this.paths.cniNetDir)
      .filter((entry) => ['.conf', '.conflist', '.json'].includes(path.extname(entry)))
      .sort();
    if (name === undefined) throw new Error(`no conflist in ${this.paths.cniNetDir}`);
    const file = path.join(this.paths.cniNetDir, name);
    return { file, json: JSON.parse(fs.readFileSync(file, 'utf8')) as Conflist };
  }

  /**
   * Puts `conflist` in place of the one containerd uses, for a benchmark that compares pod networks on
   * this node: the Debian plugins it names that the node lacks are copied in first, then it is written
   * beside the old file and renamed over it, which containerd reloads on (as the installer writes).
   * Pods started before keep the network they have, but containerd tears each down with the conflist
   * in place then: delete them first.
   */
  async useConflist(conflist: Conflist): Promise<void> {
    const types = conflist.plugins.flatMap((plugin) =>
      plugin.ipam?.type === undefined ? [plugin.type] : [plugin.type, plugin.ipam.type],
    );
    for (const type of new Set(types)) {
      const installed = path.join(this.paths.cniBinDir, type);
      if (!fs.existsSync(installed)) await copyIfChanged(path.join(debianPlugins, type), installed, 0o755);
    }
    await writeIfChanged(this.conflist().file, `${JSON.stringify(conflist, null, 2)}\n`, 0o644);
  }

  /** A binary build.sh made beside the kubelet. */
  private binary(name: string): string {
    return path.join(path.dirname(this.options.kubelet), name);
  }

  /**
   * The main plugins (bridge, ptp), portmap (the chart's conflist chains it) and the loopback every
   * sandbox gets, as a node's image brings them: built from the pinned plugins module, since Debian's
   * (1.1.1) stop at CNI 1.0.0 and know no STATUS.
   */
  private installNodePlugins(): void {
    fs.mkdirSync(this.paths.cniBinDir, { recursive: true });
    for (const plugin of ['bridge', 'ptp', 'portmap', 'loopback'])
      fs.copyFileSync(this.binary(path.join('cni', plugin)), path.join(this.paths.cniBinDir, plugin));
  }

  /** The forwarder and the conflist as the chart's installer writes them (each renamed into place). */
  private async installCni(): Promise<void> {
    const forwarderDir = path.dirname(await buildForwarder());
    const conflist = {
      cniVersion: '1.0.0',
      name: networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: this.hostId,
          isGateway: false,
          hairpinMode: true,
          ipMasq: false,
          ipam: { type: pluginName, agent_socket: this.paths.agentSocket },
        },
      ],
    };
    await installOnce(
      installerSettings({
        NODE_NAME: this.options.name,
        CNI_BIN_DIR: this.paths.cniBinDir,
        CNI_NET_DIR: this.paths.cniNetDir,
        CNI_NETWORK_CONFIG: JSON.stringify(conflist),
        SOURCE_DIR: forwarderDir,
      }),
    );
  }

  /** The node agent as the DaemonSet runs it; resolves once it has synced and listens. */
  private async startAgent(plugin: InstalledPlugin): Promise<void> {
    const agent = this.spawn(
      'agent',
      process.execPath,
      componentArgs('agent/main.ts', agentNodeFlags),
      agentSettings(plugin, this.options.name),
    );
    const deadline = Date.now() + 60_000;
    while (!fs.readFileSync(this.logPath('agent'), 'utf8').includes('"caches synced"')) {
      if (agent.exitCode !== null || Date.now() > deadline)
        throw new Error(`the node agent did not start; see ${this.logPath('agent')}`);
      await sleep(100);
    }
  }

  private async startDaemon(daemon: Daemon, start: () => Promise<ChildProcess>): Promise<ChildProcess> {
    const child = await start();
    this.daemons.set(daemon, { child, start });
    return child;
  }

  private async startContainerd(): Promise<ChildProcess> {
    const dir = this.options.stateDir;
    const config = path.join(dir, 'containerd.toml');
    fs.writeFileSync(config, containerdConfig(dir, this.paths, this.binary('containerd-shim-runc-v2')));
    fs.rmSync(this.paths.containerdSocket, { force: true });
    const containerd = this.spawn('containerd', this.binary('containerd'), ['--config', config]);
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(this.paths.containerdSocket)) {
      if (containerd.exitCode !== null || Date.now() > deadline)
        throw new Error(`containerd did not start; see ${this.logPath('containerd')}`);
      await sleep(100);
    }
    const image = path.join(dir, 'image.tar');
    if (!fs.existsSync(image)) writeTestImage(image, path.join(dir, 'image'));
    this.ctr(['images', 'import', image]);
    return containerd;
  }

  private async startKubelet(): Promise<ChildProcess> {
    const dir = path.join(this.options.stateDir, 'kubelet');
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(dir, 'config.json');
    const settings = kubeletConfig(dir, this.hostId, await freePort());
    fs.writeFileSync(config, JSON.stringify(this.withAddress(settings), null, 2));
    const sysctls = path.join(this.options.stateDir, 'sysctls');
    // Once: a restarted kubelet finds the values its first start set.
    if (!fs.existsSync(sysctls)) {
      const saved = kubeletSysctls.map(
        (key) => `${key} ${fs.readFileSync(path.join('/proc/sys', key), 'utf8').trim()}`,
      );
      fs.writeFileSync(sysctls, `${saved.join('\n')}\n`);
    }
    const labels = Object.entries(this.options.labels).map(([key, value]) => `${key}=${value}`);
    return this.spawn(
      'kubelet',
      this.options.kubelet,
      [
        `--config=${config}`,
        `--kubeconfig=${this.options.kubeconfig}`,
        `--root-dir=${path.join(dir, 'root')}`,
        `--cert-dir=${path.join(dir, 'pki')}`,
        `--hostname-override=${this.options.name}`,
        `--node-ip=${this.namespaces?.address ?? '127.0.0.1'}`,
        `--node-labels=${labels.join(',')}`,
        `--container-runtime-endpoint=unix://${this.paths.containerdSocket}`,
        '--v=1',
      ],
      {
        // No sbin folders, so no iptables: with it the kubelet adds chains to the host's tables (for a
        // kube-proxy that does not run here) that would outlive the node.
        PATH: '/usr/local/bin:/usr/bin:/bin',
      },
    );
  }

  /**
   * With an address, the kubelet serves on it (the API server proxies logs, exec and port-forward to it)
   * and takes the API server's client certificate.
   */
  private withAddress(config: Record<string, unknown>): Record<string, unknown> {
    const network = this.options.network;
    if (network === undefined || this.namespaces === undefined) return config;
    return {
      ...config,
      address: this.namespaces.address,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: false },
        x509: { clientCAFile: network.kubeletClientCa },
      },
    };
  }

  /** Waits until the node is Ready, or only registered. */
  private async waitForNode(kubelet: ChildProcess, timeoutMs: number, ready: boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'not registered yet';
    while (Date.now() < deadline) {
      if (kubelet.exitCode !== null)
        throw new Error(`kubelet exited with code ${kubelet.exitCode}; see ${this.logPath('kubelet')}`);
      try {
        const status = execFileSync(
          this.binary('kubectl'),
          [
            'get',
            'node',
            this.options.name,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}',
          ],
          { env: { ...process.env, KUBECONFIG: this.options.kubeconfig }, encoding: 'utf8', stdio: 'pipe' },
        );
        if (!ready || status.startsWith('True')) return;
        last = status;
      } catch (error) {
        last = (error as { stderr?: string }).stderr ?? String(error);
      }
      await sleep(500);
    }
    throw new Error(
      `node ${this.options.name} not ${ready ? 'Ready' : 'registered'} after ${timeoutMs} ms (${last}); see ${this.logPath('kubelet')}`,
    );
  }

  private spawn(
    component: string,
    binary: string,
    args: readonly string[],
    env: Readonly<Record<string, string>> = {},
  ): ChildProcess {
    const [command, commandArgs] =
      this.namespaces === undefined ? [binary, args] : inNamespaces(this.namespaces, binary, args);
    const child = spawnServer(this.options.stateDir, component, command, commandArgs, {
      env,
      detached: this.options.detached === true,
    });
    this.children.push(child);
    return child;
  }
}

/**
 * The kubelet's cgroup root in every v1 hierarchy (the kubelet creates only its own children and checks
 * that the root exists in all of them); a new cpuset cgroup starts with no CPUs or memory nodes.
 */
function createCgroupRoot(name: string): void {
  for (const hierarchy of fs.readdirSync(cgroupMount)) {
    const parent = path.join(cgroupMount, hierarchy);
    if (!fs.existsSync(path.join(parent, 'cgroup.procs')) || hierarchy === 'unified') continue;
    const root = path.join(parent, name);
    fs.mkdirSync(root, { recursive: true });
    if (hierarchy === 'cpuset')
      for (const file of ['cpuset.cpus', 'cpuset.mems'])
        fs.writeFileSync(path.join(root, file), fs.readFileSync(path.join(parent, file)));
  }
}

/**
 * containerd 2's configuration (version 3: the CRI plugin split into images, runtime and the gRPC
 * server). Everything in the node's folder but the shim sockets (see README); plugins the node does not
 * use are off, NRI among them (its socket would go to /var/run/nri).
 */
function containerdConfig(dir: string, paths: NodePaths, shim: string): string {
  const runtime = 'plugins."io.containerd.cri.v1.runtime"';
  return `version = 3
root = "${path.join(dir, 'containerd', 'root')}"
state = "${path.join(dir, 'containerd', 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${paths.containerdSocket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${path.join(dir, 'containerd', 'opt')}"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "${testImage}"
[${runtime}]
  # Without CAP_SYS_RESOURCE (as here) every sandbox fails with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [${runtime}.cni]
    bin_dirs = ["${paths.cniBinDir}"]
    conf_dir = "${paths.cniNetDir}"
  [${runtime}.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    # The built shim, not Debian's (containerd 1.6's), which PATH may find first.
    runtime_path = "${shim}"
    [${runtime}.containerd.runtimes.runc.options]
      Root = "${path.join(dir, 'runc')}"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

function kubeletConfig(dir: string, cgroupRoot: string, port: number): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port,
    readOnlyPort: 0,
    healthzPort: 0,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    // This machine has cgroup v1 only; the kubelet refuses it unless told.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${cgroupRoot}`,
    failSwapOn: false,
    // The images were imported, not pulled: collected, they could not come back.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    podLogsDir: path.join(dir, 'pod-logs'),
    resolvConf: '/etc/resolv.conf',
  };
}
