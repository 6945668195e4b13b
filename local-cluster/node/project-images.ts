/**
 * The project's real images, built from images/Dockerfile unchanged by ../images/build.sh (Debian's
 * buildah, local base images, no registry), cached under .cache/images by a hash of every input, and
 * imported into a real node's containerd, where pods run them with `imagePullPolicy: Never`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RealNode } from './node.js';

const buildScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'images', 'build.sh');
const targets = ['operator', 'cni'] as const;
type Target = (typeof targets)[number];

/** Full image references, as containerd stores them (`localhost/topology-ipam-operator:<tag>`). */
export interface ProjectImages {
  readonly operator: string;
  readonly cni: string;
}

/** The image of `target` built from inputs hashed to `tag`. */
const imageRef = (target: Target, tag: string): string => `localhost/topology-ipam-${target}:${tag}`;

export interface BuiltImages {
  readonly images: ProjectImages;
  /** The OCI archive of each image, for `ctr images import`. */
  readonly archives: Readonly<Record<Target, string>>;
}

/**
 * Builds both images, or takes them from the cache when no input changed (seconds). A cold build makes
 * the base images first: about ten minutes on two busy cores. Progress goes to this process's stderr.
 */
export async function projectImages(): Promise<BuiltImages> {
  const stdout = await new Promise<string>((resolve, reject) => {
    const build = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    build.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    build.on('error', reject);
    build.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`local-cluster/images/build.sh exited with ${String(code)}; its log is above`));
    });
  });
  const dir = stdout.trim().split('\n').at(-1) ?? '';
  const tag = path.basename(dir);
  return {
    images: { operator: imageRef('operator', tag), cni: imageRef('cni', tag) },
    archives: { operator: path.join(dir, 'operator.tar'), cni: path.join(dir, 'cni.tar') },
  };
}

/** Imports built images into a node's containerd (build once, import into every node). */
export function importProjectImages(node: Pick<RealNode, 'ctr'>, built: BuiltImages): ProjectImages {
  for (const target of targets) node.ctr(['images', 'import', built.archives[target]]);
  return built.images;
}
