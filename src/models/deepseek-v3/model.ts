/**
 * DeepSeek-V3 (arXiv 2412.19437), top-down. Parameter names are the HF checkpoint keys.
 *   x = model.embed_tokens(ids)                                          // [B, T, d]
 *   layer ℓ < first_k_dense_replace:  x += self_attn(input_layernorm(x)); x += mlp(post_attention_layernorm(x))  (SwiGLU)
 *   layer ℓ ≥ first_k_dense_replace:  the same with mlp = DeepSeekMoE
 *   h⁰ = model.norm(x);  logits = lm_head(h⁰)                            // [B, T, V]
 *   MTP module k = 1 … D (stored as model.layers.{L + k − 1}, sharing the embedding and head):
 *     hᵏ = shared_head.norm(block(eh_proj([enorm(emb(t_{i+k})); hnorm(hᵏ⁻¹_i)])))  over i < T − k
 *     mtpLogits[k − 1] = lm_head(hᵏ)                                    // [B, T − k, V], predicting t_{i+k+1}
 *   (HF transformers' MtpLayer convention: embedding first in the concat, h⁰ after the final norm, each module's
 *   output after its shared_head.norm; RoPE positions 0 … T − k − 1 — only relative positions matter.)
 * `loss` = CE(main) + λ/D·Σ_k CE(MTP k) + α·Σ_layers balance term. `forwardCached` runs the absorbed MLA path over a
 * latent cache (prefill and decode; one sequence with at most 16 new tokens runs the fused decode kernels of
 * decode.ts, `decodeRows` / `decodeRowsArgmax` on raw arrays).
 */
import { Embedding, Linear, RMSNorm, SwiGLU } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { noGrad } from '../../tensor/autograd.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { KilnError } from '../../errors.js';
import { deepseekV3Config, type DeepseekV3Config } from './config.js';
import { LatentCache, type LatentCacheLayer } from './cache.js';
import { MultiHeadLatentAttention } from './mla.js';
import { DeepseekMoE, swigluForward } from './moe.js';
import { RopeCache } from './rope.js';
import { canDecodeFused, decodeLayerFused, FUSED_MAX_ROWS, greedyHead, type GreedyHead } from './decode.js';
import { backend } from '../../backend/index.js';
import { fromArray } from '../../tensor/creation.js';
import { dataOf } from '../../tensor/ops/util.js';
import { headCrossEntropy } from './train-ops.js';

interface LayerAux {
  balance: Tensor | null;
  load: Int32Array | null;
}

export class DecoderLayer extends Module {
  input_layernorm: RMSNorm;
  self_attn: MultiHeadLatentAttention;
  post_attention_layernorm: RMSNorm;
  mlp: SwiGLU | DeepseekMoE;

  constructor(c: DeepseekV3Config, moe: boolean, generator?: Generator) {
    super();
    this.input_layernorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.self_attn = new MultiHeadLatentAttention(c, generator);
    this.post_attention_layernorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.mlp = moe ? new DeepseekMoE(c, generator) : new SwiGLU(c.hidden_size, c.intermediate_size, { std: c.initializer_range, generator });
  }

  /** x [B, T, d] at the positions of cos/sin → [B, T, d]; with `cache` the absorbed attention path is used. */
  forward(x: Tensor, cos: Tensor, sin: Tensor, opts: { cache?: LatentCacheLayer; balance?: boolean } = {}): { h: Tensor } & LayerAux {
    const a = this.input_layernorm.forward(x);
    const att = opts.cache ? this.self_attn.forwardAbsorbed(a, cos, sin, opts.cache) : this.self_attn.forward(a, cos, sin);
    const h = x.add(att);
    const m = this.post_attention_layernorm.forward(h);
    if (this.mlp instanceof DeepseekMoE) {
      const r = this.mlp.forward(m, { balance: opts.balance });
      return { h: h.add(r.y), balance: r.balance, load: r.load };
    }
    return { h: h.add(swigluForward(this.mlp, m)), balance: null, load: null };
  }
}

