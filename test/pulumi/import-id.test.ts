// The `import` option's id: the cluster's name, then optionally member=id pairs for members without tags.
import { describe, expect, it } from "vitest";
import { parseImportId } from "../../provider/pulumi/import-id";

describe("import ids", () => {
  it.each([
    ["shop", {}],
    [" shop ", {}],
    ["shop:db-1=6f1c2b1e-0000-4000-8000-000000000001", { "db-1": "6f1c2b1e-0000-4000-8000-000000000001" }],
    ["shop:db-1=s1,db-1-data=v1", { "db-1": "s1", "db-1-data": "v1" }],
    ["shop:a,b=s1,c=s2", { "a,b": "s1", c: "s2" }],
    ["shop:x=y=s1", { "x=y": "s1" }],
  ])("%j", (text, ids) => {
    expect(parseImportId(text, "shop")).toEqual({ ids });
  });

  it("a cluster name of its own may hold a colon", () => {
    expect(parseImportId("team:shop:db-1=s1", "team:shop")).toEqual({ ids: { "db-1": "s1" } });
  });

  it("another cluster's name: says to set clusterName", () => {
    expect(parseImportId("shop:db-1=s1", "proj-dev-db")).toEqual({
      problem:
        'the import id "shop:db-1=s1" names cluster "shop", but this resource\'s clusterName is "proj-dev-db" (hint: set clusterName: "shop" in the resource\'s args: it is the name the cluster\'s members are tagged with)',
    });
  });

  it.each([
    ["shop:", /has "" where a member=id pair belongs/],
    ["shop:db-1", /has "db-1" where a member=id pair belongs/],
    ["shop:db-1=s1,db-2", /has "db-2" where a member=id pair belongs/],
    ["shop:=s1", /has "=s1", which is not member=id/],
    ["shop:db-1=", /has "db-1=", which is not member=id/],
    ["shop:db-1=s1,db-1=s2", /names member "db-1" twice/],
  ])("%j is refused", (text, problem) => {
    const r = parseImportId(text, "shop");
    expect("problem" in r && r.problem).toMatch(problem);
  });

  it('a member named "__proto__" is a member like any other', () => {
    const r = parseImportId("shop:__proto__=s1", "shop");
    expect("ids" in r && Object.keys(r.ids)).toEqual(["__proto__"]);
  });
});
