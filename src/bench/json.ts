/**
 * JSON shape of benchmark output: results are built in camelCase and written with snake_case keys (recursively;
 * keys without lowercase letters, like the shape letters B, H, T, D, are kept),
 * numbers rounded to 4 significant digits where they are measurements (never for sizes or counts, which are
 * integers and pass through unchanged). Non-finite numbers become null.
 */

function snake(key: string): string {
  if (!/[a-z]/.test(key)) return key; // shape letters (B, H, T, D) and constants stay as they are
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

function round(v: number): number | null {
  if (!Number.isFinite(v)) return null;
  if (Number.isInteger(v)) return v;
  return Number(v.toPrecision(4));
}

/** A deep copy with snake_case keys and rounded non-integer numbers. */
export function toJson(value: unknown): unknown {
  if (typeof value === 'number') return round(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[snake(k)] = toJson(v);
    return out;
  }
  return value;
}
