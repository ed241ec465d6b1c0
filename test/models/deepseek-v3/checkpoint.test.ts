/**
 * DeepSeek-V3 HF checkpoints: f32 and bf16 round trips (bit-exact), sharded saves, the MTP layout, FP8 block-scale
 * dequantisation of a partial edge block by hand, and errors that name the tensor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k from '../../../src/index.js';
import { openCheckpoint } from '../../../src/io/sharded.js';
import { readSafetensors, writeSafetensors } from '../../../src/io/safetensors.js';
import { f32ToE4M3 } from '../../../src/tensor/convert.js';
import { dequantizeBlockFp8, loadPretrained, quantizeBlockFp8, savePretrained } from '../../../src/models/deepseek-v3/hf.js';
import { DeepseekV3ForCausalLM } from '../../../src/models/deepseek-v3/model.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-dsv3-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sameState(a: DeepseekV3ForCausalLM, b: DeepseekV3ForCausalLM): void {
  const sb = b.stateDict();
  for (const [name, t] of a.stateDict()) assert.deepEqual(sb.get(name)!.data(), t.data(), name);
}

test('f32: save → load → save → load is bit-exact; sharded; MTP stored as layer L with embed/head copies', () => {
  withDir((dir) => {
    const a = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(1) });
    // give the selection biases values so they must round-trip too
    (a.moeBlocks[0].gate.e_score_correction_bias.storage.data as Float32Array).set([0.1, -0.2, 0.3, -0.4]);
    savePretrained(a, join(dir, '1'), { maxShardBytes: 4000 });
    const files = readdirSync(join(dir, '1'));
    assert.ok(files.includes('model.safetensors.index.json') && files.filter((f) => f.endsWith('.safetensors')).length > 2, files.join(','));
    const names = openCheckpoint(join(dir, '1')).names();
    for (const n of ['model.layers.2.enorm.weight', 'model.layers.2.hnorm.weight', 'model.layers.2.eh_proj.weight', 'model.layers.2.shared_head.norm.weight',
      'model.layers.2.shared_head.head.weight', 'model.layers.2.embed_tokens.weight', 'model.layers.1.mlp.experts.3.down_proj.weight',
      'model.layers.1.mlp.gate.e_score_correction_bias', 'model.layers.0.mlp.gate_proj.weight', 'model.layers.1.self_attn.q_a_proj.weight', 'lm_head.weight'])
      assert.ok(names.includes(n), n);
    const b = loadPretrained(join(dir, '1'));
    sameState(a, b);
    savePretrained(b, join(dir, '2'), { maxShardBytes: 4000 });
    for (const f of readdirSync(join(dir, '1')).filter((x) => x.endsWith('.safetensors') || x.endsWith('.json')))
      assert.deepEqual(readFileSync(join(dir, '2', f)), readFileSync(join(dir, '1', f)), f);
    const ids = k.fromArray(Int32Array.from([1, 5, 9, 3]), [1, 4], { dtype: 'i32' });
    assert.deepEqual(k.noGrad(() => b.forward(ids).logits.data()), k.noGrad(() => a.forward(ids).logits.data()));
    a.dispose();
    b.dispose();
  });
});

test('bf16: a bf16 checkpoint loads, and saving it as bf16 again gives the same bytes (the gate bias stays f32)', () => {
  withDir((dir) => {
    const a = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(2) });
    savePretrained(a, join(dir, '1'), { dtype: 'bf16' });
    const st = readSafetensors(join(dir, '1', 'model.safetensors')).tensors;
    assert.equal(st.get('model.layers.0.self_attn.kv_b_proj.weight')!.dtype, 'bf16');
    assert.equal(st.get('model.layers.1.mlp.gate.e_score_correction_bias')!.dtype, 'f32');
    const b = loadPretrained(join(dir, '1'));
    savePretrained(b, join(dir, '2'), { dtype: 'bf16' });
    assert.deepEqual(readFileSync(join(dir, '2', 'model.safetensors')), readFileSync(join(dir, '1', 'model.safetensors')));
    const c = loadPretrained(join(dir, '2'));
    sameState(b, c);
    for (const m of [a, b, c]) m.dispose();
  });
});

test('FP8 block scales: a hand-worked 3×5 weight in 2×2 blocks (partial edge blocks) and a loaded checkpoint', () => {
  // fp8 values chosen exactly representable in E4M3; blocks: rows {0,1},{2}; cols {0,1},{2,3},{4}
  const vals = [1, -2, 0.5, 3, 448, 0.25, 1.5, -6, 0.125, -1, 2, 4, -0.5, 8, 0.75];
  const fp8 = Uint8Array.from(vals, (v) => f32ToE4M3(v));
  const scale = Float32Array.from([0.5, 2, 0.1, 3, -1, 0.25]); // [2, 3]
  const w = dequantizeBlockFp8(fp8, 3, 5, scale, [2, 2]);
  const want = [1 * 0.5, -2 * 0.5, 0.5 * 2, 3 * 2, 448 * Math.fround(0.1), 0.25 * 0.5, 1.5 * 0.5, -6 * 2, 0.125 * 2, -1 * Math.fround(0.1),
    2 * 3, 4 * 3, -0.5 * -1, 8 * -1, 0.75 * 0.25].map(Math.fround);
  assert.deepEqual(Array.from(w), want);
  assert.throws(() => dequantizeBlockFp8(fp8, 3, 5, new Float32Array(4), [2, 2], 'x.weight'), /x\.weight_scale_inv has 4 scales .* needs \[2, 3\]/);

  withDir((dir) => {
    // an FP8 checkpoint written here: every Linear weight of q_a_proj quantised with 8×8 blocks on a 8×16 weight
    const a = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(3) });
    savePretrained(a, dir);
    const st = readSafetensors(join(dir, 'model.safetensors')).tensors;
    const name = 'model.layers.0.self_attn.kv_b_proj.weight'; // [2·(4+4), 8] = [16, 8] in 8×8 blocks (two whole) …
    const q = 'model.layers.0.self_attn.kv_a_proj_with_mqa.weight'; // [12, 16]: partial 4-row edge blocks
    for (const n of [name, q]) {
      const t = st.get(n)!;
      const [rows, cols] = t.shape;
      const src = t.data as Float32Array;
      const sr = Math.ceil(rows / 8), sc = Math.ceil(cols / 8);
      const s = new Float32Array(sr * sc);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
        const b = Math.floor(i / 8) * sc + Math.floor(j / 8);
        s[b] = Math.max(s[b], Math.abs(src[i * cols + j]) / 448);
      }
      const bytes = new Uint8Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) bytes[i * cols + j] = f32ToE4M3(src[i * cols + j] / s[Math.floor(i / 8) * sc + Math.floor(j / 8)]);
      st.set(n, { dtype: 'f8e4m3', shape: [rows, cols], data: bytes });
      st.set(`${n}_scale_inv`, { dtype: 'f32', shape: [sr, sc], data: s });
    }
    writeSafetensors(join(dir, 'model.safetensors'), st, { format: 'pt' });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.quantization_config = { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [8, 8] };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const b = loadPretrained(dir);
    const wq = b.stateDict().get(q)!.data() as Float32Array;
    const orig = a.stateDict().get(q)!.data() as Float32Array;
    let rel = 0;
    for (let i = 0; i < wq.length; i++) rel = Math.max(rel, Math.abs(wq[i] - orig[i]) / (Math.abs(orig[i]) + 1e-3));
    assert.ok(rel < 0.07, `E4M3 round-off should stay within 2^-4 relative, got ${rel}`);
    const bytes = st.get(q)!.data as Uint8Array;
    const s = st.get(`${q}_scale_inv`)!.data as Float32Array;
    assert.equal(wq[11 * 16 + 15], Math.fround(k.fromArray(Uint8Array.of(bytes[11 * 16 + 15]), [1], { dtype: 'f8e4m3' }).to('f32').item() * s[1 * 2 + 1]));
    a.dispose();
    b.dispose();
  });
});

test('checkpoint errors name the tensor: missing, unexpected, mis-shaped, FP8 without scales', () => {
  withDir((dir) => {
    const a = new DeepseekV3ForCausalLM('deepseek-v3-micro', { generator: new k.Generator(4) });
    savePretrained(a, dir);
    const file = join(dir, 'model.safetensors');
    const orig = readSafetensors(file).tensors;
    const edit = (f: (m: typeof orig) => void) => {
      const m = new Map(orig);
      f(m);
      writeSafetensors(file, m, { format: 'pt' });
    };
    const fails = (re: RegExp) => assert.throws(() => loadPretrained(dir), (e: k.KilnError) => e.code === 'E_CHECKPOINT' && re.test(e.message));
    edit((m) => m.delete('model.layers.1.mlp.experts.2.up_proj.weight'));
    fails(/missing tensors: model\.layers\.1\.mlp\.experts\.2\.up_proj\.weight/);
    edit((m) => m.set('model.layers.1.mlp.experts.9.up_proj.weight', orig.get('model.layers.1.mlp.experts.2.up_proj.weight')!));
    fails(/unexpected tensors: model\.layers\.1\.mlp\.experts\.9\.up_proj\.weight/);
    edit((m) => m.set('model.norm.weight', { dtype: 'f32', shape: [15], data: new Float32Array(15) }));
    fails(/'model\.norm\.weight' has shape \[15\] but the config makes it \[16\]/);
    edit((m) => m.set('model.layers.0.mlp.up_proj.weight', { dtype: 'f8e4m3', shape: [24, 16], data: new Uint8Array(24 * 16) }));
    fails(/model\.layers\.0\.mlp\.up_proj\.weight is F8_E4M3 but the checkpoint has no model\.layers\.0\.mlp\.up_proj\.weight_scale_inv/);
    edit((m) => m.set('model.layers.2.shared_head.head.weight', { dtype: 'f32', shape: [3, 16], data: new Float32Array(48) }));
    fails(/'model\.layers\.2\.shared_head\.head\.weight' \(the MTP copy of lm_head\.weight\) has shape \[3,16\]/);
    edit((m) => m.delete('model.layers.2.eh_proj.weight'));
    fails(/missing tensors: model\.layers\.2\.eh_proj\.weight/);
    // no MTP tensors at all (as transformers' save_pretrained writes): loads without MTP
    edit((m) => { for (const n of [...m.keys()]) if (n.startsWith('model.layers.2.')) m.delete(n); });
    const b = loadPretrained(dir);
    assert.equal(b.config.num_nextn_predict_layers, 0);
    assert.deepEqual(b.stateDict().get('lm_head.weight')!.data(), a.stateDict().get('lm_head.weight')!.data());
    b.dispose();
    a.dispose();
  });
});

test('fp8 save: the released layout; FP8 checkpoint → load → save fp8 → load is bit-exact (transformers fixture b)', () => {
  withDir((dir) => {
    const src = join(process.cwd(), 'test/fixtures/deepseek-v3/b');
    const a = loadPretrained(src);
    savePretrained(a, dir, { dtype: 'fp8' });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(cfg.quantization_config.weight_block_size, [16, 16]);
    const st = readSafetensors(join(dir, 'model.safetensors')).tensors;
    const w = 'model.layers.1.mlp.experts.3.down_proj.weight';
    assert.equal(st.get(w)!.dtype, 'f8e4m3');
    assert.deepEqual(st.get(`${w}_scale_inv`)!.shape, [Math.ceil(32 / 16), 1]);
    assert.equal(st.get('model.layers.1.mlp.gate.weight')!.dtype, 'bf16');
    assert.equal(st.get('model.norm.weight')!.dtype, 'bf16');
    // the same bytes and scales as torch's quantiser wrote
    const orig = openCheckpoint(src);
    assert.deepEqual(st.get(w)!.data, orig.read(w).data);
    assert.deepEqual(st.get(`${w}_scale_inv`)!.data, orig.read(`${w}_scale_inv`).data);
    orig.close();
    const b = loadPretrained(dir);
    sameState(a, b);
    a.dispose();
    b.dispose();
  });
  // arbitrary values: each block's max maps to 448, and every value comes back within E4M3's half step (2^-4
  // relative, or half the subnormal step 2^-10 × scale near zero)
  const vals = Float32Array.from({ length: 5 * 7 }, (_, i) => Math.sin(i * 1.7) * (1 + i));
  const q = quantizeBlockFp8(vals, 5, 7, [4, 4]);
  assert.deepEqual(q.scaleInv.length, 4);
  const back = dequantizeBlockFp8(q.fp8, 5, 7, q.scaleInv, [4, 4]);
  for (let i = 0; i < vals.length; i++) {
    const s = q.scaleInv[Math.floor(Math.floor(i / 7) / 4) * 2 + Math.floor((i % 7) / 4)];
    assert.ok(Math.abs(back[i] - vals[i]) <= Math.abs(vals[i]) / 16 + 2 ** -10 * s * 1.0001, `${vals[i]} → ${back[i]}`);
  }
});
