/**
 * MM-DiT (the Aquarius 13.4B-class denoiser; HunyuanVideo's design), written top-down:
 *   x    = x_embedder(patchify(latents))                    // [B, N, D] video tokens
 *   c    = context_embedder(text states; t, text mask)      // [B, L, D] text tokens (proj_in, + token refiner if R > 0)
 *   temb = timestep_embedder(sinusoid(t)) (+ guidance_embedder(sinusoid(1000·g))) + text_embedder(pooled)   // [B, D]
 *   dual-stream blocks ×num_layers: separate adaLN-zero, q/k/v, output and FFN weights for x and c; ONE joint
 *       attention over [x; c] (RoPE on the video part, qk RMSNorm per head, padding text keys masked);
 *   single-stream blocks ×num_single_layers over s = [x; c]: one adaLN-zero (shift, scale, gate), q/k/v and an MLP
 *       branch in parallel, s += gate · proj_out([attn(s) ‖ GELU(proj_mlp(s))]);
 *   out  = proj_out(norm_out(x; temb)) → unpatchify          // [B, C, T, H, W]
 * adaLN-zero: every modulation linear (norm1, norm1_context, norm) and proj_out start at zero: fresh blocks are
 * identities and a fresh model predicts 0. Names follow diffusers' `HunyuanVideoTransformer3DModel`; the
 * context_embedder is a single projection with num_refiner_layers 0 (the Aquarius presets: Aquarius trains its text
 * encoder with the model, see docs/aquarius.md) and HunyuanVideo's token refiner (token-refiner.ts) with R > 0.
 * Stages (diffusion caches): `begin(inputs)` → `DitPass` (single-dit.ts) over the video stream; blocks are numbered
 * dual-stream first, then single-stream; the pass carries the text stream between block ranges. `forward` is exactly
 * begin → blocks(0, n) → head. Sparse switch: `attentionWindow` (constructor option `attention`) makes every joint
 * attention sliding-tile over the video tokens (text keys appended to every window; text queries attend fully).
 */
import { KilnError } from '../../errors.js';
import { constant_ } from '../../nn/init.js';
import { LayerNorm, Linear, RMSNorm } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { cat } from '../../tensor/ops/shape.js';
import { ones } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { fromHeads, rotate, slidingTileJointAttention, toHeads, type Rope, type TileWindow } from './attention.js';
import { mmDitConfig, type MmDitConfig } from './dit-config.js';
import { MlpEmbedder, patchify, rope3d, timestepEmbedding, unpatchify } from './embeddings.js';
import { FeedForward, modulate, type DitInputs, type DitPass, type StagedDit } from './single-dit.js';
import { IndividualTokenRefiner, RefinerTimeTextEmbed, maskedMean, refinerMask } from './token-refiner.js';
import type { PatchGrid } from './embeddings.js';

function zeroLinear(l: Linear): Linear {
  constant_(l.weight, 0);
  if (l.bias) constant_(l.bias, 0);
  return l;
}

/** AdaLayerNormZero: linear(SiLU(temb)) → `chunks` vectors [B, D] (zero-initialised), LayerNorm without affine. */
export class AdaNormZero extends Module {
  linear: Linear;
  norm: LayerNorm;
  constructor(dim: number, readonly chunks: number, eps: number, generator?: Generator) {
    super();
    this.linear = zeroLinear(new Linear(dim, chunks * dim, { generator }));
    this.norm = new LayerNorm(dim, eps, { affine: false });
  }
  mods(temb: Tensor): Tensor[] {
    return this.linear.forward(temb.silu()).chunk(this.chunks, 1);
  }
}

/** Sliding-tile sparse attention over the video part of a joint sequence (null = full attention). */
type Sparse = { grid: PatchGrid; window: TileWindow } | null;

function attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, sparse: Sparse): Tensor {
  return sparse ? slidingTileJointAttention(q, k, v, sparse.grid, sparse.window, mask) : scaledDotProductAttention(q, k, v, { mask });
}

