/**
 * `npm run chaos -- --seed N --adds 2000 …`: runs the chaos driver, prints what it checked and every
 * violation found, and exits 1 if there was any (2 on bad flags, or when the run itself could not complete). The seed is printed first, so a failing
 * run can be replayed with the same choices (process timing still varies from run to run).
 */
import { errorMessage, errorStack } from '../common/index.js';
import { runChaos } from './driver.js';
import { chaosSummary } from './summary.js';
import { parseChaosOptions } from './options.js';

async function main(): Promise<number> {
  let options;
  try {
    options = parseChaosOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n`);
    return 2;
  }
  try {
    const result = await runChaos(options, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(chaosSummary(options, result));
    return result.verdict.violations.length === 0 ? 0 : 1;
  } catch (error) {
    // The run itself broke down (a control plane that would not start, say): no verdict either way.
    process.stderr.write(`chaos run, seed ${options.seed}: could not complete: ${errorStack(error)}\n`);
    return 2;
  }
}

process.exitCode = await main();
