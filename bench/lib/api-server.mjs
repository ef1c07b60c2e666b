// A child of bench/api: serves over HTTP on 127.0.0.1 (a free port), driven over IPC.
//   node bench/lib/api-server.mjs hello        a bare Hono hello-world (@hono/node-server), the ceiling
//   node bench/lib/api-server.mjs floor DIR    the least an enrollment does (jose verify, one SQLite transaction)
//   node bench/lib/api-server.mjs product DIR  the product's API app (createApp, as src/api/main.ts builds
//                                              and serves it) on a database file and signing key in DIR
// The product's rate limits are not settings (src/api/api-limits.ts): here the app gets limiters that
// never bind, so the figures are the handlers' capacity, not one address's allowance. Root's side is
// absent: nothing measured here asks root for a change.
// IPC: it sends { port } once listening; answers { id, ... } to { id, type: 'mint'|'seed-hosts'|'admin-token' }.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { benchBackupStateRow, benchHostRow } from './host-rows.mjs';

const [mode, directory] = process.argv.slice(2);

function listen(fetch) {
  const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.send({ port: info.port }));
  process.on('disconnect', () => {
    server.close();
    process.exit(0);
  });
}

if (mode === 'hello') {
  const app = new Hono();
  app.get('/', (c) => c.text('Hello Hono!'));
  listen(app.fetch);
} else if (mode === 'floor') {
  // The least an enrollment must do, without the product's framework of checks: verify an Ed25519
  // JWT with jose, then spend the token and record the enrollment in one SQLite transaction (WAL,
  // synchronous=NORMAL, prepared statements). A second baseline, to show where the ceiling is.
  const { randomBytes } = await import('node:crypto');
  const Database = (await import('better-sqlite3')).default;
  const { generateKeyPair, jwtVerify, SignJWT } = await import('jose');
  const db = new Database(`${directory}/floor.db`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`create table tokens (jti text primary key, status text not null);
    create table enrollments (id text primary key, jti text not null, host text not null, key text not null, created_at integer not null)`);
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const spend = db.prepare("update tokens set status = 'consumed' where jti = ? and status = 'issued'");
  const record = db.prepare('insert into enrollments values (?, ?, ?, ?, ?)');
  const enroll = db.transaction((jti, host, key) => {
    if (spend.run(jti).changes !== 1) return null;
    const id = randomBytes(16).toString('base64url');
    record.run(id, jti, host, key, Date.now());
    return id;
  });
  const app = new Hono();
  app.post('/v1/enroll', async (c) => {
    const { payload } = await jwtVerify((c.req.header('authorization') ?? '').slice(7), publicKey, {
      algorithms: ['EdDSA'],
      audience: 'enroll',
      issuer: 'bench',
    });
    const body = await c.req.json();
    const id = enroll(payload.jti, body.hostname, body.publicKey);
    return id ? c.json({ id, status: 'pending' }, 202) : c.json({ error: 'TOKEN_USED' }, 409);
  });
  const insertToken = db.prepare("insert into tokens values (?, 'issued')");
  process.on('message', async (message) => {
    if (message.type !== 'mint') return;
    const tokens = [];
    for (let index = 0; index < message.count; index += 1) {
      const jti = randomBytes(16).toString('base64url');
      insertToken.run(jti);
      tokens.push(
        await new SignJWT({})
          .setProtectedHeader({ alg: 'EdDSA' })
          .setJti(jti)
          .setIssuer('bench')
          .setAudience('enroll')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(privateKey),
      );
    }
    process.send({ id: message.id, tokens });
  });
  listen(app.fetch);
} else if (mode === 'product') {
  const { createAdminToken } = await import('../../dist/api/admin/admin-tokens.js');
  const { createApp } = await import('../../dist/api/app.js');
  const { createEnrollmentToken } = await import('../../dist/api/enrollment/tokens.js');
  const { createRateLimiter } = await import('../../dist/api/middleware/rate-limit.js');
  const { loadOrCreateSigningKey, recordSigningKey } = await import('../../dist/api/tokens/signing-key.js');
  const { loadConfig } = await import('../../dist/config.js');
  const { migrateDatabase, openDatabase } = await import('../../dist/db/connection.js');
  const { hostBackupState, hosts } = await import('../../dist/db/schema.js');
  const { recordCheckEnd, recordCheckStart } = await import('../../dist/host-records/repository-checks.js');

  const db = openDatabase(`${directory}/borg.db`);
  migrateDatabase(db);
  const signingKey = await loadOrCreateSigningKey(`${directory}/signing`);
  recordSigningKey(db, signingKey, new Date());
  const context = {
    db,
    config: loadConfig({ BORG_SERVER_PUBLIC_URL: 'http://127.0.0.1:8080' }),
    now: () => new Date(),
    signingKey,
    changeHost: async () => {
      throw new Error('the bench asks root for no change');
    },
    readSshHostKeys: () => [],
    tlsIdentity: () => null,
  };
  const unlimited = () => createRateLimiter({ limit: 1e9, windowMs: 60_000 });
  const app = createApp({
    context,
    limits: { adminFailures: unlimited(), enrollAttempts: unlimited(), lookups: unlimited() },
    logError: (error) => console.error(error),
  });
  const BY = { actor: 'admin:bench', sourceAddress: null };

  /** Hosts as `borgctl createuser` makes them, a third of them stale and one in ten with a failed check. */
  function seedHosts(count) {
    const now = new Date();
    const names = Array.from({ length: count }, (_, index) => `vm${String(index).padStart(6, '0')}`);
    db.transaction((tx) => {
      for (let start = 0; start < names.length; start += 500) {
        const batch = names.slice(start, start + 500);
        tx.insert(hosts)
          .values(
            batch.map((name, offset) => benchHostRow(name, 20_000 + start + offset, { quotaBytes: 50e9, createdAt: now, updatedAt: now })),
          )
          .run();
        tx.insert(hostBackupState)
          .values(batch.map((name, offset) => benchBackupStateRow(name, start + offset, now)))
          .run();
      }
      for (let index = 0; index < count; index += 10) {
        const check = recordCheckStart(tx, names[index], now).id;
        recordCheckEnd(tx, check, now, { outcome: index % 20 === 0 ? 'failed' : 'ok', detail: '' });
      }
    });
    return { first: names[0], last: names.at(-1) };
  }

  process.on('message', async (message) => {
    if (message.type === 'mint') {
      const tokens = [];
      for (let index = 0; index < message.count; index += 1) {
        tokens.push((await createEnrollmentToken(context, { ttl: '1h' }, BY)).token);
      }
      process.send({ id: message.id, tokens });
    } else if (message.type === 'seed-hosts') {
      process.send({ id: message.id, ...seedHosts(message.count) });
    } else if (message.type === 'admin-token') {
      process.send({
        id: message.id,
        token: createAdminToken(db, { label: 'bench', role: 'admin', expiresAt: null }, new Date(), 'bench').token,
      });
    }
  });
  listen(app.fetch);
} else {
  console.error('usage: api-server.mjs hello | product DIR');
  process.exit(2);
}
