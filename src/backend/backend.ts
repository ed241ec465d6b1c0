/**
 * The Backend interface: coarse kernels over raw typed arrays. The `ts` backend (src/backend/ts/) implements every
 * kernel in plain TypeScript and is the reference; the `native` backend overrides the hot ones with the N-API addon
 * and inherits the rest. Kernels never allocate tensors or record gradients: src/tensor/ops does that.
 *
 * Conventions: `View` describes a strided f32 (or i32) array; "contig" arguments are dense row-major. Outputs are
 * preallocated by the caller and fully overwritten unless a kernel says it accumulates.
 */
import type { StorageArray } from '../tensor/dtype.js';

export interface View<A extends StorageArray = Float32Array> {
  data: A;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'silu'
  | 'gelu' | 'geluTanh' | 'relu' | 'sign' | 'square' | 'reciprocal' | 'erf'
  // derivatives d/dx of silu, gelu and gelu(tanh) (their backward passes: one kernel instead of a chain of ops)
  | 'siluGrad' | 'geluGrad' | 'geluTanhGrad';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type ReduceOp = 'sum' | 'max' | 'min';

export interface Backend {
  readonly name: string;

  // ── elementwise ──
  /** out[i] = op(x[i]) over x's shape (out contiguous in x.shape order). */
  unary(op: UnaryOp, x: View, out: Float32Array): void;
  /** out = op(a, b); a and b are already broadcast to `shape` (stride 0 on broadcast dims). */
  binary(op: BinaryOp, a: View, b: View, shape: readonly number[], out: Float32Array): void;
  /** out = op(a, s) (or op(s, a) when `scalarFirst`). */
  binaryScalar(op: BinaryOp, a: View, s: number, out: Float32Array, scalarFirst: boolean): void;
  /** out = cond != 0 ? a : b, all three already broadcast to `shape`. */
  where(cond: View, a: View, b: View, shape: readonly number[], out: Float32Array): void;
  /** Strided copy between same-dtype views of equal shape. */
  copy(src: View<StorageArray>, dst: View<StorageArray>): void;
  /** out[start, end) = value. */
  fill(out: Float32Array, value: number, start?: number, end?: number): void;

  // ── reductions over the middle axis of a contiguous [outer, r, inner] array → [outer, inner] ──
  reduce(op: ReduceOp, x: Float32Array, outer: number, r: number, inner: number, out: Float32Array): void;
  /** Index of the max (or min) along the middle axis, first occurrence wins. */
  argReduce(op: 'max' | 'min', x: Float32Array, outer: number, r: number, inner: number, out: Int32Array): void;

  // ── GEMM ──
  /**
   * Row-major batched strided GEMM: for b < batch, C_b = alpha·op(A_b)·op(B_b) + beta·C_b with op(A) M×K,
   * op(B) K×N; offsets, leading dims and batch strides in elements (a batch stride of 0 broadcasts). beta = 0
   * ignores C's old contents.
   */
  gemm(
    batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOff: number, lda: number, strideA: number,
    B: Float32Array, bOff: number, ldb: number, strideB: number,
    beta: number, C: Float32Array, cOff: number, ldc: number, strideC: number,
  ): void;

  // ── fused NN kernels on contiguous [rows, cols] ──
  softmax(x: Float32Array, rows: number, cols: number, out: Float32Array, log: boolean): void;
  /** dx from y = softmax(x) (or log-softmax when `log`) and dy. */
  softmaxBackward(y: Float32Array, dy: Float32Array, rows: number, cols: number, dx: Float32Array, log: boolean): void;
  /**
   * Cross-entropy per row with label smoothing; rows whose target is `ignoreIndex` get loss 0 and zero gradient.
   * Writes loss[r]; when `dlogits` is given also writes ∂loss[r]/∂logits (softmax − smoothed one-hot).
   */
  crossEntropy(
    logits: Float32Array, rows: number, cols: number, targets: Int32Array, ignoreIndex: number, smoothing: number,
    loss: Float32Array, dlogits: Float32Array | null,
  ): void;
  /** y = x · rsqrt(mean(x²) + eps) · w; writes rstd[rows]. `w` may be null (no affine). */
  rmsNorm(x: Float32Array, w: Float32Array | null, rows: number, cols: number, eps: number, y: Float32Array, rstd: Float32Array): void;
  /** dx (and dw accumulated into `dw` when given). */
  rmsNormBackward(
    x: Float32Array, w: Float32Array | null, rstd: Float32Array, dy: Float32Array, rows: number, cols: number,
    dx: Float32Array, dw: Float32Array | null,
  ): void;
  /** y = (x − mean)·rstd·w + b; writes mean[rows], rstd[rows]. w/b may be null. */
  layerNorm(
    x: Float32Array, w: Float32Array | null, b: Float32Array | null, rows: number, cols: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array,
  ): void;
  /** dx, and dw/db accumulated when given. */
  layerNormBackward(
    x: Float32Array, w: Float32Array | null, mean: Float32Array, rstd: Float32Array, dy: Float32Array, rows: number,
    cols: number, dx: Float32Array, dw: Float32Array | null, db: Float32Array | null,
  ): void;

