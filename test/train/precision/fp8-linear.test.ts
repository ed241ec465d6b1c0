/**
 * fp8Linear against f32 and against an f64 reference built from the very FP8 operands; fine-grained vs per-tensor
 * scaling on outliers; the promotion interval; gradients; bf16 mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { bf16Linear, chunkedDot, dequantize, e4m3Table, fp8Linear, quantizeTiles, roundBf16, roundBf16Array, scaledGemm } from '../../../src/train/precision/index.js';

/** ‖a − b‖ / ‖b‖ over the elements selected by `keep`. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, keep: (i: number) => boolean = () => true): number {
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) if (keep(i)) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
}

/** f64 C[M, N] = A[M, K]·B[K, N] with element accessors. */
function ref64(M: number, N: number, K: number, A: (m: number, k: number) => number, B: (k: number, n: number) => number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let kk = 0; kk < K; kk++) s += A(m, kk) * B(kk, n);
    out[m * N + n] = s;
  }
  return out;
}

const f32 = (t: k.Tensor) => t.data() as Float32Array;

test('fp8 linear = f64 GEMM of its dequantised FP8 operands (partial tiles on every edge), and within E4M3 error of f32', () => {
  const g = new k.Generator(11);
  const [M, K, N] = [37, 300, 200]; // K: 128 + 128 + 44; N: one full and one partial 128-block
  const x = k.randn([M, K], { generator: g });
  const w = k.randn([N, K], { generator: g }).mul(0.05);
  const y = f32(fp8Linear(x, w));
  const dx = dequantize(quantizeTiles(f32(x), M, K, 1, 128));
  const dw = dequantize(quantizeTiles(f32(w), N, K, 128, 128));
  const r = ref64(M, N, K, (m, kk) => dx[m * K + kk], (kk, n) => dw[n * K + kk]);
  assert.ok(relErr(y, r) < 2e-6, `vs its own FP8 operands: ${relErr(y, r)}`);
  const e = relErr(y, f32(x.matmul(w.mT)));
  // two E4M3 operands (3 mantissa bits, ~2.5% rms relative rounding each) → ~3.5% relative output error
  assert.ok(e > 1e-2 && e < 5e-2, `fp8 vs f32 relative error ${e}`);
});

test('fine-grained (1×128, 128×128) scaling beats per-tensor scaling by far on activations with outliers', () => {
  const g = new k.Generator(12);
  const [M, K, N] = [64, 512, 128];
  const base = new Float32Array(f32(k.randn([M, K], { generator: g })));
  const w = k.randn([N, K], { generator: g }).mul(0.05);
  const ratios: number[] = [];
  for (const outlier of [1e4, 1e5, 1e6]) {
    const xd = new Float32Array(base);
    const outlierRows = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const r = (i * 23 + 5) % M;
      outlierRows.add(r);
      xd[r * K + ((i * 149) % K)] = (i % 2 ? 1 : -1) * outlier; // a few huge activations, as in LLMs
    }
    const x = k.fromArray(xd, [M, K]);
    const ref = f32(x.matmul(w.mT));
    const clean = (i: number) => !outlierRows.has(Math.floor(i / N));
    const tile = relErr(f32(fp8Linear(x, w)), ref, clean);
    const tensor = relErr(f32(fp8Linear(x, w, null, { granularity: 'tensor' })), ref, clean);
    // tile-wise: the outliers only coarsen their own tiles; the other rows keep the plain E4M3 error
    assert.ok(tile < 5e-2, `tile-wise error ${tile} at outliers ${outlier}`);
    assert.ok(relErr(f32(fp8Linear(x, w)), ref) < 5e-2, `tile-wise error incl. outlier rows at ${outlier}`);
    ratios.push(tensor / tile);
  }
  // 1e4: E4M3's exponent range still holds |x|/22 as normals (ratio ~1); 1e5, 1e6: scale = outlier/448 pushes the ordinary activations (|x| ~ 1) into E4M3's subnormals, then to zero
  assert.ok(ratios[0] > 0.95 && ratios[1] > 3 && ratios[2] > 15, `per-tensor / tile-wise error ratios ${ratios.map((r) => r.toFixed(2))}`);
});

