/** The chaos run's report, as printed by `npm run chaos`. Pure formatting. */
import type { ChaosResult } from './driver.js';
import type { Violation, ViolationKind } from './invariants.js';
import type { ChaosOptions } from './options.js';

/** Each violation kind's count, in the summary line, with the two that must stay zero first. */
const otherKinds: readonly ViolationKind[] = [
  'unrecorded',
  'readdressed',
  'readdressed-after-failure',
  'owner-recorded-twice',
  'cleanup-failed',
  'block-not-empty',
  'unreadable-block',
  'unreadable-address',
];

export function replayCommand(options: ChaosOptions): string {
  const flag = (name: string, value: number) => `--${name} ${value}`;
  return [
    'npm run chaos --',
    flag('seed', options.seed),
    flag('nodes', options.nodes),
    flag('adds', options.adds),
    flag('concurrency', options.concurrency),
    flag('live-per-node', options.livePerNode),
    flag('plugin-kills', options.pluginKills),
    flag('agent-kills', options.agentKills),
    flag('operator-kills', options.operatorKills),
    flag('api-restarts', options.apiRestarts),
    flag('leak-grace-seconds', options.leakGraceSeconds),
    flag('max-seconds', options.maxSeconds),
  ].join(' ');
}

export function describeViolation(violation: Violation): string {
  switch (violation.kind) {
    case 'address-held-twice':
      return `${violation.address} returned to ${violation.owners[0]} and to ${violation.owners[1]} while both held it`;
    case 'address-recorded-twice':
      return `${violation.snapshot}: ${violation.address} recorded for ${violation.owners.join(' and ')}`;
    case 'blocks-overlap':
      return `${violation.snapshot}: blocks ${violation.blocks[0]} and ${violation.blocks[1]} overlap`;
    case 'owner-recorded-twice':
      return `${violation.snapshot}: ${violation.owner} recorded at ${violation.addresses.join(', ')}`;
    case 'unrecorded':
      return `${violation.snapshot}: ${violation.owner} was given ${violation.address}, which is not recorded for it`;
    case 'readdressed':
      return `a repeated ADD of ${violation.owner} returned ${violation.after} instead of ${violation.before}`;
    case 'readdressed-after-failure':
      return `${violation.snapshot}: the ADD of ${violation.owner} after one that failed returned ${violation.returned}, but ${violation.recorded.join(', ')} was recorded for it`;
    case 'leaked':
      return `${violation.snapshot}: ${violation.address} (block ${violation.block}) still recorded for ${violation.owner}`;
    case 'cleanup-failed':
      return `the clean-up of ${violation.owner} did not succeed: ${violation.outcome}`;
    case 'block-not-empty':
      return `block ${violation.block} still holds ${violation.allocations} allocations at the end`;
    case 'unreadable-block':
      return `${violation.snapshot}: block ${violation.block} has an unreadable CIDR "${violation.cidr}"`;
    case 'unreadable-address':
      return `an ADD of ${violation.owner} returned an unreadable address "${violation.address}"`;
  }
}

const byCode = (errors: Readonly<Record<number, number>>): string => {
  const entries = Object.entries(errors);
  return entries.length === 0 ? 'none' : entries.map(([code, count]) => `code ${code} x${count}`).join(', ');
};

export function chaosSummary(options: ChaosOptions, result: ChaosResult, shown = 30): string {
  const { verdict, stats } = result;
  const count = (kind: ViolationKind) =>
    verdict.violations.filter((violation) => violation.kind === kind).length;
  const lines = [
    `chaos run, seed ${options.seed}: ${verdict.violations.length === 0 ? 'PASSED' : 'FAILED'}`,
    `replay: ${replayCommand(options)}`,
    `allocations checked: ${verdict.allocationsChecked}, duplicates: ${verdict.duplicates}, leaked records: ${verdict.leakedRecords}, ` +
      `${otherKinds.map((kind) => `${kind}: ${count(kind)}`).join(', ')}; records checked: ${verdict.recordsChecked}, ADDs after a failed one checked against their record: ${verdict.reAddsAfterFailureChecked}`,
    `ADDs: ${stats.adds} (failed: ${byCode(stats.addErrors)}), DELs: ${stats.dels} (failed: ${byCode(stats.delErrors)}), ` +
      `pods: ${stats.pods}, forwarders killed: ${stats.pluginsKilled}, agent kills: ${stats.agentKills} ` +
      `(${stats.agentKillsInFlight} with forwarders in flight; + ${stats.agentExits} exits of their own), operator kills: ${stats.operatorKills} ` +
      `(+ ${stats.operatorExits} exits of its own), kube-apiserver restarts: ${stats.apiRestarts}, ` +
      `borrowed addresses: ${stats.borrowed}, bursts: ${stats.bursts}, ${stats.seconds.toFixed(0)} s` +
      (stats.stoppedByTimeBound ? ' (cut short by --max-seconds)' : ''),
    ...verdict.violations.slice(0, shown).map((violation) => `  ${describeViolation(violation)}`),
    ...(verdict.violations.length > shown ? [`  … and ${verdict.violations.length - shown} more`] : []),
    ...(verdict.violations.length > 0
      ? [`the operator's and the agents' logs kept in ${result.runDir}`]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}
