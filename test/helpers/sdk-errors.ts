// An SDK call that must fail with a service error: its name, and its message when given (a string must
// match exactly, a RegExp must match); or what a command failed with.
import assert from 'node:assert/strict';

export const rejects = (call: Promise<unknown>, name: string, message?: string | RegExp) =>
  assert.rejects(call, (e: { name: string; message: string }) => {
    assert.equal(e.name, name);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    return true;
  });

/** What an SDK command failed with (`name: 'no error'` when it did not fail), for tests that compare it whole. */
export async function failure(
  client: { send(command: never): Promise<unknown> },
  cmd: object,
): Promise<{ name: string; message: string; status?: number }> {
  try {
    await client.send(cmd as never);
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode };
  }
  return { name: 'no error', message: '' };
}
