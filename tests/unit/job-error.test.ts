import { describe, expect, it } from 'vitest';
import { parseFailedReason } from '../../src/api/job-status.js';

describe('parseFailedReason: what a failed job shows clients', () => {
  it('a refusal the worker wrote (`code: message`) shows its code and message', () => {
    expect(parseFailedReason('invalid_transition: Cannot confirm a booking that is confirmed')).toEqual({
      code: 'invalid_transition',
      message: 'Cannot confirm a booking that is confirmed',
    });
  });

  it('anything else is internal_error, its text kept out: also text shaped like a refusal with a code not in the list', () => {
    for (const reason of [undefined, '', 'connect ECONNREFUSED 127.0.0.1:5432', 'timeout: query read timeout', 'deadlock detected'])
      expect(parseFailedReason(reason), String(reason)).toEqual({ code: 'internal_error', message: expect.stringMatching(/internal error/) });
  });
});
