/**
 * The explicit list of built-in operators (no import-time side effects): adding an operator = its definition in
 * video/ or text/ plus one entry in those lists.
 */
import { OperatorRegistry } from './registry.js';
import { KNOWLEDGE_OPERATORS } from './text/entity-link-operators.js';
import { TEXT_OPERATORS } from './text/text-operators.js';
import { VIDEO_OPERATORS } from './video/video-operators.js';

export function builtinRegistry(): OperatorRegistry {
  const r = new OperatorRegistry();
  for (const d of [...VIDEO_OPERATORS, ...TEXT_OPERATORS, ...KNOWLEDGE_OPERATORS]) r.register(d);
  return r;
}
