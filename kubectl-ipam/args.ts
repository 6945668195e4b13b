/** The command line, parsed into one command or a usage error. Pure. */
import { parseArgs } from 'node:util';
import { errorMessage } from '../common/index.js';
import { type ConfigureFlag, configureFlags } from './configure.js';
import { type OutputFormat, outputFormats } from './render.js';

export interface Connect {
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Objects per page of a list (kubectl's --chunk-size); 0 reads each list whole. */
  readonly chunkSize?: number;
}

export type ShowView = 'pools' | 'blocks' | 'borrowed' | 'config';

export type Command =
  | { readonly name: 'help' }
  | ({ readonly name: 'show'; readonly output: OutputFormat } & (
      { readonly view: ShowView } | { readonly view: 'address'; readonly address: string }
    ))
  | { readonly name: 'check'; readonly output: OutputFormat; readonly graceSeconds: number }
  | ({
      readonly name: 'release';
      readonly dryRun: boolean;
      readonly force: boolean;
      readonly graceSeconds: number;
      readonly output: OutputFormat;
    } & (
      | { readonly from: 'report'; readonly file: string; readonly maxAgeMinutes: number }
      | { readonly from: 'address'; readonly address: string }
    ))
  | { readonly name: 'configure'; readonly flags: Partial<Record<ConfigureFlag, string>> }
  | { readonly name: 'split'; readonly pool: string; readonly parts: number; readonly output: OutputFormat };

export type Parsed =
  | { readonly ok: true; readonly command: Command; readonly connect: Connect }
  | { readonly ok: false; readonly error: string };

const options = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'chunk-size': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
  blocks: { type: 'boolean' },
  borrowed: { type: 'boolean' },
  config: { type: 'boolean' },
  ip: { type: 'string' },
  grace: { type: 'string' },
  'from-report': { type: 'string' },
  'max-age': { type: 'string' },
  'dry-run': { type: 'boolean' },
  force: { type: 'boolean' },
  'strict-affinity': { type: 'string' },
  'max-blocks-per-host': { type: 'string' },
  'auto-allocate-blocks': { type: 'string' },
  'min-free-addresses-per-node': { type: 'string' },
  'release-cooldown-seconds': { type: 'string' },
  'leak-grace-period-seconds': { type: 'string' },
} as const satisfies Record<ConfigureFlag, { type: 'string' }> & Record<string, object>;

/** The flags each command takes besides --kubeconfig, --context and --help. */
const commandFlags: Record<Command['name'], readonly string[]> = {
  help: [],
  show: ['output', 'blocks', 'borrowed', 'config', 'ip'],
  check: ['output', 'grace'],
  release: ['output', 'ip', 'from-report', 'max-age', 'grace', 'dry-run', 'force'],
  configure: Object.keys(configureFlags),
  split: ['output'],
};

/** Flags every command takes. */
const globalFlags = ['kubeconfig', 'context', 'chunk-size', 'help'];

export const usage = `kubectl ipam: see, check and repair the cluster's addresses (topology-ipam)

Usage:
  kubectl ipam show [--blocks | --borrowed | --config | --ip ADDRESS] [-o table|json|yaml]
  kubectl ipam check [--grace SECONDS] [-o table|json|yaml]
  kubectl ipam release (--ip ADDRESS | --from-report FILE [--max-age MINUTES]) [--grace SECONDS] [--dry-run] [--force]
  kubectl ipam configure [--strict-affinity=true|false] [--max-blocks-per-host=N]
                         [--auto-allocate-blocks=true|false] [--min-free-addresses-per-node=N]
                         [--release-cooldown-seconds=N] [--leak-grace-period-seconds=N]
  kubectl ipam split POOL N [-o table|json|yaml]
      Splits POOL into N pools of equal size (N a power of two) with its settings, named POOL-0 to
      POOL-<N-1>: disables POOL, creates them, hands them POOL's blocks (addresses in use untouched)
      and deletes POOL. Run it again to finish a split that was interrupted.

Global flags: --kubeconfig FILE, --context NAME, --chunk-size N (objects per page of a list, default
500; 0 for one response).
Exit codes: 0 done (check: no problem); 1 check found problems, or release kept some address, or
split left blocks to move; 2 usage error, refused report or split, or an error talking to the cluster.`;

