/**
 * Loader and typed contract of Kiln's N-API addon (`build/Release/kiln_native.node`, built from native/ by
 * `scripts/build-native.mjs` at install time).
 *
 * `loadNativeAddon()` returns the addon, or null when it was not built, fails to load, or `KILN_BACKEND=ts` is set.
 * The result is cached for the process (per worker thread). `nativeAddonStatus()` says why it is null.
 * Every function validates its arguments and throws a `KilnError` (code `E_ARG`) on bad ones; none can crash the
 * process on bad input. Typed arrays may be backed by an ArrayBuffer or a SharedArrayBuffer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError, type KilnErrorCode } from '../errors.js';
import type { StorageArray } from '../tensor/dtype.js';

export type NativeIsa = 'avx512' | 'avx2' | 'scalar';

export interface NativeAddon {
  /**
   * Batched, strided fp32 GEMM, row-major. For each b < batch:
   *   C_b = alpha * op(A_b) @ op(B_b) + beta * C_b,   op(A_b): M x K, op(B_b): K x N, C_b: M x N.
   * op(A_b)(i, p) = A[aOff + b*strideA + i*lda + p] when !transA, A[aOff + b*strideA + p*lda + i] when transA
   * (B likewise with bOff, ldb, strideB); C_b(i, j) = C[cOff + b*strideC + i*ldc + j].
   * Offsets, leading dimensions and strides are in elements. Leading dimensions must be >= the stored row width
   * (K or M for A, N or K for B, N for C) and >= 1; strideA / strideB may be 0 (one matrix broadcast over the
   * batch); strideC must keep batch entries of C disjoint. Every element touched must lie inside its array.
   * beta = 0 ignores C's previous contents (NaN/Inf in C do not propagate); alpha = 0 or K = 0 give C = beta * C.
   * C must not overlap A or B. Runs on the pool's threads; blocks the calling JS thread until done.
   */
  gemm(
    batch: number, transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOff: number, lda: number, strideA: number,
    B: Float32Array, bOff: number, ldb: number, strideB: number,
    beta: number, C: Float32Array, cOff: number, ldc: number, strideC: number,
  ): void;
  /**
   * Measures the fp32 FMA peak of the active ISA: independent FMA chains on `threads` pool threads (1..1024) for
   * about `seconds` (0 < seconds <= 60). Returns GFLOP/s summed over the threads.
   */
  peakGflops(threads: number, seconds: number): number;
  /**
   * Resizes the process-wide persistent pool to n threads (1..1024), the caller included; waits for a running
   * kernel to finish. Default: the CPUs available to the process, or KILN_NUM_THREADS. While one JS thread's
   * kernel holds the pool, kernels called from other JS threads (worker_threads ranks) run on their own thread.
   */
  setNumThreads(n: number): void;
  /** Current pool size (the calling thread included). */
  numThreads(): number;
  /** The instruction set kernels dispatch on now: the CPU's best, lowered by KILN_ISA or setIsa(). */
  isa(): NativeIsa;
  /** The best instruction set this CPU supports. */
  bestIsa(): NativeIsa;
  /**
   * Switches kernels to `isa` (for tests and benchmarks) for the whole process, all worker threads included;
   * throws if the CPU lacks it. Returns the active ISA.
   */
  setIsa(isa: NativeIsa): NativeIsa;
  /**
   * Fused attention forward (native/kernels-attention.h), the Backend's `attentionForward` with the mask view
   * flattened: `mask` of length 0 means no mask, else element (b, h, i, j) of the additive mask is
   * mask[maskOff + b·msB + h·msH + i·msQ + j·msK] (strides may be 0 or negative; the whole view must lie inside the
   * array). q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] dense; Hkv ≥ 1 divides H; writes out
   * [B, H, Tq, Dv] and lse [B, H, Tq]. Outputs must not overlap inputs. The kernel picks its own tile sizes.
   */
  attentionForward(
    q: Float32Array, k: Float32Array, v: Float32Array, mask: Float32Array, maskOff: number,
    msB: number, msH: number, msQ: number, msK: number, B: number, H: number, Hkv: number, Tq: number, Tk: number,
    D: number, Dv: number, scale: number, causal: boolean, out: Float32Array, lse: Float32Array,
  ): void;
  /** Its backward: writes dq [B, H, Tq, D], dk [B, Hkv, Tk, D], dv [B, Hkv, Tk, Dv] (overwritten). */
  attentionBackward(
    q: Float32Array, k: Float32Array, v: Float32Array, mask: Float32Array, maskOff: number,
    msB: number, msH: number, msQ: number, msK: number, out: Float32Array, lse: Float32Array, dout: Float32Array,
    B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number, Dv: number, scale: number, causal: boolean,
    dq: Float32Array, dk: Float32Array, dv: Float32Array,
  ): void;
  /**
   * Rotary embedding (native/kernels-rope.h), the Backend's `rotary`: x/out [rows, D] (out may be x itself),
   * cos/sin [tableRows, rotaryDim/2] (tableRows ≥ 1), rotaryDim even and ≤ D. Bit-identical to the reference.
   */
  rotary(
    x: Float32Array, rows: number, D: number, rotaryDim: number, cos: Float32Array, sin: Float32Array,
    tableRows: number, interleaved: boolean, inverse: boolean, out: Float32Array,
  ): void;
  /**
   * im2col (native/kernels-conv.h), the Backend's `im2col` with each size array padded to three dims (leading
   * in/kernel/stride/dilation/out 1, padding 0; checked) and `rank` (1..3) saying which dim the chunk
   * [outStart, outStart + outCount) restricts. Writes col [C·kD·kH·kW, L].
   */
  im2col(
    x: Float32Array, channels: number, rank: number, inD: number, inH: number, inW: number,
    kD: number, kH: number, kW: number, sD: number, sH: number, sW: number, pD: number, pH: number, pW: number,
    dD: number, dH: number, dW: number, oD: number, oH: number, oW: number, outStart: number, outCount: number,
    col: Float32Array,
  ): void;
  /** col2im, im2col's adjoint for the same chunk: ACCUMULATES col into x [C, D, H, W]. */
  col2im(
    col: Float32Array, channels: number, rank: number, inD: number, inH: number, inW: number,
    kD: number, kH: number, kW: number, sD: number, sH: number, sW: number, pD: number, pH: number, pW: number,
    dD: number, dH: number, dW: number, oD: number, oH: number, oW: number, outStart: number, outCount: number,
    x: Float32Array,
  ): void;
  // ── elementwise / reduction / NN / indexing kernels (native/kernels-*.cc; semantics of src/backend/ts/) ──
  // Views are passed as (array, element offset) plus `dims`, a Float64Array [ndim, shape..., strides of each view
  // operand in argument order...] (ndim <= 32; every element a view reaches must lie inside its array). Op codes
  // follow src/backend/native/elementwise.ts. Outputs are contiguous, caller-allocated and must not overlap inputs.
  /** out[i] = op(x[i]) over the view (op: a UNARY_CODES value). */
  unary(op: number, x: Float32Array, xOff: number, dims: Float64Array, out: Float32Array): void;
  /** out = op(a, b) over the broadcast shape (dims: [nd, shape, aStrides, bStrides]). */
  binary(op: number, a: Float32Array, aOff: number, b: Float32Array, bOff: number, dims: Float64Array, out: Float32Array): void;
  /** out = op(a, s) or op(s, a); s is used at double precision as in the reference. */
  binaryScalar(op: number, a: Float32Array, aOff: number, dims: Float64Array, s: number, scalarFirst: boolean, out: Float32Array): void;
  /** out = cond != 0 ? a : b (dims: [nd, shape, condStrides, aStrides, bStrides]). */
  where(cond: Float32Array, cOff: number, a: Float32Array, aOff: number, b: Float32Array, bOff: number, dims: Float64Array, out: Float32Array): void;
  /** Strided copy between typed arrays of the same kind (dims: [nd, shape, srcStrides, dstStrides]). */
  copy(src: StorageArray, srcOff: number, dst: StorageArray, dstOff: number, dims: Float64Array): void;
  /** out[start, end) = value (0 <= start <= end <= out.length). */
  fill(out: Float32Array, value: number, start: number, end: number): void;
  /** Reduction over the middle axis of [outer, r, inner] (op 0 sum, 1 max, 2 min). */
  reduce(op: number, x: Float32Array, outer: number, r: number, inner: number, out: Float32Array): void;
  /** First index of the max (op 1) or min (op 2) over the middle axis; NaN wins. */
  argReduce(op: number, x: Float32Array, outer: number, r: number, inner: number, out: Int32Array): void;
  softmax(x: Float32Array, rows: number, cols: number, out: Float32Array, log: boolean): void;
  softmaxBackward(y: Float32Array, dy: Float32Array, rows: number, cols: number, dx: Float32Array, log: boolean): void;
  /** Targets must lie in [0, cols) unless equal to ignoreIndex (E_ARG otherwise). */
  crossEntropy(
    logits: Float32Array, rows: number, cols: number, targets: Int32Array, ignoreIndex: number, smoothing: number,
    loss: Float32Array, dlogits: Float32Array | null,
  ): void;
  rmsNorm(x: Float32Array, w: Float32Array | null, rows: number, cols: number, eps: number, y: Float32Array, rstd: Float32Array): void;
  rmsNormBackward(
    x: Float32Array, w: Float32Array | null, rstd: Float32Array, dy: Float32Array, rows: number, cols: number,
    dx: Float32Array, dw: Float32Array | null,
  ): void;
  layerNorm(
    x: Float32Array, w: Float32Array | null, b: Float32Array | null, rows: number, cols: number, eps: number,
    y: Float32Array, mean: Float32Array, rstd: Float32Array,
  ): void;
  layerNormBackward(
    x: Float32Array, w: Float32Array | null, mean: Float32Array, rstd: Float32Array, dy: Float32Array, rows: number,
    cols: number, dx: Float32Array, dw: Float32Array | null, db: Float32Array | null,
  ): void;
  /** Indices must lie in [0, n) (E_ARG otherwise); the accumulating kernels are race-free and ordered like the reference. */
  indexSelect(x: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, out: Float32Array): void;
  indexAdd(acc: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, src: Float32Array): void;
  gather(x: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, m: number, out: Float32Array): void;
  scatterAdd(acc: Float32Array, outer: number, n: number, inner: number, idx: Int32Array, m: number, src: Float32Array): void;
  /**
   * DeepSeek-V3 fused decode (native/kernels-deepseek.{h,cc}): the Backend's `mlaDecode` and `moeDecode`, same
   * arguments (T ≤ 64 rows; `experts` is read only at the chosen experts' entries). f32 SIMD dot products.
   */
  mlaDecode(
    x: Float32Array, T: number, dims: Float64Array, norm: Float32Array, qA: Float32Array | null, qANorm: Float32Array | null,
    qB: Float32Array, kvA: Float32Array, kvANorm: Float32Array, kvB: Float32Array, o: Float32Array, cos: Float32Array,
    sin: Float32Array, cache: Float32Array, cacheLen: number, out: Float32Array,
  ): void;
  moeDecode(
    h: Float32Array, T: number, dims: Float64Array, norm: Float32Array, gate: Float32Array | null, bias: Float32Array | null,
    experts: readonly Float32Array[] | null, sharedGate: Float32Array | null, sharedUp: Float32Array | null,
    sharedDown: Float32Array | null, out: Float32Array, ids: Int32Array | null,
  ): void;
  /** The Backend's `linearRows` (T ≤ 64; y must not overlap x or w). */
  linearRows(x: Float32Array, T: number, K: number, w: Float32Array, N: number, y: Float32Array): void;
  /** The Backend's `moeSelect` (E ≤ 1024, G divides E). */
  moeSelect(scores: Float32Array, N: number, E: number, bias: Float32Array, K: number, G: number, kg: number, ids: Int32Array): void;
  /** The Backend's `adamwStep` and `sumSquares`. */
  adamwStep(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, b1: number, b2: number, c1: number, c2: number, lr: number, decay: number, eps: number): void;
  sumSquares(x: Float32Array): number;
  /** The Backend's `headArgmax` (T ≤ 64; wb a Uint16Array of bf16 bits). */
  headArgmax(h: Float32Array, T: number, K: number, w: Float32Array, wb: Uint16Array, wNorm: Float32Array, N: number, ids: Int32Array): void;
  /** The Backend's DeepSeek-V3 training kernels (native/kernels-deepseek-train.h): `crossEntropyInPlace`, `moeCombine`, `moeCombineBackward`. */
  crossEntropyInPlace(x: Float32Array, rows: number, cols: number, targets: Int32Array, ignoreIndex: number, loss: Float32Array): void;
  moeCombine(src: Float32Array, R: number, d: number, pos: Int32Array, gates: Float32Array | null, N: number, K: number, out: Float32Array): void;
  moeCombineBackward(dy: Float32Array, src: Float32Array, R: number, d: number, pos: Int32Array, gates: Float32Array | null, N: number, K: number, dsrc: Float32Array, dgates: Float32Array | null): void;
  swiglu(G: Float32Array, U: Float32Array, n: number, A: Float32Array): void;
  swigluBackward(G: Float32Array, U: Float32Array, dA: Float32Array, n: number, dG: Float32Array, dU: Float32Array): void;
  /**
   * Relative-position attention (native/kernels-relattn.h): dims = Float64Array [B, H, T, M, Dh, P, scale, causal,
   * dropP, seed0, seed1]; keyMask null for none. Same semantics as the Backend's relAttentionForward/Backward.
   * Optional (not in REQUIRED): a binary built before them still loads, and the reference serves these kernels.
   */
  relAttentionForward?(q: Float32Array, k: Float32Array, v: Float32Array, rk: Float32Array, u: Float32Array, vb: Float32Array, keyMask: Float32Array | null, dims: Float64Array, out: Float32Array, lse: Float32Array): void;
  relAttentionBackward?(
    q: Float32Array, k: Float32Array, v: Float32Array, rk: Float32Array, u: Float32Array, vb: Float32Array, keyMask: Float32Array | null, dims: Float64Array,
    out: Float32Array, lse: Float32Array, dout: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, drk: Float32Array, du: Float32Array, dvb: Float32Array,
  ): void;
  /** The Backend's `dropoutMask` (seeds u32). */
  dropoutMask?(out: Float32Array, n: number, p: number, seed0: number, seed1: number): void;
}

