/**
 * Shared timing helper for the benchmark scripts in bench/. Machines here are noisy, so a figure is
 * always the median of several runs, reported alongside the spread so readers can judge it.
 */
export interface Measurement {
  readonly name: string;
  /** Median wall time of one run, in milliseconds. */
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const upper = sorted[sorted.length >> 1] ?? Number.NaN;
  const lower = sorted[(sorted.length - 1) >> 1] ?? Number.NaN;
  return (lower + upper) / 2;
}

/**
 * The nearest-rank percentile: the smallest sample with at least `p` percent of the samples at or below
 * it, so always one of the samples (no interpolation between two runs that both happened).
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty list');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${String(p)} is not in (0, 100]`);
  const sorted = [...values].sort((a, b) => a - b);
  // p × n first, so a whole rank stays whole: (7 / 100) × 100 is 7.000000000000001, one rank too far.
  return sorted[Math.ceil((p * sorted.length) / 100) - 1] ?? Number.NaN;
}

/** Runs `run` `warmups` times untimed, then `runs` times timed; returns the median and spread. */
export async function measure(
  name: string,
  run: () => unknown,
  options: { runs?: number; warmups?: number } = {},
): Promise<Measurement> {
  const { runs = 9, warmups = 2 } = options;
  for (let i = 0; i < warmups; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { name, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times), runs };
}

export function formatMeasurement(m: Measurement, unitsPerRun?: { count: number; unit: string }): string {
  const base = `${m.name}: median ${m.medianMs.toFixed(2)} ms (min ${m.minMs.toFixed(2)}, max ${m.maxMs.toFixed(2)}, ${m.runs} runs)`;
  if (!unitsPerRun) return base;
  const perSecond = (unitsPerRun.count / m.medianMs) * 1000;
  return `${base} = ${Math.round(perSecond).toLocaleString('en-US')} ${unitsPerRun.unit}/s`;
}