export class SharedHead extends Module {
  norm: RMSNorm;
  constructor(c: DeepseekV3Config) {
    super();
    this.norm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
  }
}

/** One multi-token-prediction module: a MoE decoder layer plus enorm, hnorm, eh_proj and shared_head.norm. */
export class MtpLayer extends DecoderLayer {
  enorm: RMSNorm;
  hnorm: RMSNorm;
  eh_proj: Linear;
  shared_head: SharedHead;
  constructor(c: DeepseekV3Config, generator?: Generator) {
    super(c, true, generator);
    this.enorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.hnorm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
    this.eh_proj = new Linear(2 * c.hidden_size, c.hidden_size, { bias: false, std: c.initializer_range, generator });
    this.shared_head = new SharedHead(c);
  }

  /** emb [B, T', d] of the next tokens and the previous depth's hidden [B, T', d] → this depth's normed hidden. */
  predict(emb: Tensor, prev: Tensor, cos: Tensor, sin: Tensor, balance: boolean): { h: Tensor } & LayerAux {
    const x = this.eh_proj.forward(cat([this.enorm.forward(emb), this.hnorm.forward(prev)], -1)); // [B, T', d]
    const r = this.forward(x, cos, sin, { balance });
    return { ...r, h: this.shared_head.norm.forward(r.h) };
  }
}

export class DeepseekV3Body extends Module {
  embed_tokens: Embedding;
  /** Main layers 0 … L − 1, then the D MTP modules (as in the released checkpoint). */
  layers: DecoderLayer[];
  norm: RMSNorm;

  constructor(c: DeepseekV3Config, generator?: Generator) {
    super();
    this.embed_tokens = new Embedding(c.vocab_size, c.hidden_size, { std: c.initializer_range, generator });
    this.layers = [];
    for (let i = 0; i < c.num_hidden_layers; i++) this.layers.push(new DecoderLayer(c, i >= c.first_k_dense_replace, generator));
    for (let k = 0; k < c.num_nextn_predict_layers; k++) this.layers.push(new MtpLayer(c, generator));
    this.norm = new RMSNorm(c.hidden_size, c.rms_norm_eps);
  }
}

export interface DeepseekV3Output {
  /** [B, T, V] */
  logits: Tensor;
  /** MTP depth k = 1 … D: [B, T − k, V], predicting the token k + 1 places ahead. */
  mtpLogits: Tensor[];
  /** Σ over MoE layers of the sequence-wise balance term (scalar, without α); null when not computed. */
  balanceLoss: Tensor | null;
  /** Tokens per expert in this forward, one array per MoE layer (main layers, then MTP). */
  load: Int32Array[];
}

export interface LossOptions {
  /** λ, the MTP loss weight (report: 0.3, later 0.1). Default 0.3. */
  mtpWeight?: number;
  /** α of the sequence-wise balance loss. Default 1e-4. */
  balanceAlpha?: number;
}

export interface LossParts {
  loss: Tensor;
  main: Tensor;
  mtp: Tensor | null;
  balance: Tensor | null;
  load: Int32Array[];
}

export class DeepseekV3ForCausalLM extends Module {
  readonly config: DeepseekV3Config;
  model: DeepseekV3Body;
  lm_head: Linear | null;
  private readonly rope: RopeCache;

  constructor(config: string | Partial<DeepseekV3Config> | Record<string, unknown> = 'deepseek-v3-tiny', { generator }: { generator?: Generator } = {}) {
    super();
    this.config = deepseekV3Config(config);
    const c = this.config;
    this.model = new DeepseekV3Body(c, generator);
    this.lm_head = c.tie_word_embeddings ? null : new Linear(c.hidden_size, c.vocab_size, { bias: false, std: c.initializer_range, generator });
    this.rope = new RopeCache(c);
  }

  get mainLayers(): DecoderLayer[] {
    return this.model.layers.slice(0, this.config.num_hidden_layers);
  }

  get mtpLayers(): MtpLayer[] {
    return this.model.layers.slice(this.config.num_hidden_layers) as MtpLayer[];
  }

