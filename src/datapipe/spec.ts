/**
 * Reading pipeline specs from YAML or JSON files (the CLI's `<spec>` argument).
 * The file holds a `PipelineSpec`: `{ name, stages: [{ name, op, input, params, resources, concurrency }] }`.
 * Resource keys may be written `memory_mb` in files; they are normalised to `memoryMb`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { KilnError } from '../errors.js';
import type { PipelineSpec } from './graph.js';

export function parseSpec(text: string, where: string): PipelineSpec {
  let raw: unknown;
  try {
    raw = where.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new KilnError('E_CONFIG', `datapipe spec ${where}: not valid ${where.endsWith('.json') ? 'JSON' : 'YAML'}: ` +
      `${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new KilnError('E_CONFIG', `datapipe spec ${where}: expected a mapping with "name" and "stages"`);
  const spec = raw as PipelineSpec;
  if (Array.isArray(spec.stages))
    for (const s of spec.stages) {
      const r = s?.resources as Record<string, unknown> | undefined;
      if (r && 'memory_mb' in r) {
        r.memoryMb = r.memory_mb;
        delete r.memory_mb;
      }
    }
  return spec;
}

export function loadSpec(path: string): PipelineSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KilnError('E_IO', `datapipe spec ${path}: cannot read (${(e as Error).message}); check the path`);
  }
  return parseSpec(text, path);
}
