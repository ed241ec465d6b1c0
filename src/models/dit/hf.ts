/**
 * Weight-name mapping between the Aquarius DiTs and the diffusers checkpoint layouts (design rule: module names equal
 * checkpoint keys; the unavoidable remaps live here, in one `sanitize` per family).
 *
 * Single-DiT ↔ diffusers `WanTransformer3DModel`: every key is the same except
 *   - `patch_embedding.weight`: Conv3d [D, C, pt, ph, pw] ↔ our Linear [D, C·pt·ph·pw] (a reshape: our patchify
 *     orders features (c, pt, ph, pw), exactly the conv's receptive-field order);
 *   - `proj_out.weight` / `.bias`: Wan's unpatchify reads output features as (pt, ph, pw, C), ours as (C, pt, ph, pw):
 *     the rows are permuted.
 * MM-DiT ↔ diffusers `HunyuanVideoTransformer3DModel`: same keys except `x_embedder.proj.weight` (the same reshape);
 * HunyuanVideo's unpatchify already reads (C, pt, ph, pw). The token refiner (`context_embedder.token_refiner.*`,
 * `context_embedder.time_text_embed.*`) loads as it is when num_refiner_layers > 0; with 0, diffusers' unused
 * `time_text_embed` is dropped and refiner-block keys are returned as `unsupported`.
 * Checked against diffusers itself: test/models/dit/diffusers-parity.test.ts.
 *
 * `loadDiffusersDit(dir)` loads a diffusers directory (`config.json` + `diffusion_pytorch_model.safetensors`, or its
 * sharded index; F32/BF16/F16) as the Kiln model its `_class_name` names, translating the config
 * (`diffusersDitConfig`) and the weights (the sanitizers above), strictly: every model tensor must be in the file.
 */
import { KilnError } from '../../errors.js';
import { readConfig } from '../../io/checkpoint.js';
import { openCheckpoint } from '../../io/sharded.js';
import { decodeToF32 } from '../../tensor/convert.js';
import { fromArray } from '../../tensor/creation.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { mmDitConfig, singleDitConfig, type MmDitConfig, type SingleDitConfig } from './dit-config.js';
import { MmDit } from './mm-dit.js';
import { SingleDit } from './single-dit.js';

/** Row permutation: output feature (c, pt, ph, pw) of ours ← Wan's row (pt, ph, pw, c). */
function wanRowOrder(C: number, patch: readonly [number, number, number]): number[] {
  const [pt, ph, pw] = patch;
  const rows: number[] = [];
  for (let c = 0; c < C; c++)
    for (let a = 0; a < pt; a++)
      for (let b = 0; b < ph; b++)
        for (let d = 0; d < pw; d++) rows.push(((a * ph + b) * pw + d) * C + c);
  return rows;
}

function permuteRows(t: Tensor, order: readonly number[], inverse: boolean): Tensor {
  const rows = t.shape[0];
  const inner = t.size / rows;
  const src = t.contiguous().data() as Float32Array;
  const out = new Float32Array(src.length);
  order.forEach((from, to) => {
    const [s, d] = inverse ? [to, from] : [from, to];
    out.set(src.subarray(s * inner, (s + 1) * inner), d * inner);
  });
  return fromArray(out, t.shape);
}

export interface Sanitized {
  state: Map<string, Tensor>;
  unsupported: string[];
}

/** diffusers Wan state dict → Single-DiT state dict. */
export function sanitizeWan(hf: Map<string, Tensor>, c: SingleDitConfig): Sanitized {
  const D = c.num_attention_heads * c.attention_head_dim;
  const state = new Map<string, Tensor>();
  const order = wanRowOrder(c.out_channels, c.patch_size);
  for (const [k, v] of hf) {
    if (k === 'patch_embedding.weight') state.set(k, v.reshape([D, -1]));
    else if (k === 'proj_out.weight' || k === 'proj_out.bias') state.set(k, permuteRows(v, order, false));
    else state.set(k, v);
  }
  return { state, unsupported: [] };
}

/** Single-DiT state dict → diffusers Wan layout (the inverse of `sanitizeWan`). */
export function toWan(state: Map<string, Tensor>, c: SingleDitConfig): Map<string, Tensor> {
  const D = c.num_attention_heads * c.attention_head_dim;
  const order = wanRowOrder(c.out_channels, c.patch_size);
  const out = new Map<string, Tensor>();
  for (const [k, v] of state) {
    if (k === 'patch_embedding.weight') out.set(k, v.reshape([D, c.in_channels, ...c.patch_size]));
    else if (k === 'proj_out.weight' || k === 'proj_out.bias') out.set(k, permuteRows(v, order, true));
    else out.set(k, v);
  }
  return out;
}

