/** Parameter initialisers (in place, seeded through the generator): the standard PyTorch schemes. */
import { defaultGenerator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

function data(t: Tensor): Float32Array {
  return (t.storage.data as Float32Array).subarray(t.offset, t.offset + t.size);
}

export function normal_(t: Tensor, mean = 0, std = 1, gen: Generator = defaultGenerator()): Tensor {
  gen.fillNormal(data(t), mean, std);
  return t;
}

export function uniform_(t: Tensor, lo: number, hi: number, gen: Generator = defaultGenerator()): Tensor {
  gen.fillUniform(data(t), lo, hi);
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  data(t).fill(value);
  return t;
}

/** fan_in / fan_out of a weight [out, in, ...kernel] as torch computes them. */
export function fans(shape: readonly number[]): [number, number] {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [(shape[1] ?? 1) * receptive, shape[0] * receptive];
}

/** torch's default Linear/Conv init: kaiming_uniform(a = √5) ⇒ U(−1/√fan_in, 1/√fan_in). */
export function kaimingUniform_(t: Tensor, gen?: Generator): Tensor {
  const bound = 1 / Math.sqrt(fans(t.shape)[0]);
  return uniform_(t, -bound, bound, gen);
}

export function xavierUniform_(t: Tensor, gain = 1, gen?: Generator): Tensor {
  const [fi, fo] = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fi + fo));
  return uniform_(t, -bound, bound, gen);
}
