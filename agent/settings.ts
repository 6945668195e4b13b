import { z } from 'zod';
import { defaultRequestTimeoutMs } from '../kube/index.js';
import { flag, logLevel, parseSettings, port, positiveSeconds } from '../runtime/index.js';
import { defaultAgentSocket } from './protocol.js';

/**
 * The V8 flags the agent's node runs with (the chart's DaemonSet passes them; so do the benchmark and the
 * tests that run the built agent). The agent's heap is small, and V8's defaults size it for throughput: a
 * young generation of 1 MiB and a 64 MiB old-space ceiling took the resident memory of an agent holding
 * 1,000 addresses from ~110 MiB to ~80 MiB, and one V8 worker thread instead of four (each with heap
 * arenas of its own) to ~74 MiB (measured: README, Performance).
 */
export const agentNodeFlags = [
  '--max-semi-space-size=1',
  '--max-old-space-size=64',
  '--v8-pool-size=1',
] as const;

/** The node agent's settings, from its environment (the Helm chart's DaemonSet sets these). */
export const agentSettingsSchema = z.object({
  NODE_NAME: z
    .string({ error: 'NODE_NAME is required: the Kubernetes name of the node this agent serves' })
    .min(1, 'NODE_NAME is required: the Kubernetes name of the node this agent serves'),
  KUBECONFIG: z
    .string()
    .optional()
    .describe('Kubeconfig to use; in a pod, the service account is used when unset.'),
  AGENT_SOCKET: z
    .string()
    .min(1)
    .default(defaultAgentSocket)
    .describe('The unix socket the forwarder dials.'),
  HEALTH_ADDRESS: z.string().min(1).default('0.0.0.0'),
  HEALTH_PORT: port(9099).describe('Port of /healthz, /readyz and /metrics.'),
  LOG_LEVEL: logLevel(),
  API_TIMEOUT_SECONDS: positiveSeconds(defaultRequestTimeoutMs / 1000).describe(
    'Longest one API request may take.',
  ),
  ROUTES: flag(false).describe(
    "Install the pod network's routes on the node (cni/README.md, Routes between nodes): needs the host's network, NET_ADMIN and iproute2.",
  ),
  NAT_OUTGOING: flag(false).describe(
    "Masquerade traffic from IPPools with natOutgoing to destinations outside every pool and node (cni/README.md, natOutgoing): needs the host's network, NET_ADMIN and nft.",
  ),
  SHUTDOWN_GRACE_SECONDS: positiveSeconds(25).describe(
    'On SIGTERM, how long requests in flight may take to finish before the agent exits anyway.',
  ),
});
export type AgentSettings = z.infer<typeof agentSettingsSchema>;

/** The agent's settings from `env`, or an Error naming every bad variable and what is wrong with it. */
export function agentSettings(env: NodeJS.ProcessEnv = process.env): AgentSettings {
  return parseSettings(agentSettingsSchema, env, 'agent');
}