  /** Every MoE block (main layers, then MTP). */
  get moeBlocks(): DeepseekMoE[] {
    return this.model.layers.map((l) => l.mlp).filter((m): m is DeepseekMoE => m instanceof DeepseekMoE);
  }

  /** The output head: hidden [.., d] → logits [.., V]. */
  head(h: Tensor): Tensor {
    return this.lm_head ? this.lm_head.forward(h) : h.matmul(this.model.embed_tokens.weight.mT);
  }

  private checkIds(ids: Tensor): void {
    if (ids.ndim !== 2) throw new KilnError('E_SHAPE', `DeepSeek-V3: ids must be [B, T], got [${ids.shape}]`);
  }

  /**
   * Full forward over ids [B, T] (expanded MLA). `balance` (default: while training) computes the balance term;
   * `mtp` (default true) runs the MTP modules.
   */
  forward(ids: Tensor, { balance = this.training, mtp = true }: { balance?: boolean; mtp?: boolean } = {}): DeepseekV3Output {
    const r = this.hiddenStates(ids, { balance, mtp });
    return { logits: this.head(r.hidden), mtpLogits: r.mtpHidden.map((h) => this.head(h)), balanceLoss: r.balanceLoss, load: r.load };
  }

  /**
   * The forward up to the head: the final hidden states h⁰ [B, T, d] (after the final norm) and each MTP depth's
   * [B, T − k, d] (after its shared_head.norm), with the balance term and loads. `forward` applies the head to them;
   * `loss` fuses the head with the cross-entropy.
   */
  hiddenStates(ids: Tensor, { balance = this.training, mtp = true }: { balance?: boolean; mtp?: boolean } = {}): {
    hidden: Tensor; mtpHidden: Tensor[]; balanceLoss: Tensor | null; load: Int32Array[];
  } {
    this.checkIds(ids);
    const T = ids.shape[1];
    const { cos, sin } = this.rope.tables(0, T);
    let x = this.model.embed_tokens.forward(ids); // [B, T, d]
    const loads: Int32Array[] = [];
    const balances: Tensor[] = [];
    const collect = (r: LayerAux) => {
      if (r.load) loads.push(r.load);
      if (r.balance) balances.push(r.balance);
    };
    for (const layer of this.mainLayers) {
      const r = layer.forward(x, cos, sin, { balance });
      collect(r);
      x = r.h;
    }
    const hidden = this.model.norm.forward(x); // h⁰ [B, T, d]
    let prev = hidden;
    const mtpHidden: Tensor[] = [];
    if (mtp) {
      this.mtpLayers.forEach((layer, i) => {
        const k = i + 1;
        const Tk = T - k;
        if (Tk <= 0) return;
        const emb = this.model.embed_tokens.forward(ids.slice(1, k, T).contiguous()); // [B, T − k, d]
        const t = this.rope.tables(0, Tk);
        const r = layer.predict(emb, prev.slice(1, 0, Tk), t.cos, t.sin, balance);
        collect(r);
        prev = r.h;
        mtpHidden.push(prev);
      });
    }
    const balanceLoss = balances.length ? balances.reduce((a, b) => a.add(b)) : null;
    return { hidden, mtpHidden, balanceLoss, load: loads };
  }

  /** The head's weight when the head is a plain f32 matrix product (no bias, no simulated precision), else null. */
  private plainHeadWeight(): Tensor | null {
    const lin = this.lm_head;
    if (lin && (lin.bias !== null || Object.prototype.hasOwnProperty.call(lin, 'forward'))) return null;
    const w = (lin ?? this.model.embed_tokens).weight;
    return w.dtype === 'f32' ? w : null;
  }

  /** Mean CE of head(h) [.., V] against targets [..] — the fused `headCrossEntropy` when the head is plain. */
  private headLoss(h: Tensor, targets: Tensor): Tensor {
    const V = this.config.vocab_size;
    const w = this.plainHeadWeight();
    if (!w) return crossEntropy(this.head(h).reshape(-1, V), targets.reshape(-1));
    const d = this.config.hidden_size;
    const t = targets.contiguous();
    const raw = t.data();
    const ids = raw instanceof Int32Array ? raw : Int32Array.from(raw as ArrayLike<number>);
    return headCrossEntropy(h.reshape(-1, d), w, ids);
  }

