/**
 * `kiln bench <peak|gemm|attention|overhead|train-step> --quick --json` end to end: each subcommand runs in its
 * own process (through `registerBenchCommand`, as src/cli/main.ts wires it) on tiny sizes, and its JSON must have
 * the documented shape with sane values — positive and finite, GEMM and attention results checked against a
 * reference — or, for the peak without the native addon, an explicit reason and a failing exit code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchProcess, kilnBench, positive, root } from './bench-process.js';
import { gptParamCount, gptConfig } from '../../src/models/gpt/config.js';


test('bench peak: measured GFLOP/s, or null with the reason and exit 1 when the native addon is absent', () => {
  const r = kilnBench('peak', '--quick', '--json', '--threads', '1');
  assert.equal(r.json.bench, 'peak');
  assert.equal(r.json.unit, 'GFLOP/s');
  assert.equal(r.json.threads, 1);
  if (r.json.value === null) {
    assert.equal(r.status, 1);
    assert.equal(r.json.peak_gflops, null);
    assert.match(String(r.json.unavailable), /native addon/);
  } else {
    assert.equal(r.status, 0, r.stderr);
    positive(r.json.value, 'peak value');
    assert.equal(r.json.peak_gflops, r.json.value);
    assert.equal(typeof r.json.isa, 'string');
  }
});

for (const threads of ['1', '2']) {
  test(`bench gemm --threads ${threads}: Kiln and both peers measured, Kiln's result matches the peer's`, () => {
    const r = kilnBench('gemm', '--quick', '--json', '--n', '48', '--threads', threads);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.bench, 'gemm');
    assert.equal(r.json.unit, 'GFLOP/s');
    assert.equal(r.json.n, 48);
    assert.equal(r.json.threads, Number(threads));
    positive(r.json.value, 'kiln GFLOP/s');
    positive(r.json.ms, 'kiln ms');
    assert.ok('peak_gflops' in r.json);
    const peers = r.json.peers as Record<string, Record<string, unknown>>;
    for (const key of ['onnxruntime', 'tfjs_wasm']) {
      assert.ok(peers[key], `peer ${key} missing: ${JSON.stringify(r.json.missing_peers)}`);
      positive(peers[key].value, `${key} GFLOP/s`);
      positive(peers[key].kiln_over_peer, `kiln/${key}`);
      assert.equal(peers[key].unit, 'GFLOP/s');
    }
    assert.equal((peers.tfjs_wasm.threads_used as number), 1, 'tfjs-wasm runs single-threaded under Node');
    const check = r.json.check as Record<string, unknown>;
    assert.equal(check.against, 'onnxruntime');
    assert.equal(check.passed, true);
    assert.ok((check.max_rel_err as number) < 1e-4 && (check.f64_sample_max_rel_err as number) < 1e-4);
    // 2·n³ FLOP in the reported time
    const gflops = (2 * 48 ** 3) / ((r.json.ms as number) / 1e3) / 1e9;
    assert.ok(Math.abs(gflops - (r.json.value as number)) / gflops < 0.01);
  });
}

test('bench attention: fused causal forward + backward, GFLOP/s and ms, checked against the composed reference', () => {
  const r = kilnBench('attention', '--quick', '--json', '--n', '24', '--heads', '2', '--head-dim', '8', '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.bench, 'attention');
  assert.equal(r.json.unit, 'GFLOP/s');
  positive(r.json.value, 'fwd+bwd GFLOP/s');
  positive(r.json.ms, 'fwd+bwd ms');
  positive(r.json.forward_ms, 'forward ms');
  assert.deepEqual(r.json.shape, { B: 1, H: 2, T: 24, D: 8, causal: true });
  assert.equal(r.json.flop_forward, (4 * 1 * 2 * 24 * 24 * 8) / 2);
  assert.equal(r.json.flop_fwd_bwd, 3.5 * (r.json.flop_forward as number));
  assert.ok('peak_gflops' in r.json);
  assert.equal((r.json.check as Record<string, unknown>).passed, true);
});

test('bench overhead: microseconds per 4-element add in a tidy, with the 2 µs target', () => {
  const r = kilnBench('overhead', '--quick', '--json', '--ops', '200');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.bench, 'overhead');
  assert.equal(r.json.unit, 'us/op');
  const us = positive(r.json.value, 'µs per op');
  assert.ok(us < 1000, `${us} µs per 4-element add is not a dispatch overhead`);
  const cpu = positive(r.json.cpu_us_per_op, 'CPU µs per op');
  assert.ok(cpu < 1000);
  assert.equal(r.json.target_us, 2);
  assert.equal(r.json.meets_target, us <= 2);
  assert.equal(r.json.ops_per_call, 200);
});

test('bench train-step: tokens/s, FLOPs and MFU of the small GPT, from a --config file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-bench-'));
  try {
    const cfgPath = path.join(dir, 'config.json');
    const cfg = { vocab_size: 64, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32 };
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, batch_size: 2, seq_len: 8 }));
    const r = kilnBench('train-step', '--quick', '--json', '--config', cfgPath, '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.bench, 'train-step');
    assert.equal(r.json.unit, 'tokens/s');
    const tps = positive(r.json.value, 'tokens/s');
    const stepMs = positive(r.json.step_ms, 'step ms');
    assert.equal(r.json.tokens_per_step, 16);
    assert.ok(Math.abs(tps - 16 / (stepMs / 1e3)) / tps < 0.01);
    assert.equal(r.json.params, gptParamCount(gptConfig(cfg)));
    assert.equal(r.json.flop_per_step, (r.json.flop_per_token as number) * 16);
    positive(r.json.achieved_gflops, 'achieved GFLOP/s');
    assert.ok('peak_gflops' in r.json && 'mfu' in r.json);
    if (r.json.peak_gflops !== null) {
      const mfu = positive(r.json.mfu, 'MFU');
      assert.ok(mfu <= 1, `MFU ${mfu} above 1 means the FLOP count or the peak is wrong`);
    } else assert.equal(r.json.mfu, null);
    for (const l of r.json.loss as number[]) assert.ok(Number.isFinite(l) && l > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench rejects a bad size with a non-zero exit', () => {
  const r = benchProcess('gemm', '--n', '0', '--json');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /positive integer/);
});

test('bench train-step with an unreadable --config: JSON with value null and the reason, exit 1', () => {
  const r = kilnBench('train-step', '--quick', '--json', '--config', '/nonexistent/kiln-config.json');
  assert.equal(r.status, 1);
  assert.equal(r.json.bench, 'train-step');
  assert.equal(r.json.value, null);
  assert.match(String(r.json.unavailable), /cannot read --config \/nonexistent\/kiln-config\.json/);
});

test('bench/run.js --quick: prints the table and writes latest.json plus a timestamped copy with every part', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-bench-run-'));
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'dist/bench/run.js'), '--quick', '--sizes', '32', '--out', dir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const heading of ['machine', 'fp32 FMA peak', 'sgemm', 'fused attention', 'dispatch overhead', 'training step', 'all correctness checks: passed'])
      assert.ok(r.stdout.includes(heading), `table lacks '${heading}':\n${r.stdout}`);
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2);
    assert.ok(files.includes('latest.json'));
    const latest = JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as Record<string, any>;
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, files.find((f) => f !== 'latest.json')!), 'utf8')), latest);
    assert.equal(latest.schema, 'kiln-bench/1');
    assert.equal(latest.checks_passed, true);
    assert.deepEqual(latest.peak.map((p: any) => p.threads), [1, 2]);
    assert.deepEqual(latest.gemm.map((g: any) => [g.n, g.threads]), [[32, 1], [32, 2]]);
    for (const g of latest.gemm) {
      positive(g.kiln.gflops, 'kiln GFLOP/s');
      const peak = latest.peak.find((p: any) => p.threads === g.threads).gflops;
      assert.equal(g.peak_gflops, peak);
      if (peak !== null) {
        // the peak is the higher of the two probe sessions, and ratios use it
        assert.equal(peak, Math.max(...latest.peak.find((p: any) => p.threads === g.threads).sessions));
        assert.ok(Math.abs(g.kiln_over_peak - g.kiln.gflops / peak) / g.kiln_over_peak < 0.01);
      } else assert.equal(g.kiln_over_peak, null);
    }
    positive(latest.attention.fwd_bwd_gflops, 'attention GFLOP/s');
    positive(latest.overhead.us_per_op, 'overhead µs');
    positive(latest.train_step.tokens_per_second, 'tokens/s');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
