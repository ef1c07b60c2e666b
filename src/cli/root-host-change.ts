import { requestHostChangeFromSupervisor } from '../api/root-requests.js';
import type { HostChange, HostChangeAnswer } from '../channel/host-change.js';
import { type Config, statePaths } from '../config.js';
import { changeHost } from '../root/requests/host-requests.js';
import { openControlChannel } from './control-socket.js';
import { openRootCliContext } from './root-cli-context.js';

/**
 * A change of a host made from root's side alone, for what an admin must be
 * able to do whatever state the API is in (`borgctl hosts disable` after
 * the API was taken over): asked of the running server over its root-only
 * control socket, or made here in root's database when none runs. The API's
 * database is never opened; root records the audit entry and reports the
 * host's new row, which the API takes when it next connects.
 */
export async function changeHostAsRoot(config: Config, change: HostChange, actor: string): Promise<HostChangeAnswer> {
  const server = await openControlChannel(statePaths(config.stateDir).controlSocket);
  if (server) {
    try {
      return await requestHostChangeFromSupervisor(change, 120_000, server, actor);
    } finally {
      server.close();
    }
  }
  // Root's database is opened only when no server runs (the server has it open and applies the change itself).
  const context = openRootCliContext(config);
  const answer = changeHost(context.db, change, { now: context.now(), auditAs: actor });
  await context.requestReconcile();
  return answer;
}
