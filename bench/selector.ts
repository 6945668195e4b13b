/**
 * Selector throughput: how fast a compiled selector evaluates over a cluster's worth of node label maps,
 * and how fast a selector parses. Run with `npx tsx bench/selector.ts`.
 */
import { parseSelector } from '../selector/index.js';
import { formatMeasurement, measure } from './measure.js';
import { seededRandom } from '../test/seeded-random.js';

const NODES = 10_000;
const PARSES_PER_RUN = 10_000;
const SELECTOR = 'rack == "0" && has(topology.kubernetes.io/zone) && kubernetes.io/os in {"linux"}';

/** Node labels as a real cluster has them: always hostname/os/arch, then a mix of topology labels. */
function nodeLabels(count: number): Record<string, string>[] {
  const next = seededRandom(42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const optional: readonly (readonly [string, () => string])[] = [
    ['topology.kubernetes.io/zone', () => pick(['eu-west-1a', 'eu-west-1b', 'eu-west-1c'])],
    ['topology.kubernetes.io/region', () => 'eu-west-1'],
    ['rack', () => String(Math.floor(next() * 8))],
    ['node.kubernetes.io/instance-type', () => pick(['m6i.large', 'm6i.xlarge', 'c6i.2xlarge'])],
    ['node-role.kubernetes.io/worker', () => ''],
    ['kubernetes.io/role', () => pick(['worker', 'infra'])],
    ['cluster.x-k8s.io/pool', () => `pool-${Math.floor(next() * 4)}`],
  ];
  const maps: Record<string, string>[] = [];
  for (let i = 0; i < count; i++) {
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': `node-${i}`,
      'kubernetes.io/os': next() < 0.9 ? 'linux' : 'windows',
      'kubernetes.io/arch': next() < 0.8 ? 'amd64' : 'arm64',
    };
    // 5 to 10 labels in all.
    const extra = 2 + Math.floor(next() * 6);
    for (const [key, makeValue] of optional.slice(0, extra)) if (next() < 0.85) labels[key] = makeValue();
    while (Object.keys(labels).length < 5) labels[`example.com/label-${Object.keys(labels).length}`] = 'x';
    maps.push(labels);
  }
  return maps;
}

const maps = nodeLabels(NODES);
const selector = parseSelector(SELECTOR);
let matched = 0;
for (const labels of maps) if (selector.matches(labels)) matched++;
const sizes = maps.map((labels) => Object.keys(labels).length);

console.log(`selector: ${selector.toString()}`);
console.log(`${NODES} label maps, ${Math.min(...sizes)}–${Math.max(...sizes)} labels each; ${matched} match`);

let sink = 0;
const evaluate = await measure(
  `evaluate over ${NODES} maps`,
  () => {
    let hits = 0;
    for (const labels of maps) if (selector.matches(labels)) hits++;
    sink += hits;
  },
  { runs: 15, warmups: 5 },
);
console.log(formatMeasurement(evaluate, { count: NODES, unit: 'evaluations' }));

const parse = await measure(
  `parse ×${PARSES_PER_RUN}`,
  () => {
    for (let i = 0; i < PARSES_PER_RUN; i++) sink += parseSelector(SELECTOR).ast.kind.length;
  },
  { runs: 9, warmups: 3 },
);
console.log(formatMeasurement(parse, { count: PARSES_PER_RUN, unit: 'parses' }));

if (sink === 0) console.log('(unreachable: keeps the timed work observable)');
