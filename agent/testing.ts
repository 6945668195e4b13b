/** Test support: agents in this process, and one request to an agent over its socket, as the forwarder sends it. */
import net from 'node:net';
import { expect } from 'vitest';
import { KubeClient, loadConnection } from '../kube/index.js';
import { type RunningAgent, startAgent } from './agent.js';
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
