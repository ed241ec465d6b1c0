/**
 * NormalizedString and PreTokenizedString: text being normalized and split, with every code unit of the current
 * text aligned to a range of the ORIGINAL input, so token offsets can be reported against the input string.
 *
 * Mirrors the Rust `tokenizers` library's `NormalizedString` semantics, translated from UTF-8 bytes to UTF-16 code
 * units: each code unit carries [start, end) of the original character it came from (both units of a surrogate
 * pair carry the whole pair); `transform` takes (char, change) pairs where change 0 replaces one character, change
 * n > 0 inserts a character aligned like the previous one, and change -n replaces one character and removes n more.
 * When `track` is false no alignments are computed (the fast path for ids-only encoding).
 * Identity alignment (nothing transformed yet) is kept implicit (`a === null`) so plain text costs nothing.
 */

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** Flat list of [start, end, isMatch(0|1)] triples covering a string (the Rust `Pattern::find_matches` output). */
export type Matches = number[];

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

export class NormalizedString {
  /** The current (normalized) text. */
  s: string;
  /** Per code unit [start, end) in the original input, or null for identity (origStart + i). */
  a: Int32Array | null;
  /** Where this piece starts / ends in the original input. */
  origStart: number;
  origEnd: number;
  readonly track: boolean;

  constructor(s: string, a: Int32Array | null, origStart: number, origEnd: number, track: boolean) {
    this.s = s;
    this.a = a;
    this.origStart = origStart;
    this.origEnd = origEnd;
    this.track = track;
  }

  static from(text: string, track = true, base = 0): NormalizedString {
    return new NormalizedString(text, null, base, base + text.length, track);
  }

  get length(): number {
    return this.s.length;
  }

  alignStart(i: number): number {
    if (this.a) return this.a[2 * i];
    const c = this.s.charCodeAt(i);
    return this.origStart + (isLow(c) && i > 0 && isHigh(this.s.charCodeAt(i - 1)) ? i - 1 : i);
  }

  alignEnd(i: number): number {
    if (this.a) return this.a[2 * i + 1];
    const c = this.s.charCodeAt(i);
    return this.origStart + (isHigh(c) && i + 1 < this.s.length && isLow(this.s.charCodeAt(i + 1)) ? i + 2 : i + 1);
  }

  /** The original range covered by normalized range [s, e). */
  toOriginal(s: number, e: number): [number, number] {
    if (s >= e) {
      const p = s < this.s.length ? this.alignStart(s) : this.s.length > 0 ? this.alignEnd(this.s.length - 1) : this.origStart;
      return [p, p];
    }
    return [this.alignStart(s), this.alignEnd(e - 1)];
  }

  slice(s: number, e: number): NormalizedString {
    if (s === 0 && e === this.s.length) return this;
    const sub = this.s.slice(s, e);
    if (!this.track) return new NormalizedString(sub, null, this.origStart + s, this.origStart + e, false);
    if (!this.a) return new NormalizedString(sub, null, this.origStart + s, this.origStart + e, true);
    const [o0, o1] = this.toOriginal(s, e);
    return new NormalizedString(sub, this.a.subarray(2 * s, 2 * e), o0, o1, true);
  }

  /**
   * Replace the whole text by `chars` (one code point string each) with their `changes` (see file header).
   * `initialOffset` code points of the old text are dropped first.
   */
  transform(chars: string[], changes: number[], initialOffset = 0): void {
    const old = this.s;
    let pos = 0;
    for (let k = 0; k < initialOffset && pos < old.length; k++) pos += isHigh(old.charCodeAt(pos)) ? 2 : 1;
    const out = chars.join('');
    if (!this.track) {
      this.s = out;
      return;
    }
    const al = new Int32Array(2 * out.length);
    let w = 0;
    for (let k = 0; k < chars.length; k++) {
      const c = chars[k];
      const ch = changes[k];
      let as: number;
      let ae: number;
      if (ch > 0) {
        if (pos < 1) {
          as = this.origStart;
          ae = this.origStart;
        } else {
          as = this.alignStart(pos - 1);
          ae = this.alignEnd(pos - 1);
        }
      } else if (pos < old.length) {
        as = this.alignStart(pos);
        ae = this.alignEnd(pos);
      } else {
        as = ae = this.origEnd;
      }
      if (ch <= 0 && pos < old.length) pos += isHigh(old.charCodeAt(pos)) ? 2 : 1;
      for (let r = 0; r < -ch && pos < old.length; r++) pos += isHigh(old.charCodeAt(pos)) ? 2 : 1;
      for (let u = 0; u < c.length; u++) {
        al[w++] = as;
        al[w++] = ae;
      }
    }
    this.s = out;
    this.a = al;
  }

  /** Keep only the code points for which `keep` is true (as the Rust `filter`: a kept character absorbs the removed ones after it). */
  filter(keep: (c: string) => boolean): void {
    const chars: string[] = [];
    const changes: number[] = [];
    let removed = 0;
    let removedStart = 0;
    let last: string | null = null;
    for (const c of this.s) {
      if (keep(c)) {
        if (last !== null) {
          chars.push(last);
          changes.push(-removed);
        } else removedStart = removed;
        last = c;
        removed = 0;
      } else removed++;
    }
    if (last !== null) {
      chars.push(last);
      changes.push(-removed);
    }
    this.transform(chars, changes, removedStart);
  }

