/**
 * The pipeline graph: a spec (plain data, what YAML/JSON files hold) and its compiled, validated form.
 *
 * `PipelineSpec` lists stages; each names an operator from the registry, its `input` stage(s), params, resources
 * and concurrency. `compileGraph` validates everything before anything runs (unknown operators, unknown or
 * missing inputs, cycles, type mismatches between stages, bad resources, bad params) and returns the stages in
 * topological order. `Pipeline` is the TypeScript builder for the same spec.
 */
import { KilnError } from '../errors.js';
import type { OperatorDef, OperatorEnv, OperatorFn, Params, Resources } from './types.js';
import type { OperatorRegistry } from './registry.js';

export interface StageSpec {
  name: string;
  op: string;
  /** Upstream stage name(s). Required for every stage except sources. */
  input?: string | string[];
  params?: Params;
  resources?: Partial<Resources>;
  /** Max tasks of this stage in flight (per worker process for `nats`). Default: from resources and CPUs. */
  concurrency?: number;
}

export interface PipelineSpec {
  name: string;
  stages: StageSpec[];
}

export interface CompiledStage {
  name: string;
  def: OperatorDef;
  fn: OperatorFn;
  inputs: string[];
  outputs: string[];
  resources: Resources;
  concurrency: number | undefined;
  params: Params;
  /** Resolved type tag of the items this stage emits. */
  outType: string;
  /** True for batch/sink stages with size 'all': they wait for every upstream item. */
  barrier: boolean;
}

export interface CompiledGraph {
  name: string;
  spec: PipelineSpec;
  /** Stages in topological order (sources first). */
  stages: CompiledStage[];
  byName: Map<string, CompiledStage>;
}

const NAME_RE = /^[a-z][a-z0-9_-]{0,47}$/;

function fail(where: string, msg: string): never {
  throw new KilnError('E_CONFIG', `datapipe graph: ${where}: ${msg}`);
}

export function typeAccepts(inType: string, outType: string): boolean {
  return inType === 'any' || outType === 'any' || inType === outType;
}

