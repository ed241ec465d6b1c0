/** The basic layers: Linear, Embedding, RMSNorm, LayerNorm, Dropout, and the SwiGLU MLP. */
import { Tensor } from '../tensor/tensor.js';
import { empty, ones, zeros } from '../tensor/creation.js';
import { embedding } from '../tensor/ops/indexing.js';
import { dropout, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { constant_, kaimingUniform_, normal_, uniform_ } from './init.js';
import { Module, parameter } from './module.js';
import type { Generator } from '../tensor/random.js';

export interface InitOptions {
  /** Draw weights from N(0, std) instead of the default scheme (GPT/DeepSeek style 0.006–0.02). */
  std?: number;
  generator?: Generator;
}

/** y = x Wᵀ + b with W [out, in] (the PyTorch / Hugging Face layout). */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = true, std, generator }: InitOptions & { bias?: boolean } = {}) {
    super();
    const w = empty([outFeatures, inFeatures]);
    this.weight = parameter(std !== undefined ? normal_(w, 0, std, generator) : kaimingUniform_(w, generator));
    this.bias = bias ? parameter(std !== undefined ? zeros([outFeatures]) : kaimingUniformBias(outFeatures, inFeatures, generator)) : null;
  }
  forward(x: Tensor): Tensor {
    const y = x.matmul(this.weight.mT); // [..., out]
    return this.bias ? y.add(this.bias) : y;
  }
}

/** torch's default Linear bias init: U(−1/√fan_in, 1/√fan_in). */
function kaimingUniformBias(n: number, fanIn: number, gen?: Generator): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return uniform_(empty([n]), -bound, bound, gen);
}

/** Lookup table [num, dim]; forward(ids [...]) → [..., dim]. */
export class Embedding extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly dim: number, { std = 1, generator }: InitOptions = {}) {
    super();
    this.weight = parameter(normal_(empty([numEmbeddings, dim]), 0, std, generator));
  }
  forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight);
  }
}

export class RMSNorm extends Module {
  weight: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = parameter(ones([dim]));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  constructor(readonly dim: number, readonly eps = 1e-5, { affine = true } = {}) {
    super();
    this.weight = affine ? parameter(ones([dim])) : null;
    this.bias = affine ? parameter(constant_(empty([dim]), 0)) : null;
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.1, readonly generator?: Generator) {
    super();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}

/** The gated MLP of Llama / DeepSeek: down(silu(gate(x)) ∘ up(x)). */
export class SwiGLU extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  /** `outStd` (when given with `std`) initialises down_proj separately, e.g. std/√(2·layers) for residual outputs. */
  constructor(readonly dim: number, readonly hidden: number, { outStd, ...init }: InitOptions & { outStd?: number } = {}) {
    super();
    this.gate_proj = new Linear(dim, hidden, { bias: false, ...init });
    this.up_proj = new Linear(dim, hidden, { bias: false, ...init });
    this.down_proj = new Linear(hidden, dim, { bias: false, ...init, std: outStd ?? init.std });
  }
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(this.gate_proj.forward(x).silu().mul(this.up_proj.forward(x)));
  }
}
