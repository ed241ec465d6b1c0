/**
 * Tests for the addon's runtime services (native/cpu.cc, thread-pool.cc, peak.cc via native-addon.ts): ISA
 * selection (setIsa and the KILN_ISA / KILN_NUM_THREADS environment variables in a child process), pool resizing,
 * the FMA peak probe, KILN_BACKEND=ts, and concurrent GEMMs from worker threads sharing SharedArrayBuffer storage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadNativeAddon, nativeAddonStatus } from '../../src/backend/native-addon.js';
import { makeCase, reference, assertClose, rng } from './gemm-reference.js';

const addon = loadNativeAddon();
const skip = addon === null && process.env.KILN_REQUIRE_NATIVE !== '1' ? `native addon unavailable: ${nativeAddonStatus()}` : false;
const loaderUrl = new URL('../../src/backend/native-addon.js', import.meta.url).href;

function native() {
  if (addon === null) throw new Error(`KILN_REQUIRE_NATIVE=1 but the native addon is unavailable: ${nativeAddonStatus()}`);
  return addon;
}

function childEval(code: string, env: Record<string, string>): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('isa(), setIsa() and KILN_ISA lower the dispatch; an unsupported or unknown ISA throws', { skip }, () => {
  const a = native();
  assert.ok(['avx512', 'avx2', 'scalar'].includes(a.bestIsa()));
  assert.equal(a.isa(), process.env.KILN_ISA ? a.isa() : a.bestIsa());
  assert.equal(a.setIsa('scalar'), 'scalar');
  assert.equal(a.isa(), 'scalar');
  a.setIsa(a.bestIsa());
  assert.throws(() => a.setIsa('sse9' as 'scalar'), /unknown ISA 'sse9'/);
  if (a.bestIsa() !== 'avx512') assert.throws(() => a.setIsa('avx512'), /does not support avx512/);
  const out = childEval(
    `const m = await import(${JSON.stringify(loaderUrl)}); const a = m.loadNativeAddon(); console.log(a.isa() + ' ' + a.numThreads());`,
    { KILN_ISA: 'scalar', KILN_NUM_THREADS: '1' });
  assert.equal(out, 'scalar 1');
  const ts = childEval(`const m = await import(${JSON.stringify(loaderUrl)}); console.log(String(m.loadNativeAddon()) + ' ' + m.nativeAddonStatus());`,
    { KILN_BACKEND: 'ts' });
  assert.equal(ts, 'null KILN_BACKEND=ts');
});

test('setNumThreads resizes the pool and validates n', { skip }, () => {
  const a = native();
  const before = a.numThreads();
  try {
    a.setNumThreads(3);
    assert.equal(a.numThreads(), 3);
    a.setNumThreads(1);
    assert.equal(a.numThreads(), 1);
    for (const n of [0, -1, 1.5, 5000]) assert.throws(() => a.setNumThreads(n), { name: 'KilnError', code: 'E_ARG' });
  } finally {
    a.setNumThreads(before);
  }
});

test('peakGflops measures a positive rate on 1 and 2 threads and validates its arguments', { skip }, () => {
  const a = native();
  const g1 = a.peakGflops(1, 0.05);
  assert.ok(Number.isFinite(g1) && g1 > 1, `peak ${g1}`);
  const g2 = a.peakGflops(2, 0.05);
  assert.ok(Number.isFinite(g2) && g2 > 0.5 * g1, `peak 2 threads ${g2} vs 1 thread ${g1}`);
  assert.throws(() => a.peakGflops(1, 0), { code: 'E_ARG' });
  assert.throws(() => a.peakGflops(0, 0.1), { code: 'E_ARG' });
});

test('worker threads run GEMMs at once on shared storage (the pool serves one, the other runs inline)', { skip }, async () => {
  const r = rng(99);
  // beta = 0 on every call, so C's final value does not depend on how many times or in what order they ran.
  const c = makeCase(r, { batch: 4, transA: false, transB: true, M: 96, N: 80, K: 130, alpha: 1, beta: 0, sab: true, pad: 1 });
  const workerSrc = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.loaderUrl).then((m) => {
      const a = m.loadNativeAddon();
      const c = workerData.c;
      for (let rep = 0; rep < 20; rep++) {
        // each worker owns two of the four batch entries of C; A and B are shared
        a.gemm(2, c.transA, c.transB, c.M, c.N, c.K, c.alpha, c.A, c.aOff + workerData.first * c.strideA, c.lda, c.strideA,
          c.B, c.bOff + workerData.first * c.strideB, c.ldb, c.strideB, c.beta, workerData.out,
          c.cOff + workerData.first * c.strideC, c.ldc, c.strideC);
      }
      parentPort.postMessage('done');
    });`;
  const out = new Float32Array(new SharedArrayBuffer(c.C.byteLength));
  out.set(c.C);
  const runWorkers = () => Promise.all([0, 2].map((first) => new Promise<void>((resolve, reject) => {
    const w = new Worker(workerSrc, { eval: true, workerData: { loaderUrl, c, first, out } });
    w.on('message', (m) => { if (m === 'done') resolve(); });
    w.on('error', reject);
    w.on('exit', (code) => { if (code !== 0) reject(new Error(`worker exit ${code}`)); });
  })));
  // The main thread keeps the pool busy meanwhile, so at least one worker must take the inline path.
  const big = makeCase(r, { transA: false, transB: false, M: 256, N: 256, K: 256 });
  const pending = runWorkers();
  for (let i = 0; i < 10; i++) native().gemm(1, false, false, 256, 256, 256, 1, big.A, 0, 256, 0, big.B, 0, 256, 0, 0, big.C, 0, 256, 0);
  await pending;
  assertClose(out, reference(c), c.K, 'concurrent workers');
  assertClose(big.C, reference({ ...big, C: new Float32Array(big.C.length) }), 256, 'main thread meanwhile');
});
