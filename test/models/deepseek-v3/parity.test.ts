/**
 * Logit parity against HF transformers' DeepseekV3ForCausalLM (fixtures from scripts/fixtures/deepseek-v3-hf-parity.py):
 * a/ q LoRA + YaRN + interleaved RoPE + group-limited routing with biases + one MTP module (F32, single file);
 * b/ plain q_proj + rotate_half RoPE + tied embeddings + unnormalised gates, stored sharded as F8_E4M3 with 16×16
 * block scales (partial edge blocks) and BF16.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { loadPretrained } from '../../../src/models/deepseek-v3/hf.js';

const FIX = join(process.cwd(), 'test/fixtures/deepseek-v3');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function reference(dir: string) {
  const { tensors } = readSafetensors(join(dir, 'logits.safetensors'));
  const ids = tensors.get('ids')!;
  return { ids: k.fromArray(ids.data as Int32Array, ids.shape, { dtype: 'i32' }), tensors };
}

test('HF parity a: logits and MTP logits (q LoRA, YaRN, interleaved RoPE, group routing with bias)', () => {
  const dir = join(FIX, 'a');
  const model = loadPretrained(dir).eval();
  const { ids, tensors } = reference(dir);
  const out = k.noGrad(() => model.forward(ids));
  const want = tensors.get('logits')!;
  assert.deepEqual(out.logits.shape, want.shape);
  const d = maxAbsDiff(out.logits.data() as Float32Array, want.data as Float32Array);
  assert.ok(d < 1e-4, `logits differ from transformers by ${d}`);
  const wantMtp = tensors.get('mtp_logits')!;
  assert.deepEqual(out.mtpLogits[0].shape, wantMtp.shape);
  const dm = maxAbsDiff(out.mtpLogits[0].data() as Float32Array, wantMtp.data as Float32Array);
  assert.ok(dm < 1e-4, `MTP logits differ from the transformers MtpLayer reference by ${dm}`);
  // the absorbed path with the latent cache gives the same logits
  const cache = model.newCache(2);
  const pre = model.forwardCached(ids.slice(1, 0, 7).contiguous(), cache).logits;
  const steps = [pre];
  for (let t = 7; t < ids.shape[1]; t++) steps.push(model.forwardCached(ids.slice(1, t, t + 1).contiguous(), cache).logits);
  const cached = k.cat(steps, 1);
  const dc = maxAbsDiff(cached.data() as Float32Array, want.data as Float32Array);
  assert.ok(dc < 1e-4, `cached absorbed decoding differs from transformers by ${dc}`);
  model.dispose();
});

test('HF parity b: sharded FP8 (16×16 blocks, partial edges) + BF16 checkpoint, q_proj, rotate_half, tied head', () => {
  const dir = join(FIX, 'b');
  const model = loadPretrained(dir).eval();
  assert.equal(model.config.q_lora_rank, null);
  assert.equal(model.lm_head, null);
  const { ids, tensors } = reference(dir);
  const out = k.noGrad(() => model.forward(ids));
  const d = maxAbsDiff(out.logits.data() as Float32Array, tensors.get('logits')!.data as Float32Array);
  assert.ok(d < 1e-4, `logits differ from transformers by ${d}`);
  // dequantised weights equal torch's (float8_e4m3fn · block scale), bit for bit
  const deq = readSafetensors(join(dir, 'dequant.safetensors')).tensors;
  const state = model.stateDict();
  for (const [name, t] of deq) {
    const mine = state.get(name)!;
    assert.deepEqual(mine.shape, t.shape);
    assert.equal(maxAbsDiff(mine.data() as Float32Array, t.data as Float32Array), 0, name);
  }
  model.dispose();
});
