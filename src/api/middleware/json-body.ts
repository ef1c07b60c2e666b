import { validator } from 'hono/validator';
import type { z } from 'zod';
import { AppError } from '../../errors.js';

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** Parses and validates a JSON body once, at the edge; handlers get typed values. */
export function jsonBody<Schema extends z.ZodType>(schema: Schema) {
  return validator('json', async (value: unknown, c) => {
    // Hono reads a body as JSON only when it is labelled so, and otherwise validates {}: a body sent
    // as a form (curl -d) would then pass as "all defaults". A body must be JSON; no body stays {}.
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]?.trim() ?? '';
    if (!JSON_MEDIA_TYPE.test(mediaType) && (await c.req.text()).length > 0) {
      throw new AppError('BAD_REQUEST', 'request body must be JSON, sent with Content-Type: application/json');
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
      throw new AppError('BAD_REQUEST', `invalid request body: ${problems.join('; ')}`);
    }
    return parsed.data as z.infer<Schema>;
  });
}
