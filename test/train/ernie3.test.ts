/**
 * The ERNIE 3.0 trainer: a run interrupted at a checkpoint and resumed ends bit-identical to the straight run (model,
 * optimizer moments, logs); the no-knowledge ablation never draws the knowledge-text task and masks single tokens
 * only (never a multi-token entity span as a whole); per-task losses and accuracies are logged; the comparison runs
 * the asked models, gives the knowledge run its own weights, and fine-tunes each backbone once per fine-tuning seed;
 * generative knowledge text teaches the NLG module the training triples' tails (document LM alone does not).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/index.js';
import { Ernie3ForPreTraining } from '../../src/models/ernie3/heads.js';
import { MultiTaskSampler } from '../../src/models/ernie3/multitask.js';
import { syntheticTaskData } from '../../src/train/ernie3-data.js';
import { loadErnie3Checkpoint, trainErnie3, type Ernie3TrainOptions } from '../../src/train/ernie3.js';
import { compareKnowledge, std } from '../../src/train/ernie3-compare.js';
import { scoreCandidates } from '../../src/infer/ernie3-score.js';

const data = syntheticTaskData();
const config = { vocab_size: 80, universal: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, nlu: { num_layers: 1, hidden_size: 8, num_heads: 2, intermediate_size: 16 }, nlg: { num_layers: 1, hidden_size: 8, num_heads: 2, intermediate_size: 16 }, max_seq_len: 32, mem_len: 8, hidden_dropout_prob: 0.1 };
const opts = (out: string): Ernie3TrainOptions => ({
  steps: 8, seed: 4, out, checkpointEvery: 3,
  progressive: { warmupSteps: 4, mode: 'linear', seqLen: [8, 32], batchSize: [2, 4], lr: [1e-3, 3e-3], dropout: [0, 0.1] },
});

test('resume from checkpoint-3 ends bit-identical to the straight run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ernie3-resume-'));
  try {
    const straight = join(dir, 'straight');
    const a = trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, opts(straight));
    const cut = join(dir, 'cut');
    trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...opts(cut), untilStep: 3 });
    assert.ok(existsSync(join(cut, 'checkpoint-3', 'optimizer.safetensors')) && !existsSync(join(cut, 'model.safetensors')));
    const r = loadErnie3Checkpoint(join(cut, 'checkpoint-3'));
    assert.equal(r.state.step, 3);
    const b = trainErnie3(r.model, data, opts(cut), r);
    assert.deepEqual(b.logs.map((l) => [l.step, l.task, l.loss, l.lr, l.seqLen, l.batchSize, l.tokens]), a.logs.slice(3).map((l) => [l.step, l.task, l.loss, l.lr, l.seqLen, l.batchSize, l.tokens]));
    for (const f of ['model.safetensors', 'optimizer.safetensors'])
      assert.ok(readFileSync(join(straight, f)).equals(readFileSync(join(cut, f))), `${f} differs`);
    assert.deepEqual(JSON.parse(readFileSync(join(cut, 'trainer_state.json'), 'utf8')), JSON.parse(readFileSync(join(straight, 'trainer_state.json'), 'utf8')));
    assert.equal(readFileSync(join(cut, 'vocab.txt'), 'utf8').split('\n')[5], data.vocab[5]);
    // a checkpoint written before the generative knowledge-text task existed (no weight, no stats for it) resumes
    const oldDir = join(dir, 'old');
    trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...opts(oldDir), untilStep: 3 });
    const statePath = join(oldDir, 'checkpoint-3', 'trainer_state.json');
    const st = JSON.parse(readFileSync(statePath, 'utf8'));
    delete st.weights.knowledge_text_lm;
    delete st.perTask.knowledge_text_lm;
    writeFileSync(statePath, JSON.stringify(st));
    const ro = loadErnie3Checkpoint(join(oldDir, 'checkpoint-3'));
    assert.deepEqual(trainErnie3(ro.model, data, opts(oldDir), ro).logs.map((l) => l.loss), a.logs.slice(3).map((l) => l.loss));
    // a mismatched option is refused, naming it
    const r2 = loadErnie3Checkpoint(join(cut, 'checkpoint-3'));
    assert.throws(() => trainErnie3(r2.model, data, { ...opts(cut), seed: 5 }, r2), /seed = 4/);
    // the dropout really acted: the same run with dropout 0 gives other losses after the warm-up's first step
    const nd = trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...opts(join(dir, 'nd')), progressive: { ...opts('').progressive, dropout: [0, 0] } });
    assert.notEqual(nd.logs[0].loss, a.logs[0].loss, 'step 1 runs at dropout 0.025 in one run and 0 in the other');
    assert.deepEqual(nd.logs.map((l) => l.task), a.logs.map((l) => l.task), 'the same draws');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no-knowledge ablation: no knowledge-text task, masking ignores entity spans; per-task stats are logged', () => {
  const o = { ...opts(''), out: undefined, checkpointEvery: undefined, steps: 12 };
  const k = trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...o, knowledge: true });
  const nk = trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...o, knowledge: false });
  assert.ok(k.logs.some((l) => l.task === 'knowledge_text'), 'the knowledge run draws knowledge_text');
  assert.ok(nk.logs.every((l) => l.task !== 'knowledge_text'));
  assert.equal(nk.perTask.knowledge_text.draws, 0);
  assert.equal(trainErnie3(new Ernie3ForPreTraining(config, { generator: new Generator(1) }), data, { ...o, knowledge: false, weights: { knowledge_text_lm: 1, document_lm: 1 } }).perTask.knowledge_text_lm.draws, 0);
  for (const r of [k, nk])
    for (const l of r.logs) {
      assert.ok(Number.isFinite(l.loss) && l.loss > 0);
      assert.ok(l.accuracy !== null && l.accuracy >= 0 && l.accuracy <= 1);
      assert.equal(l.perTask[l.task].lastLoss, l.loss);
    }
  // masking: with knowledge a multi-token span is masked all or nothing; without, some draw masks part of one
  const sent = data.documents.flat().find((x) => x.spans.filter((sp) => sp.end - sp.start >= 2).length >= 2)!;
  const partial = (knowledge: boolean) => {
    const s = new MultiTaskSampler({ documents: [[sent], [sent]], triples: [] }, { vocabSize: 80, seed: 1, knowledge, maskRate: 0.3 });
    let partialSpans = 0;
    for (let i = 0; i < 60; i++) {
      const labels = Array.from(s.next('knowledge_mlm', { batchSize: 1, seqLen: 32 }).batch!.labels!.data() as Int32Array);
      for (const sp of sent.spans) {
        const masked = labels.slice(sp.start + 1, sp.end + 1).filter((x) => x !== -100).length; // +1: [CLS]
        if (masked > 0 && masked < sp.end - sp.start) partialSpans++;
      }
    }
    return partialSpans;
  };
  assert.equal(partial(true), 0);
  assert.ok(partial(false) > 0, 'plain token masking cuts through spans');
});

test('compareKnowledge: --models subset, knowledge run weights, fine-tuning seeds; synthetic held-out triples stay out of pre-training', () => {
  // syntheticTaskData: pre-training triples exclude the held-out pairs
  const pk = (h: number[], t: number[]) => `${h.join(',')}|${t.join(',')}`;
  const pre = new Set(data.triples.map((t) => pk(t.head, t.tail)));
  for (const e of data.relationDataset.test) assert.ok(!pre.has(pk(e.head, e.tail)));
  for (const d of data.documents) for (const x of d) if (x.triple >= 0) assert.ok(x.triple < data.triples.length);
  const r = compareKnowledge(data, {
    config: { ...config, hidden_dropout_prob: 0 }, steps: 10, finetuneSteps: 2, finetuneSeeds: 2, seeds: [3], kinds: ['knowledge', 'baseline'],
    knowledgeWeights: { knowledge_text: 1 },
    train: { progressive: { warmupSteps: 2, mode: 'linear', seqLen: [8, 32], batchSize: [2, 4], lr: [1e-3, 1e-3], dropout: [0, 0] }, weights: { knowledge_mlm: 1, document_lm: 1 } },
  });
  assert.equal(r.scratch.length, 0);
  assert.ok(Number.isNaN(r.mean.scratch.relationAccuracy));
  const kt = r.knowledge[0].perTask!;
  assert.equal(kt.knowledge_text.draws, 10, 'the knowledge run draws only knowledge text');
  const bt = r.baseline[0].perTask!;
  assert.equal(bt.knowledge_text.draws, 0);
  assert.equal(bt.knowledge_mlm.draws + bt.document_lm.draws, 10);
  for (const run of [r.knowledge[0], r.baseline[0]]) {
    assert.equal(run.relationAccuracies.length, 2);
    assert.ok(Math.abs(run.relationAccuracy - (run.relationAccuracies[0] + run.relationAccuracies[1]) / 2) < 1e-12);
  }
  assert.ok(Math.abs(r.mean.knowledge.relationSpread - std(r.knowledge[0].relationAccuracies)) < 1e-12);
  assert.equal(std([1, 2, 3]), 1);
});

test('generative knowledge text: the NLG module learns to complete the training triples (document LM alone does not)', () => {
  const wide = { ...config, nlg: { num_layers: 1, hidden_size: 16, num_heads: 2, intermediate_size: 32 }, hidden_dropout_prob: 0 };
  const tails = [...new Map(data.triples.map((t) => [t.tail.join(' '), t.tail])).values()];
  // of all distinct tails, the one the NLG finds likeliest after "head relation"
  const completed = (m: Ernie3ForPreTraining) => data.triples.filter((t) => {
    const s = scoreCandidates(m, [...t.head, ...t.relation], tails);
    return tails[s.indexOf(Math.max(...s))] === tails.find((x) => x.join(' ') === t.tail.join(' '));
  }).length / data.triples.length;
  const run = (weights: Ernie3TrainOptions['weights']) => {
    const m = new Ernie3ForPreTraining(wide, { generator: new Generator(1) });
    const r = trainErnie3(m, data, { steps: 300, seed: 1, weights, progressive: { warmupSteps: 2, mode: 'linear', seqLen: [32, 32], batchSize: [8, 8], lr: [1e-2, 1e-2], dropout: [0, 0] } });
    return { m, draws: r.perTask.knowledge_text_lm.draws };
  };
  const kt = run({ knowledge_text_lm: 1 });
  const doc = run({ document_lm: 1 });
  assert.equal(kt.draws, 300);
  // seen: 26 and 3 of the 30 triples, among 17 tails (chance 1/17)
  const [a, b] = [completed(kt.m), completed(doc.m)];
  assert.ok(a >= 0.7 && b <= 0.3, `triples completed: ${a} with generative knowledge text, ${b} with document LM alone`);
});
