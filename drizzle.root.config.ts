import { defineConfig } from 'drizzle-kit';

/** Root's own database (src/db/root-schema.ts); the API's is drizzle.config.ts. */
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/root-schema.ts',
  out: './migrations/root',
});
