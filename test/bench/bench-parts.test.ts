/**
 * The benchmark's building blocks in process: the hand-encoded ONNX MatMul model runs in onnxruntime and gives the
 * right product on non-square shapes; the result check rejects a wrong product; the timing method reports its best
 * run; JSON keys become snake_case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { benchMatrix, maxRelErr } from '../../src/bench/gemm.js';
import { toJson } from '../../src/bench/json.js';
import { onnxMatMulModel } from '../../src/bench/onnx-matmul-model.js';
import { timeInterleaved, timeSync } from '../../src/bench/timing.js';

test('onnxMatMulModel: onnxruntime loads it and computes A·B for M×K·K×N', async () => {
  const [M, K, N] = [3, 5, 2];
  const A = benchMatrix(M * K, 1);
  const B = benchMatrix(K * N, 2);
  const session = await ort.InferenceSession.create(onnxMatMulModel(M, K, N), { intraOpNumThreads: 1 });
  try {
    assert.deepEqual(session.inputNames, ['A', 'B']);
    assert.deepEqual(session.outputNames, ['C']);
    const out = await session.run({ A: new ort.Tensor('float32', A, [M, K]), B: new ort.Tensor('float32', B, [K, N]) });
    assert.deepEqual(out.C.dims, [M, N]);
    const C = out.C.data as Float32Array;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let ref = 0;
        for (let k = 0; k < K; k++) ref += A[i * K + k] * B[k * N + j];
        assert.ok(Math.abs(C[i * N + j] - ref) < 1e-5, `C[${i},${j}] = ${C[i * N + j]}, expected ${ref}`);
      }
  } finally {
    await session.release();
  }
});

test('onnxMatMulModel: varints above 127 and 16383 encode (large dims), bad dims are refused', async () => {
  const bytes = onnxMatMulModel(1, 20000, 130);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  await session.release();
  assert.throws(() => onnxMatMulModel(0, 2, 2), /positive integer/);
  assert.throws(() => onnxMatMulModel(2, 2.5, 2), /positive integer/);
});

test('maxRelErr: zero for equal results, above the check tolerance for one wrong entry or a NaN', () => {
  const ref = benchMatrix(64, 3);
  assert.equal(maxRelErr(ref.slice(), ref), 0);
  const wrong = ref.slice();
  wrong[17] += 0.01;
  assert.ok(maxRelErr(wrong, ref) > 1e-4);
  const nan = ref.slice();
  nan[5] = NaN;
  assert.equal(maxRelErr(nan, ref), Infinity);
});

test('benchMatrix: deterministic, uniform in [-1, 1)', () => {
  const a = benchMatrix(10000, 42);
  assert.deepEqual(a, benchMatrix(10000, 42));
  assert.notDeepEqual(a, benchMatrix(10000, 43));
  let mean = 0;
  for (const v of a) {
    assert.ok(v >= -1 && v < 1);
    mean += v / a.length;
  }
  assert.ok(Math.abs(mean) < 0.05);
});

test('timeSync: best ≤ median, runs repeat the call, slow calls are timed twice', () => {
  let calls = 0;
  const t = timeSync(() => {
    calls++;
    const end = performance.now() + 0.2;
    while (performance.now() < end);
  }, { minSeconds: 0.005, runs: 3, warmupCalls: 2, singleCallSeconds: 1 });
  assert.equal(t.runs, 3);
  assert.ok(t.seconds <= t.medianSeconds);
  assert.ok(t.seconds >= 0.0002 * 0.9);
  assert.ok(calls >= 2 + 3 * 2, `${calls} calls: 2 warm-up calls and 3 runs of several calls each`);
  let slow = 0;
  const s = timeSync(() => {
    slow++;
    const end = performance.now() + 30;
    while (performance.now() < end);
  }, { minSeconds: 1, runs: 3, warmupCalls: 2, singleCallSeconds: 0.01 });
  assert.equal(slow, 2);
  assert.equal(s.runs, 2);
  assert.equal(s.repsPerRun, 1);
  assert.ok(s.seconds >= 0.029 && s.seconds <= s.medianSeconds);
});

test('timeInterleaved: sync and async calls timed in alternating runs, each with its own best', async () => {
  const order: string[] = [];
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };
  const [fast, slowAsync] = await timeInterleaved([
    () => {
      order.push('a');
      spin(0.1);
    },
    async () => {
      order.push('b');
      spin(0.4);
      await Promise.resolve();
    },
  ], { minSeconds: 0.004, runs: 3, warmupCalls: 1, singleCallSeconds: 1 });
  assert.equal(fast.runs, 3);
  assert.equal(slowAsync.runs, 3);
  assert.ok(fast.seconds >= 0.0001 * 0.99 && slowAsync.seconds >= 0.0004 * 0.99);
  // warm-up a, warm-up b, then runs alternate: a…a b…b a…a b…b a…a b…b
  const runs = order.join('').replace(/a+/g, 'a').replace(/b+/g, 'b');
  assert.equal(runs, 'abababab');
});

test('toJson: snake_case keys, shape letters kept, 4 significant digits, integers exact, non-finite → null', () => {
  assert.deepEqual(toJson({ peakGflops: 123.456789, kilnOverPeer: 0.000123456, shape: { B: 1, T: 512 }, flop: 268435456, bad: NaN, fwdBwdMs: Infinity }), {
    peak_gflops: 123.5, kiln_over_peer: 0.0001235, shape: { B: 1, T: 512 }, flop: 268435456, bad: null, fwd_bwd_ms: null,
  });
});
