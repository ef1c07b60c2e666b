import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import { rateLimitKeyOf } from '../../domain/networks.js';
import { AppError } from '../../errors.js';
import { findLiveHost } from '../../host-records/hosts-store.js';
import type { AppEnv } from '../app-env.js';
import type { ServerContext } from '../context.js';
import { ENROLLMENT_ID_PATTERN, enrollmentIdParams, enrollmentStatus, getEnrollment, submitEnrollment } from '../enrollment/enroll.js';
import { repositoryUrl } from '../hosts/hosts.js';
import { jsonBody } from '../middleware/json-body.js';
import { type RateLimiter, rateLimitedError } from '../middleware/rate-limit.js';
import { createRouteTable } from './route-table.js';
import { knownHostsLines, sshHostKeyBody } from './server-routes.js';

const enrollBody = z.strictObject({
  hostname: z.string().max(64).optional(),
  /** Used when neither `hostname` nor the token names the host (enroll.sh sends the VM's own name). */
  defaultHostname: z.string().max(64).optional(),
  publicKey: z.string().max(16384),
});

/** What POST /v1/enroll answers: the enrollment, and where to poll it. */
const submittedBody = z.strictObject({
  id: z.string(),
  status: enrollmentStatus,
  hostname: z.string(),
  fingerprint: z.string(),
  pollUrl: z.string(),
});

/** What GET /v1/enrollments/:id answers; once approved (and while the host has this key), with the account's details. */
const pollBody = z.strictObject({
  status: enrollmentStatus,
  hostname: z.string(),
  fingerprint: z.string(),
  repoUrl: z.string().optional(),
  sshHostKeys: z.array(sshHostKeyBody).optional(),
  knownHosts: z.array(z.string()).optional(),
});

/** Routes a VM calls: enroll with a token, then poll its enrollment by id. */
export function enrollmentRoutes(context: ServerContext, limits: { enrollAttempts: RateLimiter; lookups: RateLimiter }) {
  const table = createRouteTable<AppEnv>();

  const enrollAttemptLimit = createMiddleware<AppEnv>(async function limitEnrollAttempts(c, next) {
    const source = rateLimitKeyOf(c.get('clientAddress'));
    const now = context.now().getTime();
    if (!limits.enrollAttempts.hit(source, now)) {
      throw rateLimitedError(limits.enrollAttempts, source, now, 'too many enrollment attempts from this address; try again later');
    }
    await next();
  });

  table.on(
    'POST',
    '/v1/enroll',
    {
      access: 'public',
      operationId: 'enroll',
      summary: 'A new VM asks to be enrolled with its SSH public key',
      description: 'Takes a one-time enrollment token (`Authorization: Bearer <token>`) instead of an admin token.',
      enrollmentToken: true,
      body: enrollBody,
      responses: { 202: { description: 'recorded: pending, or approved at once by an auto-approve token', json: submittedBody } },
      errors: [401, 403, 409, 429, 507],
    },
    enrollAttemptLimit,
    jsonBody(enrollBody),
    async (c) => {
      const header = c.req.header('authorization') ?? '';
      if (!header.startsWith('Bearer ')) {
        throw new AppError('UNAUTHORIZED', 'an enrollment token is required: Authorization: Bearer <token>');
      }
      const body = c.req.valid('json');
      const { hostname, defaultHostname, publicKey } = body;
      const enrollment = await submitEnrollment(context, {
        token: header.slice(7).trim(),
        hostname,
        defaultHostname,
        publicKey,
        sourceAddress: c.get('clientAddress'),
      });
      const pollUrl = `${context.config.publicUrl}/v1/enrollments/${enrollment.id}`;
      return c.json(
        { id: enrollment.id, status: enrollment.status, hostname: enrollment.hostname, fingerprint: enrollment.fingerprint, pollUrl },
        202,
      );
    },
  );

  /** Looks an enrollment up by id; misses (malformed ids too) count against the address, so ids cannot be guessed fast. */
  function lookUp(source: string, id: string) {
    const now = context.now().getTime();
    const tooMany = () =>
      rateLimitedError(limits.lookups, source, now, 'too many unknown enrollment ids from this address; try again later');
    if (limits.lookups.isLimited(source, now)) throw tooMany();
    try {
      if (!ENROLLMENT_ID_PATTERN.test(id)) throw new AppError('NOT_FOUND', 'no such enrollment');
      return getEnrollment(context, id);
    } catch (error) {
      if (!limits.lookups.hit(source, now)) throw tooMany();
      throw error;
    }
  }

  table.on(
    'GET',
    '/v1/enrollments/:id',
    {
      access: 'public',
      operationId: 'getEnrollmentStatus',
      summary: 'A VM polls its enrollment',
      params: enrollmentIdParams,
      responses: {
        200: { description: "the enrollment; once approved, the account's repository URL and the server's host keys", json: pollBody },
      },
      errors: [404, 429],
    },
    (c) => {
      const enrollment = lookUp(rateLimitKeyOf(c.get('clientAddress')), c.req.param('id'));
      const view = { status: enrollment.status, hostname: enrollment.hostname, fingerprint: enrollment.fingerprint };
      const host = enrollment.status === 'approved' ? findLiveHost(context.db, enrollment.hostname) : undefined;
      // Once the host has another key (re-keyed), this enrollment's VM no longer gets the account details.
      if (!host || host.fingerprint !== enrollment.fingerprint) return c.json(view);
      return c.json({
        ...view,
        repoUrl: repositoryUrl(context, enrollment.hostname),
        sshHostKeys: context.readSshHostKeys(),
        knownHosts: knownHostsLines(context),
      });
    },
  );

  table.on(
    'GET',
    '/v1/enrollments/:id/known_hosts',
    {
      access: 'public',
      operationId: 'getEnrollmentKnownHosts',
      summary: "An approved VM fetches the server's known_hosts lines",
      params: enrollmentIdParams,
      responses: { 200: { description: 'known_hosts lines', mediaType: 'text/plain' } },
      errors: [404, 429],
    },
    (c) => {
      const enrollment = lookUp(rateLimitKeyOf(c.get('clientAddress')), c.req.param('id'));
      if (enrollment.status !== 'approved') throw new AppError('NOT_FOUND', 'enrollment is not approved');
      return c.text(`${knownHostsLines(context).join('\n')}\n`);
    },
  );

  return table;
}
