import { z } from 'zod';

/**
 * Numbers read from text (environment variables, query strings) as a person writes them in decimal. Number(), and
 * so z.coerce, also reads `0x10`, `0b11`, `1e3`, blanks and `' 1 '`: refused here, not read as what Number() makes
 * of them. The regex aborts, so a malformed value gets that one issue and never reaches `schema`'s checks.
 */
export const decimal = <T extends z.ZodType<number, number>>(schema: T) =>
  z.string().regex(/^-?\d+(\.\d+)?$/, { message: 'must be a decimal number', abort: true }).transform(Number).pipe(schema);

/** decimal, for whole numbers that are never negative: digits only, so `2.0` and `-1` are refused too. */
export const digits = <T extends z.ZodType<number, number>>(schema: T) =>
  z.string().regex(/^[0-9]+$/, { message: 'must be a whole number in decimal digits', abort: true }).transform(Number).pipe(schema);
