import type { EnrollmentView } from '../../enrollment/enroll.js';
import { Badge, Cell, DataTable, When } from './components.js';
import { CsrfField, Layout, mayPost, type PageFrame } from './layout.js';

export function EnrollmentsPage({
  frame,
  pending,
  decided,
  now,
}: {
  frame: PageFrame & { csrfToken: string };
  pending: EnrollmentView[];
  decided: EnrollmentView[];
  now: Date;
}) {
  return (
    <Layout {...frame}>
      <p class="muted">
        Approve a host only when the fingerprint below is the one its VM printed (<code>ssh-keygen -lf KEY.pub</code> on the VM). Type or
        paste it to approve: a key someone else sent with a stolen token has another fingerprint.
      </p>
      {pending.length === 0 && <p class="muted">No host is waiting for approval.</p>}
      {pending.map((enrollment) => (
        <PendingEnrollment enrollment={enrollment} csrfToken={mayPost(frame) ? frame.csrfToken : undefined} now={now} />
      ))}
      <h2>Recently decided</h2>
      <DataTable columns={['Host', 'Status', 'Fingerprint', 'From', 'Asked']} empty="None yet.">
        {decided.map((enrollment) => (
          <tr>
            <Cell label="Host">{enrollment.hostname}</Cell>
            <Cell label="Status">
              <Badge value={enrollment.status} /> {enrollment.reason && <span class="muted">{enrollment.reason}</span>}
            </Cell>
            <Cell label="Fingerprint">
              <code>{enrollment.fingerprint}</code>
            </Cell>
            <Cell label="From">{enrollment.sourceAddress ?? '–'}</Cell>
            <Cell label="Asked">
              <When at={enrollment.createdAt} now={now} />
            </Cell>
          </tr>
        ))}
      </DataTable>
    </Layout>
  );
}

/** A waiting enrollment; without a form token (a read-only session) it has no approve or deny form. */
function PendingEnrollment({ enrollment, csrfToken, now }: { enrollment: EnrollmentView; csrfToken: string | undefined; now: Date }) {
  const action = `/ui/enrollments/${enrollment.id}`;
  return (
    <article class="card enrollment" id={`enrollment-${enrollment.id}`} data-enrollment-id={enrollment.id}>
      <h2>{enrollment.hostname}</h2>
      <dl class="facts">
        <dt>Fingerprint</dt>
        <dd>
          <code class="fingerprint">{enrollment.fingerprint}</code> ({enrollment.keyType})
        </dd>
        <dt>From</dt>
        <dd>{enrollment.sourceAddress ?? 'unknown'}</dd>
        <dt>Asked</dt>
        <dd>
          <When at={enrollment.createdAt} now={now} />, expires <When at={enrollment.expiresAt} now={now} />
        </dd>
      </dl>
      {enrollment.conflict && (
        <p class="error">
          A host named {enrollment.hostname} exists (or its deleted repository is kept). Approving gives that host this new key.
        </p>
      )}
      {csrfToken && (
        <div class="actions">
          <form method="post" action={`${action}/approve`} class="stack">
            <CsrfField token={csrfToken} />
            <label>
              Confirm the fingerprint
              <input type="text" name="fingerprint" required maxlength={128} autocomplete="off" spellcheck={false} placeholder="SHA256:…" />
            </label>
            {enrollment.conflict && (
              <label class="check">
                <input type="checkbox" name="replaceKey" value="yes" /> Replace the key of the existing host
              </label>
            )}
            <button type="submit">Approve</button>
          </form>
          <form method="post" action={`${action}/deny`} class="stack">
            <CsrfField token={csrfToken} />
            <label>
              Reason (optional)
              <input type="text" name="reason" maxlength={500} />
            </label>
            <button type="submit" class="danger">
              Deny
            </button>
          </form>
        </div>
      )}
    </article>
  );
}
