/**
 * MinHash signatures and LSH banding for near-duplicate text detection.
 * Shingles are word n-grams (default 5) hashed with FNV-1a; `numPerm` universal hash functions
 * h_i(x) = a_i * x + b_i (mod 2^32, a_i odd) give the signature; documents sharing any of `bands` bands of
 * `numPerm / bands` rows are candidates, confirmed by the signature's Jaccard estimate.
 */
export interface MinHashOptions {
  numPerm: number;
  bands: number;
  ngram: number;
  seed: number;
}

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function perms(n: number, seed: number): { a: Uint32Array; b: Uint32Array } {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const a = new Uint32Array(n), b = new Uint32Array(n);
  for (let i = 0; i < n; i++) (a[i] = next() | 1, (b[i] = next()));
  return { a, b };
}

export function shingles(text: string, n: number): Set<number> {
  const w = text.split(/\s+/).filter(Boolean);
  const out = new Set<number>();
  if (w.length < n) {
    if (w.length > 0) out.add(fnv1a(w.join(' ')));
    return out;
  }
  for (let i = 0; i + n <= w.length; i++) out.add(fnv1a(w.slice(i, i + n).join(' ')));
  return out;
}

export class MinHasher {
  private readonly p: { a: Uint32Array; b: Uint32Array };
  constructor(readonly o: MinHashOptions) {
    this.p = perms(o.numPerm, o.seed);
  }
  signature(text: string): Uint32Array {
    const sig = new Uint32Array(this.o.numPerm).fill(0xffffffff);
    for (const s of shingles(text, this.o.ngram))
      for (let i = 0; i < sig.length; i++) {
        const h = (Math.imul(this.p.a[i], s) + this.p.b[i]) >>> 0;
        if (h < sig[i]) sig[i] = h;
      }
    return sig;
  }
  bandKeys(sig: Uint32Array): string[] {
    const r = Math.floor(this.o.numPerm / this.o.bands);
    const keys: string[] = [];
    for (let b = 0; b < this.o.bands; b++) {
      let h = 0x811c9dc5 ^ b;
      for (let i = b * r; i < (b + 1) * r; i++) h = Math.imul(h ^ sig[i], 0x01000193);
      keys.push(`${b}:${(h >>> 0).toString(36)}`);
    }
    return keys;
  }
}

export function estimatedJaccard(a: Uint32Array, b: Uint32Array): number {
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
  return eq / a.length;
}
