/**
 * The CNI forwarder's cost per invocation, the floor of every pod start: CPU (user + sys) and wall time
 * of the real binary, for an ADD through a stand-in agent that answers at once (so only the forwarder's
 * own work is counted) and for VERSION; beside it a bare `node -e ''` (what any Node.js entry costs before
 * its first line) and /bin/true (what starting any process costs on this machine). They run in turn,
 * invocation by invocation, in 3 rounds; each invocation's CPU is the kernel's accounting of the finished
 * process (wait4's rusage), taken by bench/process-cpu, which starts it without a fork of its own (a
 * shell's `time` charges each child the shell's fork, several ms here).
 * Run with `npm run bench -- forwarder` (needs Go). See docs/adr/0011-cni-forwarder.md.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { encodeReply, parseRequest } from '../agent/protocol.js';
import { buildForwarder } from '../cni/build.js';
import { startStandInAgent } from '../cni/stand-in-agent.js';
import { median } from './measure.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const rounds = 3;
const invocationsPerRound = 20;

interface Sample {
  readonly cpuMs: number;
  readonly wallMs: number;
}

interface Candidate {
  readonly name: string;
  readonly command: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** Runs `command` once with `stdinFile` on stdin under the process-cpu harness; rejects if it fails. */
function timeOnce(harness: string, candidate: Candidate, stdinFile: string): Promise<Sample> {
  const child = spawn(harness, [stdinFile, ...candidate.command], {
    env: candidate.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${candidate.name} failed (${code}): ${output}`));
        return;
      }
      const { cpuMicros, wallMicros } = JSON.parse(output) as { cpuMicros: number; wallMicros: number };
      resolve({ cpuMs: cpuMicros / 1000, wallMs: wallMicros / 1000 });
    });
  });
}

/** Builds bench/process-cpu (Go, standard library only) into `outDir`. */
async function buildHarness(outDir: string): Promise<string> {
  const executable = path.join(outDir, 'process-cpu');
  await promisify(execFile)('go', ['build', '-trimpath', '-o', executable, '.'], {
    cwd: path.join(here, 'process-cpu'),
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local' },
  });
  return executable;
}

function summary(values: readonly number[]): string {
  const f = (value: number) => value.toFixed(1);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-forwarder-'));
  const agent = await startStandInAgent(path.join(root, 'agent.sock'), {
    reply: (request) =>
      encodeReply(
        0,
        JSON.stringify({ cniVersion: '1.0.0', containerId: parseRequest(request).env.CNI_CONTAINERID }),
      ),
  });
  try {
    const executable = await buildForwarder(path.join(root, 'bin'));
    const harness = await buildHarness(path.join(root, 'bin'));
    const stdinFile = path.join(root, 'config.json');
    fs.writeFileSync(
      stdinFile,
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'bench',
        type: 'bridge',
        ipam: { type: 'topology-ipam', agent_socket: agent.socket },
      }),
    );
    const env = (command: string) => ({
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: 'bench',
      CNI_NETNS: '/var/run/netns/bench',
      CNI_IFNAME: 'eth0',
      CNI_PATH: path.dirname(executable),
    });
    const candidates: Candidate[] = [
      { name: 'forwarder ADD (stand-in agent)', command: [executable], env: env('ADD') },
      { name: 'forwarder VERSION', command: [executable], env: env('VERSION') },
      { name: "node -e ''", command: [process.execPath, '-e', ''], env: env('ADD') },
      { name: '/bin/true (any process)', command: ['/bin/true'], env: env('ADD') },
    ];
    const samples = candidates.map(() => [] as Sample[]);
    for (const candidate of candidates) await timeOnce(harness, candidate, stdinFile); // warm the page cache
    const forwardedBefore = agent.requests.length;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < invocationsPerRound; i++) {
        for (const [index, candidate] of candidates.entries()) {
          samples[index]?.push(await timeOnce(harness, candidate, stdinFile));
        }
      }
    }
    const forwarded = agent.requests.length - forwardedBefore;
    if (forwarded !== rounds * invocationsPerRound)
      throw new Error(`the stand-in agent saw ${forwarded} ADDs, not ${rounds * invocationsPerRound}`);

    console.log(`## CNI forwarder per invocation (${os.cpus().length} CPUs, node ${process.version})\n`);
    console.log(`Median (min–max) of ${rounds} x ${invocationsPerRound} invocations each, run in turn.\n`);
    console.log('| command | CPU ms (user + sys) | wall ms |');
    console.log('| --- | --- | --- |');
    for (const [index, candidate] of candidates.entries()) {
      const of = samples[index] ?? [];
      console.log(
        `| ${candidate.name} | ${summary(of.map((s) => s.cpuMs))} | ${summary(of.map((s) => s.wallMs))} |`,
      );
    }
  } finally {
    await agent.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
