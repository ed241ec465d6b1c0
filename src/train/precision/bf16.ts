/**
 * bf16 mixed precision around a Linear: y = bf16(bf16(x)·bf16(W)ᵀ) (+ b), the GEMM accumulating in f32.
 *   activations: x and y rounded to bf16 (RNE); their gradients rounded to bf16 on the way back;
 *   weights: the f32 master W is rounded to bf16 for the GEMM; dW is computed in f32 (gᵀ·bf16(x)) and reaches the
 *   master weight unrounded (a straight-through rounding).
 * `roundBf16(t, grad)` is the op: forward RNE to the nearest bf16 (kept in f32 storage, exactly representable),
 * backward either rounds the gradient too ('round') or passes it through ('identity').
 */
import { record } from '../../tensor/autograd.js';
import { Tensor } from '../../tensor/tensor.js';
import { KilnError } from '../../errors.js';

/** Round every element of an f32 array to the nearest bf16 value (RNE; NaN stays NaN, overflow → ±inf). */
export function roundBf16Array(src: Float32Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < s.length; i++) {
    const b = s[i];
    d[i] = (b & 0x7fffffff) > 0x7f800000 ? (b | 0x00400000) & 0xffff0000 : ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return dst;
}

export function roundBf16(t: Tensor, grad: 'round' | 'identity' = 'round'): Tensor {
  if (t.dtype !== 'f32') throw new KilnError('E_DTYPE', `roundBf16: expects f32 values, got ${t.dtype}`);
  const out = Tensor.empty(t.shape);
  roundBf16Array(t.data() as Float32Array, (out.storage.data as Float32Array).subarray(out.offset, out.offset + out.size));
  return record(out, 'roundBf16', [t], (g) => [grad === 'round' ? roundBf16(g, 'identity') : g]);
}

export function bf16Linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const y = roundBf16(x, 'round').matmul(roundBf16(weight, 'identity').mT); // f32 accumulation
  return roundBf16(bias ? y.add(bias) : y, 'round');
}