/**
 * diffusers HunyuanVideo state dict → MM-DiT state dict. With num_refiner_layers 0, diffusers' context embedder is
 * proj_in alone: its `context_embedder.time_text_embed.*` weights exist in the file but are never used, so they are
 * dropped; `context_embedder.token_refiner.*` keys are then reported as unsupported (the config does not match).
 */
export function sanitizeHunyuan(hf: Map<string, Tensor>, c: MmDitConfig): Sanitized {
  const D = c.num_attention_heads * c.attention_head_dim;
  const state = new Map<string, Tensor>();
  const unsupported: string[] = [];
  const refiner = c.num_refiner_layers > 0;
  for (const [k, v] of hf) {
    if (k === 'x_embedder.proj.weight') {
      if (v.ndim !== 5) throw new KilnError('E_CHECKPOINT', `sanitizeHunyuan: ${k} should be a Conv3d weight [D, C, pt, ph, pw], got [${v.shape}]`);
      state.set(k, v.reshape([D, -1]));
    } else if (!refiner && k.startsWith('context_embedder.time_text_embed.')) continue;
    else if (!refiner && k.startsWith('context_embedder.') && !k.startsWith('context_embedder.proj_in.')) unsupported.push(k);
    else state.set(k, v);
  }
  return { state, unsupported };
}

type Json = Record<string, unknown>;

