import os from 'node:os';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

/** The operator's settings, from its environment (the Helm chart sets these). */
export const operatorSettingsSchema = z.object({
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
  HEALTH_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8080)
    .describe('Port of /healthz, /readyz and /metrics.'),
  WEBHOOK_ENABLED: flag(true),
  WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(9443),
  WEBHOOK_SERVICE: z.string().default('topology-ipam-webhook'),
  WEBHOOK_CONFIGURATION: z.string().default('topology-ipam'),
  LEASE_NAME: z.string().default('topology-ipam-operator'),
  LEASE_DURATION_SECONDS: seconds(15),
  RENEW_DEADLINE_SECONDS: seconds(10),
  RETRY_PERIOD_SECONDS: seconds(2),
  RESYNC_SECONDS: seconds(300),
  LEAK_GRACE_SECONDS: seconds(60),
});
export type OperatorSettings = z.infer<typeof operatorSettingsSchema>;

export function operatorSettings(env: NodeJS.ProcessEnv = process.env): OperatorSettings {
  const parsed = operatorSettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid operator settings:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
