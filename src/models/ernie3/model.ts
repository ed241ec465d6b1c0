/**
 * ERNIE 3.0 (arXiv 2107.02137 §3.1), top-down. Letters: B batch, T segment tokens, M memory tokens, du / dt the
 * universal / task-module widths.
 *   e = LayerNorm(word[ids] + token_type[tt])                                   // [B, T, du]; no absolute positions
 *   universal module: Transformer-XL layers (rel-attention.ts), post-LN:
 *     a = LN(x + attn(x, mem_l));  x = LN(a + fc2(gelu(fc1(a))))
 *     memory (Transformer-XL): layer l attends over mem_l = SG(the previous segment's INPUT of layer l)
 *   NLU module: x = in_proj(universal(e, bidirectional, no memory)) → task layers, bidirectional, no memory  // [B, T, dt]
 *   NLG module: x = in_proj(universal(e, causal, Transformer-XL memory)) → task layers, causal, with ERNIE-Doc's
 *     enhanced recurrence (Ding et al. 2021, eq. 5): layer l attends over mem_l = SG(the previous segment's OUTPUT of
 *     the same layer l) — a higher layer's state recurs, so the effective context grows with depth × segments.
 *   SG = stop-gradient: memories are detached copies, so no gradient crosses a segment boundary, while the forward
 *   of segment τ + 1 depends on segment τ.
 * Memory length: the last `mem_len` positions of [old memory; new states] are kept.
 */
import { Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { noGrad } from '../../tensor/autograd.js';
import { ones, zeros } from '../../tensor/creation.js';
import { keep } from '../../tensor/scope.js';
import { cat } from '../../tensor/ops/shape.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { KilnError } from '../../errors.js';
import { ernie3Config, type Ernie3Config, type Ernie3ModuleDims } from './config.js';
import { RelativeMultiHeadAttention } from './rel-attention.js';
import { ScheduledDropout } from './dropout.js';

/** One post-LN Transformer-XL layer. */
export class Ernie3Layer extends Module {
  self_attn: RelativeMultiHeadAttention;
  self_attn_layer_norm: LayerNorm;
  fc1: Linear;
  fc2: Linear;
  final_layer_norm: LayerNorm;
  dropout: ScheduledDropout;

  constructor(m: Ernie3ModuleDims, c: Ernie3Config, generator?: Generator) {
    super();
    const init = { std: c.initializer_range, generator };
    this.self_attn = new RelativeMultiHeadAttention(m.hidden_size, m.num_heads, { ...init, attnDropout: c.attention_probs_dropout_prob });
    this.self_attn_layer_norm = new LayerNorm(m.hidden_size, c.layer_norm_eps);
    this.fc1 = new Linear(m.hidden_size, m.intermediate_size, init);
    this.fc2 = new Linear(m.intermediate_size, m.hidden_size, init);
    this.final_layer_norm = new LayerNorm(m.hidden_size, c.layer_norm_eps);
    this.dropout = new ScheduledDropout(c.hidden_dropout_prob, generator);
  }

  /** x [B, T, d], memory [B, M, d] | null → [B, T, d]. */
  forward(x: Tensor, memory: Tensor | null, causal: boolean, keyMask: Tensor | null = null): Tensor {
    const a = this.self_attn_layer_norm.forward(x.add(this.dropout.forward(this.self_attn.forward(x, { memory, causal, keyMask }))));
    return this.final_layer_norm.forward(a.add(this.dropout.forward(this.fc2.forward(this.fc1.forward(a).gelu('none')))));
  }
}

/**
 * The new memory: the last `len` positions of [old; states], detached (stop-gradient), contiguous, and kept out of
 * memory scopes (free it with `disposeMemory` when the document ends).
 */
export function nextMemory(old: Tensor | null, states: Tensor, len: number): Tensor {
  return noGrad(() => {
    const all = old && old.shape[1] > 0 ? cat([old, states], 1) : states;
    const K = all.shape[1];
    return keep(all.slice(1, Math.max(0, K - len), K).clone().detach());
  });
}

export type RecurrenceKind = 'transformer-xl' | 'enhanced';

/** A stack of relative-position layers (the universal module, or a task module's layers). */
export class Ernie3Stack extends Module {
  layers: Ernie3Layer[];
  constructor(readonly dims: Ernie3ModuleDims, c: Ernie3Config, generator?: Generator) {
    super();
    this.layers = Array.from({ length: dims.num_layers }, () => new Ernie3Layer(dims, c, generator));
  }

  /**
   * x [B, T, d] → the last layer's states [B, T, d] and (when memLen > 0) each layer's next memory.
   * `memory[l]` is layer l's memory (null or [] for none); `kind` picks what recurs (see the file header).
   * `keyMask` [B, T] masks new keys only (memory keys always visible).
   */
  forward(x: Tensor, o: { causal: boolean; memory?: (Tensor | null)[] | null; memLen?: number; kind?: RecurrenceKind; keyMask?: Tensor | null }): { hidden: Tensor; memory: Tensor[] } {
    const memLen = o.memLen ?? 0;
    const kind = o.kind ?? 'transformer-xl';
    const next: Tensor[] = [];
    this.layers.forEach((layer, l) => {
      const mem = o.memory?.[l] ?? null;
      let keyMask = o.keyMask ?? null;
      if (keyMask && mem) keyMask = noGrad(() => cat([ones([x.shape[0], mem.shape[1]], { dtype: 'i32' }), keyMask!.to('i32')], 1));
      const y = layer.forward(x, mem, o.causal, keyMask);
      if (memLen > 0) next.push(nextMemory(mem, kind === 'enhanced' ? y : x, memLen));
      x = y;
    });
    return { hidden: x, memory: next };
  }
}

/** A task-specific module: the projection from the universal width, then its own layers. */
export class Ernie3TaskModule extends Module {
  in_proj: Linear;
  stack: Ernie3Stack;
  constructor(dims: Ernie3ModuleDims, c: Ernie3Config, generator?: Generator) {
    super();
    this.in_proj = new Linear(c.universal.hidden_size, dims.hidden_size, { std: c.initializer_range, generator });
    this.stack = new Ernie3Stack(dims, c, generator);
  }
}

export class Ernie3Embeddings extends Module {
  word_embeddings: Embedding;
  token_type_embeddings: Embedding;
  LayerNorm: LayerNorm;
  dropout: ScheduledDropout;
  constructor(c: Ernie3Config, generator?: Generator) {
    super();
    const init = { std: c.initializer_range, generator };
    this.word_embeddings = new Embedding(c.vocab_size, c.universal.hidden_size, init);
    this.token_type_embeddings = new Embedding(c.type_vocab_size, c.universal.hidden_size, init);
    this.LayerNorm = new LayerNorm(c.universal.hidden_size, c.layer_norm_eps);
    this.dropout = new ScheduledDropout(c.hidden_dropout_prob, generator);
  }
  forward(ids: Tensor, tokenTypes: Tensor | null): Tensor {
    let e = this.word_embeddings.forward(ids); // [B, T, du]
    e = e.add(this.token_type_embeddings.forward(tokenTypes ?? zeros(ids.shape, { dtype: 'i32' })));
    return this.dropout.forward(this.LayerNorm.forward(e));
  }
}

/** The recurrence state between NLG segments: per-layer memories of the universal and NLG modules. */
export interface Ernie3Memory {
  universal: Tensor[];
  nlg: Tensor[];
}

export class Ernie3Model extends Module {
  readonly config: Ernie3Config;
  embeddings: Ernie3Embeddings;
  universal: Ernie3Stack;
  nlu: Ernie3TaskModule;
  nlg: Ernie3TaskModule;

  constructor(config: string | Partial<Ernie3Config> = 'ernie3-tiny', { generator }: { generator?: Generator } = {}) {
    super();
    this.config = ernie3Config(config);
    const c = this.config;
    this.embeddings = new Ernie3Embeddings(c, generator);
    this.universal = new Ernie3Stack(c.universal, c, generator);
    this.nlu = new Ernie3TaskModule(c.nlu, c, generator);
    this.nlg = new Ernie3TaskModule(c.nlg, c, generator);
  }

  /**
   * Sets the rate (and, when given, the generator) of every dropout of the model: embeddings, each layer's
   * attention and FFN outputs, and the attention probabilities (at `attnP`, default the same rate). Progressive
   * learning calls this each step; dropout acts only in training mode.
   */
  setDropout(p: number, generator?: Generator, attnP = p): void {
    ScheduledDropout.check(p);
    ScheduledDropout.check(attnP);
    const visit = (m: Module, rate: number): void => {
      if (m instanceof ScheduledDropout) {
        m.p = rate;
        if (generator) m.generator = generator;
      }
      for (const [name, c] of m.namedChildren()) visit(c, m instanceof RelativeMultiHeadAttention && name === 'attn_dropout' ? attnP : rate);
    };
    visit(this, p);
  }

  private checkIds(ids: Tensor): void {
    if (ids.ndim !== 2) throw new KilnError('E_SHAPE', `ERNIE 3.0: ids must be [B, T], got [${ids.shape}]`);
    if (ids.shape[1] > this.config.max_seq_len)
      throw new KilnError('E_SHAPE', `ERNIE 3.0: a segment of ${ids.shape[1]} tokens exceeds max_seq_len ${this.config.max_seq_len}; split the document into segments`);
  }

  /** The universal representation [B, T, du] (bidirectional, no memory): what the NLU module reads. */
  universalNlu(ids: Tensor, o: { tokenTypeIds?: Tensor | null; attentionMask?: Tensor | null } = {}): Tensor {
    this.checkIds(ids);
    return this.universal.forward(this.embeddings.forward(ids, o.tokenTypeIds ?? null), { causal: false, keyMask: o.attentionMask ?? null }).hidden;
  }

  /** NLU: ids [B, T] → [B, T, dt], bidirectional everywhere, no memory. attentionMask [B, T] masks padding keys. */
  forwardNlu(ids: Tensor, o: { tokenTypeIds?: Tensor | null; attentionMask?: Tensor | null } = {}): Tensor {
    const u = this.universalNlu(ids, o);
    return this.nlu.stack.forward(this.nlu.in_proj.forward(u), { causal: false, keyMask: o.attentionMask ?? null }).hidden;
  }

  /**
   * NLG over one segment: ids [B, T] → hidden [B, T, dt] (causal) and the memory for the next segment. Pass the
   * previous call's memory to continue a document (null for its first segment).
   */
  forwardNlg(ids: Tensor, memory: Ernie3Memory | null = null, o: { tokenTypeIds?: Tensor | null } = {}): { hidden: Tensor; memory: Ernie3Memory } {
    this.checkIds(ids);
    const c = this.config;
    const e = this.embeddings.forward(ids, o.tokenTypeIds ?? null);
    const u = this.universal.forward(e, { causal: true, memory: memory?.universal ?? null, memLen: c.mem_len, kind: 'transformer-xl' });
    const g = this.nlg.stack.forward(this.nlg.in_proj.forward(u.hidden), { causal: true, memory: memory?.nlg ?? null, memLen: c.mem_len, kind: 'enhanced' });
    return { hidden: g.hidden, memory: { universal: u.memory, nlg: g.memory } };
  }
}

/** Frees a memory's tensors. */
export function disposeMemory(m: Ernie3Memory | null): void {
  if (!m) return;
  for (const t of [...m.universal, ...m.nlg]) t.dispose();
}
