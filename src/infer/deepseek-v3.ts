/**
 * DeepSeek-V3 generation over the latent KV cache (`forwardCached`, absorbed MLA; batch 1 runs the fused decode
 * kernels of src/models/deepseek-v3/decode.ts): greedy and seeded sampling (temperature, top-k, top-p), and lossless
 * MTP speculative decoding — greedy or speculative sampling. Greedy steps only need each row's argmax, which the
 * exact bf16-streaming head (`decodeRowsArgmax`) gives without the full logits.
 *
 * Speculative decoding. State between rounds: the main cache holds positions 0 … q − 1, t_q is the next token already
 * chosen (not yet cached), and the MTP module's own latent cache lags behind with the main model's final hidden
 * states h⁰ of the positions it has not yet seen. One round with k drafts:
 *   1. draft: the first MTP module runs (cached) over its pending positions i with inputs (emb(t_{i+1}), h⁰_i); its
 *      output at position q − 1 gives d₁ ≈ t_{q+1}; for k > 1 it is chained on its own output hidden state (in
 *      place of the unknown h⁰) for d₂ … d_k, and those speculative cache rows are dropped after the round;
 *   2. verify: one cached forward of the main model over [t_q, d₁ … d_k] → a target for every position;
 *   3. greedy: d_j is accepted while it equals the model's argmax; sampling: d_j ~ q_j is accepted with probability
 *      min(1, p_j(d_j)/q_j(d_j)), a rejection replaced by a draw from normalise(max(0, p_j − q_j)); after the
 *      accepted prefix the model's own next token (or, all accepted, the bonus draw from p_{k+1}) is committed and
 *      the main cache rolled back past the first rejected draft.
 * Greedy output equals plain greedy decoding token for token; sampled output has plain sampling's distribution.
 * Drafting uses the first MTP module only (depth 1, as in the released model); deeper modules are ignored here.
 * Acceptance rate = accepted drafts / drafts; tokens per main forward is the ideal speed-up, `kiln generate --mtp`
 * also measures the wall-clock one against plain decoding.
 */
import { KilnError } from '../errors.js';
import { fromArray } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { cat } from '../tensor/ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DeepseekV3ForCausalLM, MtpLayer } from '../models/deepseek-v3/model.js';
import { LatentCache, LatentCacheLayer } from '../models/deepseek-v3/cache.js';
import { RopeCache } from '../models/deepseek-v3/rope.js';
import { canDecodeFused, decodeLayerFused, FUSED_MAX_ROWS, type GreedyHead } from '../models/deepseek-v3/decode.js';
import { backend } from '../backend/index.js';
import { dataOf } from '../tensor/ops/util.js';

export interface SamplingOptions {
  /** 0 or `greedy: true` → argmax. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0/undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1/undefined: all). */
  topP?: number;
  greedy?: boolean;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Stop after emitting this id (included in the output). */
  eosTokenId?: number | null;
  /** Called with each newly committed token. */
  onToken?: (id: number) => void;
}

export interface GenerateResult {
  /** The new tokens (prompt excluded). */
  ids: Int32Array;
  /** Main-model forwards after the prefill. */
  mainForwards: number;
  seconds: number;
  /** New tokens per second, prefill included. */
  tokensPerSecond: number;
}

export interface SpeculativeResult extends GenerateResult {
  drafted: number;
  accepted: number;
  /** accepted / drafted. */
  acceptanceRate: number;
  /** New tokens per main-model forward after the prefill (the speed-up if drafting were free). */
  tokensPerForward: number;
}

/** Index of the largest value (first one on ties). */
export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** The n largest values of x, largest first (a size-n min-heap: O(V log n) instead of sorting all of x). */
function largestValues(x: Float32Array, n: number): Float32Array {
  const h = new Float32Array(n);
  let size = 0;
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && h[l] < h[m]) m = l;
      if (r < size && h[r] < h[m]) m = r;
      if (m === i) return;
      const t = h[i];
      h[i] = h[m];
      h[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (size < n) {
      // sift up
      let j = size++;
      h[j] = v;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (h[p] <= h[j]) break;
        const t = h[p];
        h[p] = h[j];
        h[j] = t;
        j = p;
      }
    } else if (v > h[0]) {
      h[0] = v;
      down(0);
    }
  }
  return h.sort().reverse();
}

