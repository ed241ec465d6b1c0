/**
 * A strict JSON parser for untrusted file headers (safetensors, index files).
 *
 * Contract: parses RFC 8259 JSON text and returns plain values, except that objects become `Map`s (insertion
 * order kept, no prototype pollution through "__proto__") and numbers written with a fraction or exponent become
 * `JsonFloat` (so callers can insist on integer literals). It rejects what JSON.parse silently accepts or crashes
 * on: duplicate keys in one object, nesting deeper than `maxDepth` (default 128, serde_json's limit), and lone
 * UTF-16 surrogates in \u escapes. Every failure is a `StrictJsonError` carrying the character offset; callers
 * wrap it into a KilnError naming their file. It never recurses deeper than maxDepth and runs in linear time.
 */

export type JsonValue = null | boolean | number | JsonFloat | string | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

/** A number literal with a fraction or exponent (e.g. `1.0`, `2e3`). */
export class JsonFloat {
  constructor(readonly value: number) {}
}

export class StrictJsonError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at character ${offset}`);
    this.name = 'StrictJsonError';
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function parseStrictJson(text: string, maxDepth = 128): JsonValue {
  let i = 0;
  const n = text.length;
  const fail = (msg: string): never => { throw new StrictJsonError(msg, i); };
  const skipWs = (): void => { while (i < n && WS.has(text.charCodeAt(i))) i++; };

  function parseString(): string {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) { out += text.slice(start, i); i++; return out; }
      if (c < 0x20) fail('unescaped control character in string');
      if (c !== 0x5c) { i++; continue; }
      out += text.slice(start, i);
      i++;
      const e = text[i];
      i++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hi = hex4();
          if (hi >= 0xdc00 && hi <= 0xdfff) fail('lone low surrogate escape');
          if (hi >= 0xd800 && hi <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone high surrogate escape');
            i += 2;
            const lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail('invalid low surrogate escape');
            out += String.fromCharCode(hi, lo);
          } else out += String.fromCharCode(hi);
          break;
        }
        default: i--; fail('invalid escape');
      }
      start = i;
    }
  }

  function hex4(): number {
    if (i + 4 > n) fail('truncated \\u escape');
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = text.charCodeAt(i + k);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 87 : c >= 0x41 && c <= 0x46 ? c - 55 : -1;
      if (d < 0) fail('invalid \\u escape');
      v = v * 16 + d;
    }
    i += 4;
    return v;
  }

  function parseNumber(): number | JsonFloat {
    const start = i;
    if (text[i] === '-') i++;
    const digits = (): number => { const s = i; while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++; return i - s; };
    if (text[i] === '0') i++;
    else if (digits() === 0) fail('invalid number');
    let isFloat = false;
    if (text[i] === '.') { i++; isFloat = true; if (digits() === 0) fail('invalid number fraction'); }
    if (text[i] === 'e' || text[i] === 'E') {
      i++; isFloat = true;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits() === 0) fail('invalid number exponent');
    }
    const v = Number(text.slice(start, i));
    return isFloat ? new JsonFloat(v) : v;
  }

  function parseValue(depth: number): JsonValue {
    skipWs();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      const obj: JsonObject = new Map();
      skipWs();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        skipWs();
        if (text[i] !== '"') fail('expected a string key');
        const keyAt = i;
        const key = parseString();
        if (obj.has(key)) { i = keyAt; fail(`duplicate key ${JSON.stringify(key)}`); }
        skipWs();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj.set(key, parseValue(depth + 1));
        skipWs();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      const arr: JsonValue[] = [];
      skipWs();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return parseNumber();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    return fail('unexpected character');
  }

  const v = parseValue(0);
  skipWs();
  if (i < n) fail('trailing characters after the JSON value');
  return v;
}
