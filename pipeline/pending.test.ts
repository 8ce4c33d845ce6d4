import { PendingBatches } from './pending';

describe('PendingBatches', () => {
  it('sends in order, keeps a refused batch at the head, and drops the oldest beyond the bound', async () => {
    let refuse = true;
    const sent: number[] = [];
    const dropped: number[] = [];
    const refusals: number[] = [];
    const q = new PendingBatches<number>(
      {
        async consume(b) {
          if (refuse) throw new Error('full');
          sent.push(b);
        },
      },
      { onRefused: (_err, pending) => refusals.push(pending), onDropped: (b) => dropped.push(b) },
      2,
    );
    for (const b of [1, 2, 3, 4]) q.push(b);
    await q.drain();
    expect(refusals).toEqual([4]);
    expect(dropped).toEqual([1, 2]);
    expect(q.length).toBe(2);
    refuse = false;
    q.push(5);
    await q.drain();
    expect(sent).toEqual([3, 4, 5]);
    expect(q.length).toBe(0);
  });

  it('runs one drain at a time and discards batches when nothing is listening', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: number[] = [];
    const q = new PendingBatches<number>({ consume: async (b) => void (await gate, sent.push(b)) }, { onRefused: () => undefined, onDropped: () => undefined });
    q.push(1);
    const a = q.drain();
    expect(q.drain()).toBe(a);
    release();
    await a;
    expect(sent).toEqual([1]);
    const none = new PendingBatches<number>(undefined, { onRefused: () => undefined, onDropped: () => undefined });
    none.push(1);
    await none.drain();
    expect(none.length).toBe(0);
  });
});
