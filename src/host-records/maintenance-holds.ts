import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/connection.js';
import { maintenanceHolds } from '../db/schema.js';

/** A host no maintainer reaches until an admin acknowledges it (both databases keep it: root decides, the API copies). */
export type MaintenanceHold = typeof maintenanceHolds.$inferSelect;

export function findMaintenanceHold(db: Queryable, hostName: string): MaintenanceHold | undefined {
  return db.select().from(maintenanceHolds).where(eq(maintenanceHolds.hostName, hostName)).get();
}

/** Holds the host unless it is held already (the first such session since the last acknowledgement is kept); true when newly held. */
export function holdMaintenance(db: Queryable, hold: MaintenanceHold): boolean {
  return db.insert(maintenanceHolds).values(hold).onConflictDoNothing().run().changes > 0;
}

/** Lets maintainers reach the host again; true when it was held. */
export function releaseMaintenance(db: Queryable, hostName: string): boolean {
  return db.delete(maintenanceHolds).where(eq(maintenanceHolds.hostName, hostName)).run().changes > 0;
}
