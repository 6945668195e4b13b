/** Each report as text: a table for people, JSON or YAML for tools. Pure. */
import { stringify as toYaml } from 'yaml';
import { type CheckReport, problemCount } from './check.js';
import { humanAge, paint, table, usageBar } from './format.js';
import type { AddressState, BlockRow, BorrowedRow, PoolRow } from './show.js';
import type { SplitOutcome } from './split.js';

export const outputFormats = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof outputFormats)[number];

export interface RenderOptions {
  readonly output: OutputFormat;
  /** Colours: only when writing to a terminal. */
  readonly colour: boolean;
}

/** JSON or YAML of `value`, or undefined for table output. */
function structured(value: unknown, output: OutputFormat): string | undefined {
  switch (output) {
    case 'json':
      return JSON.stringify(value, null, 2);
    case 'yaml':
      return toYaml(value).trimEnd();
    case 'table':
      return undefined;
  }
}

export function renderPools(rows: readonly PoolRow[], options: RenderOptions): string {
  return (
    structured(rows, options.output) ??
    table(
      ['NAME', 'CIDR', 'SELECTOR', 'BLOCKS', 'USED/CAPACITY', 'USE', 'STATUS'],
      rows.map((row) => [
        row.name,
        row.cidr,
        row.selector,
        String(row.blocks),
        `${row.used}/${row.capacity}`,
        usageBar(BigInt(row.used), BigInt(row.capacity)),
        paint(row.status, row.status === 'Allocatable' ? 'green' : 'yellow', options.colour),
      ]),
    )
  );
}

export function renderBlocks(rows: readonly BlockRow[], options: RenderOptions): string {
  return (
    structured(rows, options.output) ??
    table(
      ['NODE', 'BLOCK', 'POOL', 'USED/SIZE', 'USE', 'COOLING', 'STATE'],
      rows.map((row) => [
        row.node,
        row.block,
        row.pool,
        `${row.used}/${row.size}`,
        usageBar(BigInt(row.used), BigInt(row.size)),
        String(row.cooling),
        row.state,
      ]),
    )
  );
}

export function renderBorrowed(rows: readonly BorrowedRow[], options: RenderOptions): string {
  return (
    structured(rows, options.output) ??
    (rows.length === 0
      ? 'No address is borrowed across nodes.'
      : table(
          ['ADDRESS', 'POD', 'NODE', 'BLOCK', 'BLOCK NODE'],
          rows.map((row) => [row.address, `${row.namespace}/${row.pod}`, row.node, row.block, row.blockNode]),
        ))
  );
}

export function renderConfig(
  config: { readonly spec: object; readonly source: 'object' | 'defaults' | 'malformed' },
  options: RenderOptions,
): string {
  const text = structured(config, options.output);
  if (text !== undefined) return text;
  const note = {
    object: 'IPAMConfig "default":',
    defaults: 'No IPAMConfig: the defaults are in force:',
    malformed: 'IPAMConfig "default" does not validate: the defaults are in force:',
  }[config.source];
  return `${note}\n${table(
    ['SETTING', 'VALUE'],
    Object.entries(config.spec).map(([key, value]) => [key, String(value)]),
  )}`;
}

export function renderAddress(state: AddressState, now: Date, options: RenderOptions): string {
  const text = structured(state, options.output);
  if (text !== undefined) return text;
  const since = (timestamp: string) =>
    `${timestamp} (${humanAge((now.getTime() - Date.parse(timestamp)) / 1000)} ago)`;
  switch (state.state) {
    case 'allocated':
      return table(
        ['ADDRESS', state.address],
        [
          ['pod', state.pod === undefined ? '-' : `${state.namespace ?? ''}/${state.pod}`],
          ['node', state.node],
          ['handle', state.handle],
          ['block', state.block],
          ['since', since(state.since)],
        ],
      );
    case 'cooling':
      return `${state.address} is cooling down in block ${state.block}: released ${since(state.releasedAt)}, reusable from ${state.reusableAt}`;
    case 'reserved':
      return state.reservations === undefined
        ? `${state.address} is reserved in block ${state.block ?? '-'} (its network or broadcast address): never assigned`
        : `${state.address} is reserved by IPReservation ${state.reservations.join(', ')}: never assigned automatically`;
    case 'free':
      return state.block === undefined
        ? `${state.address} is free: in pool ${state.pool}, in a block no node has claimed`
        : `${state.address} is free: in block ${state.block} of pool ${state.pool}`;
    case 'outside':
      return `${state.address} is outside every pool`;
  }
}