  /** Prepend `p` (aligned like the first character), as the Rust `prepend`. */
  prepend(p: string): void {
    if (this.s.length === 0) return;
    const first = String.fromCodePoint(this.s.codePointAt(0)!);
    const chars: string[] = [];
    const changes: number[] = [];
    let i = 0;
    for (const c of p) {
      chars.push(c);
      changes.push(i === 0 ? 0 : 1);
      i++;
    }
    chars.push(first);
    changes.push(1);
    for (const c of this.s.slice(first.length)) {
      chars.push(c);
      changes.push(0);
    }
    this.transform(chars, changes);
  }

  /**
   * Replace every match of `matches` (from a Pattern) by `content`. As in the Rust library, the replacement
   * characters are all aligned like the last character of the match.
   */
  replace(matches: Matches, content: string): void {
    const parts: string[] = [];
    const al: number[] = [];
    for (let k = 0; k < matches.length; k += 3) {
      const s = matches[k];
      const e = matches[k + 1];
      if (!matches[k + 2]) {
        parts.push(this.s.slice(s, e));
        if (this.track) for (let i = s; i < e; i++) al.push(this.alignStart(i), this.alignEnd(i));
      } else if (e > s) {
        parts.push(content);
        if (this.track) {
          const as = this.alignStart(e - 1);
          const ae = this.alignEnd(e - 1);
          for (let i = 0; i < content.length; i++) al.push(as, ae);
        }
      }
    }
    this.s = parts.join('');
    if (this.track) this.a = Int32Array.from(al);
  }

  /** Strip leading and/or trailing white space. */
  lrstrip(left: boolean, right: boolean): void {
    const s = this.s;
    let b = 0;
    let e = s.length;
    if (left) while (b < e && WS.test(s[b])) b++;
    if (right) while (e > b && WS.test(s[e - 1])) e--;
    if (b === 0 && e === s.length) return;
    const chars: string[] = [];
    const changes: number[] = [];
    for (const c of s.slice(b, e)) {
      chars.push(c);
      changes.push(0);
    }
    if (chars.length > 0) changes[changes.length - 1] = -[...s.slice(e)].length;
    this.transform(chars, changes, [...s.slice(0, b)].length);
  }

  /** Split by `matches` with the given behavior (the Rust `NormalizedString::split`). */
  split(matches: Matches, behavior: SplitBehavior): NormalizedString[] {
    const spans = splitSpans(matches, behavior);
    const out: NormalizedString[] = [];
    for (let k = 0; k < spans.length; k += 2) out.push(this.slice(spans[k], spans[k + 1]));
    return out;
  }
}

const WS = /^\p{White_Space}$/u;

/** The [start, end) spans a split keeps, from pattern matches and a behavior (the Rust `NormalizedString::split`). */
export function splitSpans(matches: Matches, behavior: SplitBehavior): number[] {
  const spans: number[] = []; // [start, end, remove]
  if (behavior === 'Isolated') {
    for (let k = 0; k < matches.length; k += 3) spans.push(matches[k], matches[k + 1], 0);
  } else if (behavior === 'Removed') {
    for (let k = 0; k < matches.length; k += 3) spans.push(matches[k], matches[k + 1], matches[k + 2]);
  } else if (behavior === 'Contiguous') {
    let prev = false;
    for (let k = 0; k < matches.length; k += 3) {
      const m = matches[k + 2] === 1;
      if (m === prev && spans.length > 0) spans[spans.length - 2] = matches[k + 1];
      else spans.push(matches[k], matches[k + 1], 0);
      prev = m;
    }
  } else if (behavior === 'MergedWithPrevious') {
    let prev = false;
    for (let k = 0; k < matches.length; k += 3) {
      const m = matches[k + 2] === 1;
      if (m && !prev && spans.length > 0) spans[spans.length - 2] = matches[k + 1];
      else spans.push(matches[k], matches[k + 1], 0);
      prev = m;
    }
  } else {
    // MergedWithNext: walk backwards
    const rev: number[] = [];
    let prev = false;
    for (let k = matches.length - 3; k >= 0; k -= 3) {
      const m = matches[k + 2] === 1;
      if (m && !prev && rev.length > 0) rev[rev.length - 3] = matches[k];
      else rev.push(matches[k], matches[k + 1], 0);
      prev = m;
    }
    for (let k = rev.length - 3; k >= 0; k -= 3) spans.push(rev[k], rev[k + 1], 0);
  }
  const kept: number[] = [];
  for (let k = 0; k < spans.length; k += 3) if (!spans[k + 2]) kept.push(spans[k], spans[k + 1]);
  return kept;
}

