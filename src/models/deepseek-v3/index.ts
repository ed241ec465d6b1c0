/** The DeepSeek-V3 family: config + accounting, modules (MLA, DeepSeekMoE, MTP), latent cache, HF checkpoints. */
export {
  DEEPSEEK_V3_DEFAULTS, DEEPSEEK_V3_PRESETS, deepseekV3Config, paramCounts, kvCacheBytesPerToken, latentCacheWidth, mhaCacheWidth,
  flopsPerToken, modelInfo, toHfConfigJson, type DeepseekV3Config, type ParamCounts, type FlopsOptions, type YarnRopeScaling, type Fp8QuantizationConfig,
} from './config.js';
export { MultiHeadLatentAttention } from './mla.js';
export { DeepseekMoE, MoeGate, selectExperts, gateValues, sortByExpert, sequenceBalanceTerm, sequenceBalanceLoss, maxViolation, type RoutingConfig, type MoeOutput } from './moe.js';
export { DeepseekV3ForCausalLM, DeepseekV3Body, DecoderLayer, MtpLayer, SharedHead, type DeepseekV3Output, type LossOptions, type LossParts } from './model.js';
export { LatentCache, LatentCacheLayer } from './cache.js';
export { RopeCache, softmaxScale, yarnOptions } from './rope.js';
export { loadPretrained, loadWeights, savePretrained, dequantizeBlockFp8, type LoadOptions, type SaveOptions } from './hf.js';
