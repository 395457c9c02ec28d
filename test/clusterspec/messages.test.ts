// Messages exactly as users read them (formatIssues, as the command and `pulumi preview` print them).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatIssues, loadSpecFile, SpecError, validateSpec } from "../../provider/clusterspec";
import { cluster, grouping, server, volume } from "../support/clusterspec";

const fixtures = join(__dirname, "..", "fixtures", "specs");

describe("messages users read", () => {
  it("a spec with typos", () => {
    const result = validateSpec(
      cluster(
        [
          server("web-1", { flavourRef: "m1.small" }),
          server("web-2", { zone: "" }),
          { name: "data", type: "block-storage", spec: { size: "100", attachTo: "web-3" } },
        ],
        [
          grouping("web-spread", ["web-1", "web-2", "web-1"], { rule: "anti-afinity", scope: "host" }),
          grouping("together", ["web-1", "data"], { rule: "affinity", maxPerDomain: 2 }),
        ],
        "shop",
      ),
    );
    expect(formatIssues(result.issues)).toMatchInlineSnapshot(`
      "  groupings[0].membersRef[2]: cluster "shop": grouping "web-spread" lists "web-1" twice (membersRef[0] and membersRef[2]) (hint: list each member once)
        groupings[0].spec.rule: cluster "shop": "rule" is "anti-afinity"; expected one of "affinity", "anti-affinity", "proximity" (hint: did you mean "anti-affinity"?)
        groupings[1].spec.maxPerDomain: cluster "shop": "maxPerDomain" applies only to anti-affinity, but grouping "together" is affinity (hint: remove "maxPerDomain", or make the rule "anti-affinity")
        instances[0].spec.flavourRef: cluster "shop": unknown field "flavourRef" (hint: did you mean "flavorRef"?)
        instances[1].spec.zone: cluster "shop": "zone" must not be empty
        instances[2].spec.attachTo: cluster "shop": volume "data" is attached to "web-3", which is not a member of the cluster (hint: did you mean "web-1"?)
        instances[2].spec.size: cluster "shop": "size" must be a number, got the string "100" (hint: write it as a number, without quotes: 100)"
    `);
  });

  it("the blueprint's example 1 with repeated keys", () => {
    expect(
      formatIssues(loadSpecFile(join(fixtures, "blueprint-example-1-repeated-keys.json")).issues),
    ).toMatchInlineSnapshot(`
      "  vcluster.groupings: cluster "new-virtual-cluster": "groupings" must be an array, got an object (hint: write an array: "groupings": [ {...}, {...} ])
        vcluster.instances.instance: key "instance" occurs 2 times in "vcluster.instances" (lines 5 and 10); only the last one would be kept (hint: write an array instead of repeating a key: "instances": [ {...}, {...} ])"
    `);
  });

  it("contradictions", () => {
    const result = validateSpec(
      cluster(
        [
          server("db-1", { zone: "az1" }),
          server("db-2"),
          server("db-3", { zone: "az2" }),
          volume("db-vol-1", { attachTo: "db-1" }),
        ],
        [
          grouping("pair-12", ["db-1", "db-2"], { rule: "affinity", scope: "rack" }),
          grouping("pair-23", ["db-2", "db-3"], { rule: "affinity", scope: "zone" }),
          grouping("db-spread", ["db-1", "db-3"], { rule: "anti-affinity", scope: "rack" }),
          grouping("mixed", ["db-2", "db-vol-1"], { rule: "anti-affinity" }),
        ],
        "db",
      ),
    );
    expect(formatIssues(result.issues)).toMatchInlineSnapshot(`
      "  groupings[3]: cluster "db": anti-affinity grouping "mixed" mixes servers ("db-2") and volumes ("db-vol-1"); keeping a server apart from a volume means nothing (hint: split it into one grouping of servers and one of volumes)
        instances[2].spec.zone: cluster "db": "db-1" is pinned to zone "az1" and "db-3" to zone "az2", but groupings "pair-12" (affinity, rack) and "pair-23" (affinity, zone) put them in one zone through "db-2" (hint: pin them to the same zone or drop one pin, or relax one of "pair-12" or "pair-23" to enforcement: soft)"
    `);
  });

  it("SpecError carries every issue in one message", () => {
    const result = validateSpec(cluster([server("a", { flavorRef: 1 }), server("a")]));
    expect(new SpecError("c", result.issues).message).toMatchInlineSnapshot(`
      "cluster "c": 2 problems in the spec:
        instances[0].spec.flavorRef: cluster "c": "flavorRef" must be a string, got the number 1
        instances[1].name: cluster "c": member name "a" is used by both instances[0] and instances[1] (hint: give each member its own name)"
    `);
  });
});