/** The joint attention of a dual-stream block: separate projections per stream, one softmax over both. */
export class JointAttention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  add_q_proj: Linear;
  add_k_proj: Linear;
  add_v_proj: Linear;
  norm_q: RMSNorm;
  norm_k: RMSNorm;
  norm_added_q: RMSNorm;
  norm_added_k: RMSNorm;
  to_out: Linear[];
  to_add_out: Linear;
  constructor(dim: number, readonly heads: number, eps: number, generator?: Generator) {
    super();
    const L = () => new Linear(dim, dim, { generator });
    const Dh = dim / heads;
    this.to_q = L();
    this.to_k = L();
    this.to_v = L();
    this.add_q_proj = L();
    this.add_k_proj = L();
    this.add_v_proj = L();
    this.norm_q = new RMSNorm(Dh, eps);
    this.norm_k = new RMSNorm(Dh, eps);
    this.norm_added_q = new RMSNorm(Dh, eps);
    this.norm_added_k = new RMSNorm(Dh, eps);
    this.to_out = [L()];
    this.to_add_out = L();
  }
  /** x [B, N, D], c [B, L, D]; rope over N + L rows (identity rows for text); mask [B, 1, 1, N + L]; sparse: sliding-tile. */
  forward(x: Tensor, c: Tensor, rope: Rope, mask: Tensor | null, sparse: Sparse = null): [Tensor, Tensor] {
    const H = this.heads;
    const N = x.shape[1];
    const q = cat([this.norm_q.forward(toHeads(this.to_q.forward(x), H)), this.norm_added_q.forward(toHeads(this.add_q_proj.forward(c), H))], 2);
    const k = cat([this.norm_k.forward(toHeads(this.to_k.forward(x), H)), this.norm_added_k.forward(toHeads(this.add_k_proj.forward(c), H))], 2);
    const v = cat([toHeads(this.to_v.forward(x), H), toHeads(this.add_v_proj.forward(c), H)], 2);
    const o = fromHeads(attend(rotate(q, rope), rotate(k, rope), v, mask, sparse)); // [B, N + L, D]
    return [this.to_out[0].forward(o.slice(1, 0, N)), this.to_add_out.forward(o.slice(1, N))];
  }
}

export class DualStreamBlock extends Module {
  norm1: AdaNormZero;
  norm1_context: AdaNormZero;
  attn: JointAttention;
  norm2: LayerNorm;
  ff: FeedForward;
  norm2_context: LayerNorm;
  ff_context: FeedForward;
  constructor(c: MmDitConfig, generator?: Generator) {
    super();
    const D = c.num_attention_heads * c.attention_head_dim;
    this.norm1 = new AdaNormZero(D, 6, c.eps, generator);
    this.norm1_context = new AdaNormZero(D, 6, c.eps, generator);
    this.attn = new JointAttention(D, c.num_attention_heads, c.eps, generator);
    this.norm2 = new LayerNorm(D, c.eps, { affine: false });
    this.ff = new FeedForward(D, c.mlp_ratio * D, generator);
    this.norm2_context = new LayerNorm(D, c.eps, { affine: false });
    this.ff_context = new FeedForward(D, c.mlp_ratio * D, generator);
  }
  forward(x: Tensor, c: Tensor, temb: Tensor, rope: Rope, mask: Tensor | null, sparse: Sparse = null): [Tensor, Tensor] {
    const [sx, scx, gx, smx, scmx, gmx] = this.norm1.mods(temb);
    const [sc, scc, gc, smc, scmc, gmc] = this.norm1_context.mods(temb);
    const [ax, ac] = this.attn.forward(modulate(this.norm1.norm.forward(x), sx, scx), modulate(this.norm1_context.norm.forward(c), sc, scc), rope, mask, sparse);
    let hx = x.add(ax.mul(gx.unsqueeze(1)));
    let hc = c.add(ac.mul(gc.unsqueeze(1)));
    hx = hx.add(this.ff.forward(modulate(this.norm2.forward(hx), smx, scmx)).mul(gmx.unsqueeze(1)));
    hc = hc.add(this.ff_context.forward(modulate(this.norm2_context.forward(hc), smc, scmc)).mul(gmc.unsqueeze(1)));
    return [hx, hc];
  }
}

export class SingleStreamAttention extends Module {
  to_q: Linear;
  to_k: Linear;
  to_v: Linear;
  norm_q: RMSNorm;
  norm_k: RMSNorm;
  constructor(dim: number, readonly heads: number, eps: number, generator?: Generator) {
    super();
    this.to_q = new Linear(dim, dim, { generator });
    this.to_k = new Linear(dim, dim, { generator });
    this.to_v = new Linear(dim, dim, { generator });
    this.norm_q = new RMSNorm(dim / heads, eps);
    this.norm_k = new RMSNorm(dim / heads, eps);
  }
  forward(s: Tensor, rope: Rope, mask: Tensor | null, sparse: Sparse = null): Tensor {
    const H = this.heads;
    const q = rotate(this.norm_q.forward(toHeads(this.to_q.forward(s), H)), rope);
    const k = rotate(this.norm_k.forward(toHeads(this.to_k.forward(s), H)), rope);
    return fromHeads(attend(q, k, toHeads(this.to_v.forward(s), H), mask, sparse));
  }
}

