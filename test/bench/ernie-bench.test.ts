/**
 * `kiln bench ernie-step`: the FLOP count on a config small enough to add up by hand, the default workload (the
 * GEMM-bound ernie3-bench preset, ernie3-micro with --quick), and the command's --quick --json --profile output
 * (through commander, registerErnieBenchCommand).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { ernieStepFlops, ernieStepWorkload, registerErnieBenchCommand } from '../../src/bench/ernie.js';
import { ernie3Config, ernie3ParamCounts } from '../../src/models/ernie3/config.js';

test('default workload: ernie3-bench, batch 16 × its 128-token segments; --quick: ernie3-micro', () => {
  const w = ernieStepWorkload({ quick: false });
  assert.equal(w.preset, 'ernie3-bench');
  assert.deepEqual([w.batchSize, w.seqLen], [16, 128]);
  assert.equal(ernie3ParamCounts(w.config).params_total, 21_545_472);
  assert.equal(ernieStepWorkload({ quick: true }).preset, 'ernie3-micro');
});

test('FLOPs of a step, added up by hand', () => {
  const c = ernie3Config({
    vocab_size: 10, universal: { num_layers: 1, hidden_size: 4, num_heads: 1, intermediate_size: 8 },
    nlu: { num_layers: 1, hidden_size: 2, num_heads: 1, intermediate_size: 4 }, nlg: { num_layers: 1, hidden_size: 2, num_heads: 1, intermediate_size: 4 },
    max_seq_len: 8, mem_len: 2,
  });
  // per token: universal 2(4·16 + 2·4·8) + 6·3·4 = 328; NLU 2(4·4 + 2·2·4) + 6·3·2 = 100; in_proj 16; head 40 → 484
  // per forward: W_kR over P = 6 distances: 2·6·16 + 2·6·4 = 240;  3 × (3 · 484 + 240) = 5076
  assert.equal(ernieStepFlops(c, 'nlu', 1, 3), 5076);
  // NLG, T = 3, segment 1: no memory, Kv = 2 → per token 2·128 + 6·2·4 + 2·32 + 6·2·2 + 16 + 40 = 448; rel P = 6 → 240
  //          segment 2: M = 2, Kv = 4 → 256 + 96 + 64 + 48 + 56 = 520; rel P = 8 → 2·8·16 + 2·8·4 = 320
  assert.equal(ernieStepFlops(c, 'nlg', 1, 3), 3 * (3 * 448 + 240 + 3 * 520 + 320));
  assert.equal(ernieStepFlops(c, 'nlu', 2, 3) - ernieStepFlops(c, 'nlu', 1, 3), 3 * 3 * 484);
});

test('kiln bench ernie-step --quick --json', async () => {
  const program = new Command().exitOverride();
  registerErnieBenchCommand(program.command('bench'));
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'kiln', 'bench', 'ernie-step', '--quick', '--json', '--threads', '1', '--profile', '1']);
  } finally {
    process.stdout.write = write;
  }
  const r = JSON.parse(out.join('')) as Record<string, any>;
  assert.equal(r.bench, 'ernie-step');
  assert.equal(r.model, 'ernie3-micro');
  assert.equal(r.unit, 'tokens/s');
  assert.ok(r.value > 0 && Number.isFinite(r.value));
  assert.equal(r.nlu.flop_per_step, ernieStepFlops(ernie3Config('ernie3-micro'), 'nlu', 2, 16));
  for (const p of ['nlu', 'nlg']) {
    assert.ok(r[p].tokens_per_s > 0 && r[p].step_ms > 0 && r[p].cpu_ms_per_step > 0, p);
    assert.ok(r[p].loss.every((x: number) => Number.isFinite(x) && x > 0), p);
    if (r.peak_gflops !== null) assert.ok(r[p].mfu > 0 && r[p].mfu < 1, p);
    // the profile: one extra step, its kernels by name; the fused relative attention ran forward and backward
    assert.equal(r[p].profile.steps, 1);
    const names = r[p].profile.kernels.map((k: { name: string }) => k.name);
    for (const k of ['gemm', 'relAttentionForward', 'relAttentionBackward']) assert.ok(names.includes(k), `${p}: ${k} in [${names}]`);
    assert.ok(r[p].profile.kernels.every((k: { ms: number; calls: number }) => k.ms >= 0 && k.calls > 0));
  }
  assert.equal(r.target_met, null);
});
