/**
 * The pure part of `npm run bench -- pods` (bench/pods.ts): the order in which the two pod networks take
 * turns on the node, what the bench's watch saw of each pod, and the statistics it reports.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { median, percentile } from './measure.js';

export interface Trial<Network extends string> {
  readonly repetition: number;
  /** Pods created at once. */
  readonly pods: number;
  readonly network: Network;
}

/**
 * Every batch size on both networks once per repetition, in a serpentine order: within a repetition the
 * networks alternate which goes first from one batch size to the next, and every other repetition runs
 * the previous one backwards. Consecutive trials then share their network except once per batch size
 * and repetition (each switch of the node's conflist costs a settle and a warm-up pod), and over an even
 * number of repetitions each network goes first, and each batch size comes first, equally often, so a
 * machine whose load drifts during the run favours neither network.
 */
export function interleavedPlan<Network extends string>(
  repetitions: number,
  batches: readonly number[],
  networks: readonly [Network, Network],
): Trial<Network>[] {
  const [one, other] = networks;
  const forward = batches.flatMap((pods, index) =>
    (index % 2 === 0 ? [one, other] : [other, one]).map((network) => ({ pods, network })),
  );
  const backward = [...forward].reverse();
  return Array.from({ length: repetitions }, (_, repetition) =>
    (repetition % 2 === 0 ? forward : backward).map((cell) => ({ repetition, ...cell })),
  ).flat();
}

/** What a watch event shows of a pod. */
export interface PodView {
  readonly name: string;
  readonly phase?: string | undefined;
  readonly podIP?: string | undefined;
}

/**
 * When this process first saw a pod exist, its sandbox ready, Running, and with an address (times from
 * one clock). The sandbox is ready, its network set up, when the kubelet turns to the pod's first
 * container: the API shows that only as the container's first event (`Pulled`), since the kubelet
 * writes the pod's address in the same status update as `Running`.
 */
export interface PodTimes {
  readonly seen: number;
  readonly sandboxReady?: number;
  readonly running?: number;
  readonly addressed?: number;
  readonly podIP?: string;
}

/** `times` updated with the pod `view` shows at `at`: only a state seen for the first time is recorded. */
export function observe(
  times: ReadonlyMap<string, PodTimes>,
  view: PodView,
  at: number,
): ReadonlyMap<string, PodTimes> {
  const known = times.get(view.name) ?? { seen: at };
  const running = known.running ?? (view.phase === 'Running' ? at : undefined);
  const addressed =
    known.addressed === undefined && view.podIP !== undefined && view.podIP !== ''
      ? { addressed: at, podIP: view.podIP }
      : {};
  return new Map(times).set(view.name, {
    ...known,
    ...(running === undefined ? {} : { running }),
    ...addressed,
  });
}

/** `times` with the sandbox of the pod `name` ready at `at`, unless seen earlier (or the pod not yet). */
export function observeSandboxReady(
  times: ReadonlyMap<string, PodTimes>,
  name: string,
  at: number,
): ReadonlyMap<string, PodTimes> {
  const known = times.get(name);
  if (known === undefined || known.sandboxReady !== undefined) return times;
  return new Map(times).set(name, { ...known, sandboxReady: at });
}

/** Milliseconds from creation to the sandbox, to Running and to an address, once the pod has all three. */
export interface PodLatency {
  readonly toSandbox: number;
  readonly toRunning: number;
  readonly toAddress: number;
  readonly podIP: string;
}

export function latencyOf(times: PodTimes): PodLatency | undefined {
  const { seen, sandboxReady, running, addressed, podIP } = times;
  if (sandboxReady === undefined || running === undefined || addressed === undefined || podIP === undefined)
    return undefined;
  return { toSandbox: sandboxReady - seen, toRunning: running - seen, toAddress: addressed - seen, podIP };
}

/** Below this many samples a 90th percentile is the largest sample or close to it: not reported. */
export const minSamplesForP90 = 10;

export interface Summary {
  readonly samples: number;
  readonly median: number;
  readonly p90?: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    samples: values.length,
    median: median(values),
    ...(values.length >= minSamplesForP90 ? { p90: percentile(values, 90) } : {}),
  };
}

export const podBenchOptionsSchema = z
  .object({
    repetitions: z.coerce
      .number()
      .int()
      .min(2)
      .max(40)
      .multipleOf(2, 'an even number: each network then goes first equally often')
      .default(4)
      .describe('Repetitions of the whole plan (every batch size on both networks).'),
  })
  .strict();
export type PodBenchOptions = z.infer<typeof podBenchOptionsSchema>;

export const podBenchUsage = 'usage: npm run bench -- pods [--repetitions N]';

/** Parses the bench's flags; throws an Error naming the flag on anything unknown or out of range. */
export function parsePodBenchOptions(argv: readonly string[]): PodBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { repetitions: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const parsed = podBenchOptionsSchema.safeParse(values);
  if (!parsed.success)
    throw new Error(`--repetitions: ${parsed.error.issues[0]?.message ?? 'invalid'}\n${podBenchUsage}`);
  return parsed.data;
}
