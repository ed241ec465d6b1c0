/** kiln.optim: optimizers, learning-rate schedules and gradient clipping. */
export { Optimizer, type ParamGroup } from './optimizer.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { SGD, type SGDOptions } from './sgd.js';
export * from './schedules.js';
export { clipGradNorm } from './clip.js';
