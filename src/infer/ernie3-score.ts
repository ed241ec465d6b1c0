/**
 * Zero-shot use of ERNIE 3.0 through its NLG module (arXiv 2107.02137 §4.3, zero-shot evaluation by scoring
 * candidates): the score of a completion c = (c_1 … c_n) after a context x is
 *   log p(c | x) = Σ_k log softmax(lm_head(NLG(x c)))[|x| + k − 1, c_k]
 * (the sum of the candidate tokens' log-probabilities; causal, so one forward of "context + candidate" scores it).
 * All candidates of an item go through one batched forward, right-padded (padding sits after every scored position,
 * so under the causal mask it changes nothing). Contexts longer than the segment keep their last tokens.
 * `clozeAccuracy` picks the best-scoring candidate of each item; beside it, the per-token (length-normalised) score
 * log p(c | x) / |c| picks too (`accuracyPerToken`): the sum favours short candidates, whatever the model knows (a
 * random model picks the shortest one). Few-shot (`shots` = k > 0): the context is prefixed with k solved items — the
 * next k items of the list, cyclically, never the item itself — each "context answer" followed by `separator`.
 * The calibrated score (`accuracyPmi`, domain-conditional PMI, Holtzman et al. 2021 "Surface form competition"):
 *   log p(c | x) − log p(c | x_last)
 * where x_last is the context's last token alone (the "domain premise": "is" for "<head> is"). It divides out how
 * likely the candidate's surface form is on its own — its length, the frequency of its words, a/an — so what is
 * left is what the head contributes; candidates of different token lengths compare like with like.
 *
 * `relationProbe` asks the NLU module's MLM head, zero-shot, the question universal knowledge-text prediction
 * trains on a triple alone: "[CLS] head [MASK]… tail [SEP]" — which relation links the two words? Each relation name
 * r (its word ids) is scored as the mean log-probability of its tokens at |r| masks between head and tail; the best
 * is the answer. Only a model pre-trained with knowledge text has seen this format; it tells whether what that task
 * taught reaches pairs it never saw (the held-out split).
 */
import { KilnError } from '../errors.js';
import type { Ernie3ForPreTraining } from '../models/ernie3/heads.js';
import { collate } from '../models/ernie3/pretrain-data.js';
import { CLS, MASK, PAD, SEP } from '../models/ernie3/synthetic-kg.js';
import { noGrad } from '../tensor/autograd.js';
import { fromArray } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { ClozeItem, RelationExample } from '../train/ernie3-data.js';

/** log p(candidate | context) of each candidate (sum over its tokens). */
export function scoreCandidates(model: Ernie3ForPreTraining, context: number[], candidates: number[][]): number[] {
  if (candidates.length === 0 || candidates.some((c) => c.length === 0)) throw new KilnError('E_ARG', 'cloze scoring: every candidate needs at least one token');
  if (context.length === 0) throw new KilnError('E_ARG', 'cloze scoring: the context is empty (the first candidate token needs a token before it)');
  const maxSeq = model.config.max_seq_len;
  const longest = Math.max(...candidates.map((c) => c.length));
  if (longest >= maxSeq) throw new KilnError('E_ARG', `cloze scoring: a ${longest}-token candidate does not fit a ${maxSeq}-token segment`);
  const ctx = context.slice(Math.max(0, context.length - (maxSeq - longest)));
  const C = candidates.length;
  const L = ctx.length + longest;
  const ids = new Int32Array(C * L).fill(PAD);
  candidates.forEach((c, i) => ids.set([...ctx, ...c], i * L));
  const V = model.config.vocab_size;
  const was = model.training;
  model.eval();
  try {
    return noGrad(() => tidy(() => {
      const h = model.ernie.forwardNlg(fromArray(ids, [C, L], { dtype: 'i32' }), null);
      for (const t of [...h.memory.universal, ...h.memory.nlg]) t.dispose();
      const lp = model.lm_head.forward(h.hidden).logSoftmax(-1).contiguous().data() as Float32Array; // [C, L, V]
      return candidates.map((c, i) => c.reduce((s, tok, k) => s + lp[(i * L + ctx.length + k - 1) * V + tok], 0));
    }));
  } finally {
    model.train(was);
  }
}

