/**
 * Fused decoding for DeepSeek-V3 (batch 1, a few new tokens per call: plain decoding and speculative verification).
 * Each decoder layer is two backend calls — `mlaDecode` (input_layernorm, absorbed MLA over the latent cache, o_proj,
 * residual) and `moeDecode` (post_attention_layernorm, routing, the chosen experts' and the shared SwiGLU, residual;
 * the dense MLP is the same kernel with no routed experts) — on raw arrays, instead of ~30 tensor ops; the embedding
 * lookup, the final norm and the head are one copy, one `rmsNorm` and one `gemm`. Same mathematics as
 * `forwardCached`'s tensor path (checked equal within f32 rounding by the model tests).
 *
 * The weight arrays of each layer are gathered once into a plan and reused while the parameters are the same
 * tensors over the same storage (checked on every call; loading new weights or replacing a parameter rebuilds it).
 * Not used when a Linear has a per-instance forward (the simulated bf16/fp8 precisions of src/train/precision) or a
 * bias, or for batches > 1 or more than `FUSED_MAX_ROWS` new tokens.
 * In training mode the MoE loads of the calls are accumulated like `DeepseekMoE.forward` does.
 */
import { backend } from '../../backend/index.js';
import { MLA_DIMS, MOE_DIMS } from '../../backend/backend.js';
import { Linear, SwiGLU } from '../../nn/layers.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { LatentCacheLayer } from './cache.js';
import type { DecoderLayer } from './model.js';
import { DeepseekMoE } from './moe.js';

/**
 * Switch for the fused path (default on; KILN_DS_FUSED=0 turns it off): tests compare both paths, benchmarks measure
 * the difference.
 */
export const fusedDecode = { enabled: process.env.KILN_DS_FUSED !== '0' };

/** Most new tokens one fused call handles (the kernels take up to 64; longer prompts use the tensor path). */
export const FUSED_MAX_ROWS = 16;

interface LayerPlan {
  /** Where each weight came from (owner module, property), the tensor and its storage array then. */
  slots: [Record<string, unknown>, string, Tensor, unknown][];
  linears: Linear[];
  mlaDims: Float64Array;
  mla: { norm: Float32Array; qA: Float32Array | null; qANorm: Float32Array | null; qB: Float32Array; kvA: Float32Array; kvANorm: Float32Array; kvB: Float32Array; o: Float32Array };
  mlpDims: Float64Array;
  mlp: {
    norm: Float32Array; gate: Float32Array | null; bias: Float32Array | null; experts: Float32Array[] | null;
    sg: Float32Array | null; su: Float32Array | null; sd: Float32Array | null;
  };
  moe: DeepseekMoE | null;
  K: number;
  ids: Int32Array;
}

const plans = new WeakMap<DecoderLayer, LayerPlan>();

type Slots = LayerPlan['slots'];

/** The contiguous f32 elements of owner[key] (a parameter; its own storage view, no copy), remembered in `slots`. */
function arr(owner: object, key: string, slots: Slots): Float32Array {
  const o = owner as Record<string, unknown>;
  const t = o[key] as Tensor;
  slots.push([o, key, t, t.storage.data]);
  const d = t.storage.data as Float32Array;
  return t.offset === 0 && d.length === t.size ? d : d.subarray(t.offset, t.offset + t.size);
}

/** The layer's Linears (attention projections, every expert's and the dense / shared MLP's). */
function linearsOf(layer: DecoderLayer): Linear[] {
  const linears: Linear[] = [];
  const a = layer.self_attn;
  for (const l of [a.q_proj, a.q_a_proj, a.q_b_proj, a.kv_a_proj_with_mqa, a.kv_b_proj, a.o_proj]) if (l) linears.push(l);
  const swiglus: SwiGLU[] = layer.mlp instanceof DeepseekMoE ? [...layer.mlp.experts, ...(layer.mlp.shared_experts ? [layer.mlp.shared_experts] : [])] : [layer.mlp];
  for (const s of swiglus) linears.push(s.gate_proj, s.up_proj, s.down_proj);
  return linears;
}

