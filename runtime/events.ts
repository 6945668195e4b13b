import { type KubeClient, type KubeObject, ResourceClient, coreResources } from '../kube/index.js';
import type { Logger } from '../common/index.js';

interface CoreEvent extends KubeObject {
  involvedObject: { apiVersion?: string; kind?: string; name: string; uid?: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
}

export interface EventRecorder {
  /** Records an Event about an object; a repeat of the same one bumps its count instead of adding another. */
  record(object: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/**
 * Events about cluster-scoped objects (IPPools, Nodes) go to the `default` namespace, where
 * `kubectl describe` looks for them. Failures to record are logged, never fatal: events are advisory.
 */
export function eventRecorder(
  client: KubeClient,
  options: { component: string; instance: string; log: Logger },
): EventRecorder {
  const events = new ResourceClient<CoreEvent>(client, coreResources.events);
  const recent = new Map<string, { name: string; count: number }>();
  return {
    async record(object, type, reason, message) {
      const key = `${object.metadata.uid ?? object.metadata.name}/${reason}/${message}`;
      const namespace = object.metadata.namespace ?? 'default';
      const now = new Date().toISOString();
      try {
        const seen = recent.get(key);
        if (seen) {
          seen.count++;
          await events.mergePatch(seen.name, { count: seen.count, lastTimestamp: now }, namespace);
          return;
        }
        const created = await events.create({
          metadata: {
            name: `${object.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`,
            namespace,
          },
          involvedObject: {
            ...(object.apiVersion !== undefined ? { apiVersion: object.apiVersion } : {}),
            ...(object.kind !== undefined ? { kind: object.kind } : {}),
            name: object.metadata.name,
            ...(object.metadata.uid !== undefined ? { uid: object.metadata.uid } : {}),
          },
          reason,
          message,
          type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: options.component },
          reportingComponent: options.component,
          reportingInstance: options.instance,
        });
        recent.set(key, { name: created.metadata.name, count: 1 });
        if (recent.size > 1000) recent.delete(recent.keys().next().value ?? '');
      } catch (error) {
        recent.delete(key);
        options.log.warn('could not record event', {
          reason,
          object: object.metadata.name,
          error: String(error),
        });
      }
    },
  };
}