  /**
   * Training loss for ids [B, T] and next-token targets [B, T] (targets[:, i] = ids[:, i + 1] in a language model):
   * CE(main) + λ/D·Σ_k CE(mtpLogits[k − 1], targets[:, k:]) + α·balance. The head and each CE run as one fused op
   * (`headCrossEntropy`: the [N, V] logits are never a tensor of the graph).
   */
  loss(ids: Tensor, targets: Tensor, { mtpWeight = 0.3, balanceAlpha = 1e-4 }: LossOptions = {}): LossParts {
    const out = this.hiddenStates(ids, { balance: balanceAlpha > 0 });
    const main = this.headLoss(out.hidden, targets);
    let loss = main;
    let mtp: Tensor | null = null;
    if (out.mtpHidden.length > 0) {
      const T = ids.shape[1];
      const parts = out.mtpHidden.map((h, i) => this.headLoss(h, targets.slice(1, i + 1, T)));
      mtp = parts.reduce((a, b) => a.add(b)).div(parts.length);
      if (mtpWeight !== 0) loss = loss.add(mtp.mul(mtpWeight));
    }
    const balance = out.balanceLoss ? out.balanceLoss.mul(balanceAlpha) : null;
    if (balance) loss = loss.add(balance);
    return { loss, main, mtp, balance, load: out.load };
  }

  /** Aux-loss-free balancing step for every MoE block: b_i += γ·sign(mean load − load_i). */
  updateRoutingBiases(gamma = 0.001): void {
    for (const m of this.moeBlocks) m.updateBias(gamma);
  }

  /** An empty latent cache for `batch` sequences (main layers only). */
  newCache(batch: number): LatentCache {
    const c = this.config;
    return new LatentCache(c.num_hidden_layers, batch, c.kv_lora_rank + c.qk_rope_head_dim);
  }

  /**
   * Logits [B, T, V] of ids [B, T] that follow the cache's tokens, through the absorbed MLA path; appends the new
   * tokens' latents to the cache. Prefill (long T) and decode (T = 1) alike. Inference only. One sequence with at
   * most `FUSED_MAX_ROWS` new tokens runs the fused decode kernels (`decodeRows`).
   */
  forwardCached(ids: Tensor, cache: LatentCache): { logits: Tensor; hidden: Tensor } {
    this.checkIds(ids);
    const [B, T] = ids.shape;
    if (B === 1 && T <= FUSED_MAX_ROWS && this.canDecodeFused()) {
      const raw = ids.data();
      const r = this.decodeRows(raw instanceof Int32Array ? raw : Int32Array.from(raw as ArrayLike<number>), cache);
      return { logits: fromArray(r.logits, [1, T, this.config.vocab_size]), hidden: fromArray(r.hidden, [1, T, this.config.hidden_size]) };
    }
    return noGrad(() => {
      const { cos, sin } = this.rope.tables(cache.length, T);
      let x = this.model.embed_tokens.forward(ids);
      this.mainLayers.forEach((layer, i) => {
        x = layer.forward(x, cos, sin, { cache: cache.layers[i] }).h;
      });
      const hidden = this.model.norm.forward(x);
      return { logits: this.head(hidden), hidden };
    });
  }

  /** Whether `decodeRows` can run (every main layer's weights fit the fused kernels; see decode.ts). */
  canDecodeFused(): boolean {
    return canDecodeFused(this.mainLayers);
  }

  /** RoPE rows cos/sin [T, p/2] of positions start … start + T − 1 as raw arrays (views of the kept tables). */
  ropeRows(start: number, T: number): { cos: Float32Array; sin: Float32Array } {
    const { cos, sin } = this.rope.tables(start, T);
    return { cos: dataOf(cos), sin: dataOf(sin) };
  }

