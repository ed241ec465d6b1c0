/**
 * Naming of the JetStream objects of a run. One work-queue stream per non-source stage
 * (`KILN_<run>_<stage>`, subject `kiln.<run>.<stage>`), one dead-letter stream (`KILN_<run>__dead`, subject
 * `kiln.<run>._dead`), and one shared KV bucket holding run records (`run.<run>`) and per-worker progress
 * (`prog.<run>.<stage>.<worker>`).
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../../errors.js';

export const KV_BUCKET = 'kiln_datapipe';
export const CONSUMER = 'workers';

const RUN_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;

export function checkRunId(id: string): string {
  if (!RUN_RE.test(id)) throw new KilnError('E_CONFIG', `run id "${id}" must match ${RUN_RE}`);
  return id;
}

/** Default run id: pipeline name + a hash of (spec, input, out), so resubmitting the same run resumes it. */
export function defaultRunId(name: string, specJson: string, input: string, outDir: string): string {
  const h = createHash('sha1').update(specJson).update('\0').update(input).update('\0').update(outDir).digest('hex');
  const base = name.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 28) || 'run';
  return `${base}-${h.slice(0, 10)}`;
}

export const streamName = (run: string, stage: string): string => `KILN_${run}_${stage}`;
export const subjectOf = (run: string, stage: string): string => `kiln.${run}.${stage}`;
export const deadStream = (run: string): string => `KILN_${run}__dead`;
export const deadSubject = (run: string): string => `kiln.${run}._dead`;
export const runKey = (run: string): string => `run.${run}`;
export const progKey = (run: string, stage: string, worker: string): string => `prog.${run}.${stage}.${worker}`;
export const workerId = (host: string, pid: number): string =>
  `${host.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${pid}`;
