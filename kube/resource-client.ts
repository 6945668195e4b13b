import type { KubeClient, WatchEvent } from './client.js';
import type { KubeObject, ObjectList, ResourceType } from './objects.js';

export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly namespace?: string;
  readonly resourceVersion?: string;
}

/** Per-call settings: a time limit tighter than the client's (e.g. a lease renewal due before a deadline). */
export interface CallOptions {
  readonly timeoutMs?: number;
}

/** Typed REST verbs for one resource type. Writes that matter carry metadata.resourceVersion (compare-and-swap). */
export class ResourceClient<T extends KubeObject> {
  constructor(
    readonly client: KubeClient,
    readonly type: ResourceType,
  ) {}

  path(namespace?: string, name?: string): string {
    const prefix =
      this.type.group === '' ? `/api/${this.type.version}` : `/apis/${this.type.group}/${this.type.version}`;
    const scope =
      this.type.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const object = name === undefined ? '' : `/${encodeURIComponent(name)}`;
    return `${prefix}${scope}/${this.type.plural}${object}`;
  }

  get(name: string, namespace?: string, options: CallOptions = {}): Promise<T> {
    return this.client.request<T>('GET', this.path(namespace, name), options);
  }

  list(options: ListOptions = {}): Promise<ObjectList<T>> {
    return this.client.request<ObjectList<T>>('GET', this.path(options.namespace), {
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        resourceVersion: options.resourceVersion,
      },
    });
  }

  /** Create-if-absent: throws ApiError 409 AlreadyExists when the name is taken. */
  create(object: T, options: CallOptions = {}): Promise<T> {
    return this.client.request<T>('POST', this.path(object.metadata.namespace), {
      ...options,
      body: this.withType(object),
    });
  }

  /** Replaces the object; with metadata.resourceVersion set, fails with 409 Conflict if it changed since. */
  replace(object: T, options: CallOptions = {}): Promise<T> {
    const { name, namespace } = object.metadata;
    return this.client.request<T>('PUT', this.path(namespace, name), {
      ...options,
      body: this.withType(object),
    });
  }

  replaceStatus(object: T): Promise<T> {
    const { name, namespace } = object.metadata;
    return this.client.request<T>('PUT', `${this.path(namespace, name)}/status`, {
      body: this.withType(object),
    });
  }

  mergePatch(name: string, patch: unknown, namespace?: string): Promise<T> {
    return this.client.request<T>('PATCH', this.path(namespace, name), {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  /** Deletes; with `resourceVersion`, only if the object is still at that version (409 otherwise). */
  async delete(name: string, options: { namespace?: string; resourceVersion?: string } = {}): Promise<void> {
    const body =
      options.resourceVersion === undefined
        ? undefined
        : {
            kind: 'DeleteOptions',
            apiVersion: 'v1',
            preconditions: { resourceVersion: options.resourceVersion },
          };
    await this.client.request('DELETE', this.path(options.namespace, name), { body });
  }

  watch(
    options: ListOptions & { resourceVersion: string; signal?: AbortSignal; timeoutSeconds?: number },
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    return this.client.watch<T>(
      this.path(options.namespace),
      {
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          resourceVersion: options.resourceVersion,
          timeoutSeconds: options.timeoutSeconds,
        },
        ...(options.signal ? { signal: options.signal } : {}),
      },
      onEvent,
    );
  }

  private withType(object: T): T {
    const apiVersion = this.type.group === '' ? this.type.version : `${this.type.group}/${this.type.version}`;
    return { ...object, apiVersion, kind: this.type.kind };
  }
}