/** Whether these Linears fit the fused kernels: f32 contiguous weights, no bias, no per-instance (precision) forward. */
function plainLinears(linears: readonly Linear[]): boolean {
  for (const l of linears)
    if (l.bias !== null || Object.prototype.hasOwnProperty.call(l, 'forward') || l.weight.dtype !== 'f32' || !l.weight.isContiguous) return false;
  return true;
}

function buildPlan(layer: DecoderLayer): LayerPlan | null {
  const linears = linearsOf(layer);
  if (!plainLinears(linears)) return null;
  const ts: Slots = [];
  const a = layer.self_attn;
  const c = layer.input_layernorm;
  const mlaDims = new Float64Array(10);
  const qr = a.q_a_proj ? a.q_a_proj.outFeatures : 0;
  mlaDims[MLA_DIMS.d] = c.dim;
  mlaDims[MLA_DIMS.H] = a.H;
  mlaDims[MLA_DIMS.n] = a.n;
  mlaDims[MLA_DIMS.p] = a.p;
  mlaDims[MLA_DIMS.v] = a.v;
  mlaDims[MLA_DIMS.r] = a.r;
  mlaDims[MLA_DIMS.qr] = qr;
  mlaDims[MLA_DIMS.eps] = c.eps;
  mlaDims[MLA_DIMS.scale] = a.scale;
  mlaDims[MLA_DIMS.interleaved] = a.layout === 'interleaved' ? 1 : 0;
  const mla = {
    norm: arr(c, 'weight', ts),
    qA: a.q_a_proj ? arr(a.q_a_proj, 'weight', ts) : null,
    qANorm: a.q_a_layernorm ? arr(a.q_a_layernorm, 'weight', ts) : null,
    qB: arr((a.q_b_proj ?? a.q_proj)!, 'weight', ts),
    kvA: arr(a.kv_a_proj_with_mqa, 'weight', ts),
    kvANorm: arr(a.kv_a_layernorm, 'weight', ts),
    kvB: arr(a.kv_b_proj, 'weight', ts),
    o: arr(a.o_proj, 'weight', ts),
  };
  const post = layer.post_attention_layernorm;
  const mlpDims = new Float64Array(10);
  mlpDims[MOE_DIMS.d] = post.dim;
  mlpDims[MOE_DIMS.eps] = post.eps;
  let mlp: LayerPlan['mlp'];
  let K = 0;
  const moe = layer.mlp instanceof DeepseekMoE ? layer.mlp : null;
  if (moe) {
    const cfg = moe.cfg;
    K = cfg.num_experts_per_tok;
    mlpDims[MOE_DIMS.E] = cfg.n_routed_experts;
    mlpDims[MOE_DIMS.K] = K;
    mlpDims[MOE_DIMS.G] = cfg.n_group;
    mlpDims[MOE_DIMS.kg] = cfg.topk_group;
    mlpDims[MOE_DIMS.normTopk] = cfg.norm_topk_prob ? 1 : 0;
    mlpDims[MOE_DIMS.routedScale] = cfg.routed_scaling_factor;
    mlpDims[MOE_DIMS.I] = moe.experts[0]?.hidden ?? 0;
    const sh = moe.shared_experts;
    mlpDims[MOE_DIMS.Is] = sh ? sh.hidden : 0;
    mlp = {
      norm: arr(post, 'weight', ts), gate: arr(moe.gate, 'weight', ts), bias: arr(moe.gate, 'e_score_correction_bias', ts),
      experts: moe.experts.flatMap((e) => [arr(e.gate_proj, 'weight', ts), arr(e.up_proj, 'weight', ts), arr(e.down_proj, 'weight', ts)]),
      sg: sh ? arr(sh.gate_proj, 'weight', ts) : null, su: sh ? arr(sh.up_proj, 'weight', ts) : null, sd: sh ? arr(sh.down_proj, 'weight', ts) : null,
    };
  } else {
    const s = layer.mlp as SwiGLU;
    mlpDims[MOE_DIMS.Is] = s.hidden;
    mlp = { norm: arr(post, 'weight', ts), gate: null, bias: null, experts: null, sg: arr(s.gate_proj, 'weight', ts), su: arr(s.up_proj, 'weight', ts), sd: arr(s.down_proj, 'weight', ts) };
  }
  return { slots: ts, linears, mlaDims, mla, mlpDims, mlp, moe, K, ids: new Int32Array(FUSED_MAX_ROWS * Math.max(K, 1)) };
}

