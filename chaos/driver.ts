/**
 * The chaos run: a control plane of its own (so that it can kill kube-apiserver), the CRDs, N nodes over
 * racks with one IPPool per rack, the operator and one node agent per node as real processes (as their
 * Deployment and DaemonSet run them), and the real CNI plugin (the forwarder) spawned the way a runtime
 * does. A seeded generator decides every step: bursts of concurrent ADD/DEL over the nodes with
 * forwarders killed mid-flight, agents killed while forwarders talk to them and started again after a
 * pause, the operator killed and restarted, kube-apiserver killed and restarted; then a borrow phase,
 * a repeated ADD of every pod that holds an address or whose ADD crashed, the DEL of every pod, and the
 * verdict of `checkRun` over everything observed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type IpamResources, ipamResources } from '../allocator/index.js';
import { agentNodeFlags } from '../agent/settings.js';
import { type IPAMBlock, ipamConfigName } from '../api/index.js';
import {
  type InstalledPlugin,
  type PluginOutcome,
  agentSocket,
  bridgeNetwork,
  inParallel,
  installPlugin,
  removePlugin,
  startPlugin,
} from '../cni/testing.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../ipam/index.js';
import {
  ApiError,
  ApiUnreachableError,
  KubeClient,
  type Node,
  type Pod,
  ResourceClient,
  coreResources,
  loadConnection,
} from '../kube/index.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { seededRandom } from '../test/seeded-random.js';
import {
  type InvocationOutcome,
  type Operation,
  type Snapshot,
  type Verdict,
  checkRun,
  recordedBlocks,
} from './invariants.js';
import { SupervisedProcess, agentBundle, buildBundles, operatorBundle } from './supervised-process.js';
import type { ChaosOptions } from './options.js';

const namespace = 'chaos';
const network = 'chaos-net';
/** /29 blocks: six addresses each, so a few pods fill a block and the pools run out within a short run. */
const blockSize = 29;
const usablePerBlock = 6;
const nodesPerRack = 2;

export interface ChaosStats {
  readonly adds: number;
  readonly dels: number;
  /** Failed invocations by CNI error code (-1: no error on stdout). */
  readonly addErrors: Readonly<Record<number, number>>;
  readonly delErrors: Readonly<Record<number, number>>;
  readonly pluginsKilled: number;
  readonly agentKills: number;
  /** Agent kills that found forwarders of their node waiting for an answer. */
  readonly agentKillsInFlight: number;
  /** Agent exits the driver did not cause; each was restarted. */
  readonly agentExits: number;
  readonly operatorKills: number;
  /** Operator exits the driver did not cause; each was restarted. */
  readonly operatorExits: number;
  readonly apiRestarts: number;
  /** Pods of the borrow phase's node holding an address from another node's block. */
  readonly borrowed: number;
  readonly bursts: number;
  readonly pods: number;
  readonly seconds: number;
  /** The wall-clock bound cut the bursts or the borrow phase short. */
  readonly stoppedByTimeBound: boolean;
}

export interface ChaosResult {
  readonly stats: ChaosStats;
  readonly verdict: Verdict;
  /** The operator's and the agents' logs; kept when the verdict is not clean. */
  readonly runDir: string;
}

type PodState = { kind: 'none' } | { kind: 'holds'; address: string } | { kind: 'unknown' };

interface SimulatedPod {
  readonly name: string;
  readonly owner: string;
  readonly containerId: string;
  readonly node: string;
  state: PodState;
  /** The last command run for it: a runtime repeats a failed ADD, and a failed DEL with a DEL. */
  lastCommand?: 'ADD' | 'DEL';
}

interface Step {
  readonly pod: SimulatedPod;
  readonly command: 'ADD' | 'DEL';
  /**
   * When the forwarder is killed, if it still runs: this fraction of a typical invocation's time
   * after its start (below 1 mostly mid-flight; the seed picks the fraction, the machine the time).
   */
  readonly killAt?: number;
}

/**
 * A fault, due `at` typical invocations after the forwarder of step `withStep` of a burst started (at
 * once if the burst has no such step), so that it hits requests in flight on a loaded machine too.
 */
