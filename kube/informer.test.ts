import { describe, expect, it } from 'vitest';
import type { WatchEvent } from './client.js';
import { ApiError } from './errors.js';
import { Informer, type InformerHealth } from './informer.js';
import type { KubeObject } from './objects.js';
import type { ResourceClient } from './resource-client.js';

/** One step of a scripted API server: a list answer or failure, or a watch that streams then ends or fails. */
type Step =
  | { readonly list: readonly string[] }
  | { readonly listFails: ApiError }
  | { readonly watch: readonly string[]; readonly fails?: ApiError };

const forbidden = new ApiError(403, 'Forbidden', 'pods is forbidden', 'GET', '/api/v1/pods');
const gone = new ApiError(410, 'Expired', 'too old resource version', 'WATCH', '/api/v1/pods');
const object = (name: string): KubeObject => ({ metadata: { name, resourceVersion: name } });

/**
 * Runs an informer against `steps` and records its health after each step; once the script is done the
 * next request hangs until the test aborts.
 */
async function healthAfterEachStep(steps: readonly Step[]): Promise<InformerHealth['state'][]> {
  const stop = new AbortController();
  const seen: InformerHealth['state'][] = [];
  let next = 0;
  const informer = new Informer<KubeObject>(
    {
      list: async () => {
        const step = await take();
        if ('listFails' in step) throw step.listFails;
        if (!('list' in step)) throw new Error(`step ${String(next)} is not a list`);
        return { metadata: { resourceVersion: '1' }, items: step.list.map(object) };
      },
      watch: async (_, onEvent: (event: WatchEvent<KubeObject>) => void) => {
        const step = await take();
        if (!('watch' in step)) throw new Error(`step ${String(next)} is not a watch`);
        for (const name of step.watch) onEvent({ type: 'ADDED', object: object(name) });
        if (step.fails) throw step.fails;
      },
    } satisfies Pick<ResourceClient<KubeObject>, 'list' | 'watch'>,
    { maxBackoffMs: 1 },
  );
  // Each request first records the health the previous step left, then answers the next step.
  const take = async (): Promise<Step> => {
    if (next > 0) seen.push(informer.health().state);
    const step = steps[next++];
    if (step) return step;
    await new Promise((resolve) => {
      stop.signal.addEventListener('abort', resolve);
    });
    throw new Error('stopped');
  };
  expect(informer.health().state).toBe('unsynced');
  const running = informer.run(stop.signal);
  await expect.poll(() => next > steps.length, { timeout: 5_000 }).toBe(true);
  stop.abort();
  await running;
  return seen;
}

describe('Informer health', () => {
  it.each<{ name: string; steps: Step[]; health: InformerHealth['state'][] }>([
    {
      name: 'healthy after the first list, while the watch streams',
      steps: [{ list: ['a'] }, { watch: ['b'] }],
      health: ['healthy', 'healthy'],
    },
    {
      name: 'never synced while listing is forbidden',
      steps: [{ listFails: forbidden }, { listFails: forbidden }],
      health: ['failing', 'failing'],
    },
    {
      name: 'failing from a failed watch until a list succeeds again',
      steps: [{ list: [] }, { watch: [], fails: forbidden }, { listFails: forbidden }, { list: [] }],
      health: ['healthy', 'failing', 'failing', 'healthy'],
    },
    {
      name: 'a watch expired by compaction (410) is routine, not a failure',
      steps: [{ list: [] }, { watch: ['a'], fails: gone }, { list: ['a'] }],
      health: ['healthy', 'healthy', 'healthy'],
    },
    {
      name: 'a watch that ends normally is resumed and stays healthy',
      steps: [{ list: [] }, { watch: [] }, { watch: ['a'] }],
      health: ['healthy', 'healthy', 'healthy'],
    },
  ])('$name', async ({ steps, health }) => {
    expect(await healthAfterEachStep(steps)).toEqual(health);
  });

  it('reports the error that made it fail and since when', async () => {
    const stop = new AbortController();
    const informer = new Informer<KubeObject>(
      {
        list: () => Promise.reject(forbidden),
        watch: () => Promise.reject(new Error('never reached')),
      },
      { maxBackoffMs: 60_000 },
    );
    const running = informer.run(stop.signal);
    await expect.poll(() => informer.health().state).toBe('failing');
    const health = informer.health();
    expect(health.state === 'failing' && health.error).toBe(forbidden);
    expect(health.state === 'failing' && health.since).toBeInstanceOf(Date);
    stop.abort();
    await running;
  });
});

describe('Informer transform', () => {
  it('caches listed and watched objects as the transform leaves them', async () => {
    type Labelled = KubeObject & { metadata: { labels?: Record<string, string> } };
    const labelled = (name: string): Labelled => ({
      metadata: { name, resourceVersion: name, labels: { big: 'x'.repeat(100) } },
    });
    const stop = new AbortController();
    let watched = false;
    const informer = new Informer<Labelled>(
      {
        list: () => Promise.resolve({ metadata: { resourceVersion: '1' }, items: [labelled('a')] }),
        watch: async (_, onEvent) => {
          if (!watched) onEvent({ type: 'ADDED', object: labelled('b') });
          watched = true;
          await new Promise((resolve) => {
            stop.signal.addEventListener('abort', resolve);
          });
        },
      },
      {
        transform: ({ metadata }) => ({
          metadata: { name: metadata.name, resourceVersion: metadata.resourceVersion ?? '' },
        }),
      },
    );
    const running = informer.run(stop.signal);
    await expect.poll(() => informer.list().length).toBe(2);
    expect(informer.list()).toEqual([
      { metadata: { name: 'a', resourceVersion: 'a' } },
      { metadata: { name: 'b', resourceVersion: 'b' } },
    ]);
    stop.abort();
    await running;
  });
});
