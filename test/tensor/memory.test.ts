/** Memory: scopes free intermediates, storage is refcounted and pooled, tensors cross worker threads without copies. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as k from '../../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('tidy disposes intermediates and keeps results', () => {
  const a = k.ones([4]);
  let mid: k.Tensor | undefined;
  const out = k.tidy(() => {
    mid = a.add(1);
    return { y: mid.mul(2), list: [mid.sub(1)] };
  });
  assert.equal(mid!.isDisposed, true);
  assert.deepEqual(out.y.toArray(), [4, 4, 4, 4]);
  assert.deepEqual(out.list[0].toArray(), [1, 1, 1, 1]);
  assert.equal(a.isDisposed, false);
  assert.throws(() => mid!.add(1), (e: k.KilnError) => e.code === 'E_DISPOSED');
});

test('views keep storage alive until the last handle is disposed; the buffer returns to the pool', () => {
  const before = k.allocator.stats().liveBytes;
  const t = k.zeros([256]);
  const v = t.reshape(16, 16);
  t.dispose();
  assert.deepEqual(k.tidy(() => v.sum().item()), 0); // still readable through the view
  v.dispose();
  assert.equal(k.allocator.stats().liveBytes, before);
  const again = k.zeros([256]);
  assert.ok(k.allocator.stats().cachedBytes >= 0);
  again.dispose();
});

test('a tensor crosses to a worker thread without a copy', async () => {
  const t = k.arange(8);
  const shared = k.shareTensor(t);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const a = new Float32Array(workerData.buffer, workerData.byteOffset, workerData.length);
    for (let i = 0; i < a.length; i++) a[i] *= 10;
    parentPort.postMessage('done');
  `;
  const w = new Worker(code, { eval: true, workerData: shared });
  await new Promise((resolve, reject) => {
    w.on('message', resolve);
    w.on('error', reject);
  });
  await w.terminate();
  assert.deepEqual(t.toArray(), [0, 10, 20, 30, 40, 50, 60, 70]);
  const back = k.fromShared(shared);
  assert.equal(back.storage.data.buffer, t.storage.data.buffer);
});

test('2,000 training steps of a small model hold RSS flat (±5%)', () => {
  const model = new k.nn.Linear(64, 64);
  const head = new k.nn.Linear(64, 16);
  const params = [...model.parameters(), ...head.parameters()];
  const opt = new k.optim.AdamW(params, { lr: 1e-3 });
  const gen = new k.Generator(0);
  const step = () =>
    k.tidy(() => {
      const x = k.randn([32, 64], { generator: gen });
      const y = k.fromArray(Int32Array.from({ length: 32 }, (_, i) => i % 16), [32]);
      const loss = k.crossEntropy(head.forward(model.forward(x).gelu()), y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
  // warm up: pools, optimizer state, and V8 tiering up the hot code (its code space moves RSS by ~8 MiB once)
  for (let i = 0; i < 2000; i++) step();
  gc();
  const rss0 = process.memoryUsage().rss;
  const live0 = k.allocator.stats().liveBytes;
  let last = 0;
  for (let i = 0; i < 2000; i++) last = step();
  gc();
  const rss1 = process.memoryUsage().rss;
  assert.ok(Number.isFinite(last));
  assert.equal(k.allocator.stats().liveBytes, live0, 'live tensor bytes grew: something leaks past tidy');
  assert.ok(Math.abs(rss1 - rss0) / rss0 <= 0.05, `RSS moved from ${(rss0 / 2 ** 20).toFixed(1)} MiB to ${(rss1 / 2 ** 20).toFixed(1)} MiB`);
});
