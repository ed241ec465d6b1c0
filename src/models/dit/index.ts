/**
 * The Aquarius video family: 3D causal VAE, Single-DiT, MM-DiT, text encoder, the rectified-flow formulation, diffusers
 * mapping. Training lives in src/train (flow-loss, video-vae, video-dit, tiny-dit), sampling in src/infer.
 */
export { VAE_DEFAULTS, VAE_PRESETS, vaeConfig, vaeParamCount, latentFrames, temporalDown, type VaeConfig } from './vae-config.js';
export { groupNorm, GroupNorm, type GroupNormStats } from './group-norm.js';
export { CausalVae3d, CausalConv3d, CausalCache, DiagonalGaussian, Encoder3d, Decoder3d, ResnetBlock3d, type VaeLoss } from './vae.js';
export { CausalAttention3d, frameCausalMask } from './vae-attention.js';
export { psnr, ssim, ssimPlane } from './metrics.js';
export { saveVae, loadVae, readVaeConfig } from './vae-io.js';
export { tileGrid, TileBlender, type SpatialTile } from './vae-tiling.js';
export {
  SINGLE_DIT_DEFAULTS, SINGLE_DIT_PRESETS, MM_DIT_DEFAULTS, MM_DIT_PRESETS, singleDitConfig, mmDitConfig, singleDitParamCount,
  mmDitParamCount, wanRopeAxes, type SingleDitConfig, type MmDitConfig,
} from './dit-config.js';
export { timestepEmbedding, MlpEmbedder, patchify, unpatchify, rope3d, type PatchGrid } from './embeddings.js';
export { QkNormAttention, slidingTileAttention, slidingTileJointAttention, parseTileWindow, type Rope, type TileWindow } from './attention.js';
export { SingleDit, SingleDitBlock, FeedForward, modulate, type DitInputs } from './single-dit.js';
export { MmDit, DualStreamBlock, SingleStreamBlock, JointAttention } from './mm-dit.js';
export { IndividualTokenRefiner, RefinerTimeTextEmbed } from './token-refiner.js';
export { SmallTextEncoder, type TextEncoder, type TextEncoding, type SmallTextEncoderConfig } from './text-encoder.js';
export {
  sigmaSchedule, resolutionShift, shiftSigma, nullCondition, withUnconditional, flowTimesteps, guidedVelocity,
  type Condition, type VelocityModel, type ShiftOptions,
} from './flow.js';
export { tokenize } from './byte-tokens.js';
export { sanitizeWan, toWan, sanitizeHunyuan, loadDiffusersDit, diffusersDitConfig, type Sanitized } from './hf.js';
export { singleDitFamily, mmDitFamily, causalVaeFamily } from './family.js';
