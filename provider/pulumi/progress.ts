// Progress and warnings from inside the provider process.
//
// `pulumi.log.*` is not usable here: the SDK's dynamic-provider server never tells the
// runtime the engine's address (PULUMI_NODEJS_ENGINE is unset in the plugin process), so
// `pulumi.log.info` falls back to `console.log("info: [runtime] …")`. The engine itself
// reads every line a plugin writes to stdout after its port line and shows it as an info
// diagnostic (stderr lines as info-errors). So one plain line on stdout is the
// engine-supported path, without the "[runtime]" noise.
export type ProgressLevel = "info" | "warn";

export type ProgressSink = (level: ProgressLevel, message: string) => void;

export const stdoutProgress: ProgressSink = (level, message) => {
  const text = message.replace(/\s*\n\s*/g, " ").trim();
  if (text === "") return;
  process.stdout.write(`${level === "warn" ? "warning: " : ""}${text}\n`);
};
