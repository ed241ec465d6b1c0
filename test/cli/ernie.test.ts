/**
 * `kiln train ernie`, `kiln finetune ernie`, `kiln eval ernie --cloze` and `kiln ernie compare` through commander
 * (registerErnieTrainCommands on a fresh program), --json output checked value by value, on the synthetic data;
 * `eval ernie --split seen` scores the seen cloze (items from train triples), and compare reports its PMI accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerErnieTrainCommands } from '../../src/cli/ernie.js';
import { clozeAccuracy } from '../../src/infer/ernie3-score.js';
import { syntheticTaskData } from '../../src/train/ernie3-data.js';
import { loadErnie3 } from '../../src/train/ernie3.js';

async function kiln(args: string[]): Promise<Record<string, unknown>> {
  const program = new Command().exitOverride();
  registerErnieTrainCommands(program, program.command('train'));
  const out: string[] = [];
  const log = console.log;
  console.log = (s: unknown) => out.push(String(s));
  try {
    await program.parseAsync(['node', 'kiln', ...args]);
  } finally {
    console.log = log;
  }
  assert.equal(out.length, 1, `one JSON line, got ${out.length}`);
  return JSON.parse(out[0]) as Record<string, unknown>;
}

test('kiln train ernie / finetune ernie / eval ernie --cloze / ernie compare --json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ernie3-cli-'));
  try {
    const out = join(dir, 'run');
    const common = ['--data', 'synthetic', '--config', 'ernie3-micro', '--seq', '8:16', '--batch', '2:4', '--warmup', '2', '--progressive', 'stepwise', '--stages', '2'];
    const t = await kiln(['train', 'ernie', ...common, '--steps', '4', '--out', out, '--checkpoint-every', '2', '--json']);
    assert.equal(t.steps, 4);
    assert.equal(t.knowledge, true);
    const sched = t.schedule as { step: number; phase: string; seq_len: number; batch_size: number; dropout: number }[];
    assert.deepEqual(sched.map((s) => [s.step, s.phase, s.seq_len, s.batch_size]), [[1, 'warmup 1/2', 8, 2], [2, 'warmup 2/2', 16, 4], [3, 'stable', 16, 4], [4, 'stable', 16, 4]]);
    assert.deepEqual(sched.map((s) => s.dropout), [0, 0.1, 0.1, 0.1]);
    const per = t.per_task as Record<string, { draws: number; mean_loss: number | null }>;
    assert.equal(Object.values(per).reduce((n, p) => n + p.draws, 0), 4);
    assert.ok(existsSync(join(out, 'checkpoint-2', 'trainer_state.json')) && existsSync(join(out, 'model.safetensors')));
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).model_type, 'ernie3');
    // resume from the final state is a no-op run that reports the start step
    const again = await kiln(['train', 'ernie', ...common, '--steps', '4', '--out', out, '--resume', '--json']);
    assert.equal(again.start_step, 4);
    const nk = await kiln(['train', 'ernie', ...common, '--steps', '3', '--out', join(dir, 'nk'), '--no-knowledge', '--json']);
    assert.equal(nk.knowledge, false);
    assert.equal((nk.per_task as Record<string, { draws: number }>).knowledge_text.draws, 0);

    const f = await kiln(['finetune', 'ernie', '--model', out, '--data', 'synthetic', '--steps', '3', '--batch', '4', '--json']);
    assert.equal(f.steps, 3);
    for (const k of ['relation_accuracy', 'relation_train_accuracy', 'cloze_accuracy'] as const) assert.ok((f[k] as number) >= 0 && (f[k] as number) <= 1, k);
    assert.equal(f.test_pairs, 10);
    assert.equal(f.cloze_chance, 0.25);
    const e = await kiln(['eval', 'ernie', '--model', out, '--data', 'synthetic', '--cloze', '--json']);
    assert.equal(e.cloze_accuracy, f.cloze_accuracy);
    assert.equal(e.cloze_items, 10);
    const e2 = await kiln(['eval', 'ernie', '--model', out, '--data', 'synthetic', '--cloze', '--shots', '2', '--json']);
    assert.equal(e2.shots, 2);
    assert.ok((e2.cloze_accuracy as number) >= 0 && (e2.cloze_accuracy as number) <= 1);
    // --split seen: the items from train triples (pre-training read them), scored like the held-out ones
    assert.equal(e.split, 'held-out');
    const es = await kiln(['eval', 'ernie', '--model', out, '--data', 'synthetic', '--cloze', '--split', 'seen', '--json']);
    assert.equal(es.split, 'seen');
    assert.equal(es.cloze_items, 10);
    const d = syntheticTaskData();
    const key = (xs: number[]) => xs.join(',');
    const pretrained = new Set(d.triples.map((t) => `${key(t.head)}|${key(t.tail)}`));
    assert.equal(d.clozeSeen.length, 10);
    for (const z of d.clozeSeen) assert.ok(d.triples.some((t) => key(z.context.slice(1, 1 + t.head.length)) === key(t.head) && pretrained.has(`${key(t.head)}|${key(z.candidates[z.answer])}`)));
    for (const z of d.cloze) assert.ok(!d.triples.some((t) => key(z.context.slice(1, 1 + t.head.length)) === key(t.head) && key(t.tail) === key(z.candidates[z.answer])));
    const model = loadErnie3(out);
    const ref = clozeAccuracy(model, d.clozeSeen, { separator: [d.id('.')] });
    model.dispose();
    assert.deepEqual([es.cloze_correct, es.cloze_accuracy_pmi, es.cloze_chance], [ref.correct, ref.accuracyPmi, ref.chance]);
    await assert.rejects(kiln(['eval', 'ernie', '--model', out, '--data', 'synthetic', '--cloze', '--split', 'train', '--json']), /expected 'held-out' or 'seen'/);
    await assert.rejects(kiln(['finetune', 'ernie', '--model', out, '--json']), /vocab\.txt differs/);

    const c = await kiln(['ernie', 'compare', ...common, '--steps', '2', '--finetune-steps', '2', '--json']);
    for (const k of ['knowledge', 'baseline', 'scratch'] as const) {
      const r = c[k] as { relation_accuracy: number; cloze_accuracy: number; runs: unknown[] };
      assert.ok(r.relation_accuracy >= 0 && r.relation_accuracy <= 1 && r.cloze_accuracy >= 0 && r.cloze_accuracy <= 1, k);
      assert.equal(r.runs.length, 1);
      // the seen cloze's PMI accuracy, per run and as the mean, beside the held-out one
      const seen = (c[k] as { cloze_seen_pmi: number; runs: { cloze_seen_pmi: number; cloze_accuracy_pmi: number }[] });
      assert.ok(seen.cloze_seen_pmi >= 0 && seen.cloze_seen_pmi <= 1 && Number.isInteger(seen.cloze_seen_pmi * 10), k);
      assert.equal(seen.runs[0].cloze_seen_pmi, seen.cloze_seen_pmi);
    }
    assert.equal(c.cloze_seen_items, 10);
    assert.equal(c.cloze_items, 10);
    assert.ok(((c.knowledge as { tokens: number }).tokens) > 0);
    // the knowledge run alone, its own weights (knowledge text only), 2 fine-tuning seeds, first sentences only
    const c2 = await kiln(['ernie', 'compare', ...common, '--steps', '3', '--finetune-steps', '2', '--finetune-seeds', '2', '--models', 'knowledge',
      '--knowledge-weights', 'knowledge_text=1', '--kt-sentences', 'first', '--no-kt-alone', '--relation-mask-rate', '1', '--json']);
    const kr = (c2.knowledge as { runs: { relation_accuracies: number[]; per_task: Record<string, { draws: number }> }[] }).runs;
    assert.equal(kr.length, 1);
    assert.equal(kr[0].relation_accuracies.length, 2);
    assert.equal(kr[0].per_task.knowledge_text.draws, 3);
    assert.deepEqual(c2.knowledge_text, { sentences: 'first', alone: false, relationMaskRate: 1 });
    assert.equal(c2.protocol, 'strict');
    assert.deepEqual((c2.baseline as { runs: unknown[] }).runs, []);
    await assert.rejects(kiln(['ernie', 'compare', ...common, '--steps', '2', '--protocol', 'full-kg', '--json']), /synthetic data has no held-out triples/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
