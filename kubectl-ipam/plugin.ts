/** `kubectl ipam`: dispatches one command line to the pure reports and the cluster adapter. */
import fs from 'node:fs';
import { errorMessage } from '../common/index.js';
import { safeParseAddress, parseCidr, addressOrdinal } from '../ipam/index.js';
import { type Command, parseCommandLine, usage } from './args.js';
import { checkCluster, problemCount } from './check.js';
import { Cluster, type Progress } from './cluster.js';
import { configureSpec } from './configure.js';
import { describeError } from './errors.js';
import {
  type RenderOptions,
  renderAddress,
  renderBlocks,
  renderBorrowed,
  renderCheck,
  renderConfig,
  renderPools,
  renderRelease,
  renderSplit,
} from './render.js';
import { type ReleaseTarget, type Verdict, reportFileSchema, reportRefusal } from './release.js';
import { addressState, blockHolding, blockRows, borrowedRows, poolRows } from './show.js';
import { configInForce } from './snapshot.js';
import { colourWanted, progressText } from './terminal.js';

export interface PluginIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal: colours only then (and NO_COLOR unset). */
  readonly tty: boolean;
  /** Where to say how a long read is going (stderr when it is a terminal): undefined clears it. */
  readonly progress?: ((text: string | undefined) => void) | undefined;
  readonly now: () => Date;
}

/** Runs one command line; resolves to the exit code (see `usage`). */
export async function runPlugin(argv: readonly string[], io: PluginIo): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (!parsed.ok) {
    io.stderr(`error: ${parsed.error}\n\n${usage}\n`);
    return 2;
  }
  const { command } = parsed;
  if (command.name === 'help') {
    io.stdout(`${usage}\n`);
    return 0;
  }
  let cluster: Cluster | undefined;
  try {
    cluster = Cluster.connect(parsed.connect, io.env);
    return await runCommand(command, cluster, io);
  } catch (error) {
    io.stderr(`error: ${describeError(error)}\n`);
    return 2;
  } finally {
    cluster?.close();
  }
}

async function runCommand(
  command: Exclude<Command, { name: 'help' }>,
  cluster: Cluster,
  io: PluginIo,
): Promise<number> {
  const print = (text: string) => {
    io.stdout(`${text}\n`);
  };
  const colour = colourWanted(io.tty, io.env);
  switch (command.name) {
    case 'show': {
      const options: RenderOptions = { output: command.output, colour };
      if (command.view === 'config') {
        print(renderConfig(configInForce(await cluster.config()), options));
        return 0;
      }
      const address = command.view === 'address' ? safeParseAddress(command.address) : undefined;
      if (address !== undefined && !address.ok) {
        io.stderr(`error: --ip: ${address.error.message}\n`);
        return 2;
      }
      const snapshot = await reading(io, (progress) => cluster.addressView(progress));
      const now = io.now();
      switch (command.view) {
        case 'pools':
          print(renderPools(poolRows(snapshot), options));
          break;
        case 'blocks':
          print(renderBlocks(blockRows(snapshot, now), options));
          break;
        case 'borrowed':
          print(renderBorrowed(borrowedRows(snapshot), options));
          break;
        case 'address':
          if (address?.ok === true) {
            const state = addressState(snapshot, address.value, now, await cluster.reservations());
            print(renderAddress(state, now, options));
          }
          break;
      }
      return 0;
    }
    case 'check': {
      const report = checkCluster(await reading(io, (progress) => cluster.snapshot(progress)), {
        now: io.now(),
        graceMs: command.graceSeconds * 1000,
      });
      print(renderCheck(report, { output: command.output, colour }));
      return problemCount(report) === 0 ? 0 : 1;
    }
    case 'release':
      return release(command, cluster, io, colour);
    case 'split': {
      const outcome = await cluster.split(command.pool, command.parts);
      if (!outcome.ok) {
        io.stderr(`error: ${outcome.error}\n`);
        return 2;
      }
      print(renderSplit(outcome.value, { output: command.output, colour }));
      return outcome.value.blocksLeft.length === 0 ? 0 : 1;
    }
    case 'configure': {
      const current = await cluster.config();
      const outcome = configureSpec(current?.spec, command.flags);
      if (!outcome.ok) {
        io.stderr(`error: ${outcome.problems.join('\n       ')}\n`);
        return 2;
      }
      await cluster.writeConfig(current, outcome.spec);
      print(renderConfig(configInForce(await cluster.config()), { output: 'table', colour }));
      return 0;
    }
  }
}

