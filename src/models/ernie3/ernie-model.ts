/**
 * ErnieModel: the BERT-style post-LN encoder of the released ERNIE 1.0/2.0/3.0 checkpoints (HF `model_type: ernie`),
 * named exactly like transformers' `ErnieModel` state dict, so loading a checkpoint is a key-for-key copy.
 *
 * Letters: B batch, T tokens, d hidden_size, H heads, Dh = d / H, F intermediate_size.
 *   e = LayerNorm(word[ids] + token_type[tt] + position[pos] (+ task_type[task] when use_task_id))      // [B, T, d]
 *   each layer:  a = attention.output.LayerNorm(x + dense(softmax(q·kᵀ/√Dh + mask)·v))             (post-LN)
 *                x = output.LayerNorm(a + output.dense(act(intermediate.dense(a))))
 *   last_hidden_state = x [B, T, d];  pooler_output = tanh(pooler.dense(x[:, 0])) [B, d]
 * The attention mask ([B, T], 1 = attend, 0 = padding) blocks keys only, as HF's bidirectional mask does; padded
 * query rows still get (unused) outputs. Dropout on the embedding and residual branches follows
 * `hidden_dropout_prob` in training mode. Attention-probability dropout (`attention_probs_dropout_prob`, training
 * mode only) needs the probabilities, so a training step with a rate > 0 composes softmax(q·kᵀ/√Dh + mask) from
 * ordinary ops and drops from it with the seeded mask of `seededDropout`; eval mode (and rate 0) runs the fused
 * memory-efficient attention op.
 */
import { KilnError } from '../../errors.js';
import { Dropout, Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module, parameter } from '../../nn/module.js';
import { arange, zeros, zerosLike } from '../../tensor/creation.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { where } from '../../tensor/ops/elementwise.js';
import { seededDropout } from '../../tensor/ops/rel-attention.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ernieConfig, type ErnieConfig } from './hf-config.js';

export interface ErnieInputs {
  /** Token ids [B, T] (i32). */
  inputIds: Tensor;
  /** Segment ids [B, T] (i32), default 0. */
  tokenTypeIds?: Tensor | null;
  /** Task ids [B, T] (i32), default 0; used only when the config has use_task_id. */
  taskTypeIds?: Tensor | null;
  /** 1 = attend, 0 = padding [B, T] (any integer or bool dtype), default all 1. */
  attentionMask?: Tensor | null;
  /** Positions [B, T] or [T] (i32), default 0 … T − 1. */
  positionIds?: Tensor | null;
}

export interface ErnieOutput {
  /** [B, T, d] */
  lastHiddenState: Tensor;
  /** [B, d], null when the model has no pooler. */
  poolerOutput: Tensor | null;
}

export class ErnieEmbeddings extends Module {
  word_embeddings: Embedding;
  position_embeddings: Embedding;
  token_type_embeddings: Embedding;
  task_type_embeddings: Embedding | null;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    const init = { std: c.initializer_range, generator };
    this.word_embeddings = new Embedding(c.vocab_size, c.hidden_size, init);
    this.position_embeddings = new Embedding(c.max_position_embeddings, c.hidden_size, init);
    this.token_type_embeddings = new Embedding(c.type_vocab_size, c.hidden_size, init);
    this.task_type_embeddings = c.use_task_id ? new Embedding(c.task_type_vocab_size, c.hidden_size, init) : null;
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
    this.dropout = new Dropout(c.hidden_dropout_prob, generator);
  }

  /** ids [B, T] → [B, T, d]. */
  forward(ids: Tensor, tokenTypes: Tensor, positions: Tensor, taskTypes: Tensor | null): Tensor {
    let e = this.word_embeddings.forward(ids).add(this.token_type_embeddings.forward(tokenTypes)).add(this.position_embeddings.forward(positions));
    if (this.task_type_embeddings) e = e.add(this.task_type_embeddings.forward(taskTypes ?? zerosLike(tokenTypes)));
    return this.dropout.forward(this.LayerNorm.forward(e));
  }
}

