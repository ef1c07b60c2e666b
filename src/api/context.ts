import type { HostChange, HostChangeAnswer } from '../channel/host-change.js';
import type { MaintainerChange, MaintainerChangeAnswer, MaintenanceAcknowledgementAnswer } from '../channel/maintainer-change.js';
import type { Config } from '../config.js';
import type { Db } from '../db/connection.js';
import type { RestorePoints } from '../domain/borg-transactions.js';
import type { SshHostKey } from '../identity/ssh-host-keys.js';
import type { TlsIdentity } from '../identity/tls-identity.js';
import type { FaultMonitor } from './monitoring/fault-monitor.js';
import type { SigningKey } from './tokens/signing-key.js';

/** What the API and the CLI hand to the operations; everything with I/O is passed in. */
export interface ServerContext {
  db: Db;
  config: Config;
  now: () => Date;
  signingKey: SigningKey;
  /**
   * Asks root for a change of a host (src/channel/host-change.ts), which root checks against its own state,
   * writes, applies and answers with the row it serves. Nothing of a host is written on the API's side before.
   */
  changeHost: (change: HostChange) => Promise<HostChangeAnswer>;
  /** Asks root for a change of a maintainer (src/channel/maintainer-change.ts), as for a host: nothing is written here before root said yes. */
  changeMaintainer: (change: MaintainerChange) => Promise<MaintainerChangeAnswer>;
  /** Asks root to let a held host's maintainers back (src/domain/maintenance-hold.ts). */
  acknowledgeMaintenance: (hostName: string) => Promise<MaintenanceAcknowledgementAnswer>;
  readSshHostKeys: () => SshHostKey[];
  /** Asks the root side to check a host's repository soon (borg check --repository-only); absent where no server runs. */
  requestCheck?: (hostName: string) => Promise<void>;
  /** The newest commits of a host's repository, read by the root side (the API user cannot read repositories); absent where no server runs. */
  readRestorePoints?: (hostName: string) => Promise<RestorePoints>;
  /** The faults of the machine the server sees (volumes, database lock, root's); absent where no server runs. */
  faults?: FaultMonitor;
  /** The served certificate's pin (HTTPS), or null for plain HTTP. */
  tlsIdentity: () => TlsIdentity | null;
}
