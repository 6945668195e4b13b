/**
 * The layers of docs/architecture.md, enforced: every import between the repository's folders must point
 * inward (from a program to an adapter to the pure core), never outward. The table below is the one place
 * the rule is written in code; the document explains it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Innermost first. A folder may import any folder of an inner layer, and of its own layer only `peers`. */
const layers = ['core', 'adapter', 'allocator', 'program', 'tooling'] as const;
type Layer = (typeof layers)[number];

interface Folder {
  readonly layer: Layer;
  /** Folders of the same layer it may import. */
  readonly peers?: readonly string[];
  /** Folders of an outer layer it may import types from (`import type`, erased at run time). */
  readonly typesFrom?: readonly string[];
}

const folders: Readonly<Record<string, Folder>> = {
  common: { layer: 'core' },
  selector: { layer: 'core', peers: ['common'] },
  ipam: { layer: 'core', peers: ['common'] },
  // An object type is Kubernetes metadata (kube/objects.ts) around the model's spec.
  api: { layer: 'core', peers: ['common', 'selector', 'ipam'], typesFrom: ['kube'] },
  kube: { layer: 'adapter' },
  runtime: { layer: 'adapter', peers: ['kube'] },
  allocator: { layer: 'allocator' },
  cni: { layer: 'program' },
  // The agent answers the CNI commands: cni/ holds that surface (configuration, results, error codes).
  agent: { layer: 'program', peers: ['cni'] },
  operator: { layer: 'program' },
  installer: { layer: 'program' },
  'kubectl-ipam': { layer: 'program' },
  // Tooling may import any folder, its own layer included.
  'local-cluster': { layer: 'tooling' },
  test: { layer: 'tooling' },
  charts: { layer: 'tooling' },
  scripts: { layer: 'tooling' },
  bench: { layer: 'tooling' },
  chaos: { layer: 'tooling' },
};

/**
 * Files that exist for tests (and benchmarks): they, like `*.test.ts` files, may import any folder, and
 * no file of the core, the adapters, allocator/ or the programs may import them.
 */
const testHelperNames = new Set(['testing.ts', 'fixtures.ts', 'fake-clock.ts', 'stand-in-agent.ts']);

/** Pure planners inside a program: outside themselves they import only the core, and kube/ for types. */
const purePlanners = ['operator/plan/'];

const skippedDirectories = new Set(['node_modules', '.cache', 'dist', '.git']);

