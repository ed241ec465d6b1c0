/**
 * ERNIE 3.0's typed config (Sun et al. 2021, "ERNIE 3.0: Large-scale Knowledge Enhanced Pre-training for Language
 * Understanding and Generation", arXiv 2107.02137), plus presets and exact parameter accounting.
 *
 * The model (§3.1): a shared **universal representation module** (a Transformer-XL: relative positions, segment
 * recurrence memory) feeds two **task-specific modules** — NLU (bidirectional, no memory) and NLG (causal, with
 * ERNIE-Doc's enhanced recurrence memory). `ernie3ParamCounts(c).params_total` counts every parameter of
 * `Ernie3Model` exactly; the pre-training heads are counted separately (`params_heads`).
 *
 * The 10B preset and its sources (§3.2.1 of the paper gives the first two lines; the rest are assumptions, each
 * named here and in docs/ernie3.md):
 * - universal module: 48 layers, hidden 4096, 64 heads (paper).
 * - task-specific modules: 12 layers, hidden 768, 12 heads each (paper), GeLU (paper).
 * - FFN width 4 × hidden (16384 / 3072): the paper gives none; 4× is Transformer-XL's and BERT's/ERNIE's ratio.
 * - vocabulary 40,000: the paper states no size; 40,000 is the vocabulary of the released ERNIE 3.0 models
 *   (ernie-3.0-*-zh vocab.txt, config vocab_size 40000), assumed shared with the 10B model. Token types 4 (the
 *   released models' type_vocab_size) for the segment embeddings.
 * - relative positions: Transformer-XL's parameterisation (Dai et al. 2019, §3.3): sinusoidal R (no parameters), a
 *   per-layer W_{k,R} [d, d] without bias, and per-layer biases u, v [heads, head_dim] ("untie_r", as the released
 *   Transformer-XL large models). q/k/v/o projections carry biases (the ERNIE/BERT convention), post-LN layers.
 * - the task modules read the universal output through a Linear(4096 → 768) each (`in_proj`; the paper does not
 *   say how the widths meet). No absolute position embeddings anywhere (relative attention only).
 * - memory: 128 tokens for generation (paper §3.2.1: "memory length of language generation 128"), segments of 512.
 * Total: 10,826,391,040 parameters (`params_total`), the paper's "10B": embeddings 163,864,576 + universal
 * 48 × 218,165,248 = 10,471,931,904 + two task modules of 95,297,280 (in_proj 3,146,496 + 12 × 7,679,232).
 */
import { KilnError } from '../../errors.js';

export interface Ernie3ModuleDims {
  num_layers: number;
  hidden_size: number;
  num_heads: number;
  intermediate_size: number;
}

export interface Ernie3Config {
  vocab_size: number;
  type_vocab_size: number;
  universal: Ernie3ModuleDims;
  nlu: Ernie3ModuleDims;
  nlg: Ernie3ModuleDims;
  /** Tokens per segment (the context length of one forward). */
  max_seq_len: number;
  /** Recurrence memory length (previous-segment states kept per layer). */
  mem_len: number;
  hidden_act: 'gelu';
  layer_norm_eps: number;
  hidden_dropout_prob: number;
  /**
   * Dropout of the attention probabilities (seeded, training mode only; setDropout sets it with the hidden rate).
   * A config that leaves it out gets its hidden_dropout_prob (BERT/ERNIE configs have the two equal).
   */
  attention_probs_dropout_prob: number;
  initializer_range: number;
  /** Most segments shuffled by the sentence-reordering task (Σ_{n=1..m} n! classes; ERNIE 2.0 §4.2.2). Assumed 3. */
  reorder_max_segments: number;
}

const dims = (num_layers: number, hidden_size: number, num_heads: number, ffn = 4): Ernie3ModuleDims => ({
  num_layers, hidden_size, num_heads, intermediate_size: ffn * hidden_size,
});

/** The paper's 10B configuration (see the header for what is the paper's and what is assumed). */
export const ERNIE3_DEFAULTS: Ernie3Config = {
  vocab_size: 40000,
  type_vocab_size: 4,
  universal: dims(48, 4096, 64),
  nlu: dims(12, 768, 12),
  nlg: dims(12, 768, 12),
  max_seq_len: 512,
  mem_len: 128,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-5,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  initializer_range: 0.02,
  reorder_max_segments: 3,
};

export const ERNIE3_PRESETS: Record<string, Partial<Ernie3Config>> = {
  /** The paper's model: 10,826,391,040 parameters. */
  'ernie3-10b': {},
  /** A tiny model that trains here in seconds (tests, demo). */
  'ernie3-tiny': {
    vocab_size: 512, universal: dims(2, 64, 4), nlu: dims(2, 32, 2), nlg: dims(2, 32, 2), max_seq_len: 64, mem_len: 32, hidden_dropout_prob: 0,
  },
  /** ernie3-tiny twice as wide (universal 2 × 128, task modules 2 × 64): the knowledge ablation at a second width. */
  'ernie3-small': {
    vocab_size: 512, universal: dims(2, 128, 4), nlu: dims(2, 64, 2), nlg: dims(2, 64, 2), max_seq_len: 64, mem_len: 32, hidden_dropout_prob: 0,
  },
  /**
   * The benchmark model (`kiln bench ernie-step --config ernie3-bench`): wide enough that GEMMs dominate the step
   * (like gpt-small for the GPT bench); universal 4 × 512, task modules 2 × 256, vocab 8192, segment 128, memory 64.
   */
  'ernie3-bench': {
    vocab_size: 8192, universal: dims(4, 512, 8), nlu: dims(2, 256, 4), nlg: dims(2, 256, 4), max_seq_len: 128, mem_len: 64, hidden_dropout_prob: 0.1,
  },
  /** The smallest config with every path (gradient checks). */
  'ernie3-micro': {
    vocab_size: 32, universal: dims(2, 16, 2), nlu: dims(1, 8, 2), nlg: dims(2, 8, 2), max_seq_len: 16, mem_len: 6, hidden_dropout_prob: 0,
  },
};

