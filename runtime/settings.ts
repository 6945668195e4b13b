/** The building blocks of every program's settings, parsed from its environment with zod. */
import { z } from 'zod';
import { logLevels } from '../common/index.js';

export const positiveSeconds = (fallback: number) => z.coerce.number().positive().default(fallback);

/** A port setting. An empty string would coerce to port 0 (a random port): refused rather than listen somewhere unexpected. */
export const port = (fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a port number')
    .default(String(fallback))
    .transform(Number)
    .pipe(z.number().int().min(0).max(65535));

/** `true` or `false`, nothing else: a typo must not silently mean either. */
export const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

export const logLevel = () => z.enum(logLevels).default('info');

/** `env` parsed by `schema`, or an Error naming every bad variable at once, each with what is wrong. */
export function parseSettings<Schema extends z.ZodType>(
  schema: Schema,
  env: NodeJS.ProcessEnv,
  program: string,
): z.output<Schema> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid ${program} settings:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