/** The candidates pickToken draws from: ids (most likely first) and unnormalised weights exp((logit − max)/T). */
function candidates(logits: Float32Array, o: SamplingOptions): { ids: number[]; w: number[] } {
  const temperature = o.temperature ?? 1;
  const V = logits.length;
  let n = o.topK && o.topK > 0 ? Math.min(o.topK, V) : V;
  const desc = n <= V / 8 ? largestValues(logits, n) : Float32Array.from(logits).sort().reverse(); // values, largest first
  const m = desc[0];
  if (o.topP !== undefined && o.topP < 1) {
    let total = 0;
    for (let j = 0; j < n; j++) total += Math.exp((desc[j] - m) / temperature);
    let acc = 0;
    for (let j = 0; j < n; j++) {
      acc += Math.exp((desc[j] - m) / temperature) / total;
      if (acc >= o.topP) {
        n = j + 1;
        break;
      }
    }
  }
  const threshold = desc[n - 1];
  const cand: number[] = [];
  for (let i = 0; i < V; i++) if (logits[i] >= threshold) cand.push(i);
  cand.sort((a, b) => logits[b] - logits[a] || a - b);
  cand.length = Math.min(cand.length, n); // ties at the threshold: lowest ids first
  return { ids: cand, w: cand.map((i) => Math.exp((logits[i] - m) / temperature)) };
}

const isGreedy = (o: SamplingOptions): boolean => !!o.greedy || (o.temperature ?? 1) <= 0;

/**
 * Draws a token from logits [V] with temperature, top-k and top-p (nucleus) filtering; argmax when greedy.
 * The candidates are found from one native numeric sort of the values (a threshold), so only the survivors are
 * sorted by (logit desc, id asc) in JS.
 */
export function pickToken(logits: Float32Array, o: SamplingOptions, gen: Generator): number {
  if (isGreedy(o)) return argmax(logits);
  const { ids, w } = candidates(logits, o);
  let u = gen.uniform() * w.reduce((a, b) => a + b, 0);
  for (let j = 0; j < ids.length; j++) if ((u -= w[j]) <= 0) return ids[j];
  return ids[ids.length - 1];
}

/** The distribution [V] pickToken samples from (a one-hot at the argmax when greedy). */
export function tokenDistribution(logits: Float32Array, o: SamplingOptions): Float64Array {
  const p = new Float64Array(logits.length);
  if (isGreedy(o)) {
    p[argmax(logits)] = 1;
    return p;
  }
  const { ids, w } = candidates(logits, o);
  const total = w.reduce((a, b) => a + b, 0);
  ids.forEach((id, j) => (p[id] = w[j] / total));
  return p;
}

/** Draws an index from probabilities p (which sum to 1 up to rounding; the last positive one absorbs the rest). */
export function drawFrom(p: Float64Array, gen: Generator): number {
  let u = gen.uniform();
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    last = i;
    if ((u -= p[i]) < 0) return i;
  }
  return last;
}

/**
 * The speculative-sampling rule (Leviathan et al. 2023; Chen et al. 2023) for one drafted token d ~ q against the
 * target p: accept with probability min(1, p(d)/q(d)); otherwise the replacement is drawn from
 * normalise(max(0, p − q)). The committed token is then distributed exactly as p. Returns [accepted, token].
 */
export function acceptOrResample(p: Float64Array, q: Float64Array, d: number, gen: Generator): [boolean, number] {
  if (q[d] > 0 && gen.uniform() * q[d] < p[d]) return [true, d];
  const r = new Float64Array(p.length);
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += r[i] = Math.max(0, p[i] - q[i]);
  if (!(sum > 0)) return [false, drawFrom(p, gen)]; // p = q (cannot happen after a rejection but for rounding)
  for (let i = 0; i < p.length; i++) r[i] /= sum;
  return [false, drawFrom(r, gen)];
}

/** Drops every cached position from `length` on (the rows stay allocated and are overwritten by later appends). */
export function truncateCache(cache: LatentCache | LatentCacheLayer, length: number): void {
  const layers = cache instanceof LatentCache ? cache.layers : [cache];
  for (const l of layers) {
    if (length > l.length) throw new KilnError('E_ARG', `truncateCache: cannot grow a cache of ${l.length} positions to ${length}`);
    l.length = length;
  }
}

