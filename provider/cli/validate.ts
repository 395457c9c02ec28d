import { quote } from "../model/text";
import { EXIT, type Io, json } from "./io";
import { describeSpec, loadSpec } from "./load";

export function validateCommand(io: Io, file: string, opts: { json: boolean }): number {
  const loaded = loadSpec(io, file);
  if (!loaded.ok) return loaded.code;
  if (opts.json) io.out(json({ valid: true, issues: [] }));
  else io.out(`cluster ${quote(loaded.value.name)} is valid: ${describeSpec(loaded.value)}.`);
  return EXIT.ok;
}
