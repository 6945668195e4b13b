import os from 'node:os';
import { z } from 'zod';
import { defaultRequestTimeoutMs } from '../kube/index.js';
import { flag, logLevel, parseSettings, port, positiveSeconds } from '../runtime/index.js';

/**
 * Defaults of the settings that an Operator and its LeaderElector fall back on when built without them
 * (`npm start` and the tests build them in-process, with no environment to parse).
 */
export const operatorDefaults = {
  leaseName: 'topology-ipam-operator',
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
  resyncSeconds: 300,
} as const;

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
    LOG_LEVEL: logLevel(),
    HEALTH_PORT: port(8080).describe('Port of /healthz, /readyz and /metrics.'),
    WEBHOOK_ENABLED: flag(true),
    WEBHOOK_PORT: port(9443),
    WEBHOOK_SERVICE: z.string().default('topology-ipam-webhook'),
    WEBHOOK_CONFIGURATION: z.string().default('topology-ipam'),
    LEASE_NAME: z.string().default(operatorDefaults.leaseName),
    LEASE_DURATION_SECONDS: positiveSeconds(operatorDefaults.leaseDurationSeconds),
    RENEW_DEADLINE_SECONDS: positiveSeconds(operatorDefaults.renewDeadlineSeconds),
    RETRY_PERIOD_SECONDS: positiveSeconds(operatorDefaults.retryPeriodSeconds),
    RESYNC_SECONDS: positiveSeconds(operatorDefaults.resyncSeconds),
    API_TIMEOUT_SECONDS: positiveSeconds(defaultRequestTimeoutMs / 1000).describe(
      'Longest one API request may take; a watch must start within it and end within its own timeout plus this.',
    ),
    API_UNREACHABLE_NOT_READY_SECONDS: positiveSeconds(10).describe(
      '/readyz fails once the API server has not answered for this long.',
    ),
    API_UNREACHABLE_UNHEALTHY_SECONDS: positiveSeconds(60).describe(
      '/healthz fails once the API server has not answered for this long.',
    ),
    CONTROLLER_STUCK_SECONDS: positiveSeconds(300).describe(
      '/healthz fails once a reconcile has run, or a queued key has waited for a worker, this long.',
    ),
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
  })
  // Every replica reads the lease once per retry period: that is how a quiet one hears from the API server.
  .refine((settings) => settings.RETRY_PERIOD_SECONDS < settings.API_UNREACHABLE_NOT_READY_SECONDS, {
    message:
      'API_UNREACHABLE_NOT_READY_SECONDS must be more than RETRY_PERIOD_SECONDS, or a replica would turn unready between two lease reads',
    path: ['API_UNREACHABLE_NOT_READY_SECONDS'],
  })
  .refine(
    (settings) => settings.API_UNREACHABLE_NOT_READY_SECONDS <= settings.API_UNREACHABLE_UNHEALTHY_SECONDS,
    {
      message:
        'API_UNREACHABLE_UNHEALTHY_SECONDS must be at least API_UNREACHABLE_NOT_READY_SECONDS: a replica stops taking traffic before it is restarted',
      path: ['API_UNREACHABLE_UNHEALTHY_SECONDS'],
    },
  )
  .refine((settings) => settings.API_TIMEOUT_SECONDS < settings.CONTROLLER_STUCK_SECONDS, {
    message:
      'CONTROLLER_STUCK_SECONDS must be more than API_TIMEOUT_SECONDS, or a reconcile waiting on one slow request would count as stuck',
    path: ['CONTROLLER_STUCK_SECONDS'],
  });
export type OperatorSettings = z.infer<typeof operatorSettingsSchema>;

export function operatorSettings(env: NodeJS.ProcessEnv = process.env): OperatorSettings {
  return parseSettings(operatorSettingsSchema, env, 'operator');
}