async function release(
  command: Extract<Command, { name: 'release' }>,
  cluster: Cluster,
  io: PluginIo,
  colour: boolean,
): Promise<number> {
  const targets =
    command.from === 'report'
      ? await reportTargets(command.file, command, cluster, io)
      : await addressTargets(command.address, cluster, io);
  if (targets === undefined) return 2;
  const byBlock = new Map<string, ReleaseTarget[]>();
  for (const target of targets) byBlock.set(target.block, [...(byBlock.get(target.block) ?? []), target]);
  const judged: { target: ReleaseTarget; verdict: Verdict }[] = [];
  for (const [block, inBlock] of byBlock) {
    const options = {
      dryRun: command.dryRun,
      releaseHeld: command.from === 'address' && command.force,
      graceMs: command.graceSeconds * 1000,
      now: io.now,
    };
    judged.push(...(await cluster.releaseInBlock(block, inBlock, options)));
  }
  const rows = judged.map(({ target, verdict }) => ({
    address: target.address,
    pod: target.pod === undefined ? '' : `${target.namespace ?? ''}/${target.pod}`,
    handle: target.handle,
    outcome: verdictText(verdict, command.dryRun),
  }));
  io.stdout(`${renderRelease(rows, { output: command.output, colour })}\n`);
  return judged.some(({ verdict }) => verdict === 'held' || verdict === 'unowned') ? 1 : 0;
}

/** The leaks of a check report, if it may be acted on: from this cluster and recent, or `--force`. */
async function reportTargets(
  file: string,
  command: { readonly force: boolean; readonly maxAgeMinutes: number },
  cluster: Cluster,
  io: PluginIo,
): Promise<ReleaseTarget[] | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    io.stderr(`error: cannot read the report ${file}: ${errorMessage(error)}\n`);
    return undefined;
  }
  const report = reportFileSchema.safeParse(json);
  if (!report.success) {
    io.stderr(`error: ${file} is not a report of kubectl ipam check -o json\n`);
    return undefined;
  }
  const refusal = reportRefusal(
    report.data,
    await cluster.identity(),
    io.now(),
    command.maxAgeMinutes * 60_000,
  );
  if (refusal !== undefined) {
    if (!command.force) {
      io.stderr(`error: ${refusal} (--force to use it anyway)\n`);
      return undefined;
    }
    io.stderr(`warning: ${refusal}; going on (--force): each address is still checked against its pod\n`);
  }
  return report.data.leaks;
}

/** The allocation recorded at `text`, or none when the address is not allocated (said on stderr). */
async function addressTargets(
  text: string,
  cluster: Cluster,
  io: PluginIo,
): Promise<ReleaseTarget[] | undefined> {
  const address = safeParseAddress(text);
  if (!address.ok) {
    io.stderr(`error: --ip: ${address.error.message}\n`);
    return undefined;
  }
  const snapshot = await reading(io, (progress) => cluster.addressView(progress));
  const state = addressState(snapshot, address.value, io.now());
  if (state.state !== 'allocated') {
    io.stderr(`${renderAddress(state, io.now(), { output: 'table', colour: false })}: nothing to release\n`);
    return [];
  }
  const block = blockHolding(snapshot.blocks, address.value);
  const ordinal = block === undefined ? undefined : addressOrdinal(parseCidr(block.spec.cidr), address.value);
  if (ordinal === undefined) return [];
  return [
    {
      address: state.address,
      block: state.block,
      ordinal,
      handle: state.handle,
      ...(state.namespace === undefined ? {} : { namespace: state.namespace }),
      ...(state.pod === undefined ? {} : { pod: state.pod }),
    },
  ];
}

function verdictText(verdict: Verdict, dryRun: boolean): string {
  switch (verdict) {
    case 'release':
      return dryRun ? 'would be released (dry run)' : 'released';
    case 'already-free':
      return 'already free';
    case 'held':
      return 'kept: its pod still holds it';
    case 'unowned':
      return 'kept: no pod recorded to check (use --force with --ip)';
  }
}

/** Runs one of the cluster's reads with its progress shown on the terminal, a page at a time. */
async function reading<T>(io: PluginIo, read: (progress: Progress) => Promise<T>): Promise<T> {
  const counts = new Map<string, number>();
  try {
    return await read((what, count) => {
      counts.set(what, count);
      io.progress?.(progressText(counts));
    });
  } finally {
    io.progress?.(undefined);
  }
}
