// The records' contract (provider/api/store.ts), run against both databases it speaks: a SQLite file
// and a real PostgreSQL (test/support/postgres.ts; missing, this file fails with what to install).
// The same calls give the same records in both; one operation per cluster and one owner per
// operation hold between two Store instances on one database, as between two replicas.
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactUrl } from "../../provider/api/database";
import type { ClusterRecord, LeaseGrant } from "../../provider/api/records";
import { Store } from "../../provider/api/store";
import type { ClusterSpec } from "../../provider/model/cluster";
import { call, makeCloud, removeTempDirs, serve, tempDir } from "../support/api";
import { startPostgres, type TestPostgres } from "../support/postgres";

let pg: TestPostgres;
let databases = 0;

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  removeTempDirs();
});

type Kind = "sqlite" | "postgres";

/** A fresh, empty database of this kind: its address (a file, or a URL). */
async function freshDatabase(kind: Kind): Promise<string> {
  if (kind === "sqlite") return path.join(tempDir(), "api.db");
  return pg.createDatabase(`contract_${++databases}`);
}

const A: LeaseGrant = { owner: "replica-a", leaseMs: 60_000 };
const B: LeaseGrant = { owner: "replica-b", leaseMs: 60_000 };

function spec(name: string): ClusterSpec {
  return {
    name,
    members: [{ name: "db-server-1", type: "server", imageRef: "cirros", flavorRef: "m1.small" }],
    groupings: [],
  } as unknown as ClusterSpec;
}

async function create(store: Store, tenantId: string, name: string, lease = A): Promise<ClusterRecord> {
  return store.createCluster({
    id: randomUUID(),
    operationId: randomUUID(),
    tenantId,
    backendId: "simulated:test",
    spec: spec(name),
    requestId: `req-${randomUUID()}`,
    lease,
  });
}

/** A record with what differs by run (ids, times) replaced by placeholders. */
function normalized(value: unknown, ids: Map<string, string>): unknown {
  return JSON.parse(JSON.stringify(value), (_key, v) => {
    if (typeof v !== "string") return v;
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v)) return "<time>";
    if (/^(req-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v)) {
      if (!ids.has(v)) ids.set(v, `<id ${ids.size + 1}>`);
      return ids.get(v);
    }
    return v;
  });
}

/** The same calls on one kind of database; what each answered, normalized. */
async function scenario(kind: Kind): Promise<unknown[]> {
  const store = await Store.open(await freshDatabase(kind));
  const ids = new Map<string, string>();
  const seen: unknown[] = [];
  const note = (v: unknown) => seen.push(normalized(v, ids));
  try {
    const names = ["'; DROP TABLE clusters;--", "ünï-çødé 集群 🚀", 'quote"d\\', "plain"];
    const made: ClusterRecord[] = [];
    for (const name of names) made.push(await create(store, "t1", name));
    note(made);
    const [first, second] = made as [ClusterRecord, ClusterRecord];
    await store.recordProgress(first.operation?.id as string, "created 1/1 members \u0000 (NUL)", A.owner);
    note(await store.getCluster("t1", first.id));
    note(
      await store.finishOperation(
        first.operation?.id as string,
        { ok: true, state: { clusterName: first.id } as never },
        A.owner,
      ),
    );
    note(
      await store.finishOperation(
        second.operation?.id as string,
        { ok: false, fault: { code: "create_failed", message: "no", causes: ["no"], hints: ["retry"] } },
        A.owner,
      ),
    );
    note(await store.getCluster("t1", first.id));
    note(await store.getCluster("t1", second.id));
    note(await store.listClusters("t1", { limit: 2 }));
    note(await store.listClusters("t1", { limit: 10, marker: made[2]?.id as string }));
    note(await store.listClusters("t2", { limit: 10 }));
    note(await store.listClusters("t2", { limit: 10, allTenants: true }));
    note(
      await store.startOperation({
        tenantId: "t1",
        clusterId: first.id,
        operationId: randomUUID(),
        action: "update",
        spec: spec("renamed"),
        requestId: `req-${randomUUID()}`,
        lease: A,
      }),
    );
    note(await store.clustersElsewhere((backendId) => backendId === "elsewhere"));
  } finally {
    await store.close();
  }
  return seen;
}

