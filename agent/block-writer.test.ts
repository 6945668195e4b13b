import { describe, expect, it } from 'vitest';
import type { IPAMBlock } from '../api/index.js';
import { ApiError } from '../kube/index.js';
import {
  BlockContendedError,
  type BlockChange,
  BlockGoneError,
  type BlockStore,
  BlockWriter,
} from './block-writer.js';

const block = (resourceVersion: number, allocations: number[] = []): IPAMBlock => ({
  metadata: { name: 'b', resourceVersion: String(resourceVersion) },
  spec: {
    cidr: '10.0.0.0/28',
    pool: 'p',
    node: 'n',
    allocations: allocations.map((ordinal) => ({
      ordinal,
      handle: `h${ordinal}`,
      node: 'n',
      assignedAt: '',
    })),
    cooling: [],
  },
});

/** An API server holding one block: writes succeed at the current version only; failures can be queued. */
class FakeStore implements BlockStore {
  stored = block(1);
  writes: IPAMBlock[] = [];
  reads = 0;
  failNext: Error[] = [];
  /** Called before each write is decided, so a test can slip a concurrent writer in. */
  beforeWrite: () => void = () => undefined;
  cached(): IPAMBlock | undefined {
    return undefined;
  }
  read(): Promise<IPAMBlock> {
    this.reads++;
    return Promise.resolve(this.stored);
  }
  async write(next: IPAMBlock): Promise<IPAMBlock> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.beforeWrite();
    const failure = this.failNext.shift();
    if (failure !== undefined) throw failure;
    if (next.metadata.resourceVersion !== this.stored.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', 'the object has been modified', 'PUT', '/b');
    }
    this.stored = {
      ...next,
      metadata: { ...next.metadata, resourceVersion: String(Number(next.metadata.resourceVersion) + 1) },
    };
    this.writes.push(this.stored);
    return this.stored;
  }
}

/** Takes the lowest free ordinal for `handle`, like an ADD. */
const take =
  (handle: string): BlockChange<number> =>
  (current) => {
    const used = new Set(current.spec.allocations.map((a) => a.ordinal));
    let ordinal = 0;
    while (used.has(ordinal)) ordinal++;
    if (ordinal >= 16) throw new Error('full');
    return {
      spec: {
        ...current.spec,
        allocations: [...current.spec.allocations, { ordinal, handle, node: 'n', assignedAt: '' }],
      },
      value: ordinal,
    };
  };

describe('BlockWriter', () => {
  it('puts the changes that arrive while a write is in flight into one next write', async () => {
    const store = new FakeStore();
    const writer = new BlockWriter(store);
    const first = writer.submit('b', take('a'));
    await new Promise((resolve) => setTimeout(resolve, 1));
    const rest = Array.from({ length: 9 }, (_, i) => writer.submit('b', take(`x${i}`)));
    const ordinals = (await Promise.all([first, ...rest])).map((committed) => committed.value);
    expect(new Set(ordinals).size).toBe(10);
    expect(store.writes).toHaveLength(2);
    expect(store.writes[1]?.spec.allocations).toHaveLength(10);
  });

  it('answers every caller only with a change the stored block holds', async () => {
    const store = new FakeStore();
    const writer = new BlockWriter(store);
    const committed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => writer.submit('b', take(`h-${i}`))),
    );
    for (const { value, block: written } of committed) {
      expect(store.stored.spec.allocations.map((a) => a.ordinal)).toContain(value);
      expect(written.spec.allocations.some((a) => a.ordinal === value)).toBe(true);
    }
  });

  it('rejects every caller of a batch whose write fails, and none is answered with an address', async () => {
    const store = new FakeStore();
    store.failNext = [new ApiError(500, 'InternalError', 'etcd timed out', 'PUT', '/b')];
    const writer = new BlockWriter(store);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => writer.submit('b', take(`h${i}`))),
    );
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill('rejected'));
    expect(store.stored.spec.allocations).toEqual([]);
  });

  it('re-reads only after a conflict and re-applies the whole batch to what it read', async () => {
    const store = new FakeStore();
    let raced = false;
    store.beforeWrite = () => {
      if (raced) return;
      raced = true;
      // Another writer (the operator, another agent) takes ordinal 0 first.
      store.stored = block(7, [0]);
    };
    const writer = new BlockWriter(store);
    const committed = await Promise.all([writer.submit('b', take('a')), writer.submit('b', take('c'))]);
    expect(committed.map((c) => c.value).sort()).toEqual([1, 2]);
    expect(store.reads).toBe(2);
    expect(store.stored.spec.allocations.map((a) => a.ordinal)).toEqual([0, 1, 2]);
  });

  it('rejects only the caller whose change refuses, and writes the others', async () => {
    const store = new FakeStore();
    const writer = new BlockWriter(store);
    const refusing: BlockChange<number> = () => {
      throw new Error('no room for me');
    };
    const [ok, refused] = await Promise.allSettled([
      writer.submit('b', take('a')),
      writer.submit('b', refusing),
    ]);
    expect(ok.status).toBe('fulfilled');
    expect(refused).toMatchObject({ status: 'rejected', reason: { message: 'no room for me' } });
    expect(store.writes).toHaveLength(1);
  });

  it('turns a block deleted meanwhile into BlockGoneError and endless conflicts into BlockContendedError', async () => {
    const gone = new FakeStore();
    gone.failNext = [new ApiError(404, 'NotFound', 'gone', 'PUT', '/b')];
    await expect(new BlockWriter(gone).submit('b', take('a'))).rejects.toBeInstanceOf(BlockGoneError);
    const contended = new FakeStore();
    contended.beforeWrite = () => {
      contended.stored = block(Number(contended.stored.metadata.resourceVersion) + 10);
    };
    await expect(
      new BlockWriter(contended, { maxConflicts: 3 }).submit('b', take('a')),
    ).rejects.toBeInstanceOf(BlockContendedError);
    expect(contended.reads).toBe(3);
  });

  it('writes nothing when no change in the batch changes the block', async () => {
    const store = new FakeStore();
    const committed = await new BlockWriter(store).submit('b', () => ({ value: 'nothing' }));
    expect([committed.value, store.writes.length]).toEqual(['nothing', 0]);
  });
});
