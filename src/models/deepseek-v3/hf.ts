/**
 * DeepSeek-V3 ↔ Hugging Face checkpoint directories (config.json + model.safetensors or shards with
 * model.safetensors.index.json). Module names already equal checkpoint keys; the unavoidable remaps live here in one
 * `sanitize` step:
 * - F8_E4M3 weights with `<name>_scale_inv` [⌈rows/br⌉, ⌈cols/bc⌉] f32 block scales (br×bc =
 *   quantization_config.weight_block_size, 128×128 in the release; edge blocks may be partial) are dequantised on
 *   load: w[i, j] = fp8[i, j] · scale_inv[⌊i/br⌋, ⌊j/bc⌋] (DeepSeek's `weight_dequant`).
 * - BF16 / F16 tensors are widened to f32 (exact).
 * - The MTP modules' copies of the shared embedding and head (`model.layers.{L+k}.embed_tokens.weight`,
 *   `model.layers.{L+k}.shared_head.head.weight`, stored by the release) are shape-checked and dropped on load
 *   (Kiln shares the main ones) and written back on save, so the layout round-trips.
 * - transformers ≥ 5 fused experts (`mlp.experts.gate_up_proj` [E, 2I, d], `mlp.experts.down_proj` [E, d, I]) are
 *   split into the per-expert names of the release.
 * Missing, unexpected and mis-shaped tensors are errors naming the tensor. `savePretrained` writes f32 (default),
 * bf16, or the released FP8 layout with the released names; load → save → load is bit-exact (f32 always; bf16 / fp8
 * when the weights were loaded from bf16 / block-FP8).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors.js';
import { readConfig } from '../../io/checkpoint.js';
import type { RawTensor } from '../../io/safetensors.js';
import { openCheckpoint, writeSharded } from '../../io/sharded.js';
import { decodeToF32, e4m3ToF32, encodeF32, f32ToE4M3 } from '../../tensor/convert.js';
import type { Tensor } from '../../tensor/tensor.js';
import { Generator } from '../../tensor/random.js';
import { toHfConfigJson, type DeepseekV3Config } from './config.js';
import { DeepseekV3ForCausalLM } from './model.js';

/** w = fp8 · scale_inv per [br, bc] block (edge blocks partial). fp8 [rows, cols] as raw E4M3 bytes. */
export function dequantizeBlockFp8(fp8: Uint8Array, rows: number, cols: number, scaleInv: Float32Array, block: [number, number], name = 'tensor'): Float32Array {
  const [br, bc] = block;
  const sr = Math.ceil(rows / br);
  const sc = Math.ceil(cols / bc);
  if (scaleInv.length !== sr * sc)
    throw new KilnError('E_CHECKPOINT', `${name}_scale_inv has ${scaleInv.length} scales but a [${rows}, ${cols}] weight in ${br}×${bc} blocks needs [${sr}, ${sc}]`);
  const w = decodeToF32('f8e4m3', fp8);
  for (let i = 0; i < rows; i++) {
    const srow = Math.floor(i / br) * sc;
    for (let jb = 0; jb < sc; jb++) {
      const s = scaleInv[srow + jb];
      const end = Math.min(cols, (jb + 1) * bc);
      for (let j = i * cols + jb * bc, e = i * cols + end; j < e; j++) w[j] *= s;
    }
  }
  return w;
}

const F32BITS = new Float32Array(1);
const U32BITS = new Uint32Array(F32BITS.buffer);
/** The neighbouring f32 of a positive finite f32 (`dir` +1 up, −1 down). */
function nextF32(x: number, dir: 1 | -1): number {
  F32BITS[0] = x;
  U32BITS[0] += dir;
  return F32BITS[0];
}