/** Functions the loaded binary must export; a build missing any of them is treated as absent. */
const REQUIRED: readonly (keyof NativeAddon)[] = ['gemm', 'peakGflops', 'setNumThreads', 'numThreads', 'isa', 'bestIsa', 'setIsa', 'attentionForward', 'attentionBackward', 'rotary', 'im2col', 'col2im',
  'unary', 'binary', 'binaryScalar', 'where', 'copy', 'fill', 'reduce', 'argReduce', 'softmax', 'softmaxBackward', 'crossEntropy', 'rmsNorm', 'rmsNormBackward', 'layerNorm', 'layerNormBackward', 'indexSelect', 'indexAdd', 'gather', 'scatterAdd', 'mlaDecode', 'moeDecode', 'linearRows', 'moeSelect', 'headArgmax', 'adamwStep', 'sumSquares', 'crossEntropyInPlace', 'moeCombine', 'moeCombineBackward', 'swiglu', 'swigluBackward'];

let cached: { addon: NativeAddon | null; reason: string | null } | undefined;

/** The package root: the nearest ancestor of this file holding binding.gyp (works from src/ and dist/src/). */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp')) && existsSync(join(dir, 'package.json'))) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
        if (pkg.name === 'kiln') return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Rethrows the addon's errors as KilnError, keeping their code ('E_ARG') and message. */
