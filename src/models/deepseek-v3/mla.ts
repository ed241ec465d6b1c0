/**
 * Multi-head Latent Attention (MLA; DeepSeek-V2 §2.1, DeepSeek-V3 §2.1.1), named like the HF checkpoint.
 *
 * Letters: B batch, T new tokens, Tk keys (cache + new), H heads, d hidden, r = kv_lora_rank, n = qk_nope_head_dim,
 * p = qk_rope_head_dim, v = v_head_dim.
 *   q      = q_b_proj(q_a_layernorm(q_a_proj(x)))   (or q_proj(x) when q_lora_rank is null)   // [B, H, T, n + p]
 *   [c, kᴿ] = kv_a_proj_with_mqa(x);  c = kv_a_layernorm(c)                                    // [B, T, r], [B, T, p]
 *   qᴿ, kᴿ = RoPE (YaRN tables; one kᴿ shared by every head)
 *   expanded (training, prefill):  [kᶜ, vᶜ] = kv_b_proj(c)  // [B, H, T, n + v]
 *     o = softmax(([qᶜ, qᴿ]·[kᶜ, kᴿ]ᵀ)·scale) · vᶜ          (the fused attention op, Dv ≠ D)
 *   absorbed (decoding):  W_uk, W_uv = kv_b_proj.weight split per head [H, n, r], [H, v, r]
 *     scores = (qᶜ·W_uk)·cᵀ + qᴿ·kᴿᵀ,  o = (softmax(scores·scale)·c)·W_uvᵀ
 *     — one multi-query attention over the cached [c, kᴿ] (r + p numbers per token: 576 at full size).
 *   out = o_proj(o)                                           // [B, T, d]
 * Softmax scale: (n + p)^−½ × yarn_get_mscale(factor, mscale_all_dim)² when mscale_all_dim ≠ 0 (HF's
 * `yarn_apply_mscale`). RoPE layout: 'interleaved' when rope_interleave (HF de-interleaves first, which permutes q and
 * k alike, so every q·k — all attention sees — is the same), else 'half'.
 */
import { KilnError } from '../../errors.js';
import { Linear, RMSNorm } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { applyRotary } from '../../tensor/ops/rope.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { DeepseekV3Config } from './config.js';
import type { LatentCacheLayer } from './cache.js';
import { softmaxScale } from './rope.js';
import { canFuseMla, fusedMla, mlaForwardFused } from './mla-train.js';

/** Up to this many query rows (B·T) the absorbed path multiplies per head by broadcasting instead of batched GEMMs. */
const SMALL_ROWS = 4;

export class MultiHeadLatentAttention extends Module {
  q_proj: Linear | null = null;
  q_a_proj: Linear | null = null;
  q_a_layernorm: RMSNorm | null = null;
  q_b_proj: Linear | null = null;
  kv_a_proj_with_mqa: Linear;
  kv_a_layernorm: RMSNorm;
  kv_b_proj: Linear;
  o_proj: Linear;
  readonly H: number;
  readonly n: number;
  readonly p: number;
  readonly v: number;
  readonly r: number;
  readonly scale: number;
  readonly layout: 'interleaved' | 'half';

  constructor(c: DeepseekV3Config, generator?: Generator) {
    super();
    const d = c.hidden_size;
    this.H = c.num_attention_heads;
    this.n = c.qk_nope_head_dim;
    this.p = c.qk_rope_head_dim;
    this.v = c.v_head_dim;
    this.r = c.kv_lora_rank;
    const init = { bias: false, std: c.initializer_range, generator };
    const qk = this.n + this.p;
    if (c.q_lora_rank === null) this.q_proj = new Linear(d, this.H * qk, init);
    else {
      this.q_a_proj = new Linear(d, c.q_lora_rank, init);
      this.q_a_layernorm = new RMSNorm(c.q_lora_rank, c.rms_norm_eps);
      this.q_b_proj = new Linear(c.q_lora_rank, this.H * qk, init);
    }
    this.kv_a_proj_with_mqa = new Linear(d, this.r + this.p, init);
    this.kv_a_layernorm = new RMSNorm(this.r, c.rms_norm_eps);
    this.kv_b_proj = new Linear(this.r, this.H * (this.n + this.v), init);
    this.o_proj = new Linear(this.H * this.v, d, init);
    this.scale = softmaxScale(c);
    this.layout = c.rope_interleave ? 'interleaved' : 'half';
  }

