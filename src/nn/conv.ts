/** Convolution layers (PyTorch layout and default init): Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d. */
import { empty } from '../tensor/creation.js';
import { conv2d, conv3d, convTranspose2d, convTranspose3d, type ConvOptions, type ConvTransposeOptions } from '../tensor/ops/conv.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { KilnError } from '../errors.js';
import { kaimingUniform_, uniform_ } from './init.js';
import { Module, parameter } from './module.js';

type Ks = number | number[];

function kernelDims(k: Ks, rank: number): number[] {
  const d = typeof k === 'number' ? new Array<number>(rank).fill(k) : k;
  if (d.length !== rank) throw new KilnError('E_CONFIG', `conv: kernel size [${d}] must have ${rank} dims`);
  return d;
}

abstract class ConvNd<O extends ConvOptions | ConvTransposeOptions> extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inChannels: number, readonly outChannels: number, kernel: Ks, readonly rank: number,
    readonly options: O & { bias?: boolean; generator?: Generator }, transposed: boolean,
  ) {
    super();
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0)
      throw new KilnError('E_CONFIG', `conv: channels ${inChannels} → ${outChannels} are not divisible by groups ${groups}`);
    const k = kernelDims(kernel, rank);
    // weight [out, in/groups, ...k] (transposed: [in, out/groups, ...k]) — fan_in as torch computes it from dim 1
    const shape = transposed ? [inChannels, outChannels / groups, ...k] : [outChannels, inChannels / groups, ...k];
    this.weight = parameter(kaimingUniform_(empty(shape), options.generator));
    const fanIn = shape[1] * k.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    this.bias = options.bias === false ? null : parameter(uniform_(empty([outChannels]), -bound, bound, options.generator));
  }
}

export class Conv2d extends ConvNd<ConvOptions> {
  constructor(inC: number, outC: number, kernel: Ks, opts: ConvOptions & { bias?: boolean; generator?: Generator } = {}) {
    super(inC, outC, kernel, 2, opts, false);
  }
  /** x [N, C, H, W] → [N, Cout, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

export class Conv3d extends ConvNd<ConvOptions> {
  constructor(inC: number, outC: number, kernel: Ks, opts: ConvOptions & { bias?: boolean; generator?: Generator } = {}) {
    super(inC, outC, kernel, 3, opts, false);
  }
  /** x [N, C, T, H, W] → [N, Cout, T', H', W']. */
  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, this.options);
  }
}

export class ConvTranspose2d extends ConvNd<ConvTransposeOptions> {
  constructor(inC: number, outC: number, kernel: Ks, opts: ConvTransposeOptions & { bias?: boolean; generator?: Generator } = {}) {
    super(inC, outC, kernel, 2, opts, true);
  }
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, this.options);
  }
}

export class ConvTranspose3d extends ConvNd<ConvTransposeOptions> {
  constructor(inC: number, outC: number, kernel: Ks, opts: ConvTransposeOptions & { bias?: boolean; generator?: Generator } = {}) {
    super(inC, outC, kernel, 3, opts, true);
  }
  forward(x: Tensor): Tensor {
    return convTranspose3d(x, this.weight, this.bias, this.options);
  }
}
