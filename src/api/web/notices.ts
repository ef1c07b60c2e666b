/**
 * What a page says after a form did its work (Post/Redirect/Get): the
 * redirect carries only one of these codes, never text or a secret.
 */
export const NOTICES = {
  approved: 'Approved: the host can back up now.',
  denied: 'Denied: the key will never be let in.',
  disabled: 'Disabled: its key line is gone and its sessions were ended.',
  enabled: 'Enabled: the host can connect again.',
  'full-access-opened': 'Full access is open: the host may prune and compact until the window ends.',
  'full-access-closed': 'Full access is closed: the host is append-only again.',
  updated: 'Saved.',
  'check-queued': 'The repository check is queued: it runs when no backup is running.',
  acknowledged: 'Acknowledged: its maintainers may reach it again.',
  deleted: 'Deleted: its account and key are gone; the repository is kept.',
  purged: 'Purged: its account, key and repository are being removed.',
  'maintainer-added': 'Saved the maintainer: grant it hosts below; it connects only from its from= range.',
  'maintainer-granted': 'Granted: it has full access to those hosts (their own keys stay append-only).',
  'maintainer-revoked': 'Revoked: its access to those hosts is gone and its sessions there were ended.',
  'maintainer-removed': 'Removed the maintainer: its key and grants are gone and its sessions were ended.',
  'token-revoked': 'Revoked: the token can no longer enroll a host.',
  'webhook-removed': 'Removed the webhook.',
  'test-sent': 'A test event is queued for delivery.',
  'logged-out': 'You are logged out.',
} as const;

export type Notice = keyof typeof NOTICES;

export function noticeText(code: string | undefined): string | undefined {
  return code !== undefined && Object.hasOwn(NOTICES, code) ? NOTICES[code as Notice] : undefined;
}
