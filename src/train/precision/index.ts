/**
 * Mixed-precision training simulation for Kiln models: `setLinearPrecision(model, 'fp32' | 'bf16' | 'fp8')` makes
 * every nn Linear of the model (except the excluded ones, by default any named `lm_head`) run through bf16Linear or
 * fp8Linear; 'fp32' restores the plain f32 Linear. Only Linear modules are touched, so what the DeepSeek-V3 report
 * keeps in higher precision stays f32 by construction: the embedding, the output head, the MoE gate (its own
 * module, not a Linear), the norms and the attention core (softmax(QKᵀ)V). Master weights, gradients and optimizer
 * state stay f32. The absorbed (inference) MLA path reads kv_b_proj.weight directly and stays f32.
 */
import { Linear } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { KilnError } from '../../errors.js';
import { bf16Linear } from './bf16.js';
import { fp8Linear, type Fp8LinearOptions } from './fp8.js';

export type Precision = 'fp32' | 'bf16' | 'fp8';

export interface PrecisionOptions {
  /** Linear modules whose last path component is one of these stay f32. Default ['lm_head']. */
  exclude?: string[];
  fp8?: Fp8LinearOptions;
}

/** Switches the model's Linears to `mode`; returns the dotted paths of the Linears now in that mode. */
export function setLinearPrecision(model: Module, mode: Precision, { exclude = ['lm_head'], fp8 = {} }: PrecisionOptions = {}): string[] {
  if (mode !== 'fp32' && mode !== 'bf16' && mode !== 'fp8')
    throw new KilnError('E_ARG', `setLinearPrecision: unknown precision '${String(mode)}'; use fp32, bf16 or fp8`);
  const done: string[] = [];
  const visit = (m: Module, path: string) => {
    for (const [name, child] of m.namedChildren()) {
      const p = path ? `${path}.${name}` : name;
      if (child instanceof Linear) {
        const last = name.split('.').pop()!;
        const lin = child as Linear & { forward: (x: Tensor) => Tensor };
        delete (lin as { forward?: unknown }).forward; // back to the prototype's f32 forward
        if (exclude.includes(last) || exclude.includes(name) || mode === 'fp32') continue;
        lin.forward = mode === 'fp8' ? (x: Tensor) => fp8Linear(x, lin.weight, lin.bias, fp8) : (x: Tensor) => bf16Linear(x, lin.weight, lin.bias);
        done.push(p);
      } else visit(child, p);
    }
  };
  visit(model, '');
  return mode === 'fp32' ? [] : done;
}

export { fp8Linear, type Fp8LinearOptions } from './fp8.js';
export { bf16Linear, roundBf16, roundBf16Array } from './bf16.js';
export { quantizeTiles, dequantize, compact, withValues, e4m3FromBits, scaleAt, e4m3Table, E4M3_MAX, type QuantizedMatrix } from './quantize.js';
export { scaledGemm, chunkedDot, roundToBits, type ScaledGemmOptions } from './gemm.js';
