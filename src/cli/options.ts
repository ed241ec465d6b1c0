/** Option parsers shared by the `kiln` subcommands: commander calls them and prints their message on bad input. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function finiteNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}
