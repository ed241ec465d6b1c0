/**
 * Bucketing clips the way video diffusion models train on them: nearest aspect ratio from a list, a resolution
 * class by the short side (largest class not above it), and a duration range. `bucket` joins the three.
 */
export interface BucketOptions {
  aspects: string[];
  resolutions: number[];
  /** Ascending edges in seconds: [2, 4, 8] gives "<2s", "2-4s", "4-8s", ">=8s". */
  durations: number[];
}

export const DEFAULT_BUCKETS: BucketOptions = {
  aspects: ['9:16', '3:4', '1:1', '4:3', '16:9', '21:9'],
  resolutions: [90, 144, 240, 360, 480, 720, 1080, 2160],
  durations: [2, 4, 8, 16],
};

export function aspectBucket(w: number, h: number, aspects: string[]): string {
  const r = Math.log(w / h);
  let best = aspects[0];
  let bd = Infinity;
  for (const a of aspects) {
    const [x, y] = a.split(':').map(Number);
    const d = Math.abs(Math.log(x / y) - r);
    if (d < bd) (bd = d, (best = a));
  }
  return best;
}

export function resolutionBucket(w: number, h: number, resolutions: number[]): string {
  const short = Math.min(w, h);
  const fit = resolutions.filter((r) => r <= short);
  return fit.length > 0 ? `${Math.max(...fit)}p` : `<${Math.min(...resolutions)}p`;
}

export function durationBucket(s: number, edges: number[]): string {
  if (s < edges[0]) return `<${edges[0]}s`;
  for (let i = 0; i + 1 < edges.length; i++) if (s < edges[i + 1]) return `${edges[i]}-${edges[i + 1]}s`;
  return `>=${edges[edges.length - 1]}s`;
}

export function bucketOf(w: number, h: number, seconds: number, o: BucketOptions):
    { aspect_bucket: string; resolution_bucket: string; duration_bucket: string; bucket: string } {
  const a = aspectBucket(w, h, o.aspects), r = resolutionBucket(w, h, o.resolutions);
  const d = durationBucket(seconds, o.durations);
  return { aspect_bucket: a, resolution_bucket: r, duration_bucket: d, bucket: `${a}/${r}/${d}` };
}
