import { AppError } from '../errors.js';
import { parseHostName } from './host-name.js';

/** A maintainer's name: the rule of a host's name (it is shown in key lines and logs beside them). */
export function parseMaintainerName(name: unknown): string {
  try {
    return parseHostName(name);
  } catch {
    throw new AppError(
      'BAD_REQUEST',
      'maintainer name must be 1-31 characters: a lower-case letter, then lower-case letters, digits or hyphens',
    );
  }
}
