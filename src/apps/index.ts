/** The Aquarius applications: image-to-video, avatar, inpainting, personalization (LoRA), and their shared parts. */
export { VideoModel, loadVideoModel, ditForward, sincos3d, withImageChannels, VIDEO_MODEL_TYPE, type VideoModelConfig } from './video-model.js';
export { guidedSample, type KnownRegion, type GuidedSampleOptions } from './sampler.js';
export { imageToVideo, type GenerateOptions, type I2vMethod } from './image-to-video.js';
export { avatarVideo } from './avatar.js';
export { inpaintVideo, boxMask, parseBoxSpec, latentKeep, type BoxMask } from './inpaint.js';
export { personalize, sksClips, DEFAULT_LORA_TARGETS, type PersonalizeOptions } from './personalize.js';
export { tinyWorldConfig, trainWorld, worldBatch, type WorldTrainOptions } from './train-world.js';
export { runAppsDemo, measureT2v, measureI2v, measureInpaint, measureAvatar, measurePersonalize, type AppsDemoResult, type AppsDemoOptions } from './demo.js';
export { loadVideo, loadImage, saveVideo, framesToTensor } from './media.js';
export * as subjects from './subjects.js';
