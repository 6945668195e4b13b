/**
 * Overlap detection over 10,000 IPPools. Run with `npx tsx bench/pools.ts`.
 *
 * The mix: 8,500 disjoint /24s scattered over 10.0.0.0/8 (one pool per rack), 40 /16s over the same range
 * (each holding the /24s that fall inside it), 460 /26s inside some of the /24s, 900 IPv6 /64s in
 * fd00::/48 and 100 IPv6 /56s over them. Generated from a fixed seed, so every run sees the same pools.
 */
import { findOverlaps, findOverlapsWith, parseCidr, type PoolRef } from '../ipam/index.js';
import { formatMeasurement, measure } from './measure.js';
import { seededRandom } from '../test/seeded-random.js';

/** `count` distinct integers from [0, range), in random order. */
function sample(next: () => number, range: number, count: number): number[] {
  const values = Array.from({ length: range }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(next() * (range - i));
    [values[i], values[j]] = [values[j] ?? 0, values[i] ?? 0];
  }
  return values.slice(0, count);
}

/** Pool names and CIDR texts, as they would come from IPPool objects. */
function makePoolTexts(): { name: string; cidr: string }[] {
  const next = seededRandom(20240601);
  const texts: { name: string; cidr: string }[] = [];
  const racks = sample(next, 1 << 16, 8500);
  for (const rack of racks) texts.push({ name: `rack-${rack}`, cidr: `10.${rack >> 8}.${rack & 255}.0/24` });
  for (const second of sample(next, 256, 40))
    texts.push({ name: `zone-${second}`, cidr: `10.${second}.0.0/16` });
  for (const rack of racks.slice(0, 460)) {
    const quarter = Math.floor(next() * 4) * 64;
    texts.push({ name: `rack-${rack}-q${quarter}`, cidr: `10.${rack >> 8}.${rack & 255}.${quarter}/26` });
  }
  for (const subnet of sample(next, 1 << 16, 900)) {
    texts.push({ name: `v6-${subnet}`, cidr: `fd00:0:0:${subnet.toString(16)}::/64` });
  }
  for (const block of sample(next, 256, 100)) {
    texts.push({ name: `v6-agg-${block}`, cidr: `fd00:0:0:${(block << 8).toString(16)}::/56` });
  }
  return texts;
}

const texts = makePoolTexts();
const start = Date.UTC(2024, 0, 1);
const pools: PoolRef[] = texts.map(({ name, cidr }, i) => ({
  name,
  cidr: parseCidr(cidr),
  createdAt: new Date(start + i * 1000),
}));
const overlaps = findOverlaps(pools);
console.log(`${pools.length} pools, ${overlaps.length} overlapping pairs`);

const all = await measure('findOverlaps, 10,000 pools', () => findOverlaps(pools), { runs: 15, warmups: 3 });
console.log(formatMeasurement(all, { count: pools.length, unit: 'pools' }));

const candidate: PoolRef = { name: 'new', cidr: parseCidr('10.200.0.0/16') };
const one = await measure(
  'findOverlapsWith, 1 candidate vs 10,000 pools',
  () => findOverlapsWith(candidate, pools),
  {
    runs: 15,
    warmups: 3,
  },
);
console.log(formatMeasurement(one));

const parse = await measure('parseCidr, 10,000 CIDRs', () => texts.map(({ cidr }) => parseCidr(cidr)), {
  runs: 15,
  warmups: 3,
});
console.log(formatMeasurement(parse, { count: texts.length, unit: 'CIDRs' }));
