/** The error a promise rejects with, for tests that expect a failure (a resolve fails the test). */
export async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected a failure");
}
