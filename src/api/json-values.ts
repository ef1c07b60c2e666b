import { z } from 'zod';

/**
 * How values look in the API's JSON bodies, for the response schemas the
 * OpenAPI document is built from: a Date is written as an ISO 8601 string in
 * UTC (`2026-05-01T12:00:00.000Z`, what JSON.stringify makes of it).
 */
export const timestamp = z.iso.datetime();
