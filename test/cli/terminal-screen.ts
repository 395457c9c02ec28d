// What a terminal shows after some output: enough of one to read a status line drawn with a
// carriage return and erase-line (ESC [2K), and the lines printed above it. Any other escape
// sequence is kept as text, so a test sees it.

/** The screen's lines after `output`, trailing blanks and the empty last line dropped. */
export function screenOf(output: string): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    if (output.startsWith("\x1b[2K", i)) {
      lines[row] = [];
      i += 3;
      continue;
    }
    const c = output[i] as string;
    if (c === "\r") col = 0;
    else if (c === "\n") {
      row++;
      col = 0;
      lines[row] ??= [];
    } else {
      (lines[row] as string[])[col++] = c;
    }
  }
  const text = lines.map((l) =>
    Array.from(l, (c) => c ?? " ")
      .join("")
      .trimEnd(),
  );
  while (text.length > 0 && text.at(-1) === "") text.pop();
  return text;
}

/** A fake terminal stream: what was written, in order, and its width. */
export class FakeTerminal {
  readonly isTTY = true;
  readonly writes: string[] = [];
  constructor(public columns = 80) {}
  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
  get output(): string {
    return this.writes.join("");
  }
  get screen(): string[] {
    return screenOf(this.output);
  }
}