describe("the same records in SQLite and PostgreSQL", () => {
  it("every call answers the same (ids and times aside), names and text verbatim", async () => {
    const sqlite = await scenario("sqlite");
    const postgres = await scenario("postgres");
    expect(JSON.stringify(postgres)).toBe(JSON.stringify(sqlite));
    const clusters = sqlite[0] as { name: string; status: string }[];
    expect(clusters.map((c) => c.name)).toEqual([
      "'; DROP TABLE clusters;--",
      "ünï-çødé 集群 🚀",
      'quote"d\\',
      "plain",
    ]);
    // Neither database keeps U+0000 in text (SQLite cuts the text there, PostgreSQL refuses it): it is U+FFFD in both.
    expect((sqlite[1] as ClusterRecord).operation?.progress).toBe("created 1/1 members \uFFFD (NUL)");
  });
});

describe.each(["sqlite", "postgres"] as const)("the store on %s", (kind) => {
  let where: string;
  let a: Store;
  let b: Store;

  beforeAll(async () => {
    where = await freshDatabase(kind);
    // Two stores on one database: two replicas.
    a = await Store.open(where);
    b = await Store.open(where);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("opens an existing database again (the schema is kept, not recreated)", async () => {
    const made = await create(a, "reopen", "kept");
    const again = await Store.open(where);
    try {
      expect((await again.getCluster("reopen", made.id))?.name).toBe("kept");
    } finally {
      await again.close();
    }
  });

  it("one operation per cluster, whichever replica asks: the second start is refused as busy", async () => {
    const made = await create(a, "busy", "one-at-a-time");
    await a.finishOperation(
      made.operation?.id as string,
      { ok: true, state: { clusterName: made.id } as never },
      A.owner,
    );
    const start = (store: Store, lease: LeaseGrant) =>
      store.startOperation({
        tenantId: "busy",
        clusterId: made.id,
        operationId: randomUUID(),
        action: "delete",
        requestId: `req-${randomUUID()}`,
        lease,
      });
    const answers = await Promise.all([start(a, A), start(b, B), start(a, A), start(b, B)]);
    const started = answers.filter((x) => !("refused" in x));
    const refused = answers.filter((x) => "refused" in x);
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(3);
    for (const r of refused) expect(r).toMatchObject({ refused: "busy", running: { action: "delete" } });
    expect(await start(a, A)).toMatchObject({ refused: "busy" });
    expect(
      await a.startOperation({
        tenantId: "other-tenant",
        clusterId: made.id,
        operationId: randomUUID(),
        action: "delete",
        requestId: "req-x",
        lease: A,
      }),
    ).toEqual({ refused: "not_found" });
  });

  it("only the lease's owner records progress and the outcome", async () => {
    const made = await create(a, "owner", "owned");
    const op = made.operation?.id as string;
    await b.recordProgress(op, "from the wrong server", B.owner);
    expect((await a.getCluster("owner", made.id))?.operation?.progress).toBeUndefined();
    await a.recordProgress(op, "from its owner", A.owner);
    expect((await b.getCluster("owner", made.id))?.operation?.progress).toBe("from its owner");
    expect(await b.finishOperation(op, { ok: true, deleted: true }, B.owner)).toBe(false);
    expect((await a.getCluster("owner", made.id))?.operation?.status).toBe("running");
    expect(await a.finishOperation(op, { ok: true, state: { clusterName: made.id } as never }, A.owner)).toBe(true);
    expect((await a.getCluster("owner", made.id))?.status).toBe("ACTIVE");
    // Finished: no lease left to renew.
    expect([...(await a.renewLeases(A, [op]))]).toEqual([]);
  });

  it("a live lease is not claimed; an expired one is, by one replica only, which then owns it", async () => {
    const short: LeaseGrant = { owner: "replica-short", leaseMs: 1 };
    const live = await create(a, "claims", "live");
    const lapsing = await create(a, "claims", "lapsing", short);
    await new Promise((r) => setTimeout(r, 20));
    const [fromA, fromB] = await Promise.all([
      a.claimOperations(A, { all: false, accept: () => true }),
      b.claimOperations(B, { all: false, accept: () => true }),
    ]);
    const claimed = [...fromA.claimed, ...fromB.claimed].filter((c) => c.cluster.tenantId === "claims");
    expect(claimed.map((c) => c.operation.id)).toEqual([lapsing.operation?.id]);
    expect(claimed[0]?.previousOwner).toBe("replica-short");
    expect(claimed[0]?.cluster).toMatchObject({ id: lapsing.id, name: "lapsing", status: "BUILD" });
    const winner = fromA.claimed.some((c) => c.operation.id === lapsing.operation?.id) ? A : B;
    // The old owner lost it: its renewal says so, and its outcome is not recorded.
    expect([...(await a.renewLeases(short, [lapsing.operation?.id as string]))]).toEqual([]);
    expect(await a.finishOperation(lapsing.operation?.id as string, { ok: true, deleted: true }, short.owner)).toBe(
      false,
    );
    expect([...(await a.renewLeases(winner, [lapsing.operation?.id as string]))]).toEqual([lapsing.operation?.id]);
    // The live one stays where it is.
    expect([...(await a.renewLeases(A, [live.operation?.id as string]))]).toEqual([live.operation?.id]);
  });

  it("a released lease is claimable at once; `all` claims every running one; `accept` leaves some alone", async () => {
    const released = await create(a, "release", "handed-over");
    const op = released.operation?.id as string;
    expect((await b.claimOperations(B, { all: false, accept: (c) => c.tenantId === "release" })).claimed).toEqual([]);
    await a.releaseLeases(A.owner, [op]);
    const { claimed } = await b.claimOperations(B, { all: false, accept: (c) => c.tenantId === "release" });
    expect(claimed.map((c) => c.operation.id)).toEqual([op]);
    // `all`: the caller alone holds the database (a SQLite file's lock); live leases are taken too.
    const kept = await create(a, "release", "refused");
    const everything = await a.claimOperations(A, { all: true, accept: (c) => c.id !== kept.id });
    expect(everything.claimed.map((c) => c.operation.id)).toContain(op);
    expect(everything.refused.map((c) => c.operation.id)).toContain(kept.operation?.id);
  });

  it("trusts of finished operations are listed until deleted", async () => {
    const made = await a.createCluster({
      id: randomUUID(),
      operationId: randomUUID(),
      tenantId: "trusts",
      backendId: "openstack:x",
      spec: spec("trusted"),
      requestId: "req-t",
      trustId: `trust-${kind}`,
      lease: A,
    });
    expect((await a.trustsToDelete()).map((t) => t.trustId)).not.toContain(`trust-${kind}`);
    await a.finishOperation(made.operation?.id as string, { ok: true, deleted: true }, A.owner);
    expect((await b.trustsToDelete()).map((t) => t.trustId)).toContain(`trust-${kind}`);
    await b.trustDeleted(`trust-${kind}`);
    expect((await a.trustsToDelete()).map((t) => t.trustId)).not.toContain(`trust-${kind}`);
    expect(await a.getCluster("trusts", made.id)).toBeUndefined();
  });

  it("the applied spec: each state a create or update writes comes with its spec; a delete's keeps it; schema 3 is migrated", async () => {
    const made = await create(a, "applied", "first");
    expect(await a.appliedOf(made.id)).toEqual({});
    const state = { clusterName: made.id } as never;
    await a.finishOperation(made.operation?.id as string, { ok: true, state }, A.owner);
    expect(await b.appliedOf(made.id)).toEqual({ state, spec: spec("first") });
    const change = async (action: "update" | "delete", next?: ClusterSpec) => {
      const started = await a.startOperation({
        tenantId: "applied",
        clusterId: made.id,
        operationId: randomUUID(),
        action,
        ...(next ? { spec: next } : {}),
        requestId: `req-${randomUUID()}`,
        lease: A,
      });
      if ("refused" in started) throw new Error(`refused: ${started.refused}`);
      return started.operation?.id as string;
    };
    // A failed update with a partial state: its spec (what it left pending is marked in the state).
    const failedFault = { code: "update_failed", message: "m", causes: [], hints: [] };
    await a.finishOperation(await change("update", spec("second")), { ok: false, fault: failedFault, state }, A.owner);
    expect((await a.appliedOf(made.id)).spec).toEqual(spec("second"));
    // One without a state: what was applied before stays.
    await a.finishOperation(await change("update", spec("third")), { ok: false, fault: failedFault }, A.owner);
    expect((await a.appliedOf(made.id)).spec).toEqual(spec("second"));
    // A delete that failed halfway keeps it too.
    await a.finishOperation(await change("delete"), { ok: false, fault: failedFault, state }, A.owner);
    expect((await a.appliedOf(made.id)).spec).toEqual(spec("second"));

    // A schema-3 database (no applied_spec_json): the column is added and filled from the last
    // successful create or update.
    await downgradeToSchema3(kind, where);
    const migrated = await Store.open(where);
    try {
      expect((await migrated.appliedOf(made.id)).spec).toEqual(spec("first"));
    } finally {
      await migrated.close();
    }
  });
});

/** Takes schema 4's column away and says the database is schema 3, as an older release left it. */
async function downgradeToSchema3(kind: Kind, where: string): Promise<void> {
  if (kind === "sqlite") {
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(where);
    try {
      db.exec("PRAGMA busy_timeout = 10000");
      db.exec("ALTER TABLE clusters DROP COLUMN applied_spec_json");
      db.exec("PRAGMA user_version = 3");
    } finally {
      db.close();
    }
    return;
  }
  const { Client } = await import("pg");
  const client = new Client({ connectionString: where });
  await client.connect();
  try {
    await client.query("ALTER TABLE clusters DROP COLUMN applied_spec_json");
    await client.query("UPDATE vcluster_schema SET version = 3");
  } finally {
    await client.end();
  }
}

describe("PostgreSQL URLs", () => {
  it("an unreachable database is refused with what to check, and never the password", async () => {
    const url = "postgresql://svc:pa%24%24w0rd-secret@localhost/none?host=/nonexistent-socket-dir";
    const refused = await Store.open(url).then(
      () => "opened",
      (e: Error) => e.message,
    );
    expect(refused).toMatch(/^the PostgreSQL database postgresql:\/\/svc:\*\*\*@localhost\/none\?host=/);
    expect(refused).toMatch(/hint: /);
    expect(refused).not.toMatch(/pa\$\$w0rd|pa%24%24w0rd|secret/);
    expect(redactUrl("postgres://u:p@h/d?password=p2&sslkey=k")).toBe("postgres://u:***@h/d?password=***&sslkey=***");
    const unreadable = await Store.open("postgres://u:sekret-pw@[::1/db").then(
      () => "opened",
      (e: Error) => e.message,
    );
    expect(unreadable).toMatch(
      /^the PostgreSQL database URL can't be read as a URL; hint: postgres:\/\/user:password@host/,
    );
    expect(unreadable).not.toContain("sekret");
  });
});

describe("PostgreSQL gone while the service runs", () => {
  it("a request is a 503 with Retry-After, not an internal error; the log says why", async () => {
    const own = await startPostgres();
    const dir = tempDir();
    await makeCloud(path.join(dir, "sim"));
    const server = await serve({ simDir: path.join(dir, "sim"), db: await own.createDatabase("gone") });
    try {
      expect((await call(server.url, "GET", "/v2/t/vclusters")).status).toBe(200);
      await own.stop();
      const r = await call(server.url, "GET", "/v2/t/vclusters");
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBe("5");
      expect(r.body.serviceUnavailable.message).toBe(
        "the service's database is unavailable right now; hint: retry in a few seconds",
      );
      expect(server.logs.join("\n")).toMatch(/the database is unavailable \(.*\) in GET \/v2\/:tenant_id\/vclusters/);
      expect(server.logs.join("\n")).not.toMatch(/internal error/);
    } finally {
      await server.close();
      await own.stop();
    }
  });
});
