import os from 'node:os';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);
// An empty string would coerce to port 0 (a random port): refuse it rather than listen somewhere unexpected.
const port = (fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a port number')
    .default(String(fallback))
    .transform(Number)
    .pipe(z.number().int().min(0).max(65535));
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

/** The operator's settings, from its environment (the Helm chart sets these). */
export const operatorSettingsSchema = z
  .object({
    KUBECONFIG: z
      .string()
      .optional()
      .describe('Kubeconfig to use; in a pod, the service account is used when unset.'),
    POD_NAMESPACE: z
      .string()
      .min(1)
      .default('topology-ipam-system')
      .describe('Namespace of the Lease and the webhook Secret.'),
    POD_NAME: z
      .string()
      .min(1)
      .default(`${os.hostname()}-${process.pid}`)
      .describe('Identity in leader election.'),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    HEALTH_PORT: port(8080).describe('Port of /healthz, /readyz and /metrics.'),
    WEBHOOK_ENABLED: flag(true),
    WEBHOOK_PORT: port(9443),
    WEBHOOK_SERVICE: z.string().default('topology-ipam-webhook'),
    WEBHOOK_CONFIGURATION: z.string().default('topology-ipam'),
    LEASE_NAME: z.string().default('topology-ipam-operator'),
    LEASE_DURATION_SECONDS: seconds(15),
    RENEW_DEADLINE_SECONDS: seconds(10),
    RETRY_PERIOD_SECONDS: seconds(2),
    RESYNC_SECONDS: seconds(300),
    LEAK_GRACE_SECONDS: seconds(60),
  })
  // A leader must stop leading before a successor may start: renew deadline < lease duration.
  .refine((settings) => settings.RENEW_DEADLINE_SECONDS < settings.LEASE_DURATION_SECONDS, {
    message:
      'RENEW_DEADLINE_SECONDS must be less than LEASE_DURATION_SECONDS, or two replicas could lead at once',
    path: ['RENEW_DEADLINE_SECONDS'],
  })
  .refine((settings) => settings.RETRY_PERIOD_SECONDS < settings.RENEW_DEADLINE_SECONDS, {
    message:
      'RETRY_PERIOD_SECONDS must be less than RENEW_DEADLINE_SECONDS, or a leader could never renew in time',
    path: ['RETRY_PERIOD_SECONDS'],
  });
export type OperatorSettings = z.infer<typeof operatorSettingsSchema>;

export function operatorSettings(env: NodeJS.ProcessEnv = process.env): OperatorSettings {
  const parsed = operatorSettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid operator settings:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