function asKilnError(e: unknown): unknown {
  if (e instanceof Error && !(e instanceof KilnError)) {
    const code = (e as { code?: unknown }).code;
    return new KilnError(typeof code === 'string' && code.startsWith('E_') ? (code as KilnErrorCode) : 'E_NATIVE', e.message, { cause: e });
  }
  return e;
}

function wrap(raw: NativeAddon): NativeAddon {
  return {
    gemm(batch, transA, transB, M, N, K, alpha, A, aOff, lda, strideA, B, bOff, ldb, strideB, beta, C, cOff, ldc, strideC) {
      try {
        raw.gemm(batch, transA, transB, M, N, K, alpha, A, aOff, lda, strideA, B, bOff, ldb, strideB, beta, C, cOff, ldc, strideC);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    peakGflops(threads, seconds) {
      try {
        return raw.peakGflops(threads, seconds);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    setNumThreads(n) {
      try {
        raw.setNumThreads(n);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    numThreads: () => raw.numThreads(),
    isa: () => raw.isa(),
    bestIsa: () => raw.bestIsa(),
    setIsa(isa) {
      try {
        return raw.setIsa(isa);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    attentionForward(...args) {
      try {
        raw.attentionForward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    attentionBackward(...args) {
      try {
        raw.attentionBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    rotary(...args) {
      try {
        raw.rotary(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    im2col(...args) {
      try {
        raw.im2col(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    col2im(...args) {
      try {
        raw.col2im(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    unary(...args) {
      try {
        raw.unary(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    binary(...args) {
      try {
        raw.binary(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    binaryScalar(...args) {
      try {
        raw.binaryScalar(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    where(...args) {
      try {
        raw.where(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    copy(...args) {
      try {
        raw.copy(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    fill(...args) {
      try {
        raw.fill(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    reduce(...args) {
      try {
        raw.reduce(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    argReduce(...args) {
      try {
        raw.argReduce(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    softmax(...args) {
      try {
        raw.softmax(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    softmaxBackward(...args) {
      try {
        raw.softmaxBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    crossEntropy(...args) {
      try {
        raw.crossEntropy(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    rmsNorm(...args) {
      try {
        raw.rmsNorm(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    rmsNormBackward(...args) {
      try {
        raw.rmsNormBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    layerNorm(...args) {
      try {
        raw.layerNorm(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    layerNormBackward(...args) {
      try {
        raw.layerNormBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    indexSelect(...args) {
      try {
        raw.indexSelect(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    indexAdd(...args) {
      try {
        raw.indexAdd(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    gather(...args) {
      try {
        raw.gather(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    adamwStep(...args) {
      try {
        raw.adamwStep(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    sumSquares(x) {
      try {
        return raw.sumSquares(x);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    ...(raw.relAttentionForward && raw.relAttentionBackward && raw.dropoutMask
      ? {
          relAttentionForward(...args: Parameters<NonNullable<NativeAddon['relAttentionForward']>>) {
            try {
              raw.relAttentionForward!(...args);
            } catch (e) {
              throw asKilnError(e);
            }
          },
          relAttentionBackward(...args: Parameters<NonNullable<NativeAddon['relAttentionBackward']>>) {
            try {
              raw.relAttentionBackward!(...args);
            } catch (e) {
              throw asKilnError(e);
            }
          },
          dropoutMask(...args: Parameters<NonNullable<NativeAddon['dropoutMask']>>) {
            try {
              raw.dropoutMask!(...args);
            } catch (e) {
              throw asKilnError(e);
            }
          },
        }
      : {}),
    scatterAdd(...args) {
      try {
        raw.scatterAdd(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    mlaDecode(...args) {
      try {
        raw.mlaDecode(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    moeDecode(...args) {
      try {
        raw.moeDecode(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    linearRows(...args) {
      try {
        raw.linearRows(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    moeSelect(...args) {
      try {
        raw.moeSelect(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    headArgmax(...args) {
      try {
        raw.headArgmax(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    crossEntropyInPlace(...args) {
      try {
        raw.crossEntropyInPlace(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    moeCombine(...args) {
      try {
        raw.moeCombine(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    moeCombineBackward(...args) {
      try {
        raw.moeCombineBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    swiglu(...args) {
      try {
        raw.swiglu(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
    swigluBackward(...args) {
      try {
        raw.swigluBackward(...args);
      } catch (e) {
        throw asKilnError(e);
      }
    },
  };
}

function load(): { addon: NativeAddon | null; reason: string | null } {
  if (process.env.KILN_BACKEND === 'ts') return { addon: null, reason: 'KILN_BACKEND=ts' };
  const root = packageRoot();
  if (root === null) return { addon: null, reason: 'package root (binding.gyp + package.json) not found' };
  const path = join(root, 'build', 'Release', 'kiln_native.node');
  if (!existsSync(path)) return { addon: null, reason: `${path} not built (run \`npm rebuild\` or \`node scripts/build-native.mjs\`)` };
  let raw: Record<string, unknown>;
  try {
    raw = createRequire(import.meta.url)(path) as Record<string, unknown>;
  } catch (e) {
    return { addon: null, reason: `${path} failed to load: ${(e as Error).message}` };
  }
  const missing = REQUIRED.filter((k) => typeof raw[k] !== 'function');
  if (missing.length > 0) return { addon: null, reason: `${path} is stale: missing ${missing.join(', ')} (rebuild it)` };
  return { addon: wrap(raw as unknown as NativeAddon), reason: null };
}

/** The native addon, or null (cached). */
export function loadNativeAddon(): NativeAddon | null {
  cached ??= load();
  return cached.addon;
}

/** Why loadNativeAddon() returns null (null when the addon is loaded). */
export function nativeAddonStatus(): string | null {
  cached ??= load();
  return cached.reason;
}
