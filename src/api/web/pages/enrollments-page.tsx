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
        <EnrollmentCard enrollment={enrollment} csrfToken={mayPost(frame) ? frame.csrfToken : undefined} now={now} />
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

/**
 * One enrollment, where the `approvalUrl` of its enrollment.pending event leads
 * (/ui/enrollments/ID): the card to approve or deny it while it waits, what
 * became of it once decided or expired.
 */
export function EnrollmentPage({
  frame,
  enrollment,
  now,
}: {
  frame: PageFrame & { csrfToken: string };
  enrollment: EnrollmentView;
  now: Date;
}) {
  return (
    <Layout {...frame}>
      <EnrollmentCard enrollment={enrollment} csrfToken={mayPost(frame) ? frame.csrfToken : undefined} now={now} />
      <p>
        <a href="/ui/enrollments">All enrollments</a>
      </p>
    </Layout>
  );
}

/**
 * An enrollment's key and origin; while it waits, the forms to approve or deny it (none without a form
 * token: a read-only session); once decided, what became of it.
 */
function EnrollmentCard({ enrollment, csrfToken, now }: { enrollment: EnrollmentView; csrfToken: string | undefined; now: Date }) {
  const action = `/ui/enrollments/${enrollment.id}`;
  const isPending = enrollment.status === 'pending';
  return (
    <article class="card enrollment" id={`enrollment-${enrollment.id}`} data-enrollment-id={enrollment.id}>
      <h2>{enrollment.hostname}</h2>
      <dl class="facts">
        {!isPending && <dt>Status</dt>}
        {!isPending && (
          <dd data-field="status">
            <Badge value={enrollment.status} /> {enrollment.reason && <span class="muted">{enrollment.reason}</span>}
          </dd>
        )}
        <dt>Fingerprint</dt>
        <dd>
          <code class="fingerprint">{enrollment.fingerprint}</code> ({enrollment.keyType})
        </dd>
        <dt>From</dt>
        <dd>{enrollment.sourceAddress ?? 'unknown'}</dd>
        <dt>Asked</dt>
        <dd>
          <When at={enrollment.createdAt} now={now} />
          {isPending && (
            <>
              , expires <When at={enrollment.expiresAt} now={now} />
            </>
          )}
        </dd>
      </dl>
      {enrollment.status === 'approved' && (
        <p>
          <a href={`/ui/hosts/${enrollment.hostname}`}>The host {enrollment.hostname}</a>
        </p>
      )}
      {isPending && <PendingActions enrollment={enrollment} action={action} csrfToken={csrfToken} />}
    </article>
  );
}

function PendingActions({ enrollment, action, csrfToken }: { enrollment: EnrollmentView; action: string; csrfToken: string | undefined }) {
  return (
    <>
      {enrollment.conflict && (
        <p class="error">
          A host named {enrollment.hostname} exists (or its deleted repository is kept). Approving gives that host this new key.
        </p>
      )}
      {csrfToken && <PendingForms enrollment={enrollment} action={action} csrfToken={csrfToken} />}
    </>
  );
}

function PendingForms({ enrollment, action, csrfToken }: { enrollment: EnrollmentView; action: string; csrfToken: string }) {
  return (
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
  );
}