  /** Queries split into the no-RoPE and (rotated) RoPE parts: [B, H, T, n], [B, H, T, p]. */
  private queries(x: Tensor, cos: Tensor, sin: Tensor): [Tensor, Tensor] {
    const [B, T] = x.shape;
    const q = this.q_proj ? this.q_proj.forward(x) : this.q_b_proj!.forward(this.q_a_layernorm!.forward(this.q_a_proj!.forward(x)));
    const qh = q.reshape(B, T, this.H, this.n + this.p).transpose(1, 2); // [B, H, T, n + p]
    const qPe = applyRotary(qh.slice(-1, this.n, this.n + this.p), cos, sin, { layout: this.layout });
    return [qh.slice(-1, 0, this.n), qPe];
  }

  /** The compressed latent and the rotated shared key: [B, T, r] (normed), [B, T, p]. */
  latents(x: Tensor, cos: Tensor, sin: Tensor): [Tensor, Tensor] {
    const ckv = this.kv_a_proj_with_mqa.forward(x); // [B, T, r + p]
    const c = this.kv_a_layernorm.forward(ckv.slice(-1, 0, this.r));
    const kPe = applyRotary(ckv.slice(-1, this.r, this.r + this.p), cos, sin, { layout: this.layout });
    return [c, kPe];
  }

  private checkTables(x: Tensor, cos: Tensor): void {
    if (x.ndim !== 3 || cos.shape[0] !== x.shape[1])
      throw new KilnError('E_SHAPE', `MLA: x [${x.shape}] must be [B, T, hidden] with RoPE tables for its T positions; got cos [${cos.shape}]`);
  }

  /**
   * Expanded attention (training, prefill without cache): x [B, T, d], cos/sin [T, p/2] → [B, T, d]. Causal. Plain
   * f32 projections run as one recorded op (`mlaForwardFused`, mla-train.ts); the tensor ops below are the reference.
   */
  forward(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    this.checkTables(x, cos);
    if (fusedMla.enabled && canFuseMla(this)) return mlaForwardFused(this, x, cos, sin); // one op, same function
    const [B, T] = x.shape;
    const { H, n, p, v } = this;
    const [qNope, qPe] = this.queries(x, cos, sin);
    const [c, kPe] = this.latents(x, cos, sin);
    const kv = this.kv_b_proj.forward(c).reshape(B, T, H, n + v).transpose(1, 2); // [B, H, T, n + v]
    const k = cat([kv.slice(-1, 0, n), kPe.unsqueeze(1).expand(B, H, T, p)], -1); // [B, H, T, n + p]
    const q = cat([qNope, qPe], -1); // [B, H, T, n + p]
    const o = scaledDotProductAttention(q, k, kv.slice(-1, n, n + v), { causal: true, scale: this.scale }); // [B, H, T, v]
    return this.o_proj.forward(o.transpose(1, 2).reshape(B, T, H * v));
  }

  /**
   * Absorbed attention: x [B, T, d] at positions given by cos/sin [T, p/2]. With a cache layer, the new latents are
   * appended to it and the queries attend over everything cached (bottom-right causal); without one, over the new
   * tokens only (then it equals `forward`, and gradients flow).
   */
  forwardAbsorbed(x: Tensor, cos: Tensor, sin: Tensor, cache?: LatentCacheLayer): Tensor {
    this.checkTables(x, cos);
    const [B, T] = x.shape;
    const { H, n, r, v } = this;
    const [qNope, qPe] = this.queries(x, cos, sin);
    const [c, kPe] = this.latents(x, cos, sin);
    const kvAll = cache ? cache.append(c, kPe) : cat([c, kPe], -1); // [B, Tk, r + p]
    const w = this.kv_b_proj.weight.reshape(H, n + v, r); // [H, n + v, r]
    // A few query rows (decoding): per-head products as broadcast multiply + sum, which beats H tiny batched GEMMs.
    const few = B * T <= SMALL_ROWS;
    const qAbs = few
      ? qNope.unsqueeze(-1).mul(w.slice(1, 0, n).unsqueeze(1)).sum(-2) // [B, H, T, n, 1]·[H, 1, n, r] → [B, H, T, r]
      : qNope.matmul(w.slice(1, 0, n)); // [B, H, T, r]
    const q = cat([qAbs, qPe], -1); // [B, H, T, r + p]
    const k = kvAll.unsqueeze(1); // [B, 1, Tk, r + p]: one latent "head" shared by all H query heads
    const oLat = scaledDotProductAttention(q, k, k.slice(-1, 0, r), { causal: true, scale: this.scale }); // [B, H, T, r]
    const o = few
      ? oLat.unsqueeze(-2).mul(w.slice(1, n, n + v).unsqueeze(1)).sum(-1) // [B, H, T, 1, r]·[H, 1, v, r] → [B, H, T, v]
      : oLat.matmul(w.slice(1, n, n + v).mT); // [B, H, T, v]
    return this.o_proj.forward(o.transpose(1, 2).reshape(B, T, H * v));
  }
}