/** The layer's plan, rebuilt when a parameter or its storage changed; null when the layer cannot run fused. */
function planOf(layer: DecoderLayer): LayerPlan | null {
  let p = plans.get(layer);
  if (p) {
    let same = true;
    for (const [o, k, t, data] of p.slots) if (o[k] !== t || t.storage.data !== data) same = false;
    if (same && plainLinears(p.linears)) return p;
  }
  p = buildPlan(layer) ?? undefined;
  if (p) plans.set(layer, p);
  else plans.delete(layer);
  return p ?? null;
}

/** Whether every given layer can run fused. */
export function canDecodeFused(layers: readonly DecoderLayer[]): boolean {
  return fusedDecode.enabled && layers.every((l) => planOf(l) !== null);
}

/**
 * One decoder layer over T new rows x [T, d] (updated in place) at positions cache.length … + T − 1, whose RoPE rows
 * are cos/sin [T, p/2]; appends their latents to the cache layer. The layer must be fusable (`canDecodeFused`).
 */
export function decodeLayerFused(layer: DecoderLayer, x: Float32Array, T: number, cache: LatentCacheLayer, cos: Float32Array, sin: Float32Array): void {
  const p = planOf(layer)!;
  const be = backend();
  const rows = cache.reserveRows(T);
  const m = p.mla;
  be.mlaDecode(x, T, p.mlaDims, m.norm, m.qA, m.qANorm, m.qB, m.kvA, m.kvANorm, m.kvB, m.o, cos, sin, rows, cache.length, x);
  cache.commit(T);
  const f = p.mlp;
  const track = p.moe !== null && p.moe.training;
  be.moeDecode(x, T, p.mlpDims, f.norm, f.gate, f.bias, f.experts, f.sg, f.su, f.sd, x, track ? p.ids : null);
  if (track) for (let i = 0; i < T * p.K; i++) p.moe!.loadSinceUpdate[p.ids[i]]++;
}

/** A head's weights for the exact greedy head (`headArgmax`): f32 rows, their bf16 bits (round to nearest even), norms. */
export interface GreedyHead {
  w: Float32Array;
  wb: Uint16Array;
  norms: Float32Array;
  N: number;
  K: number;
}

/**
 * Prepares `headArgmax`'s inputs for a head weight [N, K] (a few ms for 8192 × 256: done once per generation, so a
 * weight changed in place between generations is never seen stale). Null when a weight is not finite.
 */
export function greedyHead(weight: Tensor): GreedyHead | null {
  const [N, K] = weight.shape;
  const d = weight.storage.data as Float32Array;
  const w = weight.offset === 0 && d.length === weight.size ? d : d.subarray(weight.offset, weight.offset + weight.size);
  const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
  const wb = new Uint16Array(w.length);
  const norms = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    let ss = 0;
    for (let k = i * K; k < (i + 1) * K; k++) {
      const v = w[k];
      if (!Number.isFinite(v)) return null;
      ss += v * v;
      const b = bits[k];
      wb[k] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest even (finite values)
    }
    norms[i] = Math.sqrt(ss);
  }
  return { w, wb, norms, N, K };
}