function checkPrompt(model: DeepseekV3ForCausalLM, prompt: Int32Array): void {
  if (prompt.length === 0) throw new KilnError('E_ARG', 'generate: the prompt is empty; give at least one token id');
  const V = model.config.vocab_size;
  for (const id of prompt)
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new KilnError('E_ARG', `generate: prompt id ${id} is outside the vocabulary [0, ${V})`);
}

/** Main cached forward of `ids` (one sequence): the logits rows [T·V] and the final hidden rows [T·d], copied out. */
function cachedStep(model: DeepseekV3ForCausalLM, ids: Int32Array, cache: LatentCache): { logits: Float32Array; hidden: Float32Array } {
  if (ids.length <= FUSED_MAX_ROWS && model.canDecodeFused()) return model.decodeRows(ids, cache);
  return tidy(() => {
    const r = model.forwardCached(fromArray(ids, [1, ids.length]), cache);
    return { logits: (r.logits.data() as Float32Array).slice(), hidden: (r.hidden.data() as Float32Array).slice() };
  });
}

const lastRow = (rows: Float32Array, width: number): Float32Array => rows.subarray(rows.length - width);

/** Plain autoregressive generation with the latent cache: one prefill, then one cached forward per new token. */
export function generate(model: DeepseekV3ForCausalLM, prompt: Int32Array, o: GenerateOptions): GenerateResult {
  checkPrompt(model, prompt);
  const V = model.config.vocab_size;
  const gen = new Generator(o.seed ?? 0);
  const cache = model.newCache(1);
  const out: number[] = [];
  const t0 = performance.now();
  let forwards = 0;
  // greedy decoding needs only each step's argmax: the exact streaming-bf16 head (`headArgmax`) when fused
  const head = isGreedy(o) && model.canDecodeFused() ? model.greedyHead() : null;
  try {
    let next = pickToken(lastRow(cachedStep(model, prompt, cache).logits, V), o, gen);
    for (;;) {
      out.push(next);
      o.onToken?.(next);
      if (next === o.eosTokenId || out.length >= o.maxNewTokens) break;
      if (head && model.canDecodeFused()) next = model.decodeRowsArgmax(Int32Array.of(next), cache, head).ids[0];
      else next = pickToken(lastRow(cachedStep(model, Int32Array.of(next), cache).logits, V), o, gen);
      forwards++;
    }
  } finally {
    cache.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ids: Int32Array.from(out), mainForwards: forwards, seconds, tokensPerSecond: out.length / seconds };
}

/** Greedy generation without any cache: the full (expanded-attention) forward over the whole sequence per token. */
export function generateUncached(model: DeepseekV3ForCausalLM, prompt: Int32Array, maxNewTokens: number): Int32Array {
  checkPrompt(model, prompt);
  const V = model.config.vocab_size;
  const seq = Array.from(prompt);
  for (let i = 0; i < maxNewTokens; i++) {
    const row = noGrad(() =>
      tidy(() => {
        const out = model.forward(fromArray(Int32Array.from(seq), [1, seq.length]), { balance: false, mtp: false });
        return (out.logits.select(1, seq.length - 1).data() as Float32Array).slice();
      }),
    );
    seq.push(argmax(row));
  }
  return Int32Array.from(seq.slice(prompt.length));
}

/** The first MTP module run over its own latent cache (inference only). */
class MtpDrafter {
  readonly cache: LatentCacheLayer;
  private readonly rope: RopeCache;
  constructor(private readonly model: DeepseekV3ForCausalLM, private readonly layer: MtpLayer) {
    const c = model.config;
    this.cache = new LatentCacheLayer(1, c.kv_lora_rank + c.qk_rope_head_dim);
    this.rope = new RopeCache(c);
  }

