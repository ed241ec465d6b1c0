/**
 * `kiln bench train-step|decode|prefill --config deepseek-v3-micro --quick --json` end to end (each in its own
 * process, through `registerBenchCommand`): the JSON has `tokens_per_s` (and `mfu` where FLOPs apply) with sane
 * values — positive, finite, MFU ≤ 1, tokens/s consistent with the step/forward time, FLOPs from the family's
 * `flopsPerToken` — plus a config.json (model_type deepseek_v3) path and a rejected non-DeepSeek config for decode.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kilnBench, positive, root } from './bench-process.js';
import { DEEPSEEK_V3_PRESETS, deepseekV3Config, flopsPerToken, paramCounts, toHfConfigJson } from '../../src/models/deepseek-v3/config.js';


function checkMfu(j: Record<string, unknown>): void {
  assert.ok('mfu' in j && 'peak_gflops' in j);
  if (j.peak_gflops === null) return assert.equal(j.mfu, null);
  const mfu = positive(j.mfu, 'MFU');
  assert.ok(mfu <= 1, `MFU ${mfu} above 1: the FLOP count or the peak is wrong`);
  assert.ok(Math.abs(mfu - (j.achieved_gflops as number) / (j.peak_gflops as number)) / mfu < 0.01);
}

const micro = deepseekV3Config('deepseek-v3-micro');

test('bench train-step --config deepseek-v3-micro: tokens_per_s, MFU and FLOPs from flopsPerToken(training)', () => {
  const r = kilnBench('train-step', '--config', 'deepseek-v3-micro', '--batch', '2', '--seq', '8', '--quick', '--json', '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  const j = r.json;
  assert.equal(j.bench, 'train-step');
  assert.equal(j.family, 'deepseek_v3');
  assert.equal(j.unit, 'tokens/s');
  const tps = positive(j.tokens_per_s, 'tokens_per_s');
  assert.equal(j.value, tps);
  assert.equal(j.tokens_per_step, 16);
  assert.ok(Math.abs(tps - 16 / (positive(j.step_ms, 'step ms') / 1e3)) / tps < 0.01);
  assert.equal(j.flop_per_token, flopsPerToken(micro, { seqLen: 8, training: true }));
  assert.equal(j.flop_per_step, (j.flop_per_token as number) * 16);
  assert.equal(j.params_total, paramCounts(micro).params_total);
  checkMfu(j);
  for (const l of j.loss as number[]) assert.ok(Number.isFinite(l) && l > 0 && l < 3 * Math.log(micro.vocab_size));
});

test('bench decode --config deepseek-v3-micro: greedy tokens_per_s at batch 1, deterministic', () => {
  const r = kilnBench('decode', '--config', 'deepseek-v3-micro', '--prompt-len', '4', '--new-tokens', '8', '--quick', '--json', '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  const j = r.json;
  assert.equal(j.bench, 'decode');
  assert.equal(j.unit, 'tokens/s');
  const tps = positive(j.tokens_per_s, 'tokens_per_s');
  assert.ok(Math.abs(tps - 1e3 / positive(j.ms_per_token, 'ms per token')) / tps < 0.01);
  assert.ok(tps >= (j.median_tokens_per_s as number));
  positive(j.tokens_per_s_with_prefill, 'tokens/s incl. prefill');
  assert.equal(j.batch_size, 1);
  assert.equal(j.prompt_len, 4);
  assert.equal(j.new_tokens, 8);
  assert.equal(j.deterministic, true);
});

test('bench prefill from a config.json (model_type deepseek_v3): tokens_per_s and MFU from flopsPerToken(inference)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ds-bench-'));
  try {
    const cfgPath = path.join(dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(toHfConfigJson(deepseekV3Config(DEEPSEEK_V3_PRESETS['deepseek-v3-micro']))));
    const r = kilnBench('prefill', '--config', cfgPath, '--seq', '12', '--quick', '--json', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    const j = r.json;
    assert.equal(j.bench, 'prefill');
    const tps = positive(j.tokens_per_s, 'tokens_per_s');
    assert.ok(Math.abs(tps - 12 / (positive(j.ms, 'ms') / 1e3)) / tps < 0.01);
    assert.equal(j.seq_len, 12);
    assert.equal(j.flop_per_token, flopsPerToken(micro, { seqLen: 12, training: false, mtp: false }));
    checkMfu(j);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench decode with a config that is not DeepSeek-V3: value null, the reason, exit 1', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ds-bench-'));
  try {
    const cfgPath = path.join(dir, 'gpt.json');
    writeFileSync(cfgPath, JSON.stringify({ hidden_size: 32 }));
    const r = kilnBench('decode', '--config', cfgPath, '--quick', '--json');
    assert.equal(r.status, 1);
    assert.equal(r.json.value, null);
    assert.match(String(r.json.unavailable), /not a DeepSeek-V3 config/);
    const bad = kilnBench('prefill', '--config', 'deepseek-v3-nonesuch', '--quick', '--json');
    assert.equal(bad.status, 1);
    assert.match(String(bad.json.unavailable), /unknown DeepSeek-V3 preset/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench/run.js --quick: the DeepSeek-V3 rows and the target line are in the table and in latest.json', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ds-run-'));
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'dist/bench/run.js'), '--quick', '--sizes', '32', '--threads', '1', '--out', dir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const heading of ['DeepSeek-V3 training step', 'DeepSeek-V3 greedy decode', 'DeepSeek-V3 prefill', 'targets (issue 3, deepseek-v3-bench)'])
      assert.ok(r.stdout.includes(heading), `table lacks '${heading}':\n${r.stdout}`);
    const ds = (JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as { deepseek: Record<string, Record<string, unknown>> }).deepseek;
    assert.equal(ds.config as unknown, 'deepseek-v3-micro');
    positive(ds.train_step.tokens_per_second, 'train tokens/s');
    positive(ds.decode.tokens_per_second, 'decode tokens/s');
    positive(ds.prefill.tokens_per_second, 'prefill tokens/s');
    assert.deepEqual(ds.targets, { train_mfu: 0.4, decode_tokens_per_second: 1000 });
    assert.equal(ds.train_mfu_met, null); // quick runs are not judged against the bench-config targets
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