export interface ClozeResult {
  /** Accuracy of the summed log-probability (the score). */
  accuracy: number;
  correct: number;
  total: number;
  /** Accuracy of the mean log-probability per candidate token. */
  accuracyPerToken: number;
  /** Accuracy of the domain-conditional PMI log p(c | context) − log p(c | last context token). */
  accuracyPmi: number;
  /** Chance level: mean of 1 / #candidates. */
  chance: number;
  predictions: number[];
}

export function clozeAccuracy(model: Ernie3ForPreTraining, items: ClozeItem[], o: { shots?: number; separator?: number[] } = {}): ClozeResult {
  if (items.length === 0) throw new KilnError('E_ARG', 'cloze accuracy: no items');
  const k = o.shots ?? 0;
  if (!Number.isInteger(k) || k < 0 || k >= items.length) throw new KilnError('E_ARG', `cloze accuracy: shots must be an integer in [0, ${items.length - 1}], got ${k}`);
  const sep = o.separator ?? [];
  const contextOf = (i: number): number[] => {
    const prefix: number[] = [];
    for (let j = 1; j <= k; j++) {
      const d = items[(i + j) % items.length];
      prefix.push(...d.context, ...d.candidates[d.answer], ...sep);
    }
    return [...prefix, ...items[i].context];
  };
  const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
  const perToken: number[] = [];
  const pmi: number[] = [];
  const predictions = items.map((it, i) => {
    const s = scoreCandidates(model, contextOf(i), it.candidates);
    perToken.push(argmax(s.map((x, j) => x / it.candidates[j].length)));
    const prior = scoreCandidates(model, it.context.slice(-1), it.candidates);
    pmi.push(argmax(s.map((x, j) => x - prior[j])));
    return argmax(s);
  });
  const correct = predictions.filter((p, i) => p === items[i].answer).length;
  return {
    accuracy: correct / items.length, correct, total: items.length, predictions,
    accuracyPerToken: perToken.filter((p, i) => p === items[i].answer).length / items.length,
    accuracyPmi: pmi.filter((p, i) => p === items[i].answer).length / items.length,
    chance: items.reduce((a, it) => a + 1 / it.candidates.length, 0) / items.length,
  };
}

/** Zero-shot relation classification through the knowledge-text format (see the header): accuracy and predictions. */
export function relationProbe(model: Ernie3ForPreTraining, pairs: RelationExample[], relations: number[][]): { accuracy: number; predictions: number[] } {
  if (pairs.length === 0 || relations.length === 0 || relations.some((r) => r.length === 0)) throw new KilnError('E_ARG', 'relation probe: needs pairs and non-empty relation names');
  const V = model.config.vocab_size;
  const was = model.training;
  model.eval();
  try {
    const predictions = pairs.map((e) => noGrad(() => tidy(() => {
      const lengths = [...new Set(relations.map((r) => r.length))];
      const rows = lengths.map((n) => ({ inputIds: [CLS, ...e.head, ...new Array<number>(n).fill(MASK), ...e.tail, SEP], tokenTypeIds: new Array<number>(e.head.length + e.tail.length + n + 2).fill(0) }));
      const b = collate(rows);
      const T = b.inputIds.shape[1];
      const lp = model.mlm_head.forward(model.ernie.forwardNlu(b.inputIds, { tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask })).logSoftmax(-1).contiguous().data() as Float32Array;
      const scores = relations.map((r) => {
        const row = lengths.indexOf(r.length);
        return r.reduce((acc, tok, k) => acc + lp[(row * T + 1 + e.head.length + k) * V + tok], 0) / r.length;
      });
      return scores.indexOf(Math.max(...scores));
    })));
    return { accuracy: predictions.filter((p, i) => p === pairs[i].label).length / pairs.length, predictions };
  } finally {
    model.train(was);
  }
}
