/**
 * GroupNorm (Wu & He 2018) for video tensors, composed from existing ops (reshape, mean, sub, mul, rsqrt) so its
 * gradient comes from theirs. Two statistics layouts:
 *   'frame' (default here): statistics per (sample, group, frame) over C/G × H × W — every frame is normalised on its
 *            own, so the op is causal in time and a chunked pass over frames equals the full pass exactly (what the
 *            causal VAE needs: frame 0 must encode alone);
 *   'video': statistics per (sample, group) over C/G × T × H × W — torch.nn.GroupNorm on a 5-D tensor.
 * x [N, C, T, H, W] (or any [N, C, ...]); weight, bias [C].
 */
import { KilnError } from '../../errors.js';
import { Module, parameter } from '../../nn/module.js';
import { ones, zeros } from '../../tensor/creation.js';
import type { Tensor } from '../../tensor/tensor.js';

export type GroupNormStats = 'frame' | 'video';

export function groupNorm(x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps = 1e-6, stats: GroupNormStats = 'frame'): Tensor {
  const [N, C] = x.shape;
  if (x.ndim < 3 || C % groups !== 0)
    throw new KilnError('E_SHAPE', `groupNorm: input [${x.shape}] must be [N, C, ...] with C divisible by groups ${groups}`);
  let xr: Tensor;
  let dims: number[];
  if (stats === 'frame' && x.ndim === 5) {
    const [, , T, H, W] = x.shape;
    xr = x.reshape([N, groups, C / groups, T, H * W]); // [N, G, C/G, T, HW]
    dims = [2, 4];
  } else {
    xr = x.reshape([N, groups, -1]); // [N, G, C/G·spatial]
    dims = [2];
  }
  const mu = xr.mean(dims, true);
  const xc = xr.sub(mu);
  const v = xc.square().mean(dims, true);
  let y = xc.mul(v.add(eps).rsqrt()).reshape(x.shape);
  const bshape = [1, C, ...new Array<number>(x.ndim - 2).fill(1)];
  if (weight) y = y.mul(weight.reshape(bshape));
  if (bias) y = y.add(bias.reshape(bshape));
  return y;
}

export class GroupNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-6, readonly stats: GroupNormStats = 'frame') {
    super();
    if (channels % groups !== 0) throw new KilnError('E_CONFIG', `GroupNorm: ${channels} channels are not divisible by ${groups} groups`);
    this.weight = parameter(ones([channels]));
    this.bias = parameter(zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return groupNorm(x, this.groups, this.weight, this.bias, this.eps, this.stats);
  }
}