function num(json: Json, key: string, where: string): number {
  const v = json[key];
  if (typeof v !== 'number') throw new KilnError('E_CONFIG', `${where}: config.json key '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function expect(json: Json, key: string, ok: unknown[], where: string, why: string): void {
  if (key in json && !ok.includes(json[key]))
    throw new KilnError('E_CONFIG', `${where}: config.json has ${key} = ${JSON.stringify(json[key])}; Kiln supports only ${ok.map((o) => JSON.stringify(o)).join(' or ')} (${why})`);
}

/**
 * A diffusers transformer config.json → the Kiln config. WanTransformer3DModel: the keys are Kiln's (RoPE θ is
 * Wan's fixed 10000; `rope_max_seq_len` is not needed: Kiln computes the tables for any grid); image conditioning
 * (`image_dim`, `added_kv_proj_dim`) is rejected. HunyuanVideoTransformer3DModel: `patch_size` p and `patch_size_t`
 * become [p_t, p, p]; freq_dim is HunyuanVideo's fixed 256 and eps its fixed 1e-6; `image_condition_type`
 * 'token_replace' is rejected ('latent_concat' only widens in_channels).
 */
export function diffusersDitConfig(json: Json, where = 'config.json'): { kind: 'wan'; config: SingleDitConfig } | { kind: 'hunyuan'; config: MmDitConfig } {
  const cls = json._class_name;
  if (cls === 'WanTransformer3DModel') {
    expect(json, 'qk_norm', ['rms_norm_across_heads'], where, 'the Single-DiT normalises q and k across heads');
    expect(json, 'image_dim', [null], where, 'Wan image-to-video conditioning is not built');
    expect(json, 'added_kv_proj_dim', [null], where, 'Wan image-to-video conditioning is not built');
    expect(json, 'pos_embed_seq_len', [null, undefined], where, 'Wan image-to-video conditioning is not built');
    const p = json.patch_size;
    if (!Array.isArray(p) || p.length !== 3) throw new KilnError('E_CONFIG', `${where}: patch_size must be [pt, ph, pw], got ${JSON.stringify(p)}`);
    const inC = num(json, 'in_channels', where);
    const config = singleDitConfig({
      patch_size: [p[0], p[1], p[2]], num_attention_heads: num(json, 'num_attention_heads', where), attention_head_dim: num(json, 'attention_head_dim', where),
      in_channels: inC, out_channels: json.out_channels == null ? inC : num(json, 'out_channels', where), text_dim: num(json, 'text_dim', where),
      freq_dim: num(json, 'freq_dim', where), ffn_dim: num(json, 'ffn_dim', where), num_layers: num(json, 'num_layers', where),
      cross_attn_norm: json.cross_attn_norm !== false, eps: typeof json.eps === 'number' ? json.eps : 1e-6, rope_theta: 10000,
    });
    return { kind: 'wan', config };
  }
  if (cls === 'HunyuanVideoTransformer3DModel') {
    expect(json, 'qk_norm', ['rms_norm'], where, 'the MM-DiT normalises q and k per head');
    expect(json, 'image_condition_type', [null, 'latent_concat'], where, 'token_replace image conditioning is not built');
    const p = num(json, 'patch_size', where);
    const pt = json.patch_size_t == null ? 1 : num(json, 'patch_size_t', where);
    const inC = num(json, 'in_channels', where);
    const axes = json.rope_axes_dim;
    if (!Array.isArray(axes) || axes.length !== 3) throw new KilnError('E_CONFIG', `${where}: rope_axes_dim must be [d_t, d_h, d_w], got ${JSON.stringify(axes)}`);
    const config = mmDitConfig({
      patch_size: [pt, p, p], num_attention_heads: num(json, 'num_attention_heads', where), attention_head_dim: num(json, 'attention_head_dim', where),
      in_channels: inC, out_channels: json.out_channels == null ? inC : num(json, 'out_channels', where), num_layers: num(json, 'num_layers', where),
      num_single_layers: num(json, 'num_single_layers', where), mlp_ratio: num(json, 'mlp_ratio', where), text_embed_dim: num(json, 'text_embed_dim', where),
      pooled_projection_dim: num(json, 'pooled_projection_dim', where), guidance_embeds: json.guidance_embeds !== false,
      num_refiner_layers: json.num_refiner_layers == null ? 2 : num(json, 'num_refiner_layers', where),
      rope_axes_dim: [axes[0], axes[1], axes[2]], rope_theta: json.rope_theta == null ? 256 : num(json, 'rope_theta', where), freq_dim: 256, eps: 1e-6,
    });
    return { kind: 'hunyuan', config };
  }
  throw new KilnError('E_CONFIG', `${where}: _class_name ${JSON.stringify(cls)} is not a diffusers transformer Kiln loads (WanTransformer3DModel → SingleDit, HunyuanVideoTransformer3DModel → MmDit)`);
}

/** Every tensor of a safetensors checkpoint (file, index or directory) as F32 tensors. */
function readAll(dir: string): Map<string, Tensor> {
  const ckpt = openCheckpoint(dir, { prefix: 'diffusion_pytorch_model' });
  try {
    const out = new Map<string, Tensor>();
    for (const name of ckpt.names()) {
      const raw = ckpt.read(name);
      let data: Float32Array;
      if (raw.dtype === 'f32') data = raw.data as Float32Array;
      else if (raw.dtype === 'bf16' || raw.dtype === 'f16') data = decodeToF32(raw.dtype, raw.data);
      else throw new KilnError('E_DTYPE', `${dir}: tensor '${name}' has dtype ${raw.dtype}; a diffusers DiT checkpoint holds F32, BF16 or F16 weights`);
      out.set(name, fromArray(data, raw.shape));
    }
    return out;
  } finally {
    ckpt.close();
  }
}

/**
 * Loads a diffusers transformer directory as Kiln's model: WanTransformer3DModel → `SingleDit`,
 * HunyuanVideoTransformer3DModel → `MmDit`. Strict: unsupported keys (e.g. a token refiner the config does not ask
 * for) or a missing tensor throw E_CHECKPOINT. The model is returned in eval mode.
 */
export function loadDiffusersDit(dir: string): SingleDit | MmDit {
  const spec = diffusersDitConfig(readConfig(dir), `${dir}/config.json`);
  const hf = readAll(dir);
  const model = spec.kind === 'wan' ? new SingleDit(spec.config, { generator: new Generator(0) }) : new MmDit(spec.config, { generator: new Generator(0) });
  try {
    const { state, unsupported } = spec.kind === 'wan' ? sanitizeWan(hf, spec.config) : sanitizeHunyuan(hf, spec.config);
    if (unsupported.length)
      throw new KilnError('E_CHECKPOINT', `${dir}: tensors Kiln has no place for: ${unsupported.slice(0, 6).join(', ')}${unsupported.length > 6 ? `, … (${unsupported.length} in all)` : ''}; check config.json against the weights`);
    model.loadStateDict(state);
    for (const t of hf.values()) t.dispose();
    return model.train(false);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
