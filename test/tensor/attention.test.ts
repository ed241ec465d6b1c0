/**
 * Tests for src/tensor/ops/attention.ts: the fused memory-efficient attention kernel against the composed
 * reference (forward and the gradients of q, k, v) over odd lengths, Dv ≠ D, grouped-query heads, bottom-right
 * causal masking, additive and boolean masks and fully masked rows; a finite-difference gradient check; and a
 * long-sequence run that must not allocate anything of the size of the T×T score matrix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Generator, Tensor, allocator, fromArray, full, mul, noGrad, randn, scaledDotProductAttention, scaledDotProductAttentionReference, sum, tidy, zeros,
  type AttentionOptions,
} from '../../src/tensor/index.js';
import { KilnError } from '../../src/errors.js';

type Attn = typeof scaledDotProductAttention;

interface Run {
  out: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** Forward plus the gradients of Σ out∘G with respect to q, k, v. */
function run(fn: Attn, q: Tensor, k: Tensor, v: Tensor, G: Tensor, opts: AttentionOptions): Run {
  return tidy(() => {
    const [qq, kk, vv] = [q, k, v].map((t) => t.detach().requiresGrad_());
    const out = fn(qq, kk, vv, opts);
    sum(mul(out, G)).backward();
    const copy = (t: Tensor | null) => Float32Array.from(t!.data() as Float32Array);
    const r = { out: copy(out), dq: copy(qq.grad), dk: copy(kk.grad), dv: copy(vv.grad) };
    for (const t of [qq, kk, vv]) t.dispose();
    return r;
  });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function assertClose(got: Float32Array, want: Float32Array, what: string, rtol = 1e-4, atol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = maxAbs(want);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    assert.ok(Number.isFinite(got[i]), `${what}[${i}] is ${got[i]}`);
    const d = Math.abs(got[i] - want[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  assert.ok(worst <= atol + rtol * scale, `${what}: max |diff| ${worst} at ${at} (got ${got[at]}, want ${want[at]}, scale ${scale})`);
}

interface Case {
  B: number; H: number; Hkv: number; Tq: number; Tk: number; D: number; Dv: number;
  causal?: boolean;
  mask?: 'additive' | 'bool' | 'rows';
  blockQ?: number;
  blockK?: number;
}

const CASES: Case[] = [
  { B: 1, H: 2, Hkv: 2, Tq: 1, Tk: 7, D: 8, Dv: 8 },
  { B: 1, H: 1, Hkv: 1, Tq: 1, Tk: 1, D: 8, Dv: 4, causal: true },
  { B: 2, H: 4, Hkv: 2, Tq: 7, Tk: 7, D: 16, Dv: 8, causal: true, blockQ: 3, blockK: 2 },
  { B: 1, H: 3, Hkv: 1, Tq: 33, Tk: 70, D: 8, Dv: 12, causal: true, blockQ: 16, blockK: 16 },
  { B: 1, H: 2, Hkv: 2, Tq: 1, Tk: 70, D: 16, Dv: 16, causal: true }, // one decode step against a KV cache
  { B: 2, H: 2, Hkv: 2, Tq: 70, Tk: 33, D: 16, Dv: 16, mask: 'additive', blockQ: 16, blockK: 7 },
  { B: 1, H: 4, Hkv: 2, Tq: 70, Tk: 70, D: 16, Dv: 24, causal: true, mask: 'bool' },
  { B: 1, H: 2, Hkv: 1, Tq: 9, Tk: 5, D: 8, Dv: 8, causal: true, blockK: 2 }, // Tq > Tk: first 4 rows see no key
  { B: 2, H: 2, Hkv: 1, Tq: 33, Tk: 33, D: 8, Dv: 16, mask: 'rows', blockQ: 8, blockK: 8 }, // some rows fully masked
];

/** The mask of a case and the (b, h, i) query rows it blocks completely. */
function makeMask(c: Case, gen: Generator): { mask: Tensor | undefined; dead: (b: number, h: number, i: number) => boolean } {
  const shift = c.Tk - c.Tq;
  const causalDead = (i: number) => !!c.causal && i + shift < 0;
  if (c.mask === 'additive') {
    // [B, 1, Tq, Tk]: random biases, ~20% blocked, the first key always open
    const a = new Float32Array(c.B * c.Tq * c.Tk);
    for (let i = 0; i < a.length; i++) a[i] = i % c.Tk !== 0 && gen.uniform() < 0.2 ? -Infinity : 2 * gen.uniform() - 1;
    return { mask: fromArray(a, [c.B, 1, c.Tq, c.Tk]), dead: (_b, _h, i) => causalDead(i) };
  }
  if (c.mask === 'bool') {
    // [Tq, Tk] keep mask, ~30% blocked, the diagonal always open so causal rows keep a key
    const a = new Uint8Array(c.Tq * c.Tk);
    for (let i = 0; i < c.Tq; i++) for (let j = 0; j < c.Tk; j++) a[i * c.Tk + j] = j === i + shift || gen.uniform() >= 0.3 ? 1 : 0;
    return { mask: fromArray(a, [c.Tq, c.Tk], { dtype: 'bool' }), dead: (_b, _h, i) => causalDead(i) };
  }
  if (c.mask === 'rows') {
    // [B, H, Tq, 1]: every third row of (b, h) = (1, 0) and row 0 of every (b, h) fully blocked
    const a = new Float32Array(c.B * c.H * c.Tq);
    const dead = (b: number, h: number, i: number) => i === 0 || (b === 1 && h === 0 && i % 3 === 0);
    for (let b = 0; b < c.B; b++) for (let h = 0; h < c.H; h++) for (let i = 0; i < c.Tq; i++) a[(b * c.H + h) * c.Tq + i] = dead(b, h, i) ? -Infinity : 0;
    return { mask: fromArray(a, [c.B, c.H, c.Tq, 1]), dead };
  }
  return { mask: undefined, dead: (_b, _h, i) => causalDead(i) };
}

for (const [n, c] of CASES.entries()) {
  const name = `B${c.B} H${c.H}/${c.Hkv} Tq${c.Tq} Tk${c.Tk} D${c.D} Dv${c.Dv}${c.causal ? ' causal' : ''}${c.mask ? ` mask=${c.mask}` : ''}`;
  test(`fused attention = composed reference, forward and dq/dk/dv: ${name}`, () => {
    const gen = new Generator(100 + n);
    const q = randn([c.B, c.H, c.Tq, c.D], { generator: gen });
    const k = randn([c.B, c.Hkv, c.Tk, c.D], { generator: gen });
    const v = randn([c.B, c.Hkv, c.Tk, c.Dv], { generator: gen });
    const G = randn([c.B, c.H, c.Tq, c.Dv], { generator: gen });
    const { mask, dead } = makeMask(c, gen);
    const opts: AttentionOptions = { causal: c.causal, mask, blockQ: c.blockQ, blockK: c.blockK };
    const fused = run(scaledDotProductAttention, q, k, v, G, opts);
    const ref = run(scaledDotProductAttentionReference, q, k, v, G, opts);
    assertClose(fused.out, ref.out, 'out');
    assertClose(fused.dq, ref.dq, 'dq');
    assertClose(fused.dk, ref.dk, 'dk');
    assertClose(fused.dv, ref.dv, 'dv');
    // fully blocked rows: output exactly 0 and no gradient into q; live rows are not all zero
    let deadRows = 0;
    for (let b = 0; b < c.B; b++)
      for (let h = 0; h < c.H; h++)
        for (let i = 0; i < c.Tq; i++) {
          const row = (b * c.H + h) * c.Tq + i;
          const o = fused.out.subarray(row * c.Dv, (row + 1) * c.Dv);
          const g = fused.dq.subarray(row * c.D, (row + 1) * c.D);
          if (dead(b, h, i)) {
            deadRows++;
            assert.ok(o.every((x) => x === 0) && g.every((x) => x === 0), `row (${b}, ${h}, ${i}) is fully masked but has output/gradient`);
          } else assert.ok(o.some((x) => x !== 0), `row (${b}, ${h}, ${i}) is live but outputs 0`);
        }
    if (c.mask === 'rows' || (c.causal && c.Tq > c.Tk)) assert.ok(deadRows > 0);
    for (const t of [q, k, v, G, mask]) t?.dispose();
  });
}

test('block sizes change nothing beyond rounding', () => {
  const gen = new Generator(7);
  const q = randn([1, 2, 45, 16], { generator: gen });
  const k = randn([1, 2, 61, 16], { generator: gen });
  const v = randn([1, 2, 61, 8], { generator: gen });
  const G = randn([1, 2, 45, 8], { generator: gen });
  const a = run(scaledDotProductAttention, q, k, v, G, { causal: true, blockQ: 1, blockK: 1 });
  const b = run(scaledDotProductAttention, q, k, v, G, { causal: true, blockQ: 64, blockK: 64 });
  const c = run(scaledDotProductAttention, q, k, v, G, { causal: true, blockQ: 13, blockK: 9 });
  for (const key of ['out', 'dq', 'dk', 'dv'] as const) {
    assertClose(a[key], b[key], `${key} (1×1 vs 64×64 tiles)`, 1e-6, 1e-6);
    assertClose(c[key], b[key], `${key} (13×9 vs 64×64 tiles)`, 1e-6, 1e-6);
  }
});

test('hand-computed values: zero queries average the visible values; scale and causality apply', () => {
  // q = 0 → uniform weights over the keys each row may see (bottom-right causal, Tq = 2, Tk = 3)
  const q = zeros([1, 1, 2, 2]);
  const k = fromArray([1, 0, 0, 1, 1, 1], [1, 1, 3, 2]);
  const v = fromArray([3, 6, 9], [1, 1, 3, 1]);
  const out = scaledDotProductAttention(q, k, v, { causal: true }).data() as Float32Array;
  // row 0 sees keys 0..1 → (3 + 6)/2; row 1 sees keys 0..2 → 6
  assert.deepEqual(Array.from(out), [4.5, 6]);
  // one query, two keys with scores s·(1, 0): softmax weights (e^s, 1)/(e^s + 1)
  const q1 = fromArray([1, 0], [1, 1, 1, 2]);
  const k1 = fromArray([1, 0, 0, 0], [1, 1, 2, 2]);
  const v1 = fromArray([1, 0], [1, 1, 2, 1]);
  for (const scale of [0.5, 2]) {
    const y = scaledDotProductAttention(q1, k1, v1, { scale }).item();
    assert.ok(Math.abs(y - Math.exp(scale) / (Math.exp(scale) + 1)) < 1e-6, `scale ${scale}: ${y}`);
  }
  const yDefault = scaledDotProductAttention(q1, k1, v1).item();
  const s = 1 / Math.sqrt(2);
  assert.ok(Math.abs(yDefault - Math.exp(s) / (Math.exp(s) + 1)) < 1e-6, 'default scale 1/√D');
});

test('finite differences agree with the fused backward (GQA, causal, additive mask, Dv ≠ D)', () => {
  const gen = new Generator(3);
  const [B, H, Hkv, Tq, Tk, D, Dv] = [1, 2, 1, 3, 4, 3, 2];
  const q = randn([B, H, Tq, D], { generator: gen });
  const k = randn([B, Hkv, Tk, D], { generator: gen });
  const v = randn([B, Hkv, Tk, Dv], { generator: gen });
  const G = randn([B, H, Tq, Dv], { generator: gen });
  const mask = fromArray([0, 0.5, -Infinity, -0.3, 0.2, 0, 0, 0, 0, -1, 0.7, 0], [Tq, Tk]);
  const opts: AttentionOptions = { causal: true, mask, blockQ: 2, blockK: 3 };
  const analytic = run(scaledDotProductAttention, q, k, v, G, opts);
  const g = G.data() as Float32Array;
  const loss = (): number =>
    noGrad(() => {
      const y = scaledDotProductAttention(q, k, v, opts);
      const o = y.data() as Float32Array;
      let s = 0;
      for (let i = 0; i < o.length; i++) s += o[i] * g[i];
      y.dispose();
      return s;
    });
  for (const [name, t, want] of [['q', q, analytic.dq], ['k', k, analytic.dk], ['v', v, analytic.dv]] as const) {
    const x = t.storage.data as Float32Array;
    const numeric = new Float32Array(t.size);
    for (let i = 0; i < t.size; i++) {
      const x0 = x[i];
      x[i] = x0 + 1e-2;
      const up = x[i];
      const lp = loss();
      x[i] = x0 - 1e-2;
      const dn = x[i];
      const lm = loss();
      x[i] = x0;
      numeric[i] = (lp - lm) / (up - dn);
    }
    assertClose(want, numeric, `d${name} vs finite differences`, 1e-2, 1e-3);
    assert.ok(maxAbs(numeric) > 1e-2, `d${name} is not trivially zero`);
  }
});

test('long sequence: the fused forward and backward never allocate a T×T buffer', () => {
  const T = 2048;
  const D = 16;
  const gen = new Generator(11);
  const q = randn([1, 1, T, D], { generator: gen });
  const k = randn([1, 1, T, D], { generator: gen });
  const v = randn([1, 1, T, D], { generator: gen });
  const scoreBytes = T * T * 4; // 16 MiB
  const before = allocator.liveBytes;
  allocator.peakBytes = before;
  // kernels' own scratch (typed arrays outside the allocator) shows in V8's arrayBuffers count until collected
  const jsBefore = process.memoryUsage().arrayBuffers;
  const out = noGrad(() => scaledDotProductAttention(q, k, v, { causal: true }));
  const jsGrowth = process.memoryUsage().arrayBuffers - jsBefore;
  const fwdPeak = allocator.peakBytes - before;
  assert.ok(jsGrowth < scoreBytes / 16, `array buffers grew by ${jsGrowth} bytes during the forward`);
  // exactly the output [T, D] is still live (the saved log-sum-exp was freed since nothing needs a gradient)
  assert.ok(allocator.liveBytes - before <= T * D * 4 * 1.25, `live after forward: ${allocator.liveBytes - before} bytes`);
  assert.ok(fwdPeak < scoreBytes / 64, `forward peak ${fwdPeak} bytes vs a T×T score matrix of ${scoreBytes}`);
  // sanity: the last row sees every key, so its output is a convex combination of v rows
  const o = out.data() as Float32Array;
  assert.ok(o.every(Number.isFinite));
  out.dispose();
  tidy(() => {
    const [qq, kk, vv] = [q, k, v].map((t) => t.detach().requiresGrad_());
    const base = allocator.liveBytes;
    allocator.peakBytes = base;
    const js0 = process.memoryUsage().arrayBuffers;
    const y = scaledDotProductAttention(qq, kk, vv, { causal: true });
    y.backward(Tensor.ones(y.shape));
    const js = process.memoryUsage().arrayBuffers - js0;
    assert.ok(js < scoreBytes / 8, `array buffers grew by ${js} bytes during forward+backward`);
    const peak = allocator.peakBytes - base;
    assert.ok(peak < scoreBytes / 16, `forward+backward peak ${peak} bytes vs a T×T score matrix of ${scoreBytes}`);
    assert.ok((kk.grad!.data() as Float32Array).every(Number.isFinite));
    for (const t of [qq, kk, vv]) t.dispose();
  });
  for (const t of [q, k, v]) t.dispose();
});

test('shape, mask and option errors are reported', () => {
  const q = zeros([1, 3, 2, 4]);
  const k = zeros([1, 2, 5, 4]);
  const v = zeros([1, 2, 5, 4]);
  const kErr = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof KilnError && re.test(e.message));
  kErr(() => scaledDotProductAttention(q, k, v), /divide/);
  kErr(() => scaledDotProductAttention(zeros([2, 4]), k, v), /4-D/);
  const q2 = zeros([1, 2, 2, 4]);
  kErr(() => scaledDotProductAttention(q2, k, zeros([1, 2, 6, 4])), /same heads and length/);
  kErr(() => scaledDotProductAttention(q2, zeros([1, 2, 5, 3]), v), /head dim/);
  kErr(() => scaledDotProductAttention(q2, k, v, { mask: zeros([3, 5]) }), /does not broadcast/);
  kErr(() => scaledDotProductAttention(q2, k, v, { mask: zeros([2, 5], { dtype: 'bf16' }) }), /dtype/);
  kErr(() => scaledDotProductAttention(q2, k, v, { blockK: 0 }), /blockK/);
  // a well-formed call with a [B, 1, 1, Tk] padding mask works
  assert.deepEqual(scaledDotProductAttention(q2, k, v, { mask: full([1, 1, 1, 5], 1, { dtype: 'bool' }) }).shape, [1, 2, 2, 4]);
});

test('strided inputs ([B, T, H, D] tensors viewed as [B, H, T, D]) give the contiguous result, with gradients', () => {
  const gen = new Generator(21);
  const [B, T, H, D] = [2, 6, 4, 8];
  const q = randn([B, T, H, D], { generator: gen }).transpose(1, 2);
  const k = randn([B, T, 2, D], { generator: gen }).transpose(1, 2);
  const v = randn([B, T, 2, D], { generator: gen }).transpose(1, 2);
  const G = randn([B, H, T, D], { generator: gen });
  assert.ok(!q.isContiguous && !k.isContiguous);
  const strided = run(scaledDotProductAttention, q, k, v, G, { causal: true });
  const dense = run(scaledDotProductAttention, q.contiguous(), k.contiguous(), v.contiguous(), G, { causal: true });
  for (const key of ['out', 'dq', 'dk', 'dv'] as const) assert.deepEqual(strided[key], dense[key], key);
});