/** Append to `out` the non-empty pieces of `s` kept by the split (the string-only fast path). */
export function splitStrings(s: string, matches: Matches, behavior: SplitBehavior, out: string[]): void {
  const spans = splitSpans(matches, behavior);
  for (let k = 0; k < spans.length; k += 2) if (spans[k + 1] > spans[k]) out.push(s.slice(spans[k], spans[k + 1]));
}

const stickyCache = new WeakMap<RegExp, RegExp>();

/**
 * Isolated split of `s` by a global RegExp, streaming each non-empty piece (matches and the gaps between them) to
 * `sink` — the hot path of ids-only encoding. A sticky twin of the regex is tried at the current position first
 * (`test` allocates no match array); only when it fails does a global search find the next match.
 */
export function isolatedRegexEach(re: RegExp, s: string, sink: (piece: string) => void): void {
  const n = s.length;
  if (n === 0) return;
  let sticky = stickyCache.get(re);
  if (!sticky) {
    sticky = new RegExp(re.source, re.flags.replace('g', '') + 'y');
    stickyCache.set(re, sticky);
  }
  let pos = 0;
  while (pos < n) {
    sticky.lastIndex = pos;
    if (sticky.test(s) && sticky.lastIndex > pos) {
      const end = sticky.lastIndex;
      sink(s.slice(pos, end));
      pos = end;
      continue;
    }
    // no non-empty match here: find the next one
    re.lastIndex = pos;
    let m: RegExpExecArray | null;
    let start = -1;
    let end = -1;
    while ((m = re.exec(s)) !== null) {
      if (m[0].length > 0) {
        start = m.index;
        end = start + m[0].length;
        break;
      }
      re.lastIndex = m.index + (isHigh(s.charCodeAt(m.index)) ? 2 : 1);
      if (m.index >= n) break;
    }
    if (start < 0) {
      sink(s.slice(pos));
      return;
    }
    sink(s.slice(pos, start));
    sink(s.slice(start, end));
    pos = end;
  }
}

/** Matches of a global RegExp over `s` (gaps are non-matches), as the Rust Pattern impl for regexes. */
export function regexMatches(re: RegExp, s: string): Matches {
  if (s.length === 0) return [0, 0, 0];
  const out: Matches = [];
  let prev = 0;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      re.lastIndex = start + (isHigh(s.charCodeAt(start)) ? 2 : 1);
      if (start >= s.length) break;
    }
    if (prev !== start) out.push(prev, start, 0);
    out.push(start, end, 1);
    prev = end;
  }
  if (prev !== s.length) out.push(prev, s.length, 0);
  return out;
}

/** Every code point for which `pred` holds is its own match (the Rust Pattern impl for `Fn(char) -> bool`). */
export function charMatches(pred: (cp: number) => boolean, s: string): Matches {
  if (s.length === 0) return [0, 0, 0];
  const out: Matches = [];
  let last = 0;
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    const n = cp > 0xffff ? 2 : 1;
    if (pred(cp)) {
      if (last < i) out.push(last, i, 0);
      out.push(i, i + n, 1);
      last = i + n;
    }
    i += n;
  }
  if (s.length > last) out.push(last, s.length, 0);
  return out;
}

/** Matches of a literal string (non-overlapping, left to right). */
export function stringMatches(needle: string, s: string): Matches {
  if (needle.length === 0) return [0, s.length, 0];
  if (s.length === 0) return [0, 0, 0];
  const out: Matches = [];
  let prev = 0;
  let i = s.indexOf(needle);
  while (i >= 0) {
    if (prev !== i) out.push(prev, i, 0);
    out.push(i, i + needle.length, 1);
    prev = i + needle.length;
    i = s.indexOf(needle, prev);
  }
  if (prev !== s.length) out.push(prev, s.length, 0);
  return out;
}

export function invertMatches(m: Matches): Matches {
  const out = m.slice();
  for (let k = 2; k < out.length; k += 3) out[k] = out[k] ? 0 : 1;
  return out;
}

/** A token produced by a model or an added token; offsets are in the split's normalized code units. */
export interface Token {
  id: number;
  value: string;
  start: number;
  end: number;
}

export interface Split {
  n: NormalizedString;
  tokens: Token[] | null;
}

/** A sequence of splits; pre-tokenizers refine the splits that have no tokens yet. */
export class PreTokenizedString {
  splits: Split[];
  constructor(splits: Split[]) {
    this.splits = splits;
  }

  /** Replace every token-less split by the pieces `f` returns; empty pieces are dropped. */
  split(f: (n: NormalizedString, index: number) => Array<NormalizedString | Split>): void {
    const next: Split[] = [];
    for (let i = 0; i < this.splits.length; i++) {
      const sp = this.splits[i];
      if (sp.tokens) {
        next.push(sp);
        continue;
      }
      for (const p of f(sp.n, i)) {
        const piece: Split = p instanceof NormalizedString ? { n: p, tokens: null } : p;
        if (piece.n.s.length > 0) next.push(piece);
      }
    }
    this.splits = next;
  }

  /** Apply `f` in place to every token-less split. */
  normalize(f: (n: NormalizedString) => void): void {
    for (const sp of this.splits) if (!sp.tokens) f(sp.n);
  }
}
