// An SDK call that must fail with a service error: its name, and its message when given (a string must
// match exactly, a RegExp must match).
import assert from 'node:assert/strict';

export const rejects = (call: Promise<unknown>, name: string, message?: string | RegExp) =>
  assert.rejects(call, (e: { name: string; message: string }) => {
    assert.equal(e.name, name);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  });
