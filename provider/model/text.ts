// Small text helpers every layer's messages use: one place each.

/** Code-point order (not locale order): the same on every machine, so output is deterministic. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** "1 host", "3 hosts", "2 racks"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