  // ── indexing on contiguous [outer, n, inner] ──
  /** out[o, j, i] = x[o, idx[j], i] for j < idx.length. */
  indexSelect(x: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, out: Float32Array): void;
  /** acc[o, idx[j], i] += src[o, j, i] (acc has n rows on the middle axis). */
  indexAdd(acc: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, src: Float32Array): void;
  /** Along the middle axis: out[o, j, i] = x[o, idx[o, j, i], i] (torch.gather); idx has m on the middle axis. */
  gather(x: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, m: number, out: Float32Array): void;
  /** acc[o, idx[o, j, i], i] += src[o, j, i] (torch.scatter_add). */
  scatterAdd(acc: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, m: number, src: Float32Array): void;
  /**
   * AdamW with f32 moments, elementwise over equal-length arrays, in double: m ← b1·m + (1−b1)·g,
   * v ← b2·v + (1−b2)·g², w ← w·decay − lr·m·c1 / (√(v·c2) + eps) (m, v before their rounding to f32).
   */
  adamwStep(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, c1: number, c2: number, lr: number, decay: number, eps: number): void;
  /** Σ x[i]² in double: per block of 2^15 elements, then the block sums in order. */
  sumSquares(x: Float32Array): number;
  /** Top-k along the last axis of contiguous [rows, cols] (sorted descending when largest, ties → lower index). */
  topk(x: Float32Array, rows: number, cols: number, k: number, largest: boolean, values: Float32Array, indices: Int32Array): void;

  // ── convolution (one sample; spatial rank 1..3; each size array has one entry per spatial dim, outermost first) ──
  /**
   * im2col: x [C, ...inSize] → col [C·prod(kernel), outCount·prod(outSize[1:])], row (c, k...), column (o...):
   * col[(c, k), o] = x[c, o·stride − padding + k·dilation], 0 in the padding. Only output positions whose outermost
   * index o[0] lies in [outStart, outStart + outCount) are written (chunking bounds the buffer). `padding` is the
   * leading pad per dim (the trailing pad is implied by outSize).
   */
  im2col(
    x: Float32Array, channels: number, inSize: readonly number[], kernel: readonly number[], stride: readonly number[],
    padding: readonly number[], dilation: readonly number[], outSize: readonly number[], outStart: number,
    outCount: number, col: Float32Array,
  ): void;
  /**
   * col2im, the adjoint of im2col for the same chunk: ACCUMULATES each col entry into the x [C, ...inSize] position
   * im2col read it from (the caller zeroes x once before the first chunk).
   */
  col2im(
    col: Float32Array, channels: number, inSize: readonly number[], kernel: readonly number[], stride: readonly number[],
    padding: readonly number[], dilation: readonly number[], outSize: readonly number[], outStart: number,
    outCount: number, x: Float32Array,
  ): void;

  // ── attention and rotary embeddings (src/backend/ts/attention.ts, rope.ts) ──
  /**
   * Memory-efficient attention forward (online softmax over key blocks; the Tq×Tk scores are never stored).
   * q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] contiguous, H % Hkv == 0 (query head h reads kv head
   * ⌊h·Hkv/H⌋). `mask`: null or an additive f32 view broadcast to [B, H, Tq, Tk] (−Infinity blocks). `causal`: query
   * i sees keys j ≤ i + Tk − Tq. Writes out [B, H, Tq, Dv] and lse [B, H, Tq] (log-sum-exp of each row's scaled
   * scores; −Infinity, with output 0, for a row whose keys are all blocked).
   */
  attentionForward(
    q: Float32Array, k: Float32Array, v: Float32Array, mask: View | null,
    B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number, Dv: number,
    scale: number, causal: boolean, blockQ: number, blockK: number, out: Float32Array, lse: Float32Array,
  ): void;
  /**
   * Its backward: recomputes the scores block by block from q, k, mask and lse; writes dq [B, H, Tq, D],
   * dk [B, Hkv, Tk, D] and dv [B, Hkv, Tk, Dv] (all overwritten; dk/dv summed over the query heads of a kv head).
   */
  attentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, mask: View | null, out: Float32Array, lse: Float32Array,
    dout: Float32Array, B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number, Dv: number,
    scale: number, causal: boolean, blockQ: number, blockK: number, dq: Float32Array, dk: Float32Array, dv: Float32Array,
  ): void;
  /**
   * Rotary embedding of contiguous x [rows, D] (rotating its first `rotaryDim` columns, copying the rest): row r
   * uses row r % tableRows of the contiguous cos/sin tables [tableRows, rotaryDim/2]. Pairs are (2i, 2i+1) when
   * `interleaved`, else (i, i + rotaryDim/2); each pair (a, b) → (a·cos − b·sin, b·cos + a·sin), or by −θ when
   * `inverse` (the gradient).
   */
  rotary(
    x: Float32Array, rows: number, D: number, rotaryDim: number, cos: Float32Array, sin: Float32Array,
    tableRows: number, interleaved: boolean, inverse: boolean, out: Float32Array,
  ): void;

