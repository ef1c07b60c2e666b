import type { MaintainerView } from '../../maintainers/maintainers.js';
import { Cell, DataTable, When } from './components.js';
import { ActionButton, CsrfField, Layout, mayPost, type PageFrame } from './layout.js';

type Frame = PageFrame & { csrfToken: string };

/**
 * Maintainers: trusted machines with full access (prune, compact) to the hosts
 * granted them, while every VM's own key stays append-only. Every form posts
 * to a route of web-routes.tsx that calls the same operation as the JSON API.
 */
export function MaintainersPage({ frame, maintainers, now }: { frame: Frame; maintainers: MaintainerView[]; now: Date }) {
  return (
    <Layout {...frame}>
      <p class="muted">
        A maintainer is a trusted machine (best an offline one, with a short from= range) that prunes and compacts the repositories of the
        hosts granted to it, while each VM's own key stays append-only. A host whose own key deleted or pruned holds its maintainers out
        until an admin acknowledges it on the host's page.
      </p>
      <DataTable columns={['Maintainer', 'Key', 'From', 'Hosts', 'Registered']} empty="No maintainer yet.">
        {maintainers.map((maintainer) => (
          <tr data-maintainer={maintainer.name}>
            <Cell label="Maintainer">{maintainer.name}</Cell>
            <Cell label="Key">
              <code class="fingerprint">{maintainer.fingerprint}</code> ({maintainer.keyType})
            </Cell>
            <Cell label="From">
              <code>{maintainer.allowFrom}</code>
            </Cell>
            <Cell label="Hosts">
              <GrantedHosts maintainer={maintainer} />
            </Cell>
            <Cell label="Registered">
              <When at={maintainer.createdAt} now={now} />
            </Cell>
          </tr>
        ))}
      </DataTable>
      {mayPost(frame) && maintainers.length > 0 && (
        <>
          <h2>Grants</h2>
          <div class="actions">
            {maintainers.map((maintainer) => (
              <MaintainerForms maintainer={maintainer} csrfToken={frame.csrfToken} />
            ))}
          </div>
        </>
      )}
      {mayPost(frame) && (
        <>
          <h2>Add a maintainer</h2>
          <form method="post" action="/ui/maintainers" class="stack" id="add-maintainer">
            <CsrfField token={frame.csrfToken} />
            <label>
              Name (lower-case letters, digits, hyphens)
              <input type="text" name="name" required maxlength={64} autocomplete="off" />
            </label>
            <label>
              Public key of the trusted machine (one line: type, key, comment)
              <textarea name="publicKey" required rows={3} maxlength={16384} spellcheck={false} />
            </label>
            <label>
              Connects from (addresses or CIDR ranges, comma-separated; required)
              <input type="text" name="allowFrom" required maxlength={1024} autocomplete="off" />
            </label>
            <p class="muted">The same name again gives that maintainer the new key and range; its grants stay.</p>
            <button type="submit">Add maintainer</button>
          </form>
        </>
      )}
    </Layout>
  );
}

/** "all" for a grant of every host (and those named besides), else the hosts by name, each a link. */
function GrantedHosts({ maintainer }: { maintainer: MaintainerView }) {
  const named = maintainer.hosts.map((host, index) => (
    <>
      {index > 0 && ', '}
      <a href={`/ui/hosts/${host}`}>{host}</a>
    </>
  ));
  if (maintainer.allHosts) {
    return (
      <span data-field="hosts">
        <strong>all</strong>
        {named.length > 0 && <> (and by name: {named})</>}
      </span>
    );
  }
  return <span data-field="hosts">{named.length > 0 ? named : <span class="muted">none</span>}</span>;
}

/** A maintainer's grant and revoke forms: hosts by name, or its grant of every host. */
const HOST_SELECTION_FORMS = [
  {
    path: 'grant',
    hostsLabel: 'Hosts to grant (comma-separated)',
    allLabel: 'Every host, those enrolled later too',
    button: 'Grant full access',
  },
  { path: 'revoke', hostsLabel: 'Hosts to revoke (comma-separated)', allLabel: 'Its grant of every host', button: 'Revoke' },
] as const;

/** Grant, revoke and remove for one maintainer. */
function MaintainerForms({ maintainer, csrfToken }: { maintainer: MaintainerView; csrfToken: string }) {
  const base = `/ui/maintainers/${maintainer.name}`;
  return (
    <section class="card" data-maintainer-forms={maintainer.name}>
      <h3>{maintainer.name}</h3>
      {HOST_SELECTION_FORMS.map(({ path, hostsLabel, allLabel, button }) => (
        <HostSelectionForm action={`${base}/${path}`} csrfToken={csrfToken} hostsLabel={hostsLabel} allLabel={allLabel} button={button} />
      ))}
      <p class="muted">Revoking or removing ends its open sessions on those hosts.</p>
      <ActionButton action={`${base}/remove`} csrfToken={csrfToken} label="Remove maintainer" danger />
    </section>
  );
}

function HostSelectionForm({
  action,
  csrfToken,
  hostsLabel,
  allLabel,
  button,
}: {
  action: string;
  csrfToken: string;
  hostsLabel: string;
  allLabel: string;
  button: string;
}) {
  return (
    <form method="post" action={action} class="stack setting">
      <CsrfField token={csrfToken} />
      <label>
        {hostsLabel}
        <input type="text" name="hosts" maxlength={32768} autocomplete="off" />
      </label>
      <label class="check">
        <input type="checkbox" name="all" value="yes" /> {allLabel}
      </label>
      <button type="submit" class="secondary">
        {button}
      </button>
    </form>
  );
}
