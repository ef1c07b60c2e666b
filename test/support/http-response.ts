import type { IncomingMessage } from 'node:http';

/** A response's whole body as text, and parsed as JSON where it is JSON (else the text again). */
export function readResponseBody(response: IncomingMessage): Promise<{ text: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', reject);
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
      resolve({ text, body });
    });
  });
}