  // ── DeepSeek-V3 fused decode (src/backend/ts/deepseek.ts; a few new rows of one sequence per call) ──
  /**
   * One absorbed-MLA attention half of a decoder layer for T new rows x [T, d] at positions cacheLen … cacheLen + T − 1:
   * out[t] = x[t] + o_proj(MLA(input_layernorm(x[t]))) (out may be x itself). `dims` = [d, H, n, p, v, r, qr, eps,
   * scale, interleaved] (`MLA_DIMS`); with qr = 0 (no q LoRA) qA and qANorm are null and qB is q_proj [H(n+p), d].
   * Weights are the HF layouts: norm [d], qA [qr, d], qANorm [qr], qB [H(n+p), qr], kvA [r+p, d], kvANorm [r],
   * kvB [H(n+v), r], o [d, H·v]; cos/sin [T, p/2] are the rows of the T positions. The latent cache is [≥ cacheLen + T,
   * r + p] rows of [c, kᴿ]; the new rows are written at cacheLen … and attended causally.
   */
  mlaDecode(
    x: Float32Array, T: number, dims: Float64Array, norm: Float32Array, qA: Float32Array | null, qANorm: Float32Array | null,
    qB: Float32Array, kvA: Float32Array, kvANorm: Float32Array, kvB: Float32Array, o: Float32Array, cos: Float32Array,
    sin: Float32Array, cache: Float32Array, cacheLen: number, out: Float32Array,
  ): void;
  /**
   * The MLP half of a decoder layer for T rows h [T, d]: out[t] = h[t] + Σ_k g_k·SwiGLU_e_k(m) + SwiGLU_shared(m),
   * m = rmsnorm(h[t]) (out may be h itself). `dims` = [d, eps, E, K, G, kg, normTopk, routedScale, I, Is]
   * (`MOE_DIMS`). Routing (E > 0): s = sigmoid(gate·m) [E]; the kg groups with the largest sums of their top-2 of
   * s + bias are kept, the K largest s + bias among them chosen (ties → lower index, in descending order);
   * g_k = s_k / (Σ s + 1e−20) when normTopk, × routedScale. experts = [gate, up, down] of every routed expert (3E
   * arrays: [I, d], [I, d], [d, I]). Is > 0: the shared expert's [Is, d], [Is, d], [d, Is]; E = 0 with Is > 0 is a
   * dense SwiGLU MLP. `ids` (optional) receives the chosen experts [T, K].
   */
  moeDecode(
    h: Float32Array, T: number, dims: Float64Array, norm: Float32Array, gate: Float32Array | null, bias: Float32Array | null,
    experts: readonly Float32Array[] | null, sharedGate: Float32Array | null, sharedUp: Float32Array | null,
    sharedDown: Float32Array | null, out: Float32Array, ids: Int32Array | null,
  ): void;
  /**
   * y [T, N] = x [T, K] · w [N, K]ᵀ for a few rows (T ≤ 64; the head and eh_proj at decode time): the weight read
   * once for all rows, where a general GEMM would pack it first. y must not overlap x or w.
   */
  linearRows(x: Float32Array, T: number, K: number, w: Float32Array, N: number, y: Float32Array): void;
  /**
   * DeepSeek-V3 expert selection: ids [N, K] = the group-limited top-K of scores [N, E] + bias [E] (`moeDecode`'s
   * routing rule without the gates: kg of G groups kept by the sum of their two largest biased scores, others −∞;
   * ties → lower index; descending order).
   */
  moeSelect(scores: Float32Array, N: number, E: number, bias: Float32Array, K: number, G: number, kg: number, ids: Int32Array): void;
  /**
   * Greedy head: ids[t] = argmax_i of (h [T, K] · w [N, K]ᵀ)[t, i] (ties → lower index) — the argmax of
   * `linearRows`' logits. `wb` (the bf16 bits of w, round-to-nearest-even) and `wNorm` (‖w_i‖₂) let an implementation
   * stream half the bytes and recompute only the rows whose error interval can hold the maximum; the result is exact.
   * w must be finite.
   */
  headArgmax(h: Float32Array, T: number, K: number, w: Float32Array, wb: Uint16Array, wNorm: Float32Array, N: number, ids: Int32Array): void;

