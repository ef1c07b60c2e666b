import { z } from 'zod';
import { epochMs } from './host-row.js';

/**
 * A change of a maintainer (a trusted machine that prunes and compacts while
 * every VM stays append-only) the API or an admin's borgctl asks root for, as
 * a change of a host is asked (host-change.ts): root checks it against its own
 * state and the domain rules before it writes (src/root/requests/maintainer-requests.ts),
 * then answers with the maintainer as it serves it, which the API copies.
 */

/** At most this many hosts named in one grant or revoke: the request and its answer stay within a channel line. */
export const MAX_HOSTS_PER_CHANGE = 2000;
/** Hosts a maintainer may be granted by name (beyond, grant it every host): its answer stays within a channel line. */
export const MAX_GRANTED_HOSTS = 5000;

const maintainerName = z.string().max(64);
const hostNames = z.array(z.string().max(64)).max(MAX_HOSTS_PER_CHANGE);

/** Register a trusted machine's key; its from= range is required. A name already registered gets the new key and range. */
const addMaintainer = z.strictObject({
  action: z.literal('add'),
  name: maintainerName,
  keyType: z.string().max(64),
  keyBase64: z.string().max(16_384),
  allowFrom: z.string().max(4096),
});

/** Give it full access to these hosts' repositories, or to every host (`all`). */
const grant = z.strictObject({ action: z.literal('grant'), name: maintainerName, hosts: hostNames, all: z.boolean() });

/** Take back its access to these hosts, or its grant of every host (`all`); its open sessions there end. */
const revoke = z.strictObject({ action: z.literal('revoke'), name: maintainerName, hosts: hostNames, all: z.boolean() });

/** Forget the maintainer and every grant it had; its open sessions end. */
const removeMaintainer = z.strictObject({ action: z.literal('remove'), name: maintainerName });

export const maintainerChange = z.discriminatedUnion('action', [addMaintainer, grant, revoke, removeMaintainer]);
export type MaintainerChange = z.infer<typeof maintainerChange>;

/** The API records the audit entry of the change itself, from root's answer, as for a host. */
export const maintainerChangeRequest = z.strictObject({ change: maintainerChange });

/** A maintainer as root serves it: its key, range, and the hosts it may reach. */
export const maintainerMessage = z.strictObject({
  name: z.string().max(64),
  keyType: z.string().max(64),
  keyBase64: z.string().max(16_384),
  fingerprint: z.string().max(128),
  allowFrom: z.string().max(4096),
  isGrantedAllHosts: z.boolean(),
  /** The hosts granted by name (sorted); with isGrantedAllHosts, every host besides. */
  hosts: z.array(z.string().max(64)).max(MAX_GRANTED_HOSTS),
  createdAt: epochMs,
  updatedAt: epochMs,
});
export type MaintainerMessage = z.infer<typeof maintainerMessage>;

/** Root's answer: the maintainer now (null once removed) and before the change (null for a new one). */
export const maintainerChangeAnswer = z.strictObject({ maintainer: maintainerMessage.nullable(), previous: maintainerMessage.nullable() });
export type MaintainerChangeAnswer = z.infer<typeof maintainerChangeAnswer>;

/**
 * An admin has looked at a host held for maintenance (its own key deleted or
 * pruned: src/domain/maintenance-hold.ts) and lets its maintainers back.
 */
export const maintenanceAcknowledgement = z.strictObject({ host: z.string().max(64) });
export const maintenanceAcknowledgementAnswer = z.strictObject({ host: z.string().max(64), wasHeld: z.boolean() });
export type MaintenanceAcknowledgementAnswer = z.infer<typeof maintenanceAcknowledgementAnswer>;
