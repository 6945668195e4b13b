import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../common/index.js';
import { isGone } from './errors.js';
import type { KubeObject } from './objects.js';
import type { ListOptions, ResourceClient } from './resource-client.js';

export type InformerEvent = 'added' | 'modified' | 'deleted';
export type InformerHandler<T> = (event: InformerEvent, object: T, previous: T | undefined) => void;

export interface InformerOptions<T = KubeObject> {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Longest pause between attempts after errors; the pause doubles from 250 ms up to this, with jitter. */
  readonly maxBackoffMs?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * Applied to every object listed or watched before it is cached (client-go's SetTransform): keeps
   * only what the cache's readers need. It must keep `metadata.name`, `namespace` and `resourceVersion`.
   */
  readonly transform?: (object: T) => T;
}

/**
 * Whether the cache can be trusted to show the cluster as it is (give or take the watch's usual lag):
 * `unsynced` until the first complete list; `failing` from a failed list or watch until a list succeeds
 * again (its cache then keeps what it last saw, which may be long out of date).
 */
export type InformerHealth =
  | { readonly state: 'healthy' }
  | { readonly state: 'unsynced' }
  | { readonly state: 'failing'; readonly error: unknown; readonly since: Date };

/**
 * An object reduced to its identity (name, namespace, uid, resourceVersion), the `annotations` named and,
 * when asked, its labels: what a cache of objects read only for a few annotations keeps.
 */
export function trimMetadata(
  object: KubeObject,
  keep: { readonly annotations: readonly string[]; readonly labels: boolean },
): KubeObject {
  const { name, namespace, uid, resourceVersion, annotations, labels } = object.metadata;
  const kept = Object.fromEntries(
    keep.annotations.flatMap((key) => {
      const value = annotations?.[key];
      return value === undefined ? [] : [[key, value] as const];
    }),
  );
  return {
    metadata: {
      name,
      ...(namespace === undefined ? {} : { namespace }),
      ...(uid === undefined ? {} : { uid }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      annotations: kept,
      ...(keep.labels ? { labels: labels ?? {} } : {}),
    },
  };
}

/** Why a cache named `what` cannot be trusted to be current, as one line; none when it can. */
export function healthProblems(what: string, health: InformerHealth): string[] {
  switch (health.state) {
    case 'healthy':
      return [];
    case 'unsynced':
      return [`${what}: not listed yet`];
    case 'failing':
      return [`${what}: failing since ${health.since.toISOString()}: ${errorMessage(health.error)}`];
  }
}

export const objectKey = (object: KubeObject): string =>
  object.metadata.namespace === undefined
    ? object.metadata.name
    : `${object.metadata.namespace}/${object.metadata.name}`;

/**
 * A list+watch cache of one resource type. Lists, then watches from the list's resourceVersion; when
 * the watch ends it resumes from the last version seen; on 410 Gone or any error it lists again (after
 * a backoff), reporting the difference to the handlers so nothing is missed. `synced` resolves after
 * the first complete list; `health()` says whether the cache is current now.
 */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resolveSynced!: () => void;
  readonly synced = new Promise<void>((resolve) => (this.resolveSynced = resolve));
  private current: InformerHealth = { state: 'unsynced' };

  constructor(
    private readonly resource: Pick<ResourceClient<T>, 'list' | 'watch'>,
    private readonly options: InformerOptions<T> = {},
  ) {}

  onChange(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  health(): InformerHealth {
    return this.current;
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const listOptions: ListOptions = {
      ...(this.options.labelSelector !== undefined ? { labelSelector: this.options.labelSelector } : {}),
      ...(this.options.fieldSelector !== undefined ? { fieldSelector: this.options.fieldSelector } : {}),
    };
    // A function, not the property: the compiler would otherwise assume it cannot change across awaits.
    const stopped = (): boolean => signal.aborted;
    let failures = 0;
    while (!stopped()) {
      try {
        let resourceVersion = await this.relist(listOptions);
        failures = 0;
        while (!stopped()) {
          await this.resource.watch(
            { ...listOptions, resourceVersion, signal, timeoutSeconds: 300 },
            (event) => {
              resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
              switch (event.type) {
                case 'ADDED':
                case 'MODIFIED':
                  this.store(event.object);
                  break;
                case 'DELETED':
                  this.remove(objectKey(event.object), event.object);
                  break;
                case 'BOOKMARK':
                case 'ERROR':
                  break;
              }
            },
          );
        }
      } catch (error) {
        if (stopped()) return;
        // 410 Gone is the routine end of a watch whose version was compacted: the re-list follows at once.
        if (!isGone(error)) {
          this.options.onError?.(error);
          failures++;
          if (this.current.state !== 'failing') this.current = { state: 'failing', error, since: new Date() };
          else this.current = { ...this.current, error };
        }
        const ceiling = Math.min(this.options.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(failures, 10));
        await sleep(failures === 0 ? 0 : ceiling / 2 + Math.random() * (ceiling / 2), undefined, {
          signal,
        }).catch(() => undefined);
      }
    }
  }

  private async relist(listOptions: ListOptions): Promise<string> {
    const list = await this.resource.list(listOptions);
    const seen = new Set<string>();
    for (const item of list.items) {
      seen.add(objectKey(item));
      this.store(item);
    }
    for (const [key, object] of [...this.cache]) if (!seen.has(key)) this.remove(key, object);
    this.current = { state: 'healthy' };
    this.resolveSynced();
    return list.metadata.resourceVersion ?? '';
  }

  private store(received: T): void {
    const object = this.options.transform?.(received) ?? received;
    const key = objectKey(object);
    const previous = this.cache.get(key);
    if (previous?.metadata.resourceVersion === object.metadata.resourceVersion && previous !== undefined)
      return;
    this.cache.set(key, object);
    this.emit(previous ? 'modified' : 'added', object, previous);
  }

  private remove(key: string, object: T): void {
    const previous = this.cache.get(key);
    if (!this.cache.delete(key)) return;
    this.emit('deleted', previous ?? object, previous);
  }

  private emit(event: InformerEvent, object: T, previous: T | undefined): void {
    for (const handler of this.handlers) handler(event, object, previous);
  }
}
