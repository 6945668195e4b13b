/**
 * The CNI_* environment a runtime sets for each invocation, parsed with zod. Which variables are
 * required depends on the command, as in the spec (and libcni's skel).
 */
import { z } from 'zod';
import { CniError } from './errors.js';

export const commands = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type Command = (typeof commands)[number];

export interface CniArgs {
  readonly podNamespace?: string;
  readonly podName?: string;
  readonly podUID?: string;
  /** Every key=value of CNI_ARGS, including the three above. */
  readonly all: Readonly<Record<string, string>>;
}

export interface CniEnv {
  readonly command: Command;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly path: readonly string[];
  readonly args: CniArgs;
}

// The spec's rules (libcni's skel): container IDs start alphanumeric; interface names are Linux's.
const containerIdPattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/**
 * Runtimes use 64 hex digits; the spec sets no bound, but the ID goes into every handle recorded on a
 * block and into node-local file names, so an unbounded one is refused here rather than failing later.
 */
export const maxContainerIdLength = 256;
const interfaceName = z
  .string()
  .max(15, 'an interface name has at most 15 characters')
  .refine((name) => name !== '.' && name !== '..', 'an interface name cannot be "." or ".."')
  .refine((name) => !/[/:\s]/.test(name), 'an interface name cannot contain "/", ":" or whitespace');

const envSchema = z.object({
  CNI_COMMAND: z.enum(commands, { error: `must be one of ${commands.join(', ')}` }),
  CNI_CONTAINERID: z
    .string()
    .max(maxContainerIdLength, `a container ID has at most ${maxContainerIdLength} characters`)
    .regex(
      containerIdPattern,
      'must start with a letter or digit and hold only letters, digits, "_", "." and "-"',
    )
    .optional(),
  CNI_NETNS: z.string().optional(),
  CNI_IFNAME: interfaceName.optional(),
  CNI_PATH: z.string().optional(),
  CNI_ARGS: z.string().optional(),
});

/** Which variables each command needs (DEL may come after the namespace is gone). */
const required: Record<Command, readonly (keyof z.infer<typeof envSchema>)[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

const invalidEnv = (variable: string, reason: string) =>
  new CniError({ kind: 'invalid-env', variable, reason });

/** `K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=…;IgnoreUnknown=1` → its pairs. */
export function parseCniArgs(text: string | undefined): CniArgs {
  const all: Record<string, string> = {};
  for (const pair of (text ?? '').split(';')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    if (equals <= 0)
      throw invalidEnv(
        'CNI_ARGS',
        `"${pair}" is not KEY=VALUE (CNI_ARGS is KEY=VALUE pairs separated by ";")`,
      );
    all[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  const podNamespace = all.K8S_POD_NAMESPACE;
  const podName = all.K8S_POD_NAME;
  const podUID = all.K8S_POD_UID;
  return {
    all,
    ...(podNamespace === undefined || podNamespace === '' ? {} : { podNamespace }),
    ...(podName === undefined || podName === '' ? {} : { podName }),
    ...(podUID === undefined || podUID === '' ? {} : { podUID }),
  };
}

/** Parses the environment; throws a CniError (code 4) naming the variable at fault. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  // An empty variable is an unset one (runtimes pass CNI_CONTAINERID= for GC and STATUS).
  const set = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => name.startsWith('CNI_') && value !== ''),
  );
  const parsed = envSchema.safeParse(set);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'CNI_COMMAND');
    const value = set[variable];
    // Quote what was given, unless it is too long to be worth reading (a 10 KB container ID).
    const shown = value === undefined || value.length <= 80 ? `"${value}"` : `(${value.length} characters)`;
    throw invalidEnv(
      variable,
      value === undefined ? `${variable} is not set` : `${variable}=${shown}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const values = parsed.data;
  for (const variable of required[values.CNI_COMMAND]) {
    if (values[variable] === undefined || values[variable] === '') {
      throw invalidEnv(variable, `${variable} is required for ${values.CNI_COMMAND}`);
    }
  }
  return {
    command: values.CNI_COMMAND,
    containerId: values.CNI_CONTAINERID ?? '',
    netns: values.CNI_NETNS ?? '',
    ifname: values.CNI_IFNAME ?? '',
    path: (values.CNI_PATH ?? '').split(':').filter((dir) => dir !== ''),
    args: parseCniArgs(values.CNI_ARGS),
  };
}
