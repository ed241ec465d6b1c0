/** Kiln's tokenizers: Hugging Face tokenizer.json loading (BPE, WordPiece), BPE training, and the byte tokenizer. */
export { Tokenizer, loadTokenizer, tokenizerFromJson, bertTokenizerJson, type EncodeOptions, type DecodeOptions } from './tokenizer.js';
export type { Encoding } from './encoding.js';
export { BpeModel } from './models/bpe.js';
export { WordPieceModel, readVocabTxt } from './models/wordpiece.js';
export { translateRegex } from './regex.js';
export { ByteTokenizer } from './byte.js';
export { trainBpe, writeTokenizerJson, preTokenizerPreset, DEEPSEEK_V3_SPLITS, type TrainBpeOptions, type TrainBpeResult } from './train-bpe.js';
export { DecodeStream } from './decode-stream.js';
export { asTextTokenizer, type IdsTokenizer } from './text-tokenizer.js';
