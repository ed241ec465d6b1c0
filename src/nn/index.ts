/** kiln.nn: Module and the layers models are built from. */
export { Module, parameter, buffer, isParameter } from './module.js';
export { Linear, Embedding, RMSNorm, LayerNorm, Dropout, SwiGLU, type InitOptions } from './layers.js';
export { CausalSelfAttention, type AttentionConfig } from './attention.js';
export { Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d } from './conv.js';
export * as init from './init.js';