/** Validate a spec against a registry and build the executable graph. Throws KilnError('E_CONFIG'). */
export function compileGraph(spec: PipelineSpec, registry: OperatorRegistry, env: OperatorEnv): CompiledGraph {
  if (!spec || typeof spec !== 'object') fail('spec', 'expected an object with "name" and "stages"');
  if (typeof spec.name !== 'string' || spec.name.length === 0) fail('spec', 'missing "name" (a string)');
  if (!Array.isArray(spec.stages) || spec.stages.length === 0) fail('spec', '"stages" must be a non-empty list');
  const seen = new Set<string>();
  for (const [i, s] of spec.stages.entries()) {
    const where = `stage #${i + 1}${s && typeof s.name === 'string' ? ` "${s.name}"` : ''}`;
    if (!s || typeof s !== 'object') fail(where, 'expected an object');
    if (typeof s.name !== 'string' || !NAME_RE.test(s.name))
      fail(where, `"name" must match ${NAME_RE} (lower-case letters, digits, _ and -)`);
    if (seen.has(s.name)) fail(where, `duplicate stage name "${s.name}"; stage names must be unique`);
    seen.add(s.name);
    if (typeof s.op !== 'string') fail(where, '"op" (operator name) is required');
    if (!registry.has(s.op))
      fail(where, `unknown operator "${s.op}"; known operators: ${registry.names().join(', ')}`);
  }
  const specByName = new Map(spec.stages.map((s) => [s.name, s]));
  const inputsOf = (s: StageSpec): string[] =>
    s.input === undefined ? [] : Array.isArray(s.input) ? s.input : [s.input];
  for (const s of spec.stages) {
    const def = registry.get(s.op);
    const ins = inputsOf(s);
    if (def.kind === 'source' && ins.length > 0) fail(`stage "${s.name}"`, `source operator "${s.op}" takes no input`);
    if (def.kind !== 'source' && ins.length === 0)
      fail(`stage "${s.name}"`, `operator "${s.op}" (${def.kind}) needs an "input" naming an upstream stage`);
    for (const name of ins) {
      if (typeof name !== 'string' || !specByName.has(name))
        fail(`stage "${s.name}"`, `input "${String(name)}" is not a stage in this pipeline`);
      if (name === s.name) fail(`stage "${s.name}"`, 'a stage cannot be its own input');
    }
  }
  // Topological order (Kahn); anything left over sits on a cycle.
  const indeg = new Map(spec.stages.map((s) => [s.name, inputsOf(s).length]));
  const order: string[] = [];
  const ready = spec.stages.filter((s) => inputsOf(s).length === 0).map((s) => s.name);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const s of spec.stages)
      for (const i of inputsOf(s))
        if (i === n) {
          indeg.set(s.name, indeg.get(s.name)! - 1);
          if (indeg.get(s.name) === 0) ready.push(s.name);
        }
  }
  if (order.length !== spec.stages.length) {
    const cyc = spec.stages.filter((s) => !order.includes(s.name)).map((s) => s.name);
    fail('graph', `cycle through stages ${cyc.join(' -> ')}; a pipeline must be acyclic`);
  }
  const byName = new Map<string, CompiledStage>();
  const stages: CompiledStage[] = [];
  for (const name of order) {
    const s = specByName.get(name)!;
    const def = registry.get(s.op);
    const ins = inputsOf(s);
    let inType = def.inType;
    for (const i of ins) {
      const up = byName.get(i)!;
      if (!typeAccepts(def.inType, up.outType))
        fail(`stage "${name}"`, `operator "${s.op}" consumes "${def.inType}" items but input "${i}" produces ` +
          `"${up.outType}"; insert a converting stage or change "input"`);
      if (inType === 'any') inType = up.outType;
    }
    const r = { cpu: 1, accelerator: 0, memoryMb: 256, ...def.resources, ...s.resources };
    for (const [k, v] of Object.entries(r))
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        fail(`stage "${name}"`, `resources.${k} must be a non-negative number, got ${JSON.stringify(v)}`);
    if (s.concurrency !== undefined && (!Number.isInteger(s.concurrency) || s.concurrency < 1))
      fail(`stage "${name}"`, `concurrency must be a positive integer, got ${JSON.stringify(s.concurrency)}`);
    let fn: OperatorFn;
    try {
      fn = def.create(s.params ?? {}, env);
    } catch (e) {
      fail(`stage "${name}" (op "${s.op}")`, (e as Error).message);
    }
    const c: CompiledStage = {
      name, def, fn, inputs: ins, outputs: [], resources: r, concurrency: s.concurrency, params: s.params ?? {},
      outType: def.outType === 'same' ? inType : def.outType,
      barrier: (fn.kind === 'batch' || fn.kind === 'sink') && fn.size === 'all',
    };
    byName.set(name, c);
    stages.push(c);
  }
  for (const st of stages) for (const i of st.inputs) byName.get(i)!.outputs.push(st.name);
  return { name: spec.name, spec, stages, byName };
}

/** TypeScript builder for a PipelineSpec: `new Pipeline('x').add('src', 'video-files').add('probe', 'probe')`. */
export class Pipeline {
  readonly stages: StageSpec[] = [];
  constructor(readonly name: string) {}
  /** Add a stage; `input` defaults to the previously added stage (none for the first). */
  add(name: string, op: string, opts: Omit<StageSpec, 'name' | 'op'> = {}): this {
    const prev = this.stages.at(-1);
    const input = opts.input ?? (prev ? prev.name : undefined);
    this.stages.push({ name, op, ...opts, ...(input !== undefined ? { input } : {}) });
    return this;
  }
  toSpec(): PipelineSpec {
    return { name: this.name, stages: this.stages.map((s) => ({ ...s })) };
  }
}