type Fault = { readonly withStep: number; readonly at: number } & (
  | { readonly kind: 'operator' }
  /** kill -9 of kube-apiserver, started again `downMs` later. */
  | { readonly kind: 'api'; readonly downMs: number }
  /** kill -9 of the node's agent (the node of step `withStep`), started again `downMs` later. */
  | { readonly kind: 'agent'; readonly node: string; readonly downMs: number }
);
type FaultKind = Fault['kind'];

const nodeName = (index: number) => `chaos-node-${index}`;
const rackOf = (index: number) => Math.floor(index / nodesPerRack);

/** Enough blocks per rack for both nodes' live pods with a block to spare each, as a power of two. */
function rackPoolPrefix(livePerNode: number): number {
  const blocks = nodesPerRack * (Math.ceil(livePerNode / usablePerBlock) + 1);
  return blockSize - Math.ceil(Math.log2(Math.max(blocks, 2)));
}

/** Addresses one rack's pool can hand out. */
function rackPoolCapacity(livePerNode: number): number {
  return 2 ** (blockSize - rackPoolPrefix(livePerNode)) * usablePerBlock;
}

function rackPoolCidr(rack: number, prefix: number): string {
  const base = (10 << 24) + (77 << 16) + rack * 2 ** (32 - prefix);
  return `${[24, 16, 8, 0].map((shift) => Math.floor(base / 2 ** shift) % 256).join('.')}/${prefix}`;
}

const faultName = (fault: Fault): string => {
  switch (fault.kind) {
    case 'operator':
      return 'operator restarted';
    case 'api':
      return 'kube-apiserver restarted';
    case 'agent':
      return `agent of ${fault.node} restarted`;
  }
};

function outcomeOf(outcome: PluginOutcome): InvocationOutcome {
  if (outcome.signal !== null) return { kind: 'killed' };
  if (outcome.exitCode === 0) {
    const [ip] = (outcome.json?.ips ?? []) as { address?: string }[];
    return ip?.address === undefined ? { kind: 'ok' } : { kind: 'ok', address: ip.address };
  }
  const code = outcome.json?.code;
  return { kind: 'error', code: typeof code === 'number' ? code : -1 };
}