export function renderCheck(report: CheckReport, options: RenderOptions): string {
  const text = structured(report, options.output);
  if (text !== undefined) return text;
  const sections: string[] = [];
  const section = (title: string, headers: string[], rows: string[][]) => {
    if (rows.length > 0)
      sections.push(`${paint(title, 'red', options.colour)} (${rows.length})\n${table(headers, rows)}`);
  };
  section(
    'Leak candidates: addresses held by pods that no longer exist',
    ['ADDRESS', 'POD', 'NODE', 'AGE', 'REASON', 'HANDLE'],
    report.leaks.map((leak) => [
      leak.address,
      `${leak.namespace}/${leak.pod}`,
      leak.node,
      humanAge(leak.ageSeconds),
      leak.reason,
      leak.handle,
    ]),
  );
  section(
    'Pods whose address is not recorded',
    ['ADDRESS', 'POD', 'NODE'],
    report.unrecordedPods.map((pod) => [pod.address, `${pod.namespace}/${pod.pod}`, pod.node]),
  );
  section(
    'Addresses recorded twice',
    ['ADDRESS', 'RECORDED IN'],
    report.duplicates.map((duplicate) => [
      duplicate.address,
      duplicate.holders.map((holder) => `${holder.block} (${holder.handle})`).join(', '),
    ]),
  );
  const blockSection = (title: string, list: CheckReport['blocksWithoutAffinity']) => {
    section(
      title,
      ['BLOCK', 'POOL', 'NODE'],
      list.map((problem) => [problem.block, problem.pool, problem.node]),
    );
  };
  blockSection('Blocks without an affinity', report.blocksWithoutAffinity);
  blockSection('Affinities without a block', report.affinitiesWithoutBlock);
  blockSection('Blocks of deleted nodes', report.blocksOfDeletedNodes);
  blockSection('Blocks outside every pool', report.blocksOutsidePools);
  const count = problemCount(report);
  const summary =
    count === 0
      ? paint('No problem found.', 'green', options.colour)
      : `${count} problem${count === 1 ? '' : 's'} found.` +
        (report.leaks.length > 0
          ? ' Save this report with -o json and free the leaks with: kubectl ipam release --from-report FILE'
          : '');
  return [...sections, summary].join('\n\n');
}

export interface ReleaseRow {
  readonly address: string;
  readonly pod: string;
  readonly handle: string;
  readonly outcome: string;
}

export function renderRelease(rows: readonly ReleaseRow[], options: RenderOptions): string {
  return (
    structured(rows, options.output) ??
    (rows.length === 0
      ? 'Nothing to release.'
      : table(
          ['ADDRESS', 'POD', 'OUTCOME'],
          rows.map((row) => [row.address, row.pod, row.outcome]),
        ))
  );
}

export function renderSplit(outcome: SplitOutcome, options: RenderOptions): string {
  const text = structured(outcome, options.output);
  if (text !== undefined) return text;
  const old = `IPPool "${outcome.pool}" ${outcome.cidr ?? ''}`;
  const gone = outcome.cidr === undefined;
  const lines = [
    gone
      ? `IPPool "${outcome.pool}" is gone: it was split already.`
      : outcome.disabled
        ? `${old} disabled.`
        : `${old} was disabled already.`,
    table(
      ['POOL', 'CIDR', 'CREATED', 'BLOCKS MOVED'],
      outcome.pools.map((pool) => [
        pool.name,
        pool.cidr,
        pool.created ? 'yes' : 'already there',
        String(outcome.blocksMoved[pool.name] ?? 0),
      ]),
    ),
  ];
  if (outcome.blocksLeft.length > 0)
    lines.push(
      paint(
        `${outcome.blocksLeft.length} block(s) still being claimed in "${outcome.pool}" ` +
          `(${outcome.blocksLeft.join(', ')}): run the same split again to move them.`,
        'yellow',
        options.colour,
      ),
    );
  if (!gone) lines.push(`IPPool "${outcome.pool}" deleted: it goes once no block is left in it.`);
  return lines.join('\n');
}
