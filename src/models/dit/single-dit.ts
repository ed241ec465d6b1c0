/**
 * Single-DiT (the Aquarius 2B denoiser; Wan2.1's design), written top-down:
 *   tokens = patch_embedding(patchify(latents))                              // [B, N, D], N = t·h·w
 *   temb   = time_embedder(sinusoid(1000·σ))                                 // [B, D]
 *            (+ pooled_text_embedder(pooled text) with the `pooledTextDim` option) // HunyuanVideo-style global text
 *   e      = time_proj(SiLU(temb))                                          // [B, 6D]: the shared adaLN projection
 *   ctx    = text_embedder(text states)                                     // [B, L, D]
 *   per block (mod = e + scale_shift_table → shift/scale/gate for attention and FFN):
 *     x += gate_msa · attn1(norm1(x)·(1 + scale_msa) + shift_msa)            // 3D RoPE, qk-norm, full attention
 *     x += attn2(norm2(x), ctx)                                               // cross-attention to text (norm2: affine
 *                                                                             // LayerNorm, or the identity without cross_attn_norm)
 *     x += gate_ffn · ffn(norm3(x)·(1 + scale_ffn) + shift_ffn)
 *   out    = proj_out(norm_out(x)·(1 + scale) + shift) → unpatchify           // [B, C, T, H, W] velocity
 * adaLN-zero: time_proj, every scale_shift_table and the cross-attention output projection start at zero, so a
 * fresh block is exactly the identity (gates 0); proj_out starts at zero, so a fresh model predicts 0.
 * Names follow diffusers' `WanTransformer3DModel` (except patch_embedding: a Linear over patchified tokens instead
 * of the equivalent Conv3d; the Conv3d weight [D, C, pt, ph, pw] reshapes to it).
 *
 * Stages (for diffusion caches, src/infer/diffusion-cache.ts): `begin(inputs)` runs the embeddings and returns a
 * `DitPass` whose `blocks(x, from, to)` runs a range of blocks and `head(x)` the output layer; `forward` is exactly
 * begin → blocks(0, n) → head, so a cache that computes every step reproduces `forward` bit for bit.
 * Sparse attention switch: `attentionWindow` (constructor option `attention`) makes every block's self-attention
 * sliding-tile attention over the token grid (src/models/dit/attention.ts); null (default) = full attention.
 */
import { KilnError } from '../../errors.js';
import { constant_, normal_ } from '../../nn/init.js';
import { Dropout, LayerNorm, Linear } from '../../nn/layers.js';
import { Module, parameter } from '../../nn/module.js';
import { empty, zeros } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { QkNormAttention, keyMask, type Rope, type TileWindow } from './attention.js';
import { singleDitConfig, type SingleDitConfig } from './dit-config.js';
import { MlpEmbedder, patchify, rope3d, timestepEmbedding, unpatchify, type PatchGrid } from './embeddings.js';

/** Linear then activation: diffusers FeedForward's `net.0` (GELU(tanh) by default, SiLU for 'linear-silu'). */
export class ActProj extends Module {
  proj: Linear;
  constructor(dim: number, hidden: number, readonly activation: 'gelu-tanh' | 'silu', generator?: Generator) {
    super();
    this.proj = new Linear(dim, hidden, { generator });
  }
  forward(x: Tensor): Tensor {
    const h = this.proj.forward(x);
    return this.activation === 'silu' ? h.silu() : h.gelu('tanh');
  }
}

/** diffusers FeedForward: net.0 (D → F, then the activation), net.1 dropout, net.2 (F → D). */
export class FeedForward extends Module {
  net: [ActProj, Dropout, Linear];
  constructor(dim: number, hidden: number, generator?: Generator, activation: 'gelu-tanh' | 'silu' = 'gelu-tanh') {
    super();
    this.net = [new ActProj(dim, hidden, activation, generator), new Dropout(0), new Linear(hidden, dim, { generator })];
  }
  forward(x: Tensor): Tensor {
    return this.net[2].forward(this.net[0].forward(x));
  }
}

/** x·(1 + scale) + shift with scale/shift [B, D] broadcast over tokens. */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  return x.mul(scale.unsqueeze(1).add(1)).add(shift.unsqueeze(1));
}

export class SingleDitBlock extends Module {
  norm1: LayerNorm;
  attn1: QkNormAttention;
  /** LayerNorm with affine before the cross-attention when cross_attn_norm; null (the identity, as Wan's nn.Identity) otherwise */
  norm2: LayerNorm | null;
  attn2: QkNormAttention;
  norm3: LayerNorm;
  ffn: FeedForward;
  scale_shift_table: Tensor; // [1, 6, D]

  constructor(c: SingleDitConfig, generator?: Generator) {
    super();
    const D = c.num_attention_heads * c.attention_head_dim;
    this.norm1 = new LayerNorm(D, c.eps, { affine: false });
    this.attn1 = new QkNormAttention(D, c.num_attention_heads, c.eps, generator);
    this.norm2 = c.cross_attn_norm ? new LayerNorm(D, c.eps) : null;
    this.attn2 = new QkNormAttention(D, c.num_attention_heads, c.eps, generator, { zeroOut: true });
    this.norm3 = new LayerNorm(D, c.eps, { affine: false });
    this.ffn = new FeedForward(D, c.ffn_dim, generator);
    this.scale_shift_table = parameter(zeros([1, 6, D]));
  }

