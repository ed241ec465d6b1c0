/**
 * Operator registry: name -> OperatorDef. `builtinRegistry()` returns a fresh registry holding every built-in
 * operator (listed explicitly in builtin-operators.ts); callers may `register` their own before compiling a graph.
 * Workers load extra operators from plugin modules exporting `register(registry)`.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { KilnError } from '../errors.js';
import type { OperatorDef } from './types.js';

export class OperatorRegistry {
  private readonly defs = new Map<string, OperatorDef>();
  register(def: OperatorDef): this {
    if (this.defs.has(def.name))
      throw new KilnError('E_DATAPIPE', `operator "${def.name}" is already registered; pick another name`);
    this.defs.set(def.name, def);
    return this;
  }
  has(name: string): boolean {
    return this.defs.has(name);
  }
  get(name: string): OperatorDef {
    const d = this.defs.get(name);
    if (!d) throw new KilnError('E_CONFIG', `unknown datapipe operator "${name}"; known: ${this.names().join(', ')}`);
    return d;
  }
  names(): string[] {
    return [...this.defs.keys()].sort();
  }
  list(): OperatorDef[] {
    return this.names().map((n) => this.defs.get(n)!);
  }
}

/** Import plugin modules (paths) and let each `register(registry)`. */
export async function loadPlugins(registry: OperatorRegistry, paths: string[]): Promise<void> {
  for (const p of paths) {
    const mod = (await import(pathToFileURL(resolve(p)).href)) as { register?: (r: OperatorRegistry) => void };
    if (typeof mod.register !== 'function')
      throw new KilnError('E_CONFIG', `datapipe plugin ${p}: must export a function register(registry)`);
    mod.register(registry);
  }
}
