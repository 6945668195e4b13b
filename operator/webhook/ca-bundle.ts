/**
 * Keeps `clientConfig.caBundle` of every webhook in one ValidatingWebhookConfiguration equal to our CA.
 * The object belongs to whoever installed it (the chart); a `helm upgrade` may reset the bundle, and the
 * operator may start before the object exists. So the keeper watches that one object and writes only
 * when a bundle differs, with its resourceVersion (compare-and-swap): every replica may run it at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../../common/index.js';
import {
  Informer,
  type KubeObject,
  ResourceClient,
  type KubeClient,
  type ResourceType,
  isConflict,
  isNotFound,
} from '../../kube/index.js';

export interface WebhookClientConfig {
  url?: string;
  service?: { namespace: string; name: string; path?: string; port?: number };
  caBundle?: string;
}

export interface ValidatingWebhookConfiguration extends KubeObject {
  webhooks?: ({ name: string; clientConfig: WebhookClientConfig } & Record<string, unknown>)[];
}

export const validatingWebhookConfigurationType = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  plural: 'validatingwebhookconfigurations',
  kind: 'ValidatingWebhookConfiguration',
  namespaced: false,
} as const satisfies ResourceType;

/** The caBundle value for a PEM CA: the PEM itself, base64-encoded (as JSON carries `[]byte`). */
export const caBundleOf = (caPem: string): string => Buffer.from(caPem, 'utf8').toString('base64');

/** `config` with every webhook's caBundle set to `caBundle`, or undefined when all already are. */
export function withCaBundle(
  config: ValidatingWebhookConfiguration,
  caBundle: string,
): ValidatingWebhookConfiguration | undefined {
  const webhooks = config.webhooks ?? [];
  if (webhooks.every((webhook) => webhook.clientConfig.caBundle === caBundle)) return undefined;
  return {
    ...config,
    webhooks: webhooks.map((webhook) => ({
      ...webhook,
      clientConfig: { ...webhook.clientConfig, caBundle },
    })),
  };
}

export type CaBundleOutcome = 'patched' | 'unchanged' | 'absent';

/**
 * One read-compare-write of the named configuration. 'absent' if it does not exist (yet); a conflicting
 * concurrent write is retried from a fresh read a few times, then thrown.
 */
export async function patchCaBundle(
  configs: ResourceClient<ValidatingWebhookConfiguration>,
  name: string,
  caPem: string,
): Promise<CaBundleOutcome> {
  const caBundle = caBundleOf(caPem);
  for (let attempt = 1; ; attempt++) {
    let current: ValidatingWebhookConfiguration;
    try {
      current = await configs.get(name);
    } catch (error) {
      if (isNotFound(error)) return 'absent';
      throw error;
    }
    const desired = withCaBundle(current, caBundle);
    if (desired === undefined) return 'unchanged';
    try {
      await configs.replace(desired);
      return 'patched';
    } catch (error) {
      if (isNotFound(error)) return 'absent';
      if (!isConflict(error) || attempt >= 5) throw error;
    }
  }
}

export interface CaBundleKeeperOptions {
  readonly client: KubeClient;
  readonly name: string;
  readonly caPem: string;
  readonly log?: Logger;
  /** Re-check this often even without a change (default 5 minutes). */
  readonly resyncMs?: number;
  /** The longest wait between retries, of the watch and of the patch (default 30 s). */
  readonly maxBackoffMs?: number;
}

/**
 * Watches the named ValidatingWebhookConfiguration and patches its caBundle whenever it appears or
 * changes, until the signal aborts. Failures are retried with a doubling backoff.
 */
export async function keepCaBundle(options: CaBundleKeeperOptions, signal: AbortSignal): Promise<void> {
  const configs = new ResourceClient<ValidatingWebhookConfiguration>(
    options.client,
    validatingWebhookConfigurationType,
  );
  const log = options.log ?? silentLogger;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const where = { validatingWebhookConfiguration: options.name };
  const informer = new Informer(configs, {
    fieldSelector: `metadata.name=${options.name}`,
    maxBackoffMs,
    onError: (error) => {
      log.warn('watching the ValidatingWebhookConfiguration failed', { ...where, error: String(error) });
    },
  });
  // A change wakes the loop below; `pending` remembers one that came while it was busy.
  let pending = true;
  let wake: (() => void) | undefined;
  informer.onChange(() => {
    pending = true;
    wake?.();
  });
  const watching = informer.run(signal);
  // Functions, not the variables: the compiler would otherwise assume they cannot change across awaits.
  const stopped = (): boolean => signal.aborted;
  const changed = (): boolean => pending;

  let failures = 0;
  let lastOutcome: CaBundleOutcome | undefined;
  while (!stopped()) {
    let delay = options.resyncMs ?? 300_000;
    if (changed()) {
      pending = false;
      try {
        const outcome = await patchCaBundle(configs, options.name, options.caPem);
        failures = 0;
        if (outcome === 'patched') log.info('patched the webhook caBundle', where);
        else if (outcome === 'absent' && lastOutcome !== 'absent') {
          log.info('waiting for the ValidatingWebhookConfiguration to be created', where);
        }
        lastOutcome = outcome;
      } catch (error) {
        if (stopped()) break;
        failures++;
        delay = Math.min(maxBackoffMs, 500 * 2 ** Math.min(failures, 10));
        pending = true;
        log.warn('patching the webhook caBundle failed; retrying', {
          ...where,
          error: String(error),
          retryInMs: delay,
        });
      }
    }
    if (changed() && failures === 0) continue;
    const controller = new AbortController();
    wake = () => {
      controller.abort();
    };
    const onAbort = () => {
      controller.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    await sleep(delay, undefined, { signal: controller.signal }).catch(() => undefined);
    signal.removeEventListener('abort', onAbort);
    wake = undefined;
    // Woken by a change, a retry or the resync: look again in any case.
    pending = true;
  }
  await watching;
}