/**
 * Block FP8 quantisation (the inverse of `dequantizeBlockFp8`): per [br, bc] block, scale_inv = amax / 448 and
 * fp8 = E4M3(w / scale_inv) (round to nearest even, saturating). When the block's values came from FP8 (a loaded
 * checkpoint), the scale is chosen among amax/448 and its two f32 neighbours so that dequantising reproduces every
 * value exactly — so FP8 load → save → load is bit-exact.
 */
export function quantizeBlockFp8(w: Float32Array, rows: number, cols: number, block: [number, number]): { fp8: Uint8Array; scaleInv: Float32Array } {
  const [br, bc] = block;
  const sr = Math.ceil(rows / br);
  const sc = Math.ceil(cols / bc);
  const fp8 = new Uint8Array(rows * cols);
  const scaleInv = new Float32Array(sr * sc);
  const encode = (bi: number, bj: number, s: number, check: boolean): boolean => {
    let exact = true;
    for (let i = bi * br; i < Math.min(rows, (bi + 1) * br); i++)
      for (let j = i * cols + bj * bc, e = i * cols + Math.min(cols, (bj + 1) * bc); j < e; j++) {
        const q = f32ToE4M3(Math.fround(w[j] / s));
        fp8[j] = q;
        if (check && Math.fround(e4m3ToF32(q) * s) !== w[j]) exact = false;
      }
    return exact;
  };
  for (let bi = 0; bi < sr; bi++)
    for (let bj = 0; bj < sc; bj++) {
      let amax = 0;
      for (let i = bi * br; i < Math.min(rows, (bi + 1) * br); i++)
        for (let j = i * cols + bj * bc, e = i * cols + Math.min(cols, (bj + 1) * bc); j < e; j++) amax = Math.max(amax, Math.abs(w[j]));
      const s1 = amax > 0 && Number.isFinite(amax) ? Math.fround(amax / 448) : 1;
      let chosen = s1;
      for (const s of s1 > 0 && s1 !== 1 ? [s1, nextF32(s1, 1), nextF32(s1, -1)] : [s1])
        if (encode(bi, bj, s, true)) {
          chosen = s;
          break;
        }
      encode(bi, bj, chosen, false);
      scaleInv[bi * sc + bj] = chosen;
    }
  return { fp8, scaleInv };
}

