/**
 * Core datapipe types shared by the graph, the operators and both executors.
 *
 * An `Item` is a small JSON record (never media bytes: videos travel as paths). Every item has a stable `id`;
 * the executors key idempotency (skip-done, at-least-once -> exactly-once) on `(stage, item.id)`.
 * An `OperatorDef` describes one operator kind: what it consumes and produces (type tags checked at validation),
 * its default resources, and a factory that turns spec params into the function the executor calls.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One record flowing between stages. Extra fields are operator-specific (see docs/datapipe.md). */
export interface Item {
  id: string;
  [k: string]: Json | undefined;
}

/** Resources a stage declares per running task. */
export interface Resources {
  /** CPU cores one task keeps busy (may be fractional, e.g. 0.5 for an I/O-bound task). */
  cpu: number;
  /** Accelerator slots one task holds (0 = CPU-only stage). */
  accelerator: number;
  /** Peak memory of one task, MiB (used to size pools against the memory budget). */
  memoryMb: number;
}

export type OperatorKind = 'source' | 'map' | 'flatMap' | 'filter' | 'batch' | 'sink';

/** What an operator function sees: where outputs go, and a way to say "still working" for long tasks. */
export interface StageContext {
  /** The run's output directory (shared by every worker). */
  outDir: string;
  /** The stage's name in the graph. */
  stage: string;
  /** Call periodically during long tasks; the NATS executor turns it into an in-progress heartbeat. */
  heartbeat(): void;
  /** Abort signal raised when the run is cancelled. */
  signal: AbortSignal;
}

/** The result of a filter: keep, or drop with a reason recorded in the manifest. */
export type FilterResult = true | { keep: false; reason: string };

export type SourceFn = (ctx: StageContext) => AsyncIterable<Item>;
export type MapFn = (item: Item, ctx: StageContext) => Promise<Item>;
export type FlatMapFn = (item: Item, ctx: StageContext) => Promise<Item[]>;
export type FilterFn = (item: Item, ctx: StageContext) => Promise<FilterResult>;
/** A batch operator gets a group of items (all upstream items, sorted by id, when `size` is 'all'). */
export type BatchFn = (items: Item[], ctx: StageContext) => Promise<BatchResult>;
export interface BatchResult {
  out: Item[];
  dropped?: Array<{ item: Item; reason: string }>;
}

export type OperatorFn =
  | { kind: 'source'; run: SourceFn }
  | { kind: 'map'; run: MapFn }
  | { kind: 'flatMap'; run: FlatMapFn }
  | { kind: 'filter'; run: FilterFn }
  | { kind: 'batch' | 'sink'; run: BatchFn; size: number | 'all' };

/** Parameters from a spec: plain JSON. */
export type Params = { [k: string]: Json };

export interface OperatorDef {
  name: string;
  kind: OperatorKind;
  /** Type tag of accepted items ('any' accepts everything); unused for sources. */
  inType: string;
  /** Type tag of produced items ('same' = whatever came in). */
  outType: string;
  description: string;
  resources?: Partial<Resources>;
  /** Validate params and build the stage function; throw KilnError('E_CONFIG') on bad params. */
  create(params: Params, env: OperatorEnv): OperatorFn;
}

/** Run-wide settings operators may read (the CLI's --input, tool paths). */
export interface OperatorEnv {
  input?: string;
  ffmpeg: string;
  ffprobe: string;
}
