// `schema spec|topology`: the JSON Schema of a spec file or a topology file, for editors (the same
// files the package ships in sdk/schema/, generated from the validating zod schemas).
import { JSON_SCHEMAS, jsonSchemaText, type SchemaName } from "../clusterspec/json-schema";
import { fail } from "./failure";
import { EXIT, type Io } from "./io";

export function schemaCommand(io: Io, which: string): number {
  if (!Object.hasOwn(JSON_SCHEMAS, which)) {
    return fail(io, {
      kind: "usage",
      message: `openstack-vcluster: there is no schema ${JSON.stringify(which)}; hint: \`openstack-vcluster schema spec\` or \`openstack-vcluster schema topology\``,
    });
  }
  io.out(jsonSchemaText(which as SchemaName));
  return EXIT.ok;
}
