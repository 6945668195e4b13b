/**
 * The chaos run's size and faults, from `npm run chaos -- --seed 7 --adds 2000 …`. Everything is bounded:
 * the ADDs, the faults of each kind and the wall-clock time.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

export const chaosOptionsSchema = z
  .object({
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(() => Math.floor(Math.random() * 0x100000000))
      .describe('Seed of every random choice the driver makes (which pod, which command, which kill, when).'),
    nodes: z.coerce.number().int().min(2).max(64).default(4).describe('Nodes, two per rack.'),
    adds: z.coerce
      .number()
      .int()
      .min(20)
      .default(1000)
      .describe(
        'ADD invocations over the burst and borrow phases (the final re-ADD of live pods comes on top).',
      ),
    concurrency: z.coerce
      .number()
      .int()
      .min(1)
      .max(200)
      .default(8)
      .describe('Forwarders running at once, over all nodes.'),
    livePerNode: count(6).describe('Pods a node holds at most during the bursts.'),
    pluginKills: count(200).describe(
      'Most CNI plugin invocations (the forwarder a runtime spawns) killed with SIGKILL mid-flight.',
    ),
    agentKills: count(8).describe(
      "Times a node's agent is killed with SIGKILL while forwarders talk to it, and started again after a pause.",
    ),
    operatorKills: count(3).describe('Times the operator is killed with SIGKILL and started again.'),
    apiRestarts: count(3).describe('Times kube-apiserver is killed with SIGKILL and started again.'),
    leakGraceSeconds: z.coerce
      .number()
      .int()
      .positive()
      .default(10)
      .describe("The IPAMConfig's leakGracePeriodSeconds: short, so leak collection runs during the bursts."),
    maxSeconds: z.coerce
      .number()
      .positive()
      .default(1800)
      .describe('Wall-clock bound: past it no new burst starts; the re-ADD, clean-up and check still run.'),
  })
  .strict();
export type ChaosOptions = z.infer<typeof chaosOptionsSchema>;

const flags = {
  seed: 'seed',
  nodes: 'nodes',
  adds: 'adds',
  concurrency: 'concurrency',
  'live-per-node': 'livePerNode',
  'plugin-kills': 'pluginKills',
  'agent-kills': 'agentKills',
  'operator-kills': 'operatorKills',
  'api-restarts': 'apiRestarts',
  'leak-grace-seconds': 'leakGraceSeconds',
  'max-seconds': 'maxSeconds',
} as const satisfies Record<string, keyof ChaosOptions>;

export const chaosUsage = `usage: npm run chaos -- [--${Object.keys(flags).join(' N] [--')} N]`;

/** Parses command-line flags; throws an Error naming the flag on anything unknown or out of range. */
export function parseChaosOptions(argv: readonly string[]): ChaosOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.keys(flags).map((flag) => [flag, { type: 'string' }])),
    strict: true,
    allowPositionals: false,
  });
  const input = Object.fromEntries(
    Object.entries(values).map(([flag, value]) => [flags[flag as keyof typeof flags], value]),
  );
  const parsed = chaosOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path[0];
    const flag = Object.entries(flags).find(([, name]) => name === key)?.[0] ?? String(key);
    throw new Error(`--${flag}: ${issue?.message ?? 'invalid'}\n${chaosUsage}`);
  }
  return parsed.data;
}
