import { expect } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';

/** Runs fn and returns the DomainError it throws (failing the test if it throws nothing or something else). */
export function caught(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    return e as DomainError;
  }
  throw new Error('expected a DomainError to be thrown');
}

export const d = (iso: string) => new Date(iso);