function sourceFiles(directory: string): string[] {
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return skippedDirectories.has(entry.name) ? [] : sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

interface Import {
  readonly specifier: string;
  /** `import type` / `export type`: no edge at run time. */
  readonly typeOnly: boolean;
}

/** Every module a file imports or re-exports, statically or with `import()`. */
function importsOf(text: string): Import[] {
  const source = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, false);
  const found: Import[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const typeOnly = ts.isImportDeclaration(node)
        ? node.importClause?.phaseModifier === ts.SyntaxKind.TypeKeyword
        : node.isTypeOnly;
      found.push({ specifier: node.moduleSpecifier.text, typeOnly });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const isTestFile = (file: string): boolean =>
  file.endsWith('.test.ts') || testHelperNames.has(path.basename(file));

const topFolder = (relative: string): string => relative.split('/')[0] ?? '';

/** Why importing `to` from `from` (repository-relative paths) breaks the layers, or undefined if it does not. */
function layerProblem(from: string, to: string, typeOnly: boolean): string | undefined {
  const source = folders[topFolder(from)];
  const target = folders[topFolder(to)];
  if (source === undefined || target === undefined) return undefined;
  if (source.layer !== 'tooling' && isTestFile(to) && !isTestFile(from)) {
    return `${from} imports the test file ${to}`;
  }
  if (isTestFile(from) || source.layer === 'tooling') return undefined;
  const planner = purePlanners.find((prefix) => from.startsWith(prefix));
  if (planner !== undefined && !to.startsWith(planner) && target.layer !== 'core') {
    if (!(typeOnly && topFolder(to) === 'kube')) return `${from} (a pure planner) imports ${to}`;
  }
  if (topFolder(from) === topFolder(to)) return undefined;
  const sourceRank = layers.indexOf(source.layer);
  const targetRank = layers.indexOf(target.layer);
  if (targetRank < sourceRank) return undefined;
  if (source.peers?.includes(topFolder(to)) === true) return undefined;
  if (typeOnly && source.typesFrom?.includes(topFolder(to)) === true) return undefined;
  const where =
    targetRank === sourceRank ? `another ${target.layer} folder` : `the outer ${target.layer} layer`;
  return `${from} (${source.layer}) imports ${to} from ${where}`;
}

function repositoryImports(): { from: string; to: string; typeOnly: boolean }[] {
  return Object.keys(folders)
    .filter((folder) => fs.existsSync(path.join(root, folder)))
    .flatMap((folder) => sourceFiles(path.join(root, folder)))
    .flatMap((file) =>
      importsOf(fs.readFileSync(file, 'utf8'))
        .filter(({ specifier }) => specifier.startsWith('.'))
        .map(({ specifier, typeOnly }) => ({
          from: path.relative(root, file).split(path.sep).join('/'),
          to: path
            .relative(root, path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')))
            .split(path.sep)
            .join('/'),
          typeOnly,
        })),
    );
}

describe('the layers of docs/architecture.md', () => {
  const imports = repositoryImports();

  it('hold for every import between folders', () => {
    const problems = imports.flatMap(({ from, to, typeOnly }) => layerProblem(from, to, typeOnly) ?? []);
    expect(problems).toEqual([]);
  });

  it('keep the pure core free of Node built-ins (no I/O)', () => {
    const coreFiles = Object.entries(folders)
      .filter(([folder, { layer }]) => layer === 'core' && fs.existsSync(path.join(root, folder)))
      .flatMap(([folder]) => sourceFiles(path.join(root, folder)))
      .filter((file) => !isTestFile(file));
    const io = coreFiles.flatMap((file) =>
      importsOf(fs.readFileSync(file, 'utf8'))
        .filter(({ specifier }) => specifier.startsWith('node:'))
        .map(({ specifier }) => `${path.relative(root, file)} imports ${specifier}`),
    );
    expect(io).toEqual([]);
  });

  it('classify every folder that holds TypeScript, and the document names each', () => {
    const unclassified = fs
      .readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !skippedDirectories.has(entry.name))
      .filter((entry) => !(entry.name in folders) && sourceFiles(path.join(root, entry.name)).length > 0)
      .map((entry) => entry.name);
    expect(unclassified).toEqual([]);
    const document = fs.readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');
    expect(Object.keys(folders).filter((folder) => !document.includes(`\`${folder}/\``))).toEqual([]);
  });
});

describe('layerProblem', () => {
  it.each([
    ['api/pool-spec.ts', 'ipam/cidr.ts', false, undefined],
    [
      'ipam/blocks.ts',
      'api/block.ts',
      false,
      'ipam/blocks.ts (core) imports api/block.ts from another core folder',
    ],
    ['api/resources.ts', 'kube/objects.ts', true, undefined],
    [
      'api/resources.ts',
      'kube/objects.ts',
      false,
      'api/resources.ts (core) imports kube/objects.ts from the outer adapter layer',
    ],
    [
      'kube/client.ts',
      'allocator/claim.ts',
      false,
      'kube/client.ts (adapter) imports allocator/claim.ts from the outer allocator layer',
    ],
    ['operator/plan/node.ts', 'api/index.ts', false, undefined],
    ['operator/plan/node.ts', 'kube/index.ts', true, undefined],
    [
      'operator/plan/node.ts',
      'allocator/index.ts',
      false,
      'operator/plan/node.ts (a pure planner) imports allocator/index.ts',
    ],
    [
      'operator/plan/node.ts',
      'operator/cluster-state.ts',
      false,
      'operator/plan/node.ts (a pure planner) imports operator/cluster-state.ts',
    ],
    ['operator/node-reconciler.ts', 'allocator/index.ts', false, undefined],
    ['agent/agent.ts', 'cni/run.ts', false, undefined],
    [
      'cni/run.ts',
      'agent/agent.ts',
      false,
      'cni/run.ts (program) imports agent/agent.ts from another program folder',
    ],
    [
      'operator/main.ts',
      'local-cluster/context.ts',
      false,
      'operator/main.ts (program) imports local-cluster/context.ts from the outer tooling layer',
    ],
    [
      'operator/controller.ts',
      'operator/fake-clock.ts',
      false,
      'operator/controller.ts imports the test file operator/fake-clock.ts',
    ],
    ['api/pool-policy.test.ts', 'operator/plan/fixtures.ts', false, undefined],
    ['cni/plan.test.ts', 'agent/addresses.ts', false, undefined],
    ['bench/cni.ts', 'cni/testing.ts', false, undefined],
    ['scripts/start.ts', 'local-cluster/context.ts', false, undefined],
  ] as const)('%s → %s (type only: %s)', (from, to, typeOnly, problem) => {
    expect(layerProblem(from, to, typeOnly)).toBe(problem);
  });
});
