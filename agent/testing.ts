/**
 * Test support: agents in this process, one request to an agent over its socket as the forwarder sends
 * it, and level-triggered loops driven by hand.
 */
import net from 'node:net';
import { expect } from 'vitest';
import { KubeClient, loadConnection } from '../kube/index.js';
import { type RunningAgent, startAgent } from './agent.js';
import type { LevelTriggered, Triggers } from './level-triggered.js';
import { type AgentReply, protocolVersion } from './protocol.js';

export interface AgentAnswer extends AgentReply {
  /** The parsed stdout, if any. */
  readonly json: Record<string, unknown> | undefined;
}

/** The first address of a successful ADD's answer (`10.0.0.5/26`); fails the test on any other answer. */
export function addressOf(answer: AgentAnswer): string {
  expect(answer.exitCode, answer.stdout).toBe(0);
  return ((answer.json?.ips ?? []) as { address: string }[])[0]?.address ?? '';
}

export function askAgent(
  socketPath: string,
  env: Readonly<Record<string, string>>,
  config: unknown,
): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        const reply = JSON.parse(text) as AgentReply;
        const json = reply.stdout === '' ? undefined : (JSON.parse(reply.stdout) as Record<string, unknown>);
        resolve({ ...reply, json });
      } catch (error) {
        reject(new Error(`the agent's reply does not parse: ${text}`, { cause: error }));
      }
    });
    socket.end(JSON.stringify({ version: protocolVersion, env, stdin: JSON.stringify(config) }));
  });
}

export interface IpamRequest {
  readonly command: 'ADD' | 'DEL' | 'CHECK';
  readonly containerId: string;
  /** The network's name in the configuration. */
  readonly network: string;
  /** The `ipam` section besides its type. */
  readonly ipam?: Record<string, unknown>;
  readonly cniArgs?: string;
}

/** A CNI request to an agent as the `bridge` main plugin makes it, with this IPAM. */
export function askIpam(socketPath: string, request: IpamRequest): Promise<AgentAnswer> {
  return askAgent(
    socketPath,
    {
      CNI_COMMAND: request.command,
      CNI_CONTAINERID: request.containerId,
      CNI_NETNS: '/var/run/netns/x',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      ...(request.cniArgs === undefined ? {} : { CNI_ARGS: request.cniArgs }),
    },
    {
      cniVersion: '1.0.0',
      name: request.network,
      type: 'bridge',
      ipam: { type: 'topology-ipam', ...request.ipam },
    },
  );
}

/** An in-process agent for `node` on `socketPath`, with a client of its own, once its caches are synced. */
export async function startSyncedAgent(
  kubeconfig: string,
  node: string,
  socketPath: string,
): Promise<RunningAgent> {
  const agent = await startAgent({
    node,
    client: new KubeClient(loadConnection(kubeconfig), { userAgent: 'topology-ipam-agent' }),
    socketPath,
  });
  await agent.cache.synced;
  await agent.workloads.synced;
  return agent;
}

/** Triggers that have listed from the start and fire when the test says `change()`. */
export interface ManualTriggers extends Triggers {
  change(): void;
}

export function manualTriggers(): ManualTriggers {
  const handlers: (() => void)[] = [];
  return {
    synced: Promise.resolve(),
    onChange: (handler) => handlers.push(handler),
    change: () => {
      for (const handler of handlers) handler();
    },
  };
}

export interface RunningLoop {
  /** Fires the triggers and resolves once the runs they asked for have ended. */
  change(): Promise<void>;
  /** Aborts the loop and resolves once it has stopped. */
  stop(): Promise<void>;
}

/** Runs `loop` on `triggers`; resolves once its first run has ended. */
export async function startLoop(loop: LevelTriggered, triggers: ManualTriggers): Promise<RunningLoop> {
  const stop = new AbortController();
  const running = loop.run(stop.signal);
  await loop.firstSync;
  await loop.settled();
  return {
    change: async () => {
      triggers.change();
      await loop.settled();
    },
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

/** One start-to-stop of `loop`, as a restarted agent's first sync. */
export async function runLoopOnce(loop: LevelTriggered, triggers: ManualTriggers): Promise<void> {
  await (await startLoop(loop, triggers)).stop();
}
