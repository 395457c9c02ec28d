// `sim reset --force`: whatever the directory holds, leave a usable, empty cloud there. A readable
// cloud (its database, or an earlier release's cloud.json, migrated first) is reset: same id,
// topology, images and quota. A file that can't be read is kept aside as `<file>.broken-<time>`
// and a new cloud (new id) takes its place. Nothing there: a new cloud.
import { existsSync, renameSync } from "node:fs";
import * as path from "node:path";
import { CloudDatabase, installDatabase, keepAside, withStructureLock } from "./database";
import {
  type CloudState,
  CloudStateError,
  LEGACY_STATE_FILE,
  MIGRATED_SUFFIX,
  readLegacyState,
  STATE_FILE,
} from "./store";

/** What `SimulatedCloud.recreate` found and did. */
export interface RecreateOutcome {
  /** What the directory held: a usable cloud, nothing, or a state file that can't be read. */
  found: "cloud" | "nothing" | "unreadable";
  /** The cloud now in the directory (the same one when `found` is "cloud"). */
  cloudId: string;
  /** The cloud that was there, when it could be read. */
  previousCloudId?: string;
  /** Where an unreadable state file was kept. */
  keptAs?: string;
  /** The name of the state file that could not be read (cloud.db, or an earlier release's cloud.json). */
  unreadableFile?: string;
  /** What the old cloud held and is now gone. */
  lost: { servers: number; volumes: number; serverGroups: number; faults: number };
}

const NOTHING_LOST = { servers: 0, volumes: 0, serverGroups: 0, faults: 0 };

export async function recreateCloud(dir: string, fresh: () => CloudState): Promise<RecreateOutcome> {
  const made = await withStructureLock(dir, async (): Promise<RecreateOutcome | undefined> => {
    if (existsSync(path.join(dir, STATE_FILE))) {
      try {
        // Opening checks the file; a usable one is reset below, outside this lock.
        (await CloudDatabase.open(dir, { fresh, log: () => {} })).release();
        return undefined;
      } catch (e) {
        if (!(e instanceof CloudStateError)) throw e;
        CloudDatabase.forget(dir);
        return replaceUnreadable(dir, STATE_FILE, fresh);
      }
    }
    let legacy: CloudState | undefined;
    try {
      legacy = await readLegacyState(dir);
    } catch (e) {
      if (!(e instanceof CloudStateError)) throw e;
      return replaceUnreadable(dir, LEGACY_STATE_FILE, fresh);
    }
    if (!legacy) {
      const state = fresh();
      installDatabase(dir, state);
      return { found: "nothing", cloudId: state.cloudId, lost: NOTHING_LOST };
    }
    // A readable cloud.json: migrated, then reset like any cloud.
    installDatabase(dir, legacy);
    renameSync(path.join(dir, LEGACY_STATE_FILE), path.join(dir, `${LEGACY_STATE_FILE}${MIGRATED_SUFFIX}`));
    return undefined;
  });
  if (made) return made;
  const db = await CloudDatabase.open(dir, { fresh, log: () => {} });
  try {
    return await db.transaction(({ state }) => {
      const lost = {
        servers: state.servers.length,
        volumes: state.volumes.length,
        serverGroups: state.serverGroups.length,
        faults: state.faults.filter((f) => f.id >= 0).length,
      };
      Object.assign(state, { servers: [], volumes: [], serverGroups: [], faults: [], calls: {} });
      return { found: "cloud", cloudId: state.cloudId, previousCloudId: state.cloudId, lost } as const;
    });
  } finally {
    db.release();
  }
}

function replaceUnreadable(dir: string, file: string, fresh: () => CloudState): RecreateOutcome {
  const keptAs = keepAside(dir, file);
  const state = fresh();
  installDatabase(dir, state);
  return { found: "unreadable", cloudId: state.cloudId, keptAs, unreadableFile: file, lost: NOTHING_LOST };
}
