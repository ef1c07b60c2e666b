import pino from 'pino';

export type Logger = pino.Logger;

/** JSON lines on standard error (standard output belongs to CLI results). */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } }, pino.destination(2));
}