/** The tensor as f32 values (widening bf16/f16, dequantising block FP8 with its scales). */
function toF32(name: string, raw: RawTensor, scale: () => RawTensor | null, block: [number, number]): Float32Array {
  switch (raw.dtype) {
    case 'f32':
      return raw.data as Float32Array;
    case 'bf16':
    case 'f16':
      return decodeToF32(raw.dtype, raw.data);
    case 'f8e4m3': {
      const s = scale();
      if (!s) throw new KilnError('E_CHECKPOINT', `${name} is F8_E4M3 but the checkpoint has no ${name}_scale_inv block scales`);
      if (raw.shape.length !== 2) throw new KilnError('E_CHECKPOINT', `${name}: an F8_E4M3 weight must be 2-D, got [${raw.shape}]`);
      return dequantizeBlockFp8(raw.data as Uint8Array, raw.shape[0], raw.shape[1], toF32(`${name}_scale_inv`, s, () => null, block), block, name);
    }
    default:
      throw new KilnError('E_DTYPE', `${name}: dtype ${raw.dtype} is not a DeepSeek-V3 weight dtype (F32, BF16, F16, F8_E4M3)`);
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((n, i) => n === b[i]);

export interface LoadOptions {
  /** Config overrides applied on top of config.json (e.g. to drop MTP: { num_nextn_predict_layers: 0 }). */
  config?: Partial<DeepseekV3Config>;
}

/**
 * Builds the model a HF directory describes and loads its weights (strict: every tensor must match). A checkpoint
 * with no tensor at all under the MTP layers (e.g. one written by transformers' save_pretrained, which drops them)
 * loads as a model without MTP (num_nextn_predict_layers = 0); partly present MTP layers are an error.
 */
export function loadPretrained(dir: string, opts: LoadOptions = {}): DeepseekV3ForCausalLM {
  const json = readConfig(dir);
  const merged = { ...json, ...opts.config } as Record<string, unknown>;
  if (opts.config?.num_nextn_predict_layers === undefined) {
    const L = Number(merged.num_hidden_layers ?? 61);
    const ckpt = openCheckpoint(dir);
    const hasMtp = ckpt.names().some((n) => n.startsWith('model.layers.') && Number(n.split('.')[2]) >= L);
    ckpt.close();
    if (!hasMtp) merged.num_nextn_predict_layers = 0;
  }
  const model = new DeepseekV3ForCausalLM(merged, { generator: new Generator(0) });
  try {
    loadWeights(model, dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Loads a HF checkpoint directory's tensors into `model` (see the file header for the remaps). */
export function loadWeights(model: DeepseekV3ForCausalLM, dir: string): void {
  const c = model.config;
  const block = c.quantization_config?.weight_block_size ?? [128, 128];
  const own = model.stateDict();
  const ckpt = openCheckpoint(dir);
  const mtpCopies = new Map<string, string>();
  for (let k = 0; k < c.num_nextn_predict_layers; k++) {
    const p = `model.layers.${c.num_hidden_layers + k}.`;
    mtpCopies.set(`${p}embed_tokens.weight`, 'model.embed_tokens.weight');
    mtpCopies.set(`${p}shared_head.head.weight`, c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  }
  try {
    const names = new Set(ckpt.names());
    const seen = new Set<string>();
    const unexpected: string[] = [];
    const write = (name: string, shape: readonly number[], values: Float32Array) => {
      const dst = own.get(name)!;
      if (!sameShape(shape, dst.shape))
        throw new KilnError('E_CHECKPOINT', `${dir}: tensor '${name}' has shape [${shape}] but the config makes it [${dst.shape}]`);
      (dst.storage.data as Float32Array).set(values, dst.offset);
      seen.add(name);
    };
    for (const name of names) {
      if (name.endsWith('_scale_inv')) {
        if (!names.has(name.slice(0, -'_scale_inv'.length))) unexpected.push(name);
        continue;
      }
      if (name.endsWith('rotary_emb.inv_freq')) continue; // a derived buffer some exporters save
      const scale = () => (names.has(`${name}_scale_inv`) ? ckpt.read(`${name}_scale_inv`) : null);
      const copyOf = mtpCopies.get(name);
      if (copyOf) {
        const info = ckpt.info(name);
        const want = own.get(copyOf)?.shape ?? [c.vocab_size, c.hidden_size];
        if (!sameShape(info.shape, want))
          throw new KilnError('E_CHECKPOINT', `${dir}: tensor '${name}' (the MTP copy of ${copyOf}) has shape [${info.shape}], expected [${want}]`);
        continue;
      }
      const fused = /^(.*\.mlp\.experts)\.(gate_up_proj|down_proj)$/.exec(name);
      if (fused) {
        const raw = ckpt.read(name);
        const vals = toF32(name, raw, scale, block);
        const [E, a, b] = raw.shape;
        const rows = fused[2] === 'gate_up_proj' ? a / 2 : a;
        for (let e = 0; e < E; e++) {
          const base = `${fused[1]}.${e}.`;
          if (fused[2] === 'gate_up_proj') {
            for (const [i, part] of ['gate_proj', 'up_proj'].entries()) {
              const n = `${base}${part}.weight`;
              if (!own.has(n)) { unexpected.push(name); break; }
              write(n, [rows, b], vals.subarray((e * a + i * rows) * b, (e * a + (i + 1) * rows) * b));
            }
          } else {
            const n = `${base}down_proj.weight`;
            if (!own.has(n)) { unexpected.push(name); break; }
            write(n, [a, b], vals.subarray(e * a * b, (e + 1) * a * b));
          }
        }
        continue;
      }
      if (!own.has(name)) {
        unexpected.push(name);
        continue;
      }
      const raw = ckpt.read(name);
      write(name, raw.shape, toF32(name, raw, scale, block));
    }
    const missing = [...own.keys()].filter((n) => !seen.has(n));
    if (missing.length || unexpected.length) {
      const list = (xs: string[]) => xs.slice(0, 6).join(', ') + (xs.length > 6 ? `, … (${xs.length} in all)` : '');
      throw new KilnError('E_CHECKPOINT', `${dir}: checkpoint does not match the config` +
        (missing.length ? `; missing tensors: ${list(missing)}` : '') + (unexpected.length ? `; unexpected tensors: ${list(unexpected)}` : '') +
        ' (check config.json — layer counts, experts, q_lora_rank, num_nextn_predict_layers — against the weights)');
    }
  } finally {
    ckpt.close();
  }
}

export interface SaveOptions {
  /**
   * Storage dtype of the weights (the gate bias stays f32, as HF keeps it). Default 'f32'. 'fp8' writes the released
   * layout: every projection weight (`*_proj.weight`, `kv_a_proj_with_mqa.weight`) as F8_E4M3 with
   * `weight_scale_inv` block scales (`block`, default the config's weight_block_size or 128×128), the rest as BF16.
   */
  dtype?: 'f32' | 'bf16' | 'fp8';
  /** FP8 block size [rows, cols]. */
  block?: [number, number];
  /** Most tensor bytes per shard (default 5 GB; one shard → model.safetensors, no index). */
  maxShardBytes?: number;
}

/**
 * Writes config.json and the weights with the released checkpoint's names (MTP copies of embedding/head included).
 * f32 saves exactly; bf16 and fp8 save exactly what was loaded from bf16 / block-FP8 checkpoints (bit-exact round
 * trips) and round anything else.
 */
export function savePretrained(model: DeepseekV3ForCausalLM, dir: string, opts: SaveOptions = {}): void {
  const c = model.config;
  const dtype = opts.dtype ?? 'f32';
  mkdirSync(dir, { recursive: true });
  const block = opts.block ?? c.quantization_config?.weight_block_size ?? [128, 128];
  const tensors = new Map<string, RawTensor>();
  const isProj = (name: string, t: Tensor) => t.ndim === 2 && /_proj(_with_mqa)?\.weight$/.test(name);
  for (const [name, t] of model.stateDict()) {
    const f = t.data() as Float32Array;
    const shape = t.shape.slice();
    if (dtype === 'f32' || name.endsWith('e_score_correction_bias')) tensors.set(name, { dtype: 'f32', shape, data: f });
    else if (dtype === 'fp8' && isProj(name, t)) {
      const q = quantizeBlockFp8(f, shape[0], shape[1], block);
      tensors.set(name, { dtype: 'f8e4m3', shape, data: q.fp8 });
      tensors.set(`${name}_scale_inv`, { dtype: 'f32', shape: [Math.ceil(shape[0] / block[0]), Math.ceil(shape[1] / block[1])], data: q.scaleInv });
    } else tensors.set(name, { dtype: 'bf16', shape, data: encodeF32('bf16', f) });
  }
  for (let k = 0; k < c.num_nextn_predict_layers; k++) {
    const p = `model.layers.${c.num_hidden_layers + k}.`;
    tensors.set(`${p}embed_tokens.weight`, tensors.get('model.embed_tokens.weight')!);
    tensors.set(`${p}shared_head.head.weight`, tensors.get(c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!);
  }
  writeSharded(dir, tensors, { maxShardBytes: opts.maxShardBytes });
  const quantization_config = dtype === 'fp8' ? { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: block } : null;
  const cfg = { ...toHfConfigJson(c), quantization_config, torch_dtype: dtype === 'f32' ? 'float32' : 'bfloat16' };
  const tmp = join(dir, 'config.json.tmp');
  writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n');
  renameSync(tmp, join(dir, 'config.json'));
}