export class ErnieSelfAttention extends Module {
  query: Linear;
  key: Linear;
  value: Linear;
  /** Attention-probability dropout rate (training mode only). */
  readonly attnDropout: number;
  constructor(c: ErnieConfig, readonly heads: number, readonly generator?: Generator) {
    super();
    const init = { std: c.initializer_range, generator };
    this.query = new Linear(c.hidden_size, c.hidden_size, init);
    this.key = new Linear(c.hidden_size, c.hidden_size, init);
    this.value = new Linear(c.hidden_size, c.hidden_size, init);
    this.attnDropout = c.attention_probs_dropout_prob ?? 0;
  }
  /** x [B, T, d], keep mask [B, 1, 1, T] (bool) or null → context [B, T, d]. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T, d] = x.shape;
    const Dh = d / this.heads;
    const split = (t: Tensor) => t.reshape(B, T, this.heads, Dh).transpose(1, 2); // [B, H, T, Dh]
    const [q, k, v] = [this.query, this.key, this.value].map((l) => split(l.forward(x)));
    let o: Tensor;
    if (this.training && this.attnDropout > 0) {
      let s = q.matmul(k.mT).mul(1 / Math.sqrt(Dh)); // [B, H, T, T]
      if (mask) s = where(mask, s, -1e30); // finite: a row of padding only stays a (uniform) distribution, never NaN
      o = seededDropout(s.softmax(-1), this.attnDropout, true, this.generator).matmul(v);
    } else o = scaledDotProductAttention(q, k, v, { mask });
    return o.transpose(1, 2).reshape(B, T, d);
  }
}

/** dense → dropout → LayerNorm(· + residual): the post-LN output of both sub-layers. */
export class ErnieResidualOutput extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  dropout: Dropout;
  constructor(c: ErnieConfig, inFeatures: number, generator?: Generator) {
    super();
    this.dense = new Linear(inFeatures, c.hidden_size, { std: c.initializer_range, generator });
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
    this.dropout = new Dropout(c.hidden_dropout_prob, generator);
  }
  forward(h: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(this.dropout.forward(this.dense.forward(h)).add(residual));
  }
}

export class ErnieAttention extends Module {
  self: ErnieSelfAttention;
  output: ErnieResidualOutput;
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.self = new ErnieSelfAttention(c, c.num_attention_heads, generator);
    this.output = new ErnieResidualOutput(c, c.hidden_size, generator);
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(x, mask), x);
  }
}

export function activation(name: ErnieConfig['hidden_act'], x: Tensor): Tensor {
  switch (name) {
    case 'gelu':
      return x.gelu('none');
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return x.gelu('tanh');
    case 'relu':
      return x.relu();
  }
}

export class ErnieIntermediate extends Module {
  dense: Linear;
  constructor(c: ErnieConfig, readonly act: ErnieConfig['hidden_act'], generator?: Generator) {
    super();
    this.dense = new Linear(c.hidden_size, c.intermediate_size, { std: c.initializer_range, generator });
  }
  forward(x: Tensor): Tensor {
    return activation(this.act, this.dense.forward(x));
  }
}

export class ErnieLayer extends Module {
  attention: ErnieAttention;
  intermediate: ErnieIntermediate;
  output: ErnieResidualOutput;
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.attention = new ErnieAttention(c, generator);
    this.intermediate = new ErnieIntermediate(c, c.hidden_act, generator);
    this.output = new ErnieResidualOutput(c, c.intermediate_size, generator);
  }
  /** x [B, T, d] → [B, T, d]. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const a = this.attention.forward(x, mask);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

export class ErnieEncoder extends Module {
  layer: ErnieLayer[];
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.layer = Array.from({ length: c.num_hidden_layers }, () => new ErnieLayer(c, generator));
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    for (const l of this.layer) x = l.forward(x, mask);
    return x;
  }
}

export class ErniePooler extends Module {
  dense: Linear;
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.dense = new Linear(c.hidden_size, c.hidden_size, { std: c.initializer_range, generator });
  }
  /** x [B, T, d] → tanh(dense(x[:, 0])) [B, d]. */
  forward(x: Tensor): Tensor {
    return this.dense.forward(x.select(1, 0)).tanh();
  }
}

export class ErnieModel extends Module {
  readonly config: ErnieConfig;
  embeddings: ErnieEmbeddings;
  encoder: ErnieEncoder;
  pooler: ErniePooler | null;

  constructor(config: string | Partial<ErnieConfig> | Record<string, unknown> = 'ernie-tiny', { generator, pooler = true }: { generator?: Generator; pooler?: boolean } = {}) {
    super();
    this.config = ernieConfig(config);
    this.embeddings = new ErnieEmbeddings(this.config, generator);
    this.encoder = new ErnieEncoder(this.config, generator);
    this.pooler = pooler ? new ErniePooler(this.config, generator) : null;
  }