  /** The timestep-modulated input of the self-attention, norm1(x)·(1 + scale_msa) + shift_msa [B, N, D] (TeaCache's indicator). */
  modulatedInput(x: Tensor, e: Tensor): Tensor {
    const [shiftMsa, scaleMsa] = e.add(this.scale_shift_table).split(1, 1).map((t) => t.squeeze(1));
    return modulate(this.norm1.forward(x), shiftMsa, scaleMsa);
  }

  /** x [B, N, D]; e [B, 6, D] (time projection); ctx [B, L, D]; mask [B, 1, 1, L]; sparse: sliding-tile self-attention. */
  forward(x: Tensor, e: Tensor, ctx: Tensor, rope: Rope, mask: Tensor | null, sparse: { grid: PatchGrid; window: TileWindow } | null = null): Tensor {
    const [shiftMsa, scaleMsa, gateMsa, shiftFfn, scaleFfn, gateFfn] = e.add(this.scale_shift_table).split(1, 1).map((t) => t.squeeze(1));
    let h = x.add(this.attn1.forward(modulate(this.norm1.forward(x), shiftMsa, scaleMsa), { rope, sparse }).mul(gateMsa.unsqueeze(1)));
    h = h.add(this.attn2.forward(this.norm2 ? this.norm2.forward(h) : h, { context: ctx, mask }));
    return h.add(this.ffn.forward(modulate(this.norm3.forward(h), shiftFfn, scaleFfn)).mul(gateFfn.unsqueeze(1)));
  }
}

export class ConditionEmbedder extends Module {
  time_embedder: MlpEmbedder;
  time_proj: Linear;
  text_embedder: MlpEmbedder;
  /** pooled text vector [B, Dp] → [B, D], added to temb (so it drives every adaLN); null unless `pooledDim` */
  pooled_text_embedder: MlpEmbedder | null;
  constructor(readonly freqDim: number, dim: number, textDim: number, generator?: Generator, pooledDim = 0) {
    super();
    this.time_embedder = new MlpEmbedder(freqDim, dim, generator);
    this.time_proj = new Linear(dim, 6 * dim, { generator });
    constant_(this.time_proj.weight, 0);
    constant_(this.time_proj.bias!, 0);
    this.text_embedder = new MlpEmbedder(textDim, dim, generator, 'gelu_tanh');
    this.pooled_text_embedder = pooledDim > 0 ? new MlpEmbedder(pooledDim, dim, generator) : null;
  }

  /** temb [B, D] = time_embedder(sinusoid(timestep)) (+ pooled_text_embedder(pooled)). */
  temb(timestep: Tensor, pooled: Tensor | undefined): Tensor {
    const t = this.time_embedder.forward(timestepEmbedding(timestep, this.freqDim));
    if (!this.pooled_text_embedder) return t;
    if (!pooled) throw new KilnError('E_ARG', 'SingleDit: this DiT was built with a pooled-text embedder (pooledTextDim); pass inputs.pooled [B, Dp]');
    return t.add(this.pooled_text_embedder.forward(pooled));
  }
}

export interface DitInputs {
  /** noisy latents [B, C, T, H, W] */
  latents: Tensor;
  /** timesteps [B] in [0, 1000] (flow matching: 1000·σ) */
  timestep: Tensor;
  /** text token states [B, L, Dt] */
  text: Tensor;
  /** text keep mask [B, L] (1 = real token), optional */
  textMask?: Tensor | null;
  /** pooled text vector [B, Dp] (MM-DiT; Single-DiT built with `pooledTextDim`) */
  pooled?: Tensor;
  /** guidance scale [B] (MM-DiT with guidance_embeds) */
  guidance?: Tensor;
}

/**
 * One denoiser call split into stages (diffusion caches): the embeddings have run; `x` is the hidden state entering
 * block 0. Blocks may be run in ranges; `rows` restricts the pass to a range of batch rows (e.g. the conditional or
 * the unconditional half of a CFG batch). MM-DiT passes carry the text stream between block ranges, so ranges must
 * be run in order from 0 (or skipped entirely), and `rows` taken after the ranges already run.
 */
export interface DitPass {
  /** video hidden states [B, N, D] after the embedding */
  readonly x: Tensor;
  readonly batch: number;
  readonly numBlocks: number;
  /** block 0's timestep-modulated input for hidden states x [B, N, D] (TeaCache's change indicator) */
  modulatedInput(x: Tensor): Tensor;
  /** runs blocks [from, to) on hidden states x; returns the new hidden states */
  blocks(x: Tensor, from: number, to: number): Tensor;
  /** output layer: hidden states → velocity [B, C, T, H, W] */
  head(x: Tensor): Tensor;
  /** this pass restricted to batch rows [start, end) */
  rows(start: number, end: number): DitPass;
}