export function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  }
  const { values, positionals } = parsed;
  const chunkSize = values['chunk-size'] === undefined ? undefined : count(values['chunk-size']);
  if (chunkSize === undefined && values['chunk-size'] !== undefined)
    return { ok: false, error: '--chunk-size must be a number of objects (0 for no paging)' };
  const connect: Connect = {
    ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
    ...(values.context === undefined ? {} : { context: values.context }),
    ...(chunkSize === undefined ? {} : { chunkSize }),
  };
  const [name = 'help', ...rest] = positionals;
  if (values.help === true || name === 'help') return { ok: true, command: { name: 'help' }, connect };
  if (!isCommand(name)) return { ok: false, error: `unknown command "${name}"` };
  const operands = name === 'split' ? 2 : 0;
  if (rest.length > operands)
    return { ok: false, error: `unexpected argument "${rest.slice(operands).join(' ')}"` };
  if (rest.length < operands) return { ok: false, error: 'split takes a pool and a number: split POOL N' };
  const given = Object.keys(values).filter((flag) => !globalFlags.includes(flag));
  const foreign = given.find((flag) => !commandFlags[name].includes(flag));
  if (foreign !== undefined) return { ok: false, error: `${name} takes no --${foreign}` };
  const output = values.output ?? 'table';
  if (!isOutput(output)) return { ok: false, error: `-o must be one of ${outputFormats.join(', ')}` };
  const command = buildCommand(name, values, output, rest);
  return typeof command === 'string' ? { ok: false, error: command } : { ok: true, command, connect };
}

type Values = ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];

function buildCommand(
  name: Exclude<Command['name'], 'help'>,
  values: Values,
  output: OutputFormat,
  operands: readonly string[],
): Command | string {
  switch (name) {
    case 'split': {
      const [pool = '', parts = ''] = operands;
      return /^\d{1,4}$/.test(parts)
        ? { name, pool, parts: Number(parts), output }
        : `N must be a number of pools, not "${parts}"`;
    }
    case 'show': {
      const views = (['blocks', 'borrowed', 'config'] as const).filter((view) => values[view] === true);
      if (views.length + (values.ip === undefined ? 0 : 1) > 1)
        return 'show takes one of --blocks, --borrowed, --config, --ip';
      if (values.ip !== undefined) return { name, output, view: 'address', address: values.ip };
      return { name, output, view: views[0] ?? 'pools' };
    }
    case 'check': {
      const graceSeconds = count(values.grace ?? '60');
      return graceSeconds === undefined
        ? '--grace must be a number of seconds'
        : { name, output, graceSeconds };
    }
    case 'release': {
      const graceSeconds = count(values.grace ?? '60');
      if (graceSeconds === undefined) return '--grace must be a number of seconds';
      const common = {
        name,
        output,
        graceSeconds,
        dryRun: values['dry-run'] === true,
        force: values.force === true,
      };
      const file = values['from-report'];
      if ((file === undefined) === (values.ip === undefined))
        return 'release takes one of --ip, --from-report';
      if (file !== undefined) {
        const maxAgeMinutes = count(values['max-age'] ?? '60');
        if (maxAgeMinutes === undefined) return '--max-age must be a number of minutes';
        return { ...common, from: 'report', file, maxAgeMinutes };
      }
      if (values['max-age'] !== undefined) return '--max-age applies to --from-report only';
      return { ...common, from: 'address', address: values.ip ?? '' };
    }
    case 'configure': {
      const flags: Partial<Record<ConfigureFlag, string>> = {};
      for (const flag of Object.keys(configureFlags) as ConfigureFlag[]) {
        const value = values[flag];
        if (typeof value === 'string') flags[flag] = value;
      }
      return { name, flags };
    }
  }
}

function isCommand(name: string): name is Exclude<Command['name'], 'help'> {
  return name in commandFlags;
}

function isOutput(text: string): text is OutputFormat {
  return (outputFormats as readonly string[]).includes(text);
}

function count(text: string): number | undefined {
  return /^\d{1,7}$/.test(text) ? Number(text) : undefined;
}
