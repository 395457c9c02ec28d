// The import id of a VCluster, as a program gives it in the `import` resource option: the cluster's
// name, then optionally the ids of members that carry no tags (built before, or by hand):
//
//   "shop"                                      every member found by its tags
//   "shop:db-1=6f1c…,db-1-data=0a9e…"           those two by id, the rest by tags
//
// The name must be the resource's clusterName (the tags every later run finds members by). A member
// whose name holds a comma is written as is when the id after its "=" holds none (ids never do). Pure.
import { quote } from "../model/text";

export type ParsedImportId = { ids: Record<string, string> } | { problem: string };

export function parseImportId(text: string, clusterName: string): ParsedImportId {
  const id = text.trim();
  if (id === clusterName) return { ids: {} };
  if (!id.startsWith(`${clusterName}:`)) {
    const named = id.includes(":") ? id.slice(0, id.indexOf(":")) : id;
    return {
      problem: `the import id ${quote(id)} names cluster ${quote(named)}, but this resource's clusterName is ${quote(clusterName)} (hint: set clusterName: ${quote(named)} in the resource's args: it is the name the cluster's members are tagged with)`,
    };
  }
  const rest = id.slice(clusterName.length + 1);
  const pairs: string[] = [];
  let pending = "";
  for (const token of rest.split(",")) {
    const joined = pending === "" ? token : `${pending},${token}`;
    if (token.includes("=")) {
      pairs.push(joined);
      pending = "";
    } else pending = joined;
  }
  const usage = `write it as ${quote(`${clusterName}:<member>=<id>,<member>=<id>`)}`;
  if (pending !== "" || pairs.length === 0) {
    return {
      problem: `the import id ${quote(id)} has ${quote(pending || rest)} where a member=id pair belongs (hint: ${usage})`,
    };
  }
  const ids: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.lastIndexOf("=");
    const member = pair.slice(0, eq).trim();
    const objectId = pair.slice(eq + 1).trim();
    if (member === "" || objectId === "" || /\s/.test(objectId)) {
      return { problem: `the import id ${quote(id)} has ${quote(pair)}, which is not member=id (hint: ${usage})` };
    }
    if (Object.hasOwn(ids, member)) {
      return {
        problem: `the import id ${quote(id)} names member ${quote(member)} twice (hint: give each member one id)`,
      };
    }
    Object.defineProperty(ids, member, { value: objectId, enumerable: true, writable: true, configurable: true });
  }
  return { ids };
}