  /**
   * Feeds positions cache.length … + n − 1 with next tokens `next` [n] and previous hidden rows `h` [n·d] (the main
   * model's h⁰, or for chained drafts this module's own output); returns the draft logits [V] and this module's
   * output hidden row [d] (after shared_head.norm) at the last of them.
   */
  feed(next: Int32Array, h: Float32Array, head: GreedyHead | null = null): { logits: Float32Array | null; token: number; hidden: Float32Array } {
    const n = next.length;
    const m = this.model;
    const d = m.config.hidden_size;
    const L = this.layer;
    if (n <= FUSED_MAX_ROWS && canDecodeFused([L]) && m.canDecodeFused()) {
      const emb = new Float32Array(n * d);
      m.embedRows(next, emb);
      const e = new Float32Array(n * d);
      const hh = new Float32Array(n * d);
      m.normRows(L.enorm, emb, n, e);
      m.normRows(L.hnorm, h, n, hh);
      const cat2 = new Float32Array(n * 2 * d); // [enorm(emb); hnorm(h)] per row
      for (let t = 0; t < n; t++) {
        cat2.set(e.subarray(t * d, (t + 1) * d), t * 2 * d);
        cat2.set(hh.subarray(t * d, (t + 1) * d), t * 2 * d + d);
      }
      const x = new Float32Array(n * d);
      backend().linearRows(cat2, n, 2 * d, dataOf(L.eh_proj.weight), d, x);
      const { cos, sin } = m.ropeRows(this.cache.length, n);
      decodeLayerFused(L, x, n, this.cache, cos, sin);
      const hidden = new Float32Array(d);
      m.normRows(L.shared_head.norm, x.subarray((n - 1) * d), 1, hidden);
      if (head) {
        // a greedy draft needs only the argmax
        const id = new Int32Array(1);
        backend().headArgmax(hidden, 1, head.K, head.w, head.wb, head.norms, head.N, id);
        return { logits: null, token: id[0], hidden };
      }
      const logits = new Float32Array(m.config.vocab_size);
      m.headRows(hidden, 1, logits);
      return { logits, token: argmax(logits), hidden };
    }
    return noGrad(() =>
      tidy(() => {
        const { cos, sin } = this.rope.tables(this.cache.length, n);
        const emb = m.model.embed_tokens.forward(fromArray(next, [1, n])); // [1, n, d]
        const prev = fromArray(h.subarray(0, n * d), [1, n, d]);
        const x = L.eh_proj.forward(cat([L.enorm.forward(emb), L.hnorm.forward(prev)], -1)); // [1, n, d]
        const out = L.shared_head.norm.forward(L.forward(x, cos, sin, { cache: this.cache }).h).select(1, n - 1); // [1, d]
        const logits: Tensor = m.head(out); // [1, V]
        const l = (logits.data() as Float32Array).slice();
        return { logits: l, token: argmax(l), hidden: (out.data() as Float32Array).slice() };
      }),
    );
  }

  dispose(): void {
    this.cache.dispose();
    this.rope.dispose();
  }
}

export interface SpeculativeOptions extends GenerateOptions {
  /**
   * Tokens drafted per round (default 1). The first comes from the MTP module fed with the main model's hidden
   * state; each further one chains the module on its own output hidden state (an approximation of h⁰ the
   * verification makes harmless). All are verified in one main forward of 1 + draftTokens rows.
   */
  draftTokens?: number;
}

/**
 * Lossless MTP speculative decoding (see the file header). Greedy (the default for `greedy`/temperature 0 — output
 * identical to `generate`'s greedy output), or speculative sampling with `temperature` / `topK` / `topP` / `seed`:
 * drafts are sampled from the drafter's filtered distribution q and accepted with min(1, p/q) against the main
 * model's filtered distribution p, a rejection resampled from normalise(max(0, p − q)), so every committed token is
 * distributed as plain sampling's (the random stream differs, so seeded outputs are not the same tokens).
 * Needs a model with at least one MTP module.
 */
