/**
 * Fused attention benchmark: `scaledDotProductAttention` (src/tensor/ops/attention.ts) forward, and forward +
 * backward, on q, k, v [B, H, T, D] with a causal mask (the transformer-training case), on the active backend.
 *
 * FLOPs (the FlashAttention papers' convention, so numbers compare with theirs):
 *   forward  = 4·B·H·T²·D  (QKᵀ: 2·B·H·T²·D, P·V: 2·B·H·T²·D), halved with a causal mask (half the scores exist);
 *   backward = 2.5 × forward (five T×T×D products — dV, dP, dS·K, dSᵀ·Q and the recomputed QKᵀ — against two);
 *   fwd+bwd  = 3.5 × forward.
 * Softmax exponentials are not counted. The forward is timed with inputs that do not require grad (no tape is
 * recorded), forward+backward with inputs that do, inside a `tidy` per call; backward ms = (fwd+bwd) − fwd.
 * The output is checked once against `scaledDotProductAttentionReference` (ordinary ops) so a fast wrong kernel
 * cannot pass.
 */
import { randn } from '../tensor/creation.js';
import { scaledDotProductAttention, scaledDotProductAttentionReference } from '../tensor/ops/attention.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import { Generator } from '../tensor/random.js';
import { getBackendName } from '../backend/index.js';
import { setKilnThreads } from './kiln-threads.js';
import { maxRelErr } from './gemm.js';
import { timeSync, type Timing, type TimingOptions } from './timing.js';

export interface AttentionShape {
  B: number;
  H: number;
  T: number;
  D: number;
  causal: boolean;
}

export interface AttentionResult {
  shape: AttentionShape;
  backend: string;
  threads: number;
  threadsUsed: number;
  forwardFlop: number;
  fwdBwdFlop: number;
  forwardMs: number;
  backwardMs: number;
  fwdBwdMs: number;
  forwardGflops: number;
  fwdBwdGflops: number;
  peakGflops: number | null;
  /** fwd+bwd GFLOP/s ÷ peak. */
  fwdBwdOverPeak: number | null;
  check: { against: string; maxRelErr: number; tolerance: number; passed: boolean };
  timing: { forward: Timing; fwdBwd: Timing };
}

export const ATTENTION_FULL: AttentionShape = { B: 1, H: 8, T: 512, D: 64, causal: true };
export const ATTENTION_QUICK: AttentionShape = { B: 1, H: 2, T: 32, D: 16, causal: true };

/** Forward FLOPs of attention with the convention in the file header. */
export function attentionForwardFlop(s: AttentionShape): number {
  return (4 * s.B * s.H * s.T * s.T * s.D) / (s.causal ? 2 : 1);
}

export async function benchAttention(shape: AttentionShape, threads: number, timing: TimingOptions, peakGflops: number | null): Promise<AttentionResult> {
  const th = await setKilnThreads(threads);
  const { B, H, T, D, causal } = shape;
  const gen = new Generator(1234);
  const q = randn([B, H, T, D], { generator: gen });
  const k = randn([B, H, T, D], { generator: gen });
  const v = randn([B, H, T, D], { generator: gen });
  const g = randn([B, H, T, D], { generator: gen });
  const tolerance = 1e-4;
  try {
    // correctness once: fused vs the composed-ops reference
    const err = noGrad(() =>
      tidy(() => {
        const fused = scaledDotProductAttention(q, k, v, { causal });
        const ref = scaledDotProductAttentionReference(q, k, v, { causal });
        return maxRelErr(fused.data() as Float32Array, ref.data() as Float32Array);
      }),
    );

    const fwd = timeSync(() => tidy(() => void scaledDotProductAttention(q, k, v, { causal })), timing);

    for (const t of [q, k, v]) t.requiresGrad_(true);
    const both = timeSync(() => {
      tidy(() => scaledDotProductAttention(q, k, v, { causal }).backward(g));
      for (const t of [q, k, v]) {
        t.grad?.dispose();
        t.grad = null;
      }
    }, timing);

    const forwardFlop = attentionForwardFlop(shape);
    const fwdBwdFlop = 3.5 * forwardFlop;
    const fwdBwdGflops = fwdBwdFlop / both.seconds / 1e9;
    return {
      shape,
      backend: getBackendName(),
      threads,
      threadsUsed: th.used,
      forwardFlop,
      fwdBwdFlop,
      forwardMs: fwd.seconds * 1e3,
      backwardMs: Math.max(0, both.seconds - fwd.seconds) * 1e3,
      fwdBwdMs: both.seconds * 1e3,
      forwardGflops: forwardFlop / fwd.seconds / 1e9,
      fwdBwdGflops,
      peakGflops,
      fwdBwdOverPeak: peakGflops ? fwdBwdGflops / peakGflops : null,
      check: { against: 'scaledDotProductAttentionReference', maxRelErr: err, tolerance, passed: err < tolerance },
      timing: { forward: fwd, fwdBwd: both },
    };
  } finally {
    for (const t of [q, k, v, g]) t.dispose();
  }
}