function fail(msg: string): never {
  throw new KilnError('E_CONFIG', `ERNIE 3.0 config: ${msg}`);
}

export function ernie3Config(src: string | Partial<Ernie3Config> = {}): Ernie3Config {
  let o: Partial<Ernie3Config>;
  if (typeof src === 'string') {
    const p = ERNIE3_PRESETS[src];
    if (!p) fail(`unknown preset '${src}'; known: ${Object.keys(ERNIE3_PRESETS).join(', ')}`);
    o = p;
  } else o = src;
  const c: Ernie3Config = { ...ERNIE3_DEFAULTS, ...o };
  if (o.attention_probs_dropout_prob === undefined) c.attention_probs_dropout_prob = c.hidden_dropout_prob;
  for (const k of ['vocab_size', 'type_vocab_size', 'max_seq_len'] as const)
    if (!Number.isInteger(c[k]) || c[k] <= 0) fail(`${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  if (!Number.isInteger(c.reorder_max_segments) || c.reorder_max_segments < 1 || c.reorder_max_segments > 6)
    fail(`reorder_max_segments must be an integer in 1..6, got ${c.reorder_max_segments}`);
  for (const k of ['hidden_dropout_prob', 'attention_probs_dropout_prob'] as const)
    if (!(c[k] >= 0 && c[k] < 1)) fail(`${k} must be in [0, 1), got ${JSON.stringify(c[k])}`);
  if (!Number.isInteger(c.mem_len) || c.mem_len < 0) fail(`mem_len must be a non-negative integer, got ${c.mem_len}`);
  for (const m of ['universal', 'nlu', 'nlg'] as const) {
    const d = c[m];
    for (const k of ['num_layers', 'hidden_size', 'num_heads', 'intermediate_size'] as const)
      if (!Number.isInteger(d[k]) || d[k] <= 0) fail(`${m}.${k} must be a positive integer, got ${JSON.stringify(d[k])}`);
    if (d.hidden_size % d.num_heads !== 0) fail(`${m}.hidden_size ${d.hidden_size} is not divisible by ${m}.num_heads ${d.num_heads}`);
    if ((d.hidden_size / d.num_heads) % 1 !== 0) fail(`${m}: head dim must be an integer`);
  }
  if (c.universal.hidden_size % 2 !== 0 || c.nlu.hidden_size % 2 !== 0 || c.nlg.hidden_size % 2 !== 0)
    fail('hidden sizes must be even (sinusoidal relative encodings pair sin and cos)');
  return c;
}

/** Parameters of one relative-position Transformer-XL layer of width d, FFN f. */
export function relLayerParams(m: Ernie3ModuleDims): number {
  const d = m.hidden_size;
  const f = m.intermediate_size;
  const attn = 4 * (d * d + d) + d * d + 2 * d; // q, k, v, o with bias; W_kR; u and v biases (heads × head_dim each)
  const ffn = d * f + f + f * d + d;
  return attn + ffn + 4 * d; // + two LayerNorms
}

export interface Ernie3ParamCounts {
  /** Every parameter of Ernie3Model: embeddings, universal module, both task modules with their input projections. */
  params_total: number;
  params_embeddings: number;
  params_universal: number;
  params_nlu: number;
  params_nlg: number;
  /** The pre-training heads (Ernie3ForPreTraining): NLU/NLG LM heads (768 → vocab, bias) and the classifiers. */
  params_heads: number;
}

export function ernie3ParamCounts(c: Ernie3Config): Ernie3ParamCounts {
  const du = c.universal.hidden_size;
  const emb = (c.vocab_size + c.type_vocab_size) * du + 2 * du; // word, token type, LayerNorm
  const universal = c.universal.num_layers * relLayerParams(c.universal);
  const task = (m: Ernie3ModuleDims) => du * m.hidden_size + m.hidden_size + m.num_layers * relLayerParams(m);
  const nlu = task(c.nlu);
  const nlg = task(c.nlg);
  return {
    params_total: emb + universal + nlu + nlg,
    params_embeddings: emb,
    params_universal: universal,
    params_nlu: nlu,
    params_nlg: nlg,
    params_heads: headParams(c),
  };
}

/** Heads of Ernie3ForPreTraining (see heads.ts): MLM (NLU), LM (NLG), reordering, distance classifiers. */
export function headParams(c: Ernie3Config): number {
  const { nlu, nlg, vocab_size: V } = c;
  const lm = (d: number) => d * V + V;
  return lm(nlu.hidden_size) + lm(nlg.hidden_size) + (nlu.hidden_size + 1) * reorderClasses(c.reorder_max_segments) + (nlu.hidden_size + 1) * 3;
}

/** Σ_{n=1..m} n! classes of the sentence-reordering task with at most m segments. */
export function reorderClasses(m: number): number {
  let s = 0;
  let f = 1;
  for (let n = 1; n <= m; n++) {
    f *= n;
    s += f;
  }
  return s;
}