export function generateSpeculative(model: DeepseekV3ForCausalLM, prompt: Int32Array, o: SpeculativeOptions | Omit<GenerateOptions, keyof SamplingOptions>): SpeculativeResult {
  checkPrompt(model, prompt);
  const mtp = model.mtpLayers;
  if (mtp.length === 0)
    throw new KilnError('E_ARG', 'generate --mtp: this model has no MTP module (num_nextn_predict_layers = 0); generate without --mtp');
  const so = o as SpeculativeOptions;
  const k = so.draftTokens ?? 1;
  if (!Number.isInteger(k) || k < 1 || k + 1 > FUSED_MAX_ROWS)
    throw new KilnError('E_ARG', `generateSpeculative: draftTokens must be an integer in [1, ${FUSED_MAX_ROWS - 1}], got ${k}`);
  const sampling: SamplingOptions = { greedy: so.greedy, temperature: so.temperature ?? (so.greedy === undefined ? 0 : 1), topK: so.topK, topP: so.topP };
  const greedy = isGreedy(sampling);
  const gen = new Generator(so.seed ?? 0);
  const V = model.config.vocab_size;
  const d = model.config.hidden_size;
  const cache = model.newCache(1);
  const drafter = new MtpDrafter(model, mtp[0]);
  const head = greedy && model.canDecodeFused() ? model.greedyHead() : null;
  const out: number[] = [];
  let forwards = 0;
  let drafted = 0;
  let accepted = 0;
  const t0 = performance.now();
  const done = () => out.length >= o.maxNewTokens || (out.length > 0 && out[out.length - 1] === o.eosTokenId);
  const commit = (id: number) => {
    if (done()) return;
    out.push(id);
    o.onToken?.(id);
  };
  try {
    const pre = cachedStep(model, prompt, cache);
    let pending = pickToken(lastRow(pre.logits, V), sampling, gen); // t_q
    commit(pending);
    // the drafter's pending inputs: next tokens t_{i+1} and hidden rows h⁰_i for the positions it has not seen
    let nextToks = Int32Array.from([...prompt.subarray(1), pending]);
    let hRows = pre.hidden;
    while (!done()) {
      // draft k tokens: the first from the true inputs, the rest chained on the drafter's own output
      const drafts: number[] = [];
      const qs: Float64Array[] = [];
      let f = drafter.feed(nextToks, hRows, head);
      const trueLen = drafter.cache.length;
      for (let j = 0; j < k; j++) {
        if (j > 0) f = drafter.feed(Int32Array.of(drafts[j - 1]), f.hidden, head);
        if (greedy) drafts.push(f.token);
        else {
          const q = tokenDistribution(f.logits!, sampling);
          qs.push(q);
          drafts.push(drawFrom(q, gen));
        }
      }
      truncateCache(drafter.cache, trueLen);
      // verify every draft in one main forward over [t_q, d_1 … d_k]
      const q0 = cache.length;
      const vin = Int32Array.from([pending, ...drafts]);
      // greedy verification needs only each row's argmax (the exact bf16-streaming head); sampling needs the logits
      const fast = greedy && head !== null && model.canDecodeFused();
      const v = fast ? { ...model.decodeRowsArgmax(vin, cache, head!), logits: null } : { ...cachedStep(model, vin, cache), ids: null };
      const rowArgmax = (j: number) => (v.ids ? v.ids[j] : argmax(v.logits!.subarray(j * V, (j + 1) * V)));
      forwards++;
      drafted += k;
      let a = 0;
      let next = -1;
      for (; a < k; a++) {
        if (greedy) {
          const g = rowArgmax(a);
          if (g !== drafts[a]) {
            next = g;
            break;
          }
        } else {
          const [ok, tok] = acceptOrResample(tokenDistribution(v.logits!.subarray(a * V, (a + 1) * V), sampling), qs[a], drafts[a], gen);
          if (!ok) {
            next = tok;
            break;
          }
        }
      }
      accepted += a;
      if (next < 0) next = greedy ? rowArgmax(k) : pickToken(v.logits!.subarray(k * V, (k + 1) * V), sampling, gen); // every draft accepted: the bonus token
      for (let j = 0; j < a; j++) commit(drafts[j]);
      commit(next);
      truncateCache(cache, q0 + a + 1);
      nextToks = Int32Array.from([...drafts.slice(0, a), next]);
      hRows = v.hidden.slice(0, (a + 1) * d);
      pending = next;
    }
  } finally {
    cache.dispose();
    drafter.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    ids: Int32Array.from(out), mainForwards: forwards, seconds, tokensPerSecond: out.length / seconds,
    drafted, accepted, acceptanceRate: drafted ? accepted / drafted : 0, tokensPerForward: forwards ? (out.length - 1) / forwards : 0,
  };
}
