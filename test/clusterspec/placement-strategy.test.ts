// placementStrategy: spread (the default) or pack, in both input forms; the default is not recorded.
import { describe, expect, it } from "vitest";
import { validateSpec } from "../../provider/clusterspec";
import { blueprint, cluster, codes, grouping, servers } from "../support/clusterspec";

const base = cluster(servers("a", "b"), [grouping("g", ["a", "b"], { rule: "anti-affinity" })]);

describe("placementStrategy", () => {
  it("pack reaches the model in the args form and in the blueprint form", () => {
    expect(validateSpec({ ...base, placementStrategy: "pack" }).spec?.placementStrategy).toBe("pack");
    const bp = blueprint(servers("a", "b")) as { vcluster: Record<string, unknown> };
    bp.vcluster.placementStrategy = "pack";
    expect(validateSpec(bp).spec?.placementStrategy).toBe("pack");
  });

  it("spread is the default: written or not, the same spec", () => {
    const written = validateSpec({ ...base, placementStrategy: "spread" });
    const omitted = validateSpec(base);
    expect(written.issues).toEqual([]);
    expect(written.spec).toEqual(omitted.spec);
    expect(omitted.spec && "placementStrategy" in omitted.spec).toBe(false);
  });

  it("anything else is refused where it was written", () => {
    const r = validateSpec({ ...base, placementStrategy: "tight" });
    expect(r.spec).toBeUndefined();
    expect(codes(r)).toEqual(["invalid_value placementStrategy"]);
    expect(r.issues[0]?.message).toContain("spread");
    expect(codes(validateSpec({ ...base, placement: { strategy: "pack" } }))).toEqual(["unknown_field placement"]);
  });
});