  /** Embedding rows of ids into x [T, d]. */
  embedRows(ids: Int32Array, x: Float32Array): void {
    const d = this.config.hidden_size;
    const V = this.config.vocab_size;
    const w = dataOf(this.model.embed_tokens.weight);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < V)) throw new KilnError('E_ARG', `DeepSeek-V3: token id ${id} is outside the vocabulary [0, ${V})`);
      x.set(w.subarray(id * d, (id + 1) * d), t * d);
    }
  }

  /** logits [T, V] = head(h [T, d]) on raw arrays. */
  headRows(h: Float32Array, T: number, logits: Float32Array): void {
    const d = this.config.hidden_size;
    const V = this.config.vocab_size;
    const w = dataOf((this.lm_head ?? this.model.embed_tokens).weight);
    if (T <= FUSED_MAX_ROWS) backend().linearRows(h, T, d, w, V, logits);
    else backend().gemm(1, false, true, T, V, d, 1, h, 0, d, 0, w, 0, d, 0, 0, logits, 0, V, 0);
  }

  /** y [T, d] = norm(x) with an RMSNorm module's weight, on raw arrays. */
  normRows(norm: RMSNorm, x: Float32Array, T: number, y: Float32Array): void {
    backend().rmsNorm(x, dataOf(norm.weight), T, norm.dim, norm.eps, y, new Float32Array(T));
  }

  /**
   * The fused decode step on raw arrays (batch 1, T = ids.length ≤ FUSED_MAX_ROWS new tokens; requires
   * `canDecodeFused()`): appends the tokens' latents to the cache and returns fresh logits [T·V] and final hidden
   * rows [T·d] (after the final norm).
   */
  decodeRows(ids: Int32Array, cache: LatentCache): { logits: Float32Array; hidden: Float32Array } {
    const T = ids.length;
    const hidden = this.decodeHidden(ids, cache);
    const logits = new Float32Array(T * this.config.vocab_size);
    this.headRows(hidden, T, logits);
    return { logits, hidden };
  }

  /**
   * `decodeRows` for greedy decoding: the argmax token of each row [T] instead of the logits (the same tokens: an
   * exact argmax of the head's logits, `headArgmax`, streaming the bf16 copy prepared by `greedyHead()`), and the
   * final hidden rows [T·d].
   */
  decodeRowsArgmax(ids: Int32Array, cache: LatentCache, head: GreedyHead): { ids: Int32Array; hidden: Float32Array } {
    const T = ids.length;
    const hidden = this.decodeHidden(ids, cache);
    const out = new Int32Array(T);
    backend().headArgmax(hidden, T, head.K, head.w, head.wb, head.norms, head.N, out);
    return { ids: out, hidden };
  }

  /** `headArgmax`'s inputs for this model's head (once per generation; null when a head weight is not finite). */
  greedyHead(): GreedyHead | null {
    return greedyHead((this.lm_head ?? this.model.embed_tokens).weight);
  }

  /** The fused layers over new tokens: appends their latents, returns the final hidden rows [T·d] (after the norm). */
  private decodeHidden(ids: Int32Array, cache: LatentCache): Float32Array {
    const T = ids.length;
    const d = this.config.hidden_size;
    if (T < 1 || T > FUSED_MAX_ROWS) throw new KilnError('E_ARG', `decodeRows: ${T} tokens; give 1 … ${FUSED_MAX_ROWS} (longer inputs go through forwardCached)`);
    if (cache.layers.length !== this.config.num_hidden_layers || cache.layers[0].batch !== 1)
      throw new KilnError('E_ARG', `decodeRows: the cache must be model.newCache(1) (${this.config.num_hidden_layers} layers, batch 1)`);
    const x = new Float32Array(T * d);
    this.embedRows(ids, x);
    const { cos, sin } = this.ropeRows(cache.length, T);
    const layers = this.mainLayers;
    for (let i = 0; i < layers.length; i++) decodeLayerFused(layers[i], x, T, cache.layers[i], cos, sin);
    const hidden = new Float32Array(T * d);
    this.normRows(this.model.norm, x, T, hidden);
    return hidden;
  }

  override dispose(): void {
    super.dispose();
    this.rope.dispose();
  }
}