export class SingleStreamBlock extends Module {
  norm: AdaNormZero;
  attn: SingleStreamAttention;
  proj_mlp: Linear;
  proj_out: Linear;
  constructor(c: MmDitConfig, generator?: Generator) {
    super();
    const D = c.num_attention_heads * c.attention_head_dim;
    this.norm = new AdaNormZero(D, 3, c.eps, generator);
    this.attn = new SingleStreamAttention(D, c.num_attention_heads, c.eps, generator);
    this.proj_mlp = new Linear(D, c.mlp_ratio * D, { generator });
    this.proj_out = new Linear(D + c.mlp_ratio * D, D, { generator });
  }
  /** s [B, N + L, D]. */
  forward(s: Tensor, temb: Tensor, rope: Rope, mask: Tensor | null, sparse: Sparse = null): Tensor {
    const [shift, scale, gate] = this.norm.mods(temb);
    const h = modulate(this.norm.norm.forward(s), shift, scale);
    const branch = cat([this.attn.forward(h, rope, mask, sparse), this.proj_mlp.forward(h).gelu('tanh')], 2);
    return s.add(this.proj_out.forward(branch).mul(gate.unsqueeze(1)));
  }
}

export class TimeTextEmbed extends Module {
  timestep_embedder: MlpEmbedder;
  guidance_embedder: MlpEmbedder | null;
  text_embedder: MlpEmbedder;
  constructor(c: MmDitConfig, dim: number, generator?: Generator) {
    super();
    this.timestep_embedder = new MlpEmbedder(c.freq_dim, dim, generator);
    this.guidance_embedder = c.guidance_embeds ? new MlpEmbedder(c.freq_dim, dim, generator) : null;
    this.text_embedder = new MlpEmbedder(c.pooled_projection_dim, dim, generator);
  }
}

/**
 * Text states → text tokens: `proj_in` alone (num_refiner_layers 0), or HunyuanVideo's token refiner
 * (token-refiner.ts): its own timestep + pooled-text conditioning, then R refiner blocks over proj_in's output.
 */
export class ContextEmbedder extends Module {
  proj_in: Linear;
  time_text_embed: RefinerTimeTextEmbed | null;
  token_refiner: IndividualTokenRefiner | null;
  constructor(textDim: number, dim: number, generator?: Generator, refiner: { layers: number; heads: number; freqDim: number } = { layers: 0, heads: 1, freqDim: 256 }) {
    super();
    const r = refiner.layers > 0;
    this.time_text_embed = r ? new RefinerTimeTextEmbed(refiner.freqDim, textDim, dim, generator) : null;
    this.proj_in = new Linear(textDim, dim, { generator });
    this.token_refiner = r ? new IndividualTokenRefiner(dim, refiner.heads, refiner.layers, generator) : null;
  }
  /** text [B, L, Dt]; timestep [B] and keep mask [B, L] are read only by the refiner. */
  forward(text: Tensor, timestep?: Tensor, mask?: Tensor | null): Tensor {
    let x = this.proj_in.forward(text);
    if (!this.token_refiner || !this.time_text_embed) return x;
    if (!timestep) throw new KilnError('E_ARG', 'ContextEmbedder: the token refiner needs the timestep');
    const c = this.time_text_embed.forward(timestep, maskedMean(text, mask));
    const m = mask ? refinerMask(mask) : null;
    for (const b of this.token_refiner.refiner_blocks) x = b.forward(x, c, m);
    return x;
  }
}

export class PatchEmbed extends Module {
  proj: Linear;
  constructor(inDim: number, dim: number, generator?: Generator) {
    super();
    this.proj = new Linear(inDim, dim, { generator });
  }
}

export class AdaNormContinuous extends Module {
  linear: Linear;
  norm: LayerNorm;
  constructor(dim: number, eps: number, generator?: Generator) {
    super();
    this.linear = zeroLinear(new Linear(dim, 2 * dim, { generator }));
    this.norm = new LayerNorm(dim, eps, { affine: false });
  }
  forward(x: Tensor, temb: Tensor): Tensor {
    const [scale, shift] = this.linear.forward(temb.silu()).chunk(2, 1); // diffusers order: scale, shift
    return modulate(this.norm.forward(x), shift, scale);
  }
}

interface MmPassState {
  x: Tensor; // [B, N, D]
  ctx: Tensor; // [B, L, D] the text stream entering the next block to run
  temb: Tensor; // [B, D]
  rope: Rope;
  mask: Tensor | null; // [B, 1, 1, N + L]
  grid: PatchGrid;
}

export class MmDit extends Module implements StagedDit {
  readonly config: MmDitConfig;
  x_embedder: PatchEmbed;
  context_embedder: ContextEmbedder;
  time_text_embed: TimeTextEmbed;
  transformer_blocks: DualStreamBlock[];
  single_transformer_blocks: SingleStreamBlock[];
  norm_out: AdaNormContinuous;
  proj_out: Linear;

  /** Sliding-tile sparse attention for the video tokens of every joint attention (null = full attention). */
  attentionWindow: TileWindow | null;