/** The driver's own API calls happen between bursts, but a restarted kube-apiserver may still be warming up. */
async function answered<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const transient =
        error instanceof ApiUnreachableError ||
        (error instanceof ApiError && (error.status >= 500 || error.status === 429));
      if (!transient || Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

class ChaosRun {
  private readonly random: () => number;
  private readonly nodes: readonly string[];
  private readonly pods: SimulatedPod[] = [];
  private readonly operations: Operation[] = [];
  private readonly snapshots: Snapshot[] = [];
  private readonly startedAt = Date.now();
  private killsLeft: number;
  /** How long the latest successful invocations took (ms): what "mid-flight" means on this machine now. */
  private readonly recentDurations: number[] = [];
  /** Forwarders running, by node. */
  private readonly running = new Map<string, number>();
  private readonly stats = {
    adds: 0,
    dels: 0,
    addErrors: {} as Record<number, number>,
    delErrors: {} as Record<number, number>,
    pluginsKilled: 0,
    agentKills: 0,
    agentKillsInFlight: 0,
    operatorKills: 0,
    apiRestarts: 0,
    borrowed: 0,
    bursts: 0,
    stoppedByTimeBound: false,
  };

  constructor(
    private readonly options: ChaosOptions,
    private readonly plane: ControlPlane,
    private readonly resources: IpamResources,
    private readonly plugin: InstalledPlugin,
    private readonly operator: SupervisedProcess,
    private readonly agents: ReadonlyMap<string, SupervisedProcess>,
    private readonly progress: (line: string) => void,
  ) {
    this.random = seededRandom(options.seed);
    this.nodes = Array.from({ length: options.nodes }, (_, i) => nodeName(i));
    this.killsLeft = options.pluginKills;
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.random() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  private elapsedFraction(): number {
    return (Date.now() - this.startedAt) / (this.options.maxSeconds * 1000);
  }

  async setUp(): Promise<void> {
    const { client } = this.resources;
    await answered(() =>
      new ResourceClient(client, coreResources.namespaces).create({ metadata: { name: namespace } }),
    );
    const nodes = new ResourceClient<Node>(client, coreResources.nodes);
    for (const [i, name] of this.nodes.entries()) {
      await answered(() => nodes.create({ metadata: { name, labels: { rack: String(rackOf(i)) } } }));
    }
    // Cool-down 0: a released address is handed out again as soon as the fresh ones run out, which is
    // where a duplicate would show. strictAffinity until the borrow phase.
    await answered(() =>
      this.resources.configs.create({
        metadata: { name: ipamConfigName },
        spec: {
          strictAffinity: true,
          releaseCooldownSeconds: 0,
          minFreeAddressesPerNode: 4,
          leakGracePeriodSeconds: this.options.leakGraceSeconds,
        },
      }),
    );
    const prefix = rackPoolPrefix(this.options.livePerNode);
    for (let rack = 0; rack <= rackOf(this.options.nodes - 1); rack++) {
      await answered(() =>
        this.resources.pools.create({
          metadata: { name: `rack-${rack}` },
          spec: { cidr: rackPoolCidr(rack, prefix), blockSize, nodeSelector: `rack == "${rack}"` },
        }),
      );
    }
    this.operator.start();
    for (const agent of this.agents.values()) agent.start();
    await this.agentsReady();
    // The operator hands every node a block ahead of time; start once it has.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const blocks = (await answered(() => this.resources.blocks.list())).items;
      const served = new Set(blocks.map((block) => block.spec.node));
      if (this.nodes.every((node) => served.has(node))) break;
      if (Date.now() > deadline) throw new Error('the operator gave no block to some node within 120 s');
      await sleep(250);
    }
  }

  /** Every node's agent synced and listening. */
  private async agentsReady(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.whenReady()));
  }

  private agentOf(node: string): SupervisedProcess {
    const agent = this.agents.get(node);
    if (!agent) throw new Error(`no agent for node ${node}`);
    return agent;
  }

  /** The median time of the latest successful invocations, 20 ms before there is any. */
  private typicalMs(): number {
    const sorted = [...this.recentDurations].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 20;
  }

  /** A new pod on `node`, as the API server would hold it before the runtime calls ADD. */
  private newPod(node: string): SimulatedPod {
    const index = this.pods.length;
    const pod: SimulatedPod = {
      name: `pod-${index}`,
      owner: `${namespace}/pod-${index}`,
      containerId: `chaos${index.toString(16).padStart(8, '0')}`,
      node,
      state: { kind: 'none' },
    };
    this.pods.push(pod);
    return pod;
  }

  /**
   * Pod objects exist for every pod the plugin is asked about, so the operator's leak collection (with
   * its short grace) has real pods to find; they stay until the end, so a record a successful DEL left
   * behind is not collected out of sight but reported as leaked.
   */
  private async createPodObjects(pods: readonly SimulatedPod[]): Promise<void> {
    const client = new ResourceClient<Pod & { spec: { containers: unknown[] } }>(
      this.resources.client,
      coreResources.pods,
    );
    await inParallel(
      8,
      pods.map(
        (pod) => () =>
          answered(() =>
            client.create({
              metadata: { name: pod.name, namespace },
              spec: { nodeName: pod.node, containers: [{ name: 'app', image: 'chaos.invalid/app' }] },
            }),
          ),
      ),
    );
  }

  /** Every ADD and every DEL may be killed: the kills spread over all of them. */
  private get killProbability(): number {
    return Math.min(0.5, this.options.pluginKills / (2 * this.options.adds));
  }

  /** Whether to kill an invocation, and when (see Step.killAt). */
  private killPoint(probability: number): number | undefined {
    const roll = this.random();
    const at = this.random() * 1.2;
    return roll < probability ? at : undefined;
  }

  private withKill(step: Omit<Step, 'killAt'>, probability: number): Step {
    const killAt = this.killPoint(probability);
    return killAt === undefined ? step : { ...step, killAt };
  }

  /** Runs one step's forwarder; `started` is told once it has been spawned. */
  private async invoke(step: Step, started: () => void = () => undefined): Promise<void> {
    const { pod, command } = step;
    const startedAt = performance.now();
    const run = startPlugin(this.plugin, {
      command,
      containerId: pod.containerId,
      podNamespace: namespace,
      podName: pod.name,
      config: bridgeNetwork(this.plugin, { name: network, node: pod.node }),
    });
    started();
    this.running.set(pod.node, (this.running.get(pod.node) ?? 0) + 1);
    const timer =
      step.killAt === undefined
        ? undefined
        : setTimeout(() => {
            if (this.killsLeft > 0 && run.child.exitCode === null && run.child.kill('SIGKILL')) {
              this.killsLeft--;
              this.stats.pluginsKilled++;
            }
          }, step.killAt * this.typicalMs());
    const finished = await run.outcome;
    this.running.set(pod.node, (this.running.get(pod.node) ?? 1) - 1);
    const outcome = outcomeOf(finished);
    clearTimeout(timer);
    if (outcome.kind === 'ok') {
      this.recentDurations.push(finished.ms);
      if (this.recentDurations.length > 64) this.recentDurations.shift();
    }
    this.operations.push({ owner: pod.owner, command, startedAt, endedAt: performance.now(), outcome });
    pod.lastCommand = command;
    if (command === 'ADD') this.stats.adds++;
    else this.stats.dels++;
    if (outcome.kind === 'error') {
      const errors = command === 'ADD' ? this.stats.addErrors : this.stats.delErrors;
      errors[outcome.code] = (errors[outcome.code] ?? 0) + 1;
    }
    if (outcome.kind !== 'ok') pod.state = { kind: 'unknown' };
    else if (command === 'DEL') pod.state = { kind: 'none' };
    else
      pod.state =
        outcome.address === undefined
          ? { kind: 'unknown' }
          : { kind: 'holds', address: outcome.address.replace(/\/\d+$/, '') };
  }

  /** Runs the steps, `concurrency` at a time, with the faults; resolves once all are over. */
  private async runSteps(steps: readonly Step[], faults: readonly Fault[] = []): Promise<void> {
    await this.createPodObjects(
      steps
        .filter((step) => step.command === 'ADD' && step.pod.state.kind === 'none')
        .map((step) => step.pod),
    );
    const injected: Promise<void>[] = [];
    const inject = (fault: Fault, afterMs: number) =>
      injected.push(sleep(afterMs).then(() => this.inject(fault)));
    for (const fault of faults) if (fault.withStep >= steps.length) inject(fault, 0);
    await inParallel(
      this.options.concurrency,
      steps.map(
        (step, index) => () =>
          this.invoke(step, () => {
            for (const fault of faults)
              if (fault.withStep === index) inject(fault, fault.at * this.typicalMs());
          }),
      ),
    );
    await Promise.all(injected);
  }

  private async inject(fault: Fault): Promise<void> {
    switch (fault.kind) {
      case 'agent': {
        const agent = this.agentOf(fault.node);
        const inFlight = (this.running.get(fault.node) ?? 0) > 0;
        await agent.kill();
        this.stats.agentKills++;
        if (inFlight) this.stats.agentKillsInFlight++;
        // As between a crash and the DaemonSet's restart: the socket is there, nobody listens.
        await sleep(fault.downMs);
        agent.start();
        await agent.whenReady();
        return;
      }
      case 'operator':
        await this.operator.killAndRestart();
        this.stats.operatorKills++;
        return;
      case 'api':
        await this.plane.killApiServer();
        await sleep(fault.downMs);
        await this.plane.startApiServer();
        this.stats.apiRestarts++;
        return;
    }
  }

  private async snapshot(label: string, final = false): Promise<IPAMBlock[]> {
    const at = performance.now();
    const blocks = (await answered(() => this.resources.blocks.list())).items;
    this.snapshots.push({ label, at, blocks: recordedBlocks(blocks), ...(final ? { final } : {}) });
    return blocks;
  }

  /** A burst's steps, one per pod: new pods' ADDs, repeated ADDs, DELs, over random nodes. */
  private planBurst(size: number, addsLeft: number): Step[] {
    const steps: Step[] = [];
    const chosen = new Set<SimulatedPod>();
    const occupied = new Map(
      this.nodes.map((node) => [
        node,
        this.pods.filter((pod) => pod.node === node && pod.state.kind !== 'none').length,
      ]),
    );
    let adds = 0;
    for (let i = 0; i < size; i++) {
      const node = this.pick(this.nodes);
      const roll = this.random();
      const present = this.pods.filter(
        (pod) => pod.node === node && pod.state.kind !== 'none' && !chosen.has(pod),
      );
      // A runtime repeats an ADD that failed or whose plugin crashed; a repeated ADD of a pod that
      // holds its address stands for a runtime that lost track of it.
      const readdable = present.filter(
        (pod) => pod.state.kind === 'holds' || (pod.state.kind === 'unknown' && pod.lastCommand === 'ADD'),
      );
      const room = (occupied.get(node) ?? 0) < this.options.livePerNode && adds < addsLeft;
      let step: Omit<Step, 'killAt'> | undefined;
      if (room && (roll < 0.55 || present.length === 0)) {
        step = { pod: this.newPod(node), command: 'ADD' };
        occupied.set(node, (occupied.get(node) ?? 0) + 1);
      } else if (roll < 0.65 && readdable.length > 0 && adds < addsLeft) {
        step = { pod: this.pick(readdable), command: 'ADD' };
      } else if (present.length > 0) {
        step = { pod: this.pick(present), command: 'DEL' };
      }
      if (!step) continue;
      if (step.command === 'ADD') adds++;
      chosen.add(step.pod);
      steps.push(this.withKill(step, this.killProbability));
    }
    return steps;
  }

  /** A fault of `kind` in a burst of `steps`: one kill at most per agent and burst. */
  private planFault(kind: FaultKind, steps: readonly Step[], planned: readonly Fault[]): Fault | undefined {
    const downMs = 300 + this.random() * 2700;
    if (kind !== 'agent') {
      const withStep = Math.floor(this.random() * steps.length);
      const at = this.random() * 1.5;
      return kind === 'operator' ? { kind, withStep, at } : { kind, withStep, at, downMs };
    }
    // Within a typical invocation of the step's start: the step's forwarder is mostly still waiting.
    const at = this.random() * 0.8;
    const busy = new Set(planned.flatMap((fault) => (fault.kind === 'agent' ? [fault.node] : [])));
    const candidates = steps.flatMap((step, index) => (busy.has(step.pod.node) ? [] : [index]));
    if (candidates.length > 0) {
      const withStep = this.pick(candidates);
      const step = steps[withStep];
      if (step) return { kind, withStep, at, downMs, node: step.pod.node };
    }
    const idle = this.nodes.filter((node) => !busy.has(node));
    return idle.length === 0
      ? undefined
      : { kind, withStep: steps.length, at, downMs, node: this.pick(idle) };
  }

  /**
   * Bursts until their share of the ADDs is spent or 60 % of the time bound has passed. Each fault is
   * due at a random point of the bursts' progress (the larger of ADDs spent and time spent), so that
   * all of them happen even when the time bound ends the bursts early.
   */
  async bursts(addBudget: number, agentKills: number): Promise<void> {
    const size = Math.max(2 * this.options.concurrency, 8);
    const burstsShare = 0.6;
    const dueAt = (count: number) => Array.from({ length: count }, () => 0.05 + 0.75 * this.random());
    const pending = [
      ...dueAt(this.options.operatorKills).map((due) => ({ due, kind: 'operator' as const })),
      ...dueAt(this.options.apiRestarts).map((due) => ({ due, kind: 'api' as const })),
      ...dueAt(agentKills).map((due) => ({ due, kind: 'agent' as const })),
    ];
    let addsUsed = 0;
    for (let burst = 0; ; burst++) {
      const progress = Math.max(addsUsed / addBudget, this.elapsedFraction() / burstsShare);
      // A fault still pending at the end goes into one last burst, so that every one happens.
      const last = progress >= 1;
      if (last && pending.length === 0) break;
      const steps = this.planBurst(size, Math.max(0, addBudget - addsUsed));
      const faults: Fault[] = [];
      for (const due of pending.filter((fault) => last || fault.due <= progress)) {
        const fault = this.planFault(due.kind, steps, faults);
        // No node left whose agent this burst does not kill already: the next burst takes it.
        if (fault === undefined) continue;
        faults.push(fault);
        pending.splice(pending.indexOf(due), 1);
      }
      const killedBefore = this.stats.pluginsKilled;
      await this.runSteps(steps, faults);
      addsUsed += steps.filter((step) => step.command === 'ADD').length;
      this.stats.bursts++;
      await this.snapshot(`after burst ${burst}`);
      const count = (kind: PodState['kind']) => this.pods.filter((pod) => pod.state.kind === kind).length;
      this.progress(
        `burst ${burst}: ${steps.filter((s) => s.command === 'ADD').length} ADD, ${steps.filter((s) => s.command === 'DEL').length} DEL, ` +
          `${this.stats.pluginsKilled - killedBefore} forwarders killed${faults.map((f) => `, ${faultName(f)}`).join('')}; ` +
          `pods holding ${count('holds')}, unknown ${count('unknown')}; ADDs ${addsUsed}/${addBudget}`,
      );
      if (last) break;
    }
    if (addsUsed < addBudget) this.stats.stoppedByTimeBound = true;
  }

  /**
   * IPAMConfig strictAffinity false, then new pods on one node until its rack's pool has no block left
   * for it and its blocks are full: it must borrow from the other node of its rack. Ends once a few
   * addresses were borrowed, when ADDs find nothing at all, or when its ADDs or its time are spent.
   */
  async borrowPhase(addBudget: number, agentKills: number): Promise<void> {
    await answered(() =>
      this.resources.configs.mergePatch(ipamConfigName, { spec: { strictAffinity: false } }),
    );
    const borrower = this.nodes[0] ?? nodeName(0);
    let addsUsed = 0;
    while (addsUsed < addBudget && this.stats.borrowed < 3) {
      if (this.elapsedFraction() > 0.8) {
        this.stats.stoppedByTimeBound = true;
        break;
      }
      const steps = Array.from({ length: Math.min(this.options.concurrency, addBudget - addsUsed) }, () =>
        this.withKill({ pod: this.newPod(borrower), command: 'ADD' }, this.killProbability),
      );
      await this.runSteps(steps);
      addsUsed += steps.length;
      const blocks = await this.snapshot(`borrow phase after ${addsUsed} ADDs`);
      const lent = blocks
        .filter((block) => block.spec.node !== borrower)
        .map((block) => parseCidr(block.spec.cidr));
      this.stats.borrowed = this.pods.filter((pod) => {
        const { state } = pod;
        return (
          pod.node === borrower &&
          state.kind === 'holds' &&
          lent.some((cidr) => cidrContainsAddress(cidr, parseAddress(state.address)))
        );
      }).length;
      this.progress(
        `borrow phase: ${addsUsed} ADDs on ${borrower}, ${this.stats.borrowed} addresses borrowed`,
      );
      const exhausted = this.operations
        .slice(-steps.length)
        .every((op) => op.outcome.kind === 'error' && op.outcome.code === 100);
      if (exhausted) break;
    }
    // The borrower's agent dies and a new one serves the repeated ADDs: it has to find the borrowed
    // addresses again from the API server, not from a memory that died with the old one.
    for (let kill = 0; kill < agentKills; kill++) {
      await this.inject({
        kind: 'agent',
        node: borrower,
        withStep: 0,
        at: 0,
        downMs: 300 + this.random() * 2700,
      });
      this.progress(`borrow phase: agent of ${borrower} killed and started again`);
    }
  }

  /**
   * Every pod that holds an address, or whose last ADD failed or crashed, is ADDed again, as a runtime
   * repeats it: the address it holds, or the one recorded for it, must come back.
   */
  async repeatAdds(): Promise<void> {
    await this.agentsReady();
    await this.snapshot('before the repeated ADDs');
    const pods = this.pods.filter(
      (pod) => pod.state.kind === 'holds' || (pod.state.kind === 'unknown' && pod.lastCommand === 'ADD'),
    );
    await this.runSteps(pods.map((pod) => ({ pod, command: 'ADD' })));
    await this.snapshot('after the repeated ADDs');
    const failed = pods.filter((pod) => pod.state.kind !== 'holds').length;
    this.progress(`repeated the ADD of ${pods.length} pods (${failed} did not succeed)`);
  }

  /** DEL of every pod not yet released, as a runtime retries until it succeeds; the first pass may be killed. */
  async cleanUp(): Promise<void> {
    for (let pass = 0; pass < 5; pass++) {
      const left = this.pods.filter((pod) => pod.state.kind !== 'none');
      if (left.length === 0) break;
      await this.agentsReady();
      const killProbability = pass === 0 ? this.killProbability : 0;
      await this.runSteps(left.map((pod) => this.withKill({ pod, command: 'DEL' }, killProbability)));
      this.progress(`clean-up pass ${pass}: DEL of ${left.length} pods`);
    }
    await this.snapshot('after the clean-up', true);
  }

  result(): { stats: ChaosStats; verdict: Verdict } {
    return {
      stats: {
        ...this.stats,
        operatorExits: this.operator.unexpectedExits,
        agentExits: [...this.agents.values()].reduce((sum, agent) => sum + agent.unexpectedExits, 0),
        pods: this.pods.length,
        seconds: (Date.now() - this.startedAt) / 1000,
      },
      verdict: checkRun(this.operations, this.snapshots),
    };
  }
}

