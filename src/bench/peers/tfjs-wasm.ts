/**
 * Peer: TensorFlow.js with the WebAssembly backend (XNNPACK kernels). In Node the .wasm binaries are loaded from
 * node_modules by file path (`setWasmPaths(<dir>/)`). tfjs picks the SIMD build when WebAssembly SIMD validates,
 * and never the threaded build under Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired false there, tfjs
 * issue #3830), so it computes on one thread whatever is requested; both facts are read back from tfjs and
 * reported. The wasm kernels run synchronously, so `tf.matMul` returning means the product is computed.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TfTypes from '@tensorflow/tfjs';
import type * as TfWasmTypes from '@tensorflow/tfjs-backend-wasm';
import type { GemmPeer, MissingPeer, PreparedGemm } from './peer.js';

type Tf = typeof TfTypes;
type TfWasm = typeof TfWasmTypes;

let loaded: Promise<GemmPeer | MissingPeer> | undefined;

async function load(): Promise<GemmPeer | MissingPeer> {
  const require = createRequire(import.meta.url);
  let tf: Tf;
  let wasm: TfWasm;
  let dir: string;
  try {
    // both through require so they share one @tensorflow/tfjs-core instance (the packages' Node entry is CommonJS)
    tf = require('@tensorflow/tfjs') as Tf;
    wasm = require('@tensorflow/tfjs-backend-wasm') as TfWasm;
    dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  } catch (e) {
    return { key: 'tfjs_wasm', reason: `@tensorflow/tfjs + @tensorflow/tfjs-backend-wasm not installed: ${(e as Error).message}` };
  }
  try {
    wasm.setWasmPaths(dir);
    if (!(await tf.setBackend('wasm'))) return { key: 'tfjs_wasm', reason: 'tfjs refused the wasm backend' };
    await tf.ready();
  } catch (e) {
    return { key: 'tfjs_wasm', reason: `tfjs wasm backend failed to start: ${(e as Error).message ?? String(e)}` };
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const threadsUsed = wasm.getThreadsCount();
  const version = (require('@tensorflow/tfjs/package.json') as { version: string }).version;
  return {
    key: 'tfjs_wasm',
    label: `tfjs ${version} wasm`,
    notes: [
      simd ? 'SIMD build' : 'no SIMD (plain wasm build)',
      threaded ? `threaded build (${threadsUsed} threads)` : `not threaded (tfjs disables wasm threads under Node): ${threadsUsed} thread`,
    ],
    async prepare(n: number, _threads: number, A: Float32Array, B: Float32Array): Promise<PreparedGemm> {
      const a = tf.tensor2d(A, [n, n], 'float32');
      const b = tf.tensor2d(B, [n, n], 'float32');
      let c: TfTypes.Tensor | null = null;
      return {
        threadsUsed,
        run() {
          c?.dispose();
          c = tf.matMul(a, b);
        },
        result() {
          if (!c) c = tf.matMul(a, b);
          return Float32Array.from(c.dataSync() as Float32Array);
        },
        release() {
          c?.dispose();
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

/** Loads tfjs and starts its wasm backend once per process. */
export function loadTfjsWasm(): Promise<GemmPeer | MissingPeer> {
  loaded ??= load();
  return loaded;
}
