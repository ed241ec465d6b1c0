/** kiln.io: safetensors files, sharded Hugging Face checkpoints, and modules ↔ checkpoint directories. */
export { openSafetensors, readSafetensors, writeSafetensors, serializeSafetensors, parseSafetensorsHeader, SafetensorsFile, type RawTensor } from './safetensors.js';
export { openCheckpoint, writeSharded, readShardIndex, SafetensorsCheckpoint } from './sharded.js';
export { saveModel, loadModelWeights, readConfig, toRaw, fromRaw } from './checkpoint.js';
