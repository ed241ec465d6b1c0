/**
 * The ERNIE family: the HF-compatible ERNIE encoder (released ERNIE 3.0 small models, `model_type: ernie`) and the
 * ERNIE 3.0 architecture (universal Transformer-XL module + NLU and NLG task modules) with its accounting.
 */
export { ERNIE_DEFAULTS, ERNIE_PRESETS, ernieConfig, ernieParamCount, type ErnieConfig, type ErnieHiddenAct } from './hf-config.js';
export { ErnieModel, ErnieForMaskedLM, ErnieEmbeddings, ErnieEncoder, ErnieLayer, ErniePooler, ErnieLMPredictionHead, type ErnieInputs, type ErnieOutput } from './ernie-model.js';
export { loadPretrained, loadPretrainedMaskedLm, loadErnieTokenizer, savePretrained, ernieKey, type ErnieLoadOptions } from './hf.js';
export {
  ERNIE3_DEFAULTS, ERNIE3_PRESETS, ernie3Config, ernie3ParamCounts, relLayerParams, headParams, reorderClasses,
  type Ernie3Config, type Ernie3ModuleDims, type Ernie3ParamCounts,
} from './config.js';
export { RelativeMultiHeadAttention, relativeSinusoids, type RelAttentionOptions } from './rel-attention.js';
export { Ernie3Model, Ernie3Stack, Ernie3Layer, Ernie3TaskModule, Ernie3Embeddings, nextMemory, disposeMemory, type Ernie3Memory, type RecurrenceKind } from './model.js';
export { registerErnieCommands, runEmbed, type EmbedOptions, type EmbedResult } from './cli.js';
export { syntheticKg, sentenceForTriple, PAD, CLS, SEP, MASK, UNK, SPECIALS, type SyntheticKg, type Triple, type AnnotatedSentence, type Span, type SpanKind } from './synthetic-kg.js';
export {
  IGNORE, maskUnits, knowledgeMaskedLm, documentLmSegments, permutationClass, classPermutation, sentenceReordering, sentenceDistance,
  universalKnowledgeText, collate, DISTANCE_ADJACENT, DISTANCE_SAME_DOC, DISTANCE_OTHER_DOC, type Example, type MaskOptions, type Batch,
} from './pretrain-data.js';
export { Ernie3ForPreTraining, Ernie3ForSequenceClassification, idsTensor } from './heads.js';
export { ScheduledDropout } from './dropout.js';
export { MultiTaskSampler, taskLoss, taskForward, countCorrect, ERNIE3_TASKS, type Ernie3Task, type PretrainCorpus, type SamplerOptions, type TaskBatch, type TaskOutput, type StepShape } from './multitask.js';
export { ernieFamily, ernie3Family } from './family.js';
