/**
 * GPT: a Llama-style decoder-only transformer, written top-down like the paper it follows.
 *   x = embed_tokens(ids)                                  // [B, T, d]
 *   for each layer: x += self_attn(input_layernorm(x))     // causal, rotary
 *                   x += mlp(post_attention_layernorm(x))  // SwiGLU
 *   logits = lm_head(norm(x))                              // [B, T, V]
 * Parameter names follow Hugging Face's Llama layout (model.layers.0.self_attn.q_proj.weight, ...).
 */
import { Module } from '../../nn/module.js';
import { Embedding, Linear, RMSNorm, SwiGLU } from '../../nn/layers.js';
import { CausalSelfAttention } from '../../nn/attention.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { gptConfig, type GptConfig } from './config.js';

export class GptBlock extends Module {
  input_layernorm: RMSNorm;
  self_attn: CausalSelfAttention;
  post_attention_layernorm: RMSNorm;
  mlp: SwiGLU;

  constructor(c: GptConfig, generator?: Generator) {
    super();
    const std = c.initializer_range;
    const outStd = std / Math.sqrt(2 * c.num_hidden_layers);
    this.input_layernorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.self_attn = new CausalSelfAttention({
      hidden: c.hidden_size, heads: c.num_attention_heads, ropeTheta: c.rope_theta, maxPositions: c.max_position_embeddings,
      std, outStd, generator,
    });
    this.post_attention_layernorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.mlp = new SwiGLU(c.hidden_size, c.intermediate_size, { std, outStd, generator });
  }

  forward(x: Tensor): Tensor {
    const h = x.add(this.self_attn.forward(this.input_layernorm.forward(x))); // [B, T, d]
    return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

export class GptModelBody extends Module {
  embed_tokens: Embedding;
  layers: GptBlock[];
  norm: RMSNorm;

  constructor(c: GptConfig, generator?: Generator) {
    super();
    this.embed_tokens = new Embedding(c.vocab_size, c.hidden_size, { std: c.initializer_range, generator });
    this.layers = Array.from({ length: c.num_hidden_layers }, () => new GptBlock(c, generator));
    this.norm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
  }

  forward(ids: Tensor): Tensor {
    let x = this.embed_tokens.forward(ids); // [B, T, d]
    for (const layer of this.layers) x = layer.forward(x);
    return this.norm.forward(x);
  }
}

export class Gpt extends Module {
  readonly config: GptConfig;
  model: GptModelBody;
  lm_head: Linear;

  constructor(config: Partial<GptConfig> | string = {}, { generator }: { generator?: Generator } = {}) {
    super();
    this.config = gptConfig(config);
    const c = this.config;
    this.model = new GptModelBody(c, generator);
    this.lm_head = new Linear(c.hidden_size, c.vocab_size, { bias: false, std: c.initializer_range, generator });
  }

  /** Logits [B, T, V] for token ids [B, T]. */
  forward(ids: Tensor): Tensor {
    return this.lm_head.forward(this.model.forward(ids));
  }

  /** Mean next-token cross-entropy of ids [B, T] against targets [B, T]. */
  loss(ids: Tensor, targets: Tensor): Tensor {
    const logits = this.forward(ids);
    return crossEntropy(logits.reshape([-1, this.config.vocab_size]), targets.reshape([-1]));
  }
}
