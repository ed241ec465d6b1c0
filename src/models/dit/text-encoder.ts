/**
 * The text-encoder interface of the Aquarius DiTs and a small trainable encoder behind it.
 *
 * Any encoder that maps token ids [B, L] (+ keep mask) to per-token states [B, L, Dt] and a pooled vector [B, Dp]
 * plugs in (a large pretrained one later: its states feed cross-attention / the MM-DiT text stream, its pooled vector
 * the adaLN timestep embedding). `SmallTextEncoder` is a bidirectional pre-LN transformer (LayerNorm, multi-head
 * attention with key-padding mask, GELU MLP) over token ids (UTF-8 bytes, or a word-level vocabulary —
 * tokenizers/word-level.ts; the caller tokenizes) with learned positions; pooled = the masked mean of the final
 * states. The demo models keep it frozen at its seeded init (trained jointly with a tiny denoiser its states
 * collapsed to one another; docs/aquarius.md).
 */
import { KilnError } from '../../errors.js';
import { Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { arange } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { fromHeads, keyMask, toHeads } from './attention.js';

export interface TextEncoding {
  /** [B, L, Dt] */
  states: Tensor;
  /** [B, Dp] */
  pooled: Tensor;
}

export interface TextEncoder {
  readonly stateDim: number;
  readonly pooledDim: number;
  encode(ids: Tensor, mask?: Tensor | null): TextEncoding;
}

export interface SmallTextEncoderConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
}

export class TextEncoderLayer extends Module {
  layer_norm1: LayerNorm;
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  out_proj: Linear;
  layer_norm2: LayerNorm;
  fc1: Linear;
  fc2: Linear;
  constructor(readonly c: SmallTextEncoderConfig, generator?: Generator) {
    super();
    const d = c.hidden_size;
    const init = { std: 0.02, generator };
    this.layer_norm1 = new LayerNorm(d);
    this.q_proj = new Linear(d, d, init);
    this.k_proj = new Linear(d, d, init);
    this.v_proj = new Linear(d, d, init);
    this.out_proj = new Linear(d, d, init);
    this.layer_norm2 = new LayerNorm(d);
    this.fc1 = new Linear(d, c.intermediate_size, init);
    this.fc2 = new Linear(c.intermediate_size, d, init);
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const H = this.c.num_attention_heads;
    const h = this.layer_norm1.forward(x);
    const a = scaledDotProductAttention(toHeads(this.q_proj.forward(h), H), toHeads(this.k_proj.forward(h), H), toHeads(this.v_proj.forward(h), H), { mask });
    const y = x.add(this.out_proj.forward(fromHeads(a)));
    return y.add(this.fc2.forward(this.fc1.forward(this.layer_norm2.forward(y)).gelu()));
  }
}

export class SmallTextEncoder extends Module implements TextEncoder {
  token_embedding: Embedding;
  position_embedding: Embedding;
  layers: TextEncoderLayer[];
  final_layer_norm: LayerNorm;
  readonly stateDim: number;
  readonly pooledDim: number;

  constructor(readonly config: SmallTextEncoderConfig, { generator }: { generator?: Generator } = {}) {
    super();
    const c = config;
    if (c.hidden_size % c.num_attention_heads !== 0)
      throw new KilnError('E_CONFIG', `SmallTextEncoder: hidden_size ${c.hidden_size} must divide into ${c.num_attention_heads} heads`);
    this.token_embedding = new Embedding(c.vocab_size, c.hidden_size, { std: 0.02, generator });
    this.position_embedding = new Embedding(c.max_position_embeddings, c.hidden_size, { std: 0.01, generator });
    this.layers = Array.from({ length: c.num_hidden_layers }, () => new TextEncoderLayer(c, generator));
    this.final_layer_norm = new LayerNorm(c.hidden_size);
    this.stateDim = this.pooledDim = c.hidden_size;
  }

  /** ids [B, L] i32; mask [B, L] (1 = token, 0 = padding). */
  encode(ids: Tensor, mask?: Tensor | null): TextEncoding {
    const [B, L] = ids.shape;
    if (L > this.config.max_position_embeddings)
      throw new KilnError('E_SHAPE', `SmallTextEncoder: ${L} tokens exceed max_position_embeddings ${this.config.max_position_embeddings}`);
    let x = this.token_embedding.forward(ids).add(this.position_embedding.forward(arange(0, L, 1, { dtype: 'i32' })));
    const km = keyMask(mask);
    for (const l of this.layers) x = l.forward(x, km);
    const states = this.final_layer_norm.forward(x); // [B, L, d]
    const w = mask ? mask.to('f32').reshape([B, L, 1]) : null;
    const pooled = w ? states.mul(w).sum(1).div(w.sum(1).maximum(1)) : states.mean(1);
    return { states, pooled };
  }
}
