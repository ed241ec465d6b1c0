/** The result of encoding: ids plus, per token, its string, [start, end) in the input (UTF-16 units), type id and special-token flag. */
export interface Encoding {
  ids: number[];
  tokens: string[];
  /** [start, end) of each token in the input string, in UTF-16 code units (`text.slice(start, end)`). */
  offsets: Array<[number, number]>;
  typeIds: number[];
  /** 1 where the post-processor inserted a special token. */
  specialTokensMask: number[];
}
