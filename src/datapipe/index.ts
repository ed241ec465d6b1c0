/**
 * Public API of Kiln's data pipeline: build a graph (Pipeline / PipelineSpec / loadSpec), validate it against the
 * operator registry (compileGraph), run it embedded (runLocal) or on NATS JetStream (submitNatsRun + workers), and
 * extend it (OperatorRegistry.register, registerCaptioner, registerTokenizer).
 */
export { builtinRegistry } from './builtin-operators.js';
export { compileGraph, Pipeline, type CompiledGraph, type CompiledStage, type PipelineSpec, type StageSpec } from './graph.js';
export { runLocal, type LocalRunOptions, type LocalRunResult } from './local-executor.js';
export { loadPlugins, OperatorRegistry } from './registry.js';
export { loadSpec, parseSpec } from './spec.js';
export { finalizeRun, type RunSummary, type StageSummary } from './finalize.js';
export { natsStatus, runNatsPipeline, startNatsWorker, submitNatsRun } from './nats/nats-executor.js';
export { registerCaptioner, type Captioner } from './video/captioners.js';
export { registerTokenizer, type TextTokenizer } from './text/tokenizers.js';
export { detectShots, type Shot, type ShotOptions } from './video/shots.js';
export { probeVideo, type VideoInfo } from './video/probe.js';
export type { FilterResult, Item, OperatorDef, OperatorEnv, OperatorKind, Params, Resources, StageContext } from './types.js';
