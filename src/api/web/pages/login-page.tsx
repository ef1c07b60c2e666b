import { Layout } from './layout.js';

export function LoginPage({ next, error, notice }: { next: string; error?: string; notice?: string | undefined }) {
  return (
    <Layout title="Log in" error={error} notice={notice}>
      <form method="post" action="/ui/login" class="stack" id="login">
        <input type="hidden" name="next" value={next} />
        <label>
          Admin token
          <input type="password" name="token" autocomplete="current-password" required maxlength={200} autofocus />
        </label>
        <p class="muted">
          Make one on the server with <code>borgctl admin-token create --label NAME</code>. The page keeps you logged in for 30 minutes of
          quiet and 12 hours at most.
        </p>
        <button type="submit">Log in</button>
      </form>
    </Layout>
  );
}

export function ErrorPage({ title, message, back, csrfToken }: { title: string; message: string; back: string; csrfToken?: string }) {
  return (
    <Layout title={title} error={message} {...(csrfToken ? { csrfToken } : {})}>
      <p>
        <a href={back}>Back</a>
      </p>
    </Layout>
  );
}
