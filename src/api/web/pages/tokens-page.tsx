import type { listEnrollmentTokenPage } from '../../enrollment/tokens.js';
import { humanBytes, utcTime } from '../format.js';
import { Badge, Cell, DataTable, When } from './components.js';
import { ActionButton, CsrfField, Layout, mayPost, type PageFrame } from './layout.js';

type TokenRow = ReturnType<typeof listEnrollmentTokenPage>['tokens'][number];

/** A token just minted: shown on this one response, never stored or put in a URL. */
export interface MintedToken {
  command: string;
  expiresAt: Date;
  host: string | null;
}

export function TokensPage({
  frame,
  tokens,
  minted,
  now,
}: {
  frame: PageFrame & { csrfToken: string };
  tokens: TokenRow[];
  minted?: MintedToken | undefined;
  now: Date;
}) {
  return (
    <Layout {...frame}>
      {minted && (
        <section class="card" id="minted">
          <h2>Run this on the new VM, as root</h2>
          <p class="muted">
            It is shown only now. It can be used once, until {utcTime(minted.expiresAt)} (<When at={minted.expiresAt} now={now} />)
            {minted.host ? `, for the host name ${minted.host}` : ''}. The VM prints its key's fingerprint; approve it under Enrollments.
          </p>
          <pre>
            <code id="enroll-command">{minted.command}</code>
          </pre>
          <div class="copy-row">
            <button type="button" data-copy="enroll-command" id="copy-command">
              Copy
            </button>
          </div>
        </section>
      )}
      {mayPost(frame, 'enroll') && (
        <>
          <h2>New enrollment token</h2>
          <form method="post" action="/ui/tokens" class="stack" id="mint">
            <CsrfField token={frame.csrfToken} />
            <label>
              Host name (empty: the VM chooses)
              <input type="text" name="host" maxlength={64} autocomplete="off" />
            </label>
            <label>
              Valid for
              <input type="text" name="ttl" value="1h" maxlength={16} />
            </label>
            <label>
              Quota (e.g. 50G; empty for none)
              <input type="text" name="quota" maxlength={24} />
            </label>
            <label>
              Allowed sources (CIDR list; empty for anywhere)
              <input type="text" name="allowFrom" maxlength={1024} />
            </label>
            <label>
              Stale after (empty: 26h)
              <input type="text" name="expectBackupEvery" maxlength={16} />
            </label>
            <label class="check">
              <input type="checkbox" name="appendOnly" value="yes" checked /> Append-only (the VM cannot delete or prune its backups)
            </label>
            <label class="check">
              <input type="checkbox" name="autoApprove" value="yes" /> Approve without asking (only for tokens handed over a trusted
              channel)
            </label>
            <button type="submit">Mint token</button>
          </form>
        </>
      )}
      <h2>Tokens</h2>
      <DataTable columns={['Token', 'Status', 'Host', 'Expires', 'Policy', '']} empty="No token minted yet.">
        {tokens.map((token) => (
          <tr data-token={token.jti}>
            <Cell label="Token">
              <code>{token.jti}</code>
            </Cell>
            <Cell label="Status">
              <Badge value={token.status} />
            </Cell>
            <Cell label="Host">{token.host ?? 'any'}</Cell>
            <Cell label="Expires">
              <When at={token.expiresAt} now={now} />
            </Cell>
            <Cell label="Policy">
              {[
                token.appendOnly ? 'append-only' : 'full access',
                token.quotaBytes === null ? null : `quota ${humanBytes(token.quotaBytes)}`,
                token.allowFrom ? `from ${token.allowFrom}` : null,
                token.autoApprove ? 'auto-approve' : null,
              ]
                .filter(Boolean)
                .join(', ')}
            </Cell>
            <Cell label="">
              {token.status === 'issued' && mayPost(frame) && (
                <ActionButton action={`/ui/tokens/${token.jti}/revoke`} csrfToken={frame.csrfToken} label="Revoke" danger />
              )}
            </Cell>
          </tr>
        ))}
      </DataTable>
    </Layout>
  );
}