  // ── DeepSeek-V3 training (src/backend/ts/deepseek-train.ts) ──
  /**
   * Cross-entropy over contiguous logits x [rows, cols] that overwrites them with their gradient: loss[r] =
   * logsumexp(x_r) − x_r[t] and x_r ← softmax(x_r) − onehot(t), t = targets[r]; a row whose target is ignoreIndex
   * gets loss 0 and a zero row (the fused LM-head loss: the logits buffer becomes its own gradient).
   */
  crossEntropyInPlace(x: Float32Array, rows: number, cols: number, targets: Int32Array, ignoreIndex: number, loss: Float32Array): void;
  /**
   * MoE combine: out[n, :] = Σ_{k<K} g[n, k]·src[pos[n, k], :] for n < N (k ascending; g = 1 when gates is null, the
   * backward of a row gather). src [R, d]; pos [N, K] distinct rows of src.
   */
  moeCombine(src: Float32Array, R: number, d: number, pos: Int32Array, gates: Float32Array | null, N: number, K: number, out: Float32Array): void;
  /** Its backward: dsrc[pos[n, k], :] = g[n, k]·dy[n, :] (rows not in pos untouched); dgates[n, k] = dy[n, :]·src[pos[n, k], :]. */
  moeCombineBackward(
    dy: Float32Array, src: Float32Array, R: number, d: number, pos: Int32Array, gates: Float32Array | null, N: number, K: number,
    dsrc: Float32Array, dgates: Float32Array | null,
  ): void;
  /** SwiGLU activation over n elements: A = silu(G) ⊙ U (A may be G or U). */
  swiglu(G: Float32Array, U: Float32Array, n: number, A: Float32Array): void;
  /** Its backward: dU = dA ⊙ silu(G), dG = dA ⊙ U ⊙ silu'(G), silu' = σ + silu·(1 − σ) (dG may be G, dU may be U). */
  swigluBackward(G: Float32Array, U: Float32Array, dA: Float32Array, n: number, dG: Float32Array, dU: Float32Array): void;

  // ── relative-position attention (Transformer-XL / ERNIE 3.0; src/backend/ts/relattn.ts has the full contract) ──
  /**
   * q [B, T, H, Dh], k/v [B, K, H, Dh] (K = M + T keys: memory then new), rk [P, H, Dh] (row p ↔ distance
   * M + T − 1 − p, P ≥ K + T − 1), u/vb [H, Dh], keyMask [B, K] keep (nonzero = attend) or null →
   * out [B, T, H, Dh] = softmax(scale·((q + u)·k + (q + vb)·rk_{T−1−i+j}) over visible keys, seeded dropout) · v,
   * lse [B, H, T] (−Infinity with output 0 for a fully blocked row).
   */
  relAttentionForward(
    q: Float32Array, k: Float32Array, v: Float32Array, rk: Float32Array, u: Float32Array, vb: Float32Array,
    keyMask: Float32Array | null, dims: RelAttentionDims, out: Float32Array, lse: Float32Array,
  ): void;
  /** Its backward: recomputes the scores; writes dq, dk, dv, drk [P, H, Dh], du, dvb [H, Dh] (all overwritten). */
  relAttentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, rk: Float32Array, u: Float32Array, vb: Float32Array,
    keyMask: Float32Array | null, dims: RelAttentionDims, out: Float32Array, lse: Float32Array, dout: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, drk: Float32Array, du: Float32Array, dvb: Float32Array,
  ): void;
  /** Seeded inverted-dropout mask: out[x] = 1/(1 − p) where the counter-based uniform of (seed0, seed1, x) ≥ p, else 0, x < n. */
  dropoutMask(out: Float32Array, n: number, p: number, seed0: number, seed1: number): void;
}

/** Sizes and flags of the relative-position attention kernels (seeds: u32; dropP in [0, 1), 0 = no dropout). */
export interface RelAttentionDims {
  B: number;
  H: number;
  T: number;
  M: number;
  Dh: number;
  P: number;
  scale: number;
  causal: boolean;
  dropP: number;
  seed0: number;
  seed1: number;
}

/** Positions in `mlaDecode`'s dims array. */
export const MLA_DIMS = { d: 0, H: 1, n: 2, p: 3, v: 4, r: 5, qr: 6, eps: 7, scale: 8, interleaved: 9 } as const;
/** Positions in `moeDecode`'s dims array. */
export const MOE_DIMS = { d: 0, eps: 1, E: 2, K: 3, G: 4, kg: 5, normTopk: 6, routedScale: 7, I: 8, Is: 9 } as const;