/** Runs the whole thing on a fresh control plane and tears everything down (the run folder stays if something failed). */
export async function runChaos(
  options: ChaosOptions,
  progress: (line: string) => void,
): Promise<ChaosResult> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-chaos-'));
  progress(`seed ${options.seed}; the operator's and the agents' logs in ${runDir}`);
  buildBundles();
  let plane: ControlPlane | undefined;
  let plugin: InstalledPlugin | undefined;
  let client: KubeClient | undefined;
  const processes: SupervisedProcess[] = [];
  let clean = false;
  try {
    plane = await ControlPlane.start();
    installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
    client = new KubeClient(loadConnection(plane.kubeconfigPath));
    const { kubeconfigPath } = plane;
    const installed = await installPlugin({ kubeconfig: kubeconfigPath });
    plugin = installed;
    const operator = new SupervisedProcess({
      bundle: operatorBundle,
      logFile: path.join(runDir, 'operator.log'),
      env: (start) => ({
        KUBECONFIG: kubeconfigPath,
        POD_NAMESPACE: namespace,
        // Each start is a new replica name, as a new pod would be.
        POD_NAME: `chaos-operator-${start}`,
        WEBHOOK_ENABLED: 'false',
        HEALTH_PORT: '0',
        LEASE_DURATION_SECONDS: '4',
        RENEW_DEADLINE_SECONDS: '3',
        RETRY_PERIOD_SECONDS: '0.5',
      }),
    });
    processes.push(operator);
    const agents = new Map(
      Array.from({ length: options.nodes }, (_, i) => {
        const node = nodeName(i);
        const agent = new SupervisedProcess({
          bundle: agentBundle,
          nodeFlags: agentNodeFlags,
          logFile: path.join(runDir, `agent-${node}.log`),
          readyWhenLogged: '"caches synced"',
          env: () => ({
            NODE_NAME: node,
            KUBECONFIG: kubeconfigPath,
            AGENT_SOCKET: agentSocket(installed, node),
            HEALTH_ADDRESS: '127.0.0.1',
            HEALTH_PORT: '0',
            SHUTDOWN_GRACE_SECONDS: '5',
          }),
        });
        processes.push(agent);
        return [node, agent] as const;
      }),
    );
    const run = new ChaosRun(options, plane, ipamResources(client), installed, operator, agents, progress);
    await run.setUp();
    // Enough new pods on one node to fill what its rack's pool has left, and then some to borrow.
    const borrowBudget = Math.min(
      Math.floor(options.adds / 3),
      rackPoolCapacity(options.livePerNode) + 2 * options.concurrency,
    );
    // One agent kill, if there are two or more, is kept for the borrower after the borrow phase.
    const borrowAgentKills = options.agentKills >= 2 ? 1 : 0;
    await run.bursts(options.adds - borrowBudget, options.agentKills - borrowAgentKills);
    await run.borrowPhase(borrowBudget, borrowAgentKills);
    await run.repeatAdds();
    await run.cleanUp();
    const result = run.result();
    clean = result.verdict.violations.length === 0;
    return { ...result, runDir };
  } finally {
    await Promise.all(processes.map((process) => process.stop()));
    client?.close();
    if (plugin) await removePlugin(plugin);
    await plane?.stop();
    if (clean) fs.rmSync(runDir, { recursive: true, force: true });
  }
}