test('promotion every 128 products matters with a ~14-bit accumulator (K = 4096)', () => {
  const t = e4m3Table();
  const g = new k.Generator(5);
  const K = 4096;
  const a = new Float32Array(K), b = new Float32Array(K);
  let exact = 0;
  for (let i = 0; i < K; i++) {
    a[i] = t[0x30 + Math.floor(g.uniform() * 16)]; // E4M3 values in [0.5, 2)
    b[i] = t[0x30 + Math.floor(g.uniform() * 16)];
    exact += a[i] * b[i];
  }
  const noPromotion = chunkedDot(a, b, 14, Infinity);
  const promoted = chunkedDot(a, b, 14, 128);
  const errNo = Math.abs(noPromotion - exact), errPro = Math.abs(promoted - exact);
  assert.ok(errNo / exact > 5e-4, `without promotion relative error ${errNo / exact}`);
  assert.ok(errNo > 10 * errPro, `no promotion ${errNo} vs promoted ${errPro}`);
  assert.ok(Math.abs(chunkedDot(a, b, null, 128) - exact) / exact < 1e-6); // f32 partial sums: near exact here

  // the same through the GEMM: one row of 4096 with per-tensor scales, 14-bit accumulator, interval 128 vs none
  const qa = quantizeTiles(a, 2, K / 2, 2, K / 2); // reshape-free: two rows of 2048 so M = 2
  const qb = quantizeTiles(b, 2, K / 2, 2, K / 2); // read transposed: B stored [N = 2, K]
  const r = ref64(2, 2, K / 2, (m, kk) => dequantize(qa)[m * (K / 2) + kk], (kk, n) => dequantize(qb)[n * (K / 2) + kk]);
  const chunked = scaledGemm(qa, false, qb, true, { interval: 128, accumulatorBits: 14 });
  const flat = scaledGemm(qa, false, qb, true, { interval: Infinity, accumulatorBits: 14 });
  const fast = scaledGemm(qa, false, qb, true, { interval: 128 });
  assert.ok(relErr(fast, r) < 1e-6);
  assert.ok(relErr(flat, r) > 10 * relErr(chunked, r), `flat ${relErr(flat, r)} vs chunked ${relErr(chunked, r)}`);
});

test('fp8 gradients: dgrad and wgrad equal f64 GEMMs of their FP8 operands and are close to the f32 gradients', () => {
  const g = new k.Generator(13);
  const [M, K, N] = [130, 150, 140]; // partial tiles along every dim, wgrad's 128×1 tiles split M = 128 + 2
  const xd = f32(k.randn([M, K], { generator: g }));
  const wd = f32(k.randn([N, K], { generator: g }).mul(0.05));
  const up = k.randn([M, N], { generator: g });
  const run = (lin: (x: k.Tensor, w: k.Tensor) => k.Tensor) => {
    const x = k.fromArray(xd, [M, K]).requiresGrad_();
    const w = k.fromArray(wd, [N, K]).requiresGrad_();
    lin(x, w).mul(up).sum().backward();
    return { dx: new Float32Array(f32(x.grad!)), dw: new Float32Array(f32(w.grad!)) };
  };
  const q = run((x, w) => fp8Linear(x, w));
  const r = run((x, w) => x.matmul(w.mT));
  const ud = f32(up);
  // dgrad: dy in 1×128 tiles along N × the forward's 128×128 W blocks
  const gq = dequantize(quantizeTiles(ud, M, N, 1, 128));
  const wq = dequantize(quantizeTiles(wd, N, K, 128, 128));
  assert.ok(relErr(q.dx, ref64(M, K, N, (m, n) => gq[m * N + n], (n, kk) => wq[n * K + kk])) < 2e-6);
  // wgrad: dyᵀ and the FP8-cached x, both re-tiled 128×1 along M
  const gT = dequantize(quantizeTiles(ud, M, N, 128, 1));
  const xT = dequantize(quantizeTiles(dequantize(quantizeTiles(xd, M, K, 1, 128)), M, K, 128, 1));
  assert.ok(relErr(q.dw, ref64(N, K, M, (n, m) => gT[m * N + n], (m, kk) => xT[m * K + kk])) < 2e-6);
  const ex = relErr(q.dx, r.dx), ew = relErr(q.dw, r.dw);
  assert.ok(ex > 5e-3 && ex < 5e-2, `dgrad vs f32: ${ex}`);
  assert.ok(ew > 5e-3 && ew < 6e-2, `wgrad vs f32: ${ew}`);
});

