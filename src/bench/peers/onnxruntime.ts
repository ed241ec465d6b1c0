/**
 * Peer: onnxruntime-node (its bundled CPU library, CPU execution provider). The sgemm is a one-node MatMul model
 * built in memory (see ../onnx-matmul-model.ts); the thread count is the session's intra-op thread pool size
 * (`intraOpNumThreads`), with one inter-op thread and sequential execution. The output tensor is preallocated and
 * bound on every run, so a run measures the MatMul plus onnxruntime's per-run dispatch, not a fresh allocation.
 */
import { createRequire } from 'node:module';
import type * as OrtTypes from 'onnxruntime-node';
import { onnxMatMulModel } from '../onnx-matmul-model.js';
import type { GemmPeer, MissingPeer, PreparedGemm } from './peer.js';

type Ort = typeof OrtTypes;

export async function loadOnnxRuntime(): Promise<GemmPeer | MissingPeer> {
  let ort: Ort;
  let version = '?';
  try {
    const m = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    ort = m.default ?? m;
    try {
      version = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    } catch {
      version = ort.env.versions?.common ?? '?';
    }
  } catch (e) {
    return { key: 'onnxruntime', reason: `onnxruntime-node not installed or failed to load: ${(e as Error).message}` };
  }
  return {
    key: 'onnxruntime',
    label: `onnxruntime-node ${version}`,
    notes: ['CPU execution provider', 'intra-op threads = requested threads'],
    async prepare(n: number, threads: number, A: Float32Array, B: Float32Array): Promise<PreparedGemm> {
      const session = await ort.InferenceSession.create(onnxMatMulModel(n, n, n), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
      const feeds = { A: new ort.Tensor('float32', A, [n, n]), B: new ort.Tensor('float32', B, [n, n]) };
      const out = new ort.Tensor('float32', new Float32Array(n * n), [n, n]);
      return {
        threadsUsed: threads,
        async run() {
          await session.run(feeds, { C: out });
        },
        result: () => (out.data as Float32Array).slice(),
        release: () => session.release(),
      };
    },
  };
}