/** A denoiser that can be run in stages. */
export interface StagedDit {
  begin(inputs: DitInputs): DitPass;
  forward(inputs: DitInputs): Tensor;
}

interface SinglePassState {
  x: Tensor;
  e: Tensor; // [B, 6, D]
  temb: Tensor; // [B, D]
  ctx: Tensor; // [B, L, D]
  mask: Tensor | null; // [B, 1, 1, L]
  rope: Rope;
  grid: PatchGrid;
}

export class SingleDit extends Module implements StagedDit {
  readonly config: SingleDitConfig;
  patch_embedding: Linear;
  condition_embedder: ConditionEmbedder;
  blocks: SingleDitBlock[];
  norm_out: LayerNorm;
  proj_out: Linear;
  scale_shift_table: Tensor; // [1, 2, D]

  /** Sliding-tile sparse self-attention in every block (null = full attention). */
  attentionWindow: TileWindow | null;

  /**
   * `pooledTextDim` > 0 adds `condition_embedder.pooled_text_embedder` (Dp → D): the pooled text vector joins the
   * timestep embedding that drives every block's adaLN (HunyuanVideo's pooled-CLIP path); `inputs.pooled` is then
   * required. 0 (default) = Wan's design, text through cross-attention only.
   */
  constructor(config: Partial<SingleDitConfig> | string = {},
      { generator, attention = null, pooledTextDim = 0 }: { generator?: Generator; attention?: TileWindow | null; pooledTextDim?: number } = {}) {
    super();
    this.attentionWindow = attention;
    const c = (this.config = singleDitConfig(config));
    const D = c.num_attention_heads * c.attention_head_dim;
    const [pt, ph, pw] = c.patch_size;
    this.patch_embedding = new Linear(c.in_channels * pt * ph * pw, D, { generator });
    this.condition_embedder = new ConditionEmbedder(c.freq_dim, D, c.text_dim, generator, pooledTextDim);
    this.blocks = Array.from({ length: c.num_layers }, () => new SingleDitBlock(c, generator));
    this.norm_out = new LayerNorm(D, c.eps, { affine: false });
    this.proj_out = new Linear(D, c.out_channels * pt * ph * pw, { generator });
    constant_(this.proj_out.weight, 0);
    constant_(this.proj_out.bias!, 0);
    this.scale_shift_table = parameter(normal_(empty([1, 2, D]), 0, 1 / Math.sqrt(D), generator));
  }

  /** Velocity prediction [B, C_out, T, H, W] for latents [B, C_in, T, H, W]. */
  forward(inputs: DitInputs): Tensor {
    const p = this.begin(inputs);
    return p.head(p.blocks(p.x, 0, p.numBlocks));
  }

  /** Runs the embeddings; returns the staged pass (see `DitPass`). */
  begin({ latents, timestep, text, textMask, pooled }: DitInputs): DitPass {
    const c = this.config;
    if (latents.shape[1] !== c.in_channels) throw new KilnError('E_SHAPE', `SingleDit: latents [${latents.shape}] must have ${c.in_channels} channels`);
    const D = c.num_attention_heads * c.attention_head_dim;
    const { tokens, grid } = patchify(latents, c.patch_size);
    const x = this.patch_embedding.forward(tokens); // [B, N, D]
    const ce = this.condition_embedder;
    const temb = ce.temb(timestep, pooled); // [B, D]
    const e = ce.time_proj.forward(temb.silu()).reshape([-1, 6, D]); // [B, 6, D]
    const ctx = ce.text_embedder.forward(text); // [B, L, D]
    const rope = rope3d(grid, c.rope_axes_dim!, c.rope_theta);
    const mask = keyMask(textMask);
    return this.pass({ x, e, temb, ctx, mask, rope, grid });
  }

  private pass(s: SinglePassState): DitPass {
    const c = this.config;
    const sparse = this.attentionWindow ? { grid: s.grid, window: this.attentionWindow } : null;
    return {
      x: s.x,
      batch: s.x.shape[0],
      numBlocks: this.blocks.length,
      modulatedInput: (x) => this.blocks[0].modulatedInput(x, s.e),
      blocks: (x, from, to) => {
        for (let i = from; i < to; i++) x = this.blocks[i].forward(x, s.e, s.ctx, s.rope, s.mask, sparse);
        return x;
      },
      head: (x) => {
        const [shift, scale] = this.scale_shift_table.add(s.temb.unsqueeze(1)).split(1, 1).map((t) => t.squeeze(1)); // [B, D]
        const out = this.proj_out.forward(modulate(this.norm_out.forward(x), shift, scale));
        return unpatchify(out, s.grid, c.patch_size, c.out_channels);
      },
      rows: (a, b) => this.pass({
        x: s.x.slice(0, a, b), e: s.e.slice(0, a, b), temb: s.temb.slice(0, a, b), ctx: s.ctx.slice(0, a, b),
        mask: s.mask ? s.mask.slice(0, a, b) : null, rope: s.rope, grid: s.grid,
      }),
    };
  }
}
