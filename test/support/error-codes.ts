import type { AppError } from '../../src/errors.js';

/** The AppError code a synchronous action throws, or undefined when it does not throw. */
export function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return (error as AppError).code;
  }
  return undefined;
}

/** The AppError code an action rejects with, or undefined when it resolves. */
export async function codeOfAsync(action: () => unknown): Promise<string | undefined> {
  try {
    await action();
  } catch (error) {
    return (error as AppError).code;
  }
  return undefined;
}
