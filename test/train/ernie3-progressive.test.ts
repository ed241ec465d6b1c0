/**
 * Progressive learning: the four quantities rise together over the warm-up (linear and stepwise), are final
 * afterwards with the lr decaying linearly to a tenth; the sampler honours the step's batch size and sequence length;
 * the dropout of the model is really applied in training mode at the scheduled rate and never in eval mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressiveAt, checkProgressive, type ProgressiveSpec } from '../../src/train/ernie3-progressive.js';
import { syntheticTaskData } from '../../src/train/ernie3-data.js';
import { MultiTaskSampler, ERNIE3_TASKS } from '../../src/models/ernie3/multitask.js';
import { Ernie3Model } from '../../src/models/ernie3/model.js';
import { Generator, noGrad, tidy, fromArray } from '../../src/index.js';

const spec: ProgressiveSpec = { warmupSteps: 10, totalSteps: 30, seqLen: [16, 64], batchSize: [2, 12], lr: [1e-4, 1e-3], dropout: [0, 0.1] };

test('linear: seq, batch, lr and dropout rise together, then stay final; lr decays to a tenth by the last step', () => {
  const a = progressiveAt(spec, 0);
  assert.deepEqual([a.seqLen, a.batchSize, a.phase], [24, 3, 'warmup']); // f = 0.1: 16 + 4.8 → 21 → multiple of 8 = 24; 2 + 1
  assert.ok(Math.abs(a.lr - (1e-4 + 0.1 * 9e-4)) < 1e-12);
  assert.ok(Math.abs(a.dropout - 0.01) < 1e-12);
  const mid = progressiveAt(spec, 4); // f = 0.5
  assert.deepEqual([mid.seqLen, mid.batchSize], [40, 7]);
  assert.ok(Math.abs(mid.lr - 5.5e-4) < 1e-12 && Math.abs(mid.dropout - 0.05) < 1e-12);
  let prev = progressiveAt(spec, 0);
  for (let s = 1; s < 10; s++) {
    const p = progressiveAt(spec, s);
    assert.ok(p.seqLen >= prev.seqLen && p.batchSize >= prev.batchSize && p.lr > prev.lr && p.dropout > prev.dropout, `step ${s} rises`);
    prev = p;
  }
  const w = progressiveAt(spec, 10);
  assert.deepEqual([w.seqLen, w.batchSize, w.lr, w.dropout, w.phase], [64, 12, 1e-3, 0.1, 'stable']);
  const end = progressiveAt(spec, 29);
  assert.ok(Math.abs(end.lr - 1e-4) < 1e-12, `last lr ${end.lr}`);
  assert.ok(Math.abs(progressiveAt(spec, 19.5).lr - 5.5e-4) < 1e-12); // halfway through the decay
  assert.deepEqual([end.seqLen, end.batchSize, end.dropout], [64, 12, 0.1]);
});

test('stepwise: k equal phases, first at the start values, last at the final ones', () => {
  const s = { ...spec, mode: 'stepwise' as const, stages: 4 };
  const vals = Array.from({ length: 12 }, (_, i) => progressiveAt(s, i));
  assert.deepEqual(vals.map((v) => v.phase).slice(0, 10), ['warmup 1/4', 'warmup 1/4', 'warmup 1/4', 'warmup 2/4', 'warmup 2/4', 'warmup 3/4', 'warmup 3/4', 'warmup 3/4', 'warmup 4/4', 'warmup 4/4']);
  assert.deepEqual([vals[0].seqLen, vals[0].batchSize, vals[0].lr, vals[0].dropout], [16, 2, 1e-4, 0]);
  assert.deepEqual([vals[3].seqLen, vals[3].batchSize], [32, 5]); // f = 1/3: 16 + 16 = 32; 2 + 3.33 → 5
  assert.deepEqual([vals[9].seqLen, vals[9].batchSize, vals[9].dropout], [64, 12, 0.1]);
  assert.throws(() => checkProgressive({ ...spec, dropout: [0, 1.5] }), /dropout/);
  assert.throws(() => checkProgressive({ ...spec, batchSize: [0, 4] }), /batchSize/);
});

test('the sampler honours the step shape for every task', () => {
  const d = syntheticTaskData();
  const s = new MultiTaskSampler(d, { vocabSize: 128, seed: 3, segments: 2 });
  for (const t of ERNIE3_TASKS)
    for (const [B, T] of [[3, 8], [5, 16]]) {
      const tb = s.next(t, { batchSize: B, seqLen: T });
      if (t === 'document_lm') {
        for (const seg of tb.segments) assert.deepEqual(seg.inputIds.shape, [B, T / 2]);
        assert.ok(tb.segments.length >= 1 && tb.segments.length <= 2);
      } else if (t === 'knowledge_text_lm') {
        assert.equal(tb.segments.length, 1);
        assert.equal(tb.segments[0].inputIds.shape[0], B);
        assert.ok(tb.segments[0].inputIds.shape[1] <= T, `${t}: ${tb.segments[0].inputIds.shape[1]} > ${T}`);
      } else {
        assert.equal(tb.batch!.inputIds.shape[0], B, t);
        assert.ok(tb.batch!.inputIds.shape[1] <= T, `${t}: ${tb.batch!.inputIds.shape[1]} > ${T}`);
      }
    }
});

test('dropout is applied in training mode at the set rate, and not in eval mode', () => {
  const m = new Ernie3Model('ernie3-micro', { generator: new Generator(1) });
  const ids = fromArray(Int32Array.from([1, 5, 6, 7, 8, 2]), [1, 6], { dtype: 'i32' });
  const run = () => noGrad(() => tidy(() => Array.from(m.forwardNlu(ids).data() as Float32Array)));
  m.eval();
  const ref = run();
  m.train();
  m.setDropout(0);
  assert.deepEqual(run(), ref, 'p = 0 in training mode equals eval mode');
  m.setDropout(0.5, new Generator(9));
  const d1 = run();
  assert.ok(d1.some((x, i) => Math.abs(x - ref[i]) > 1e-3), 'dropout changes the output');
  m.setDropout(0.5, new Generator(9));
  assert.deepEqual(run(), d1, 'same generator seed, same masks');
  m.eval();
  assert.deepEqual(run(), ref, 'eval mode ignores the rate');
  assert.throws(() => m.setDropout(1), /\[0, 1\)/);
});
