import type { Context } from 'hono';
import { AppError } from '../../errors.js';

/** A posted form's text fields (files are refused: no form of the page sends one). */
export interface FormFields {
  get(name: string): string | undefined;
  all(name: string): string[];
}

export async function readForm(c: Context): Promise<FormFields> {
  const body = await c.req.parseBody({ all: true });
  const valuesOf = (name: string): string[] => {
    const raw = body[name];
    const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (values.some((value) => typeof value !== 'string')) throw new AppError('BAD_REQUEST', `${name} must be text`);
    return values as string[];
  };
  return {
    get: (name) => valuesOf(name)[0],
    all: valuesOf,
  };
}

export function optionalField(form: FormFields, name: string, maxLength = 256): string | undefined {
  const value = form.get(name);
  if (value !== undefined && value.length > maxLength) throw new AppError('BAD_REQUEST', `${name} is longer than ${maxLength} characters`);
  return value;
}

export function requiredField(form: FormFields, name: string, maxLength: number, options: { allowEmpty?: boolean } = {}): string {
  const value = optionalField(form, name, maxLength);
  if (value === undefined || (!options.allowEmpty && value.trim() === '')) throw new AppError('BAD_REQUEST', `fill in ${name}`);
  return value;
}
