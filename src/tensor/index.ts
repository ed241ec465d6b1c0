/** The engine's public surface: Tensor, creation, every op as a free function, autograd and memory scopes. */
export { Tensor, numel, type NestedArray, type TensorOrScalar } from './tensor.js';
export type { DType } from './dtype.js';
export { DTYPES, DTYPE_BYTES } from './dtype.js';
export * from './creation.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd.js';
export { tidy, keep } from './scope.js';
export { allocator } from './allocator.js';
export { Generator, manualSeed } from './random.js';
export {
  add, sub, rsub, mul, div, pow, maximum, minimum, neg, exp, log, sqrt, rsqrt, abs, square, sin, cos, tanh,
  sigmoid, silu, gelu, relu, erf, clamp, eq, ne, lt, le, gt, ge, where, maskedFill,
} from './ops/elementwise.js';
export {
  contiguous, clone, reshape, view, flatten, permute, transpose, slice, select, expand, squeeze, unsqueeze, split,
  chunk, cat, stack, pad,
} from './ops/shape.js';
export { sum, mean, amax, amin, max, min, argmax, argmin, variance } from './ops/reduce.js';
export { matmul } from './ops/matmul.js';
export { softmax, logSoftmax, crossEntropy, rmsNorm, layerNorm, dropout, type CrossEntropyOptions } from './ops/nn.js';
export { indexSelect, indexAdd, embedding, gather, scatterAdd, topk, sort } from './ops/indexing.js';
export { toDtype } from './ops/cast.js';
export { scaledDotProductAttention, scaledDotProductAttentionReference, type AttentionOptions } from './ops/attention.js';
export { applyRotary, ropeFrequencies, yarnFindCorrectionDim, yarnFindCorrectionRange, yarnGetMscale, yarnLinearRampMask, type RotaryLayout, type RotaryOptions, type YarnOptions, type RopeFrequencyOptions, type RopeTables } from './ops/rope.js';
export {
  conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, convTranspose3d,
  type ConvOptions, type ConvTransposeOptions, type IntOrTuple,
} from './ops/conv.js';
export {
  avgPool1d, avgPool2d, avgPool3d, downsampleAvg, interpolateNearest, upsampleNearest, padMode,
  type AvgPoolOptions, type DownsampleAvgOptions, type InterpolateOptions, type PadMode,
} from './ops/resample.js';
export { shareTensor, fromShared, type SharedTensor } from './shared.js';
