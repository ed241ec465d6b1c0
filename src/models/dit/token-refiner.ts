/**
 * HunyuanVideo's text token refiner (diffusers `HunyuanVideoTokenRefiner`), the MM-DiT's `context_embedder` when
 * num_refiner_layers R > 0. Text states [B, L, Dt] (+ keep mask [B, L]) and the timestep [B] → text tokens [B, L, D]:
 *   pooled = masked mean of the text states over L (plain mean without a mask)      // [B, Dt]
 *   c      = time_text_embed: timestep_embedder(sinusoid(t)) + text_embedder(pooled) // [B, D]
 *   x      = proj_in(text)                                                          // [B, L, D]
 *   per refiner block (gate_msa, gate_mlp = norm_out.linear(SiLU(c))):
 *     x += gate_msa · attn(norm1(x))      // self-attention among text tokens: q/k/v/out with bias, no qk-norm, no
 *                                         // RoPE; token i sees token j when both are real, and always sees token 0
 *     x += gate_mlp · ff(norm2(x))        // ff: Linear D → 4D, SiLU, Linear 4D → D (the refiner's MLP is 4·D
 *                                         // whatever the model's mlp_ratio, as in diffusers)
 * norm1/norm2 are LayerNorms with affine, eps 1e-6. With R = 0 it is proj_in alone (what `ContextEmbedder` builds).
 * Names follow the diffusers checkpoint: `time_text_embed.{timestep_embedder,text_embedder}.linear_{1,2}`,
 * `proj_in`, `token_refiner.refiner_blocks.<i>.{norm1,attn.to_q,attn.to_k,attn.to_v,attn.to_out.0,norm2,
 * ff.net.0.proj,ff.net.2,norm_out.linear}`.
 */
import { LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { fromArray } from '../../tensor/creation.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { fromHeads, toHeads } from './attention.js';
import { MlpEmbedder, timestepEmbedding } from './embeddings.js';
import { FeedForward } from './single-dit.js';

/** The refiner MLP's width relative to D (diffusers' `mlp_width_ratio` default, which HunyuanVideo never changes). */
export const REFINER_MLP_RATIO = 4;
const REFINER_EPS = 1e-6;

/** Plain multi-head self-attention with biases (diffusers `Attention` with its defaults). */
export class RefinerAttention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  to_out: Linear[];
  constructor(dim: number, readonly heads: number, generator?: Generator) {
    super();
    this.to_q = new Linear(dim, dim, { generator });
    this.to_k = new Linear(dim, dim, { generator });
    this.to_v = new Linear(dim, dim, { generator });
    this.to_out = [new Linear(dim, dim, { generator })];
  }
  /** x [B, L, D]; mask a keep mask [B, 1, L, L] or null. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const H = this.heads;
    const o = scaledDotProductAttention(toHeads(this.to_q.forward(x), H), toHeads(this.to_k.forward(x), H), toHeads(this.to_v.forward(x), H), { mask });
    return this.to_out[0].forward(fromHeads(o));
  }
}

/** Gate projection of a refiner block: linear(SiLU(c)) → gate_msa, gate_mlp [B, D]. */
export class RefinerAdaNorm extends Module {
  linear: Linear;
  constructor(dim: number, generator?: Generator) {
    super();
    this.linear = new Linear(dim, 2 * dim, { generator });
  }
  gates(c: Tensor): Tensor[] {
    return this.linear.forward(c.silu()).chunk(2, 1);
  }
}

export class RefinerBlock extends Module {
  norm1: LayerNorm;
  attn: RefinerAttention;
  norm2: LayerNorm;
  ff: FeedForward;
  norm_out: RefinerAdaNorm;
  constructor(dim: number, heads: number, generator?: Generator) {
    super();
    this.norm1 = new LayerNorm(dim, REFINER_EPS);
    this.attn = new RefinerAttention(dim, heads, generator);
    this.norm2 = new LayerNorm(dim, REFINER_EPS);
    this.ff = new FeedForward(dim, REFINER_MLP_RATIO * dim, generator, 'silu');
    this.norm_out = new RefinerAdaNorm(dim, generator);
  }
  forward(x: Tensor, c: Tensor, mask: Tensor | null): Tensor {
    const [gateMsa, gateMlp] = this.norm_out.gates(c);
    const h = x.add(this.attn.forward(this.norm1.forward(x), mask).mul(gateMsa.unsqueeze(1)));
    return h.add(this.ff.forward(this.norm2.forward(h)).mul(gateMlp.unsqueeze(1)));
  }
}

export class IndividualTokenRefiner extends Module {
  refiner_blocks: RefinerBlock[];
  constructor(dim: number, heads: number, layers: number, generator?: Generator) {
    super();
    this.refiner_blocks = Array.from({ length: layers }, () => new RefinerBlock(dim, heads, generator));
  }
}

/** The refiner's own conditioning: timestep MLP + MLP of the pooled text states. */
export class RefinerTimeTextEmbed extends Module {
  timestep_embedder: MlpEmbedder;
  text_embedder: MlpEmbedder;
  constructor(readonly freqDim: number, textDim: number, dim: number, generator?: Generator) {
    super();
    this.timestep_embedder = new MlpEmbedder(freqDim, dim, generator);
    this.text_embedder = new MlpEmbedder(textDim, dim, generator);
  }
  forward(timestep: Tensor, pooled: Tensor): Tensor {
    return this.timestep_embedder.forward(timestepEmbedding(timestep, this.freqDim)).add(this.text_embedder.forward(pooled));
  }
}

/** Self-attention keep mask [B, 1, L, L] of the refiner from a text keep mask [B, L]: m_i·m_j, column 0 always kept. */
export function refinerMask(textMask: Tensor): Tensor {
  const [B, L] = textMask.shape;
  const m = textMask.contiguous().to('f32').data() as Float32Array;
  const out = new Float32Array(B * L * L);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < L; i++)
      for (let j = 0; j < L; j++) out[(b * L + i) * L + j] = j === 0 || (m[b * L + i] !== 0 && m[b * L + j] !== 0) ? 1 : 0;
  return fromArray(out, [B, 1, L, L]).ne(0).to('bool');
}

/** Mean of x [B, L, Dt] over the real tokens of mask [B, L] (all tokens without a mask) → [B, Dt]. */
export function maskedMean(x: Tensor, mask: Tensor | null | undefined): Tensor {
  if (!mask) return x.mean(1);
  const m = mask.to('f32').unsqueeze(2); // [B, L, 1]
  return x.mul(m).sum(1).div(m.sum(1));
}