  constructor(config: Partial<MmDitConfig> | string = {}, { generator, attention = null }: { generator?: Generator; attention?: TileWindow | null } = {}) {
    super();
    this.attentionWindow = attention;
    const c = (this.config = mmDitConfig(config));
    const D = c.num_attention_heads * c.attention_head_dim;
    const [pt, ph, pw] = c.patch_size;
    this.x_embedder = new PatchEmbed(c.in_channels * pt * ph * pw, D, generator);
    this.context_embedder = new ContextEmbedder(c.text_embed_dim, D, generator, { layers: c.num_refiner_layers, heads: c.num_attention_heads, freqDim: c.freq_dim });
    this.time_text_embed = new TimeTextEmbed(c, D, generator);
    this.transformer_blocks = Array.from({ length: c.num_layers }, () => new DualStreamBlock(c, generator));
    this.single_transformer_blocks = Array.from({ length: c.num_single_layers }, () => new SingleStreamBlock(c, generator));
    this.norm_out = new AdaNormContinuous(D, c.eps, generator);
    this.proj_out = zeroLinear(new Linear(D, c.out_channels * pt * ph * pw, { generator }));
  }

  forward(inputs: DitInputs): Tensor {
    const p = this.begin(inputs);
    return p.head(p.blocks(p.x, 0, p.numBlocks));
  }

  /** Runs the embeddings; returns the staged pass (see `DitPass`). */
  begin({ latents, timestep, text, textMask, pooled, guidance }: DitInputs): DitPass {
    const c = this.config;
    if (latents.shape[1] !== c.in_channels) throw new KilnError('E_SHAPE', `MmDit: latents [${latents.shape}] must have ${c.in_channels} channels`);
    if (!pooled) throw new KilnError('E_ARG', 'MmDit: the pooled text vector (inputs.pooled [B, Dp]) is required');
    const B = latents.shape[0];
    const { tokens, grid } = patchify(latents, c.patch_size);
    const x = this.x_embedder.proj.forward(tokens); // [B, N, D]
    const ctx = this.context_embedder.forward(text, timestep, textMask); // [B, L, D]
    const N = x.shape[1];
    const L = ctx.shape[1];
    const te = this.time_text_embed;
    let temb = te.timestep_embedder.forward(timestepEmbedding(timestep, c.freq_dim));
    if (te.guidance_embedder) {
      if (!guidance) throw new KilnError('E_ARG', 'MmDit: guidance_embeds is on, so inputs.guidance [B] is required');
      temb = temb.add(te.guidance_embedder.forward(timestepEmbedding(guidance.mul(1000), c.freq_dim)));
    }
    temb = temb.add(te.text_embedder.forward(pooled)); // [B, D]
    const rope = rope3d(grid, c.rope_axes_dim, c.rope_theta, L);
    const mask = textMask ? cat([ones([B, N]), textMask.to('f32')], 1).ne(0).to('bool').reshape([B, 1, 1, N + L]) : null;
    return this.pass({ x, ctx, temb, rope, mask, grid });
  }

  private pass(s: MmPassState): DitPass {
    const c = this.config;
    const nDual = this.transformer_blocks.length;
    const n = nDual + this.single_transformer_blocks.length;
    const sparse: Sparse = this.attentionWindow ? { grid: s.grid, window: this.attentionWindow } : null;
    return {
      x: s.x,
      batch: s.x.shape[0],
      numBlocks: n,
      modulatedInput: (x) => {
        if (nDual === 0) {
          const b = this.single_transformer_blocks[0];
          const [shift, scale] = b.norm.mods(s.temb);
          return modulate(b.norm.norm.forward(x), shift, scale);
        }
        const b = this.transformer_blocks[0];
        const [sx, scx] = b.norm1.mods(s.temb);
        return modulate(b.norm1.norm.forward(x), sx, scx);
      },
      blocks: (x, from, to) => {
        const N = x.shape[1];
        let ctx = s.ctx;
        let i = from;
        for (; i < Math.min(to, nDual); i++) [x, ctx] = this.transformer_blocks[i].forward(x, ctx, s.temb, s.rope, s.mask, sparse);
        if (i < to) {
          let st = cat([x, ctx], 1);
          for (; i < to; i++) st = this.single_transformer_blocks[i - nDual].forward(st, s.temb, s.rope, s.mask, sparse);
          x = st.slice(1, 0, N);
          ctx = st.slice(1, N);
        }
        s.ctx = ctx;
        return x;
      },
      head: (x) => unpatchify(this.proj_out.forward(this.norm_out.forward(x, s.temb)), s.grid, c.patch_size, c.out_channels),
      rows: (a, b) => this.pass({
        x: s.x.slice(0, a, b), ctx: s.ctx.slice(0, a, b), temb: s.temb.slice(0, a, b), rope: s.rope,
        mask: s.mask ? s.mask.slice(0, a, b) : null, grid: s.grid,
      }),
    };
  }
}
