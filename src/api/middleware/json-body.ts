import { validator } from 'hono/validator';
import type { z } from 'zod';
import { AppError } from '../../errors.js';

/** Parses and validates a JSON body once, at the edge; handlers get typed values. */
export function jsonBody<Schema extends z.ZodType>(schema: Schema) {
  return validator('json', (value: unknown) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
      throw new AppError('BAD_REQUEST', `invalid request body: ${problems.join('; ')}`);
    }
    return parsed.data as z.infer<Schema>;
  });
}