  forward(inp: ErnieInputs): ErnieOutput {
    const c = this.config;
    const ids = inp.inputIds;
    if (ids.ndim !== 2) throw new KilnError('E_SHAPE', `ErnieModel: input ids must be [B, T], got [${ids.shape}]`);
    const [B, T] = ids.shape;
    if (T > c.max_position_embeddings && !inp.positionIds)
      throw new KilnError('E_SHAPE', `ErnieModel: ${T} tokens exceed max_position_embeddings ${c.max_position_embeddings}; split the input`);
    const check = (t: Tensor | null | undefined, what: string) => {
      if (t && (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T))
        throw new KilnError('E_SHAPE', `ErnieModel: ${what} must have the shape of the input ids [${B}, ${T}], got [${t.shape}]`);
    };
    check(inp.tokenTypeIds, 'token type ids');
    check(inp.taskTypeIds, 'task type ids');
    check(inp.attentionMask, 'attention mask');
    const tokenTypes = inp.tokenTypeIds ?? zeros([B, T], { dtype: 'i32' });
    const positions = inp.positionIds ?? arange(0, T, 1, { dtype: 'i32' });
    const x = this.embeddings.forward(ids, tokenTypes, positions, c.use_task_id ? inp.taskTypeIds ?? zeros([B, T], { dtype: 'i32' }) : null);
    const mask = inp.attentionMask ? inp.attentionMask.to('bool').reshape(B, 1, 1, T) : null; // keep mask over keys
    const h = this.encoder.forward(x, mask);
    return { lastHiddenState: h, poolerOutput: this.pooler ? this.pooler.forward(h) : null };
  }
}

/** transform: dense → act → LayerNorm (HF `ErniePredictionHeadTransform`). */
export class ErniePredictionHeadTransform extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  constructor(readonly c: ErnieConfig, generator?: Generator) {
    super();
    this.dense = new Linear(c.hidden_size, c.hidden_size, { std: c.initializer_range, generator });
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps);
  }
  forward(x: Tensor): Tensor {
    return this.LayerNorm.forward(activation(this.c.hidden_act, this.dense.forward(x)));
  }
}

/** The MLM head: transform, then the decoder tied to the word embeddings, plus `bias` [V]. */
export class ErnieLMPredictionHead extends Module {
  transform: ErniePredictionHeadTransform;
  bias: Tensor;
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.transform = new ErniePredictionHeadTransform(c, generator);
    this.bias = parameter(zeros([c.vocab_size]));
  }
  /** h [B, T, d], word embeddings [V, d] → logits [B, T, V]. */
  forward(h: Tensor, wordEmbeddings: Tensor): Tensor {
    return this.transform.forward(h).matmul(wordEmbeddings.mT).add(this.bias);
  }
}

export class ErnieOnlyMLMHead extends Module {
  predictions: ErnieLMPredictionHead;
  constructor(c: ErnieConfig, generator?: Generator) {
    super();
    this.predictions = new ErnieLMPredictionHead(c, generator);
  }
}

/**
 * ErnieForMaskedLM (HF layout: `ernie.*` + `cls.predictions.*`, no pooler, decoder weight tied to
 * ernie.embeddings.word_embeddings.weight and decoder bias to cls.predictions.bias): masked-token logits, e.g. for
 * fill-in-the-blank use of the released checkpoints.
 */
export class ErnieForMaskedLM extends Module {
  ernie: ErnieModel;
  cls: ErnieOnlyMLMHead;
  constructor(config: string | Partial<ErnieConfig> | Record<string, unknown> = 'ernie-tiny', { generator }: { generator?: Generator } = {}) {
    super();
    this.ernie = new ErnieModel(config, { generator, pooler: false });
    this.cls = new ErnieOnlyMLMHead(this.ernie.config, generator);
  }
  get config(): ErnieConfig {
    return this.ernie.config;
  }
  /** Logits [B, T, V]. */
  forward(inp: ErnieInputs): Tensor {
    return this.cls.predictions.forward(this.ernie.forward(inp).lastHiddenState, this.ernie.embeddings.word_embeddings.weight);
  }
}