test('fp8 linear on a batched input [B, T, K] with bias; gradient flows to the bias in f32', () => {
  const g = new k.Generator(14);
  const x = k.randn([2, 3, 40], { generator: g }).requiresGrad_();
  const w = k.randn([24, 40], { generator: g }).mul(0.1).requiresGrad_();
  const b = k.randn([24], { generator: g }).requiresGrad_();
  const y = fp8Linear(x, w, b);
  assert.deepEqual(y.shape, [2, 3, 24]);
  const ref = x.matmul(w.mT).add(b);
  assert.ok(relErr(f32(y), f32(ref)) < 5e-2);
  y.sum().backward();
  assert.deepEqual(x.grad!.shape, [2, 3, 40]);
  assert.deepEqual([...f32(b.grad!)], new Array(24).fill(6));
  assert.throws(() => fp8Linear(k.randn([2, 39]), w), /in_features = 40/);
});

test('bf16: RNE rounding cases, and the bf16 linear within bf16 error of f32 with an f32 weight gradient', () => {
  const r = roundBf16Array(Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 2 ** -7), 3.4e38, NaN]));
  assert.deepEqual([...r.slice(0, 4)], [1, 1 + 2 ** -6, 1 + 2 ** -7, -(1 + 2 ** -7)]);
  assert.equal(r[4], Infinity); // rounds past bf16's max 3.3895e38
  assert.ok(Number.isNaN(r[5]));
  const g = new k.Generator(15);
  const x = k.randn([16, 96], { generator: g }).requiresGrad_();
  const w = k.randn([32, 96], { generator: g }).mul(0.1).requiresGrad_();
  const y = bf16Linear(x, w);
  const e = relErr(f32(y), f32(x.matmul(w.mT)));
  assert.ok(e > 1e-4 && e < 1e-2, `bf16 vs f32 ${e}`);
  for (const v of f32(y)) assert.equal(Math.fround(v), roundBf16Array(Float32Array.of(v))[0]); // outputs are bf16 values
  y.sum().backward();
  // dW = 1ᵀ·bf16(x) exactly (f32 sum of bf16 inputs) — it is not rounded to bf16
  const xb = f32(roundBf16(x.detach()));
  const colSum = new Float64Array(96);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 96; j++) colSum[j] += xb[i * 96 + j];
  const dw = f32(w.grad!);
  for (let o = 0; o < 32; o++) for (let j = 0; j < 96; j++) assert.ok(Math.abs(dw[o * 96 + j] - colSum[j]) < 1e-5);
});

test('the ~14-bit accumulator path of fp8Linear stays close to the f32-chunk path at K = 256 (promotion bounds it)', () => {
  const g = new k.Generator(16);
  const x = k.randn([6, 256], { generator: g });
  const w = k.randn([10, 256], { generator: g }).mul(0.1);
  const fast = f32(fp8Linear(x, w));
  const limited = f32(fp8Linear(x, w, null, { accumulatorBits: 14 }));
  const e = relErr(limited, fast);
  assert.ok(e > 0 && e < 1e-3, `14-bit vs f32 partial sums: ${e}`);
  assert.deepEqual([...f32(fp8Linear(x, w, null, { accumulatorBits: 30 }))].map((v, i) => Math.abs(v - fast[i]) <= 1e-6 * Math.abs(fast[i]) + 1e-9), new Array(60).fill(true));
  assert.throws(() => fp8Linear(x, w, null, { tile: 128, interval: 96 }), /must divide/);
});
