import { z } from 'zod';
import { MAX_REQUEST_TYPE_LENGTH, REPLY_TYPE, REPORT_TYPE } from '../../channel/channel-messages.js';

/**
 * What root answers, and to whom: the table of requests, in the manner of
 * OpenSSH's monitor table (monitor.c, `struct mon_table`). Each type names
 * the schema of its fields, the origins allowed to ask it and its handler; a
 * type that is not in the table is not handled. serve.ts builds the table
 * from definitions, and the dispatcher consults it for every message on the
 * API's socket and on the CLI's control socket alike.
 */

/** Who is asking, known from the socket the request came in on: the API's (the unprivileged user's) or root's CLI. */
export type RequestOrigin = 'api' | 'cli';

export interface RequestDefinition<Schema extends z.ZodObject = z.ZodObject> {
  /** The request's fields, `type` and `id` left out: a strict object (z.strictObject), so an unknown field is refused. */
  schema: Schema;
  /** Origins that may ask; a request from another is refused without reaching the handler. */
  from: readonly RequestOrigin[];
  /**
   * Answers with a result (sent as JSON: plain data, small) or throws: an
   * AppError's code and message reach the asker, anything else is INTERNAL.
   * The fields are parsed, but they come from the asker: a handler checks
   * them against root's own state before it acts.
   */
  handle(request: z.infer<Schema>, origin: RequestOrigin): unknown;
}

/** The table, by type. A Map: a type such as `constructor` or `__proto__` finds nothing. */
export type RequestTable = ReadonlyMap<string, RequestDefinition>;

const REQUEST_TYPE_PATTERN = new RegExp(`^[a-z][a-z0-9.-]{0,${MAX_REQUEST_TYPE_LENGTH - 1}}$`);
const RESERVED_TYPES = new Set([REPLY_TYPE, REPORT_TYPE]);

/** Keeps a definition's handler typed by its own schema (an identity function for inference). */
export function defineRequest<Schema extends z.ZodObject>(definition: RequestDefinition<Schema>): RequestDefinition {
  return definition as unknown as RequestDefinition;
}

/**
 * The table from definitions by type, checked once at start: a misspelt
 * type, a reserved one, a definition nobody may ask or a schema that lets
 * unknown fields through is a bug, and the server does not start with it.
 */
export function createRequestTable(definitions: Record<string, RequestDefinition>): RequestTable {
  const table = new Map<string, RequestDefinition>();
  for (const [type, definition] of Object.entries(definitions)) {
    if (!REQUEST_TYPE_PATTERN.test(type) || RESERVED_TYPES.has(type)) throw new TypeError(`request type "${type}" is not a valid name`);
    if (definition.from.length === 0) throw new TypeError(`request type "${type}" allows no origin`);
    if (!isStrictObject(definition.schema)) throw new TypeError(`request type "${type}" needs a strict object schema (z.strictObject)`);
    table.set(type, definition);
  }
  return table;
}

function isStrictObject(schema: z.ZodType): boolean {
  return schema instanceof z.ZodObject && schema.def.catchall?._zod.def.type === 'never';
}
