// Many typed arrays carved out of one allocation. A fresh ArrayBuffer costs far more than a view
// on an existing one (it is allocated and zeroed outside the JS heap, and counts towards the
// external memory that makes V8 collect), and compile needs a dozen arrays of the same lifetime.

function carve<T extends Int32Array | Float64Array>(all: T, sizes: readonly number[]): T[] {
  const out = new Array<T>(sizes.length);
  let at = 0;
  for (let i = 0; i < sizes.length; i++) {
    const n = sizes[i] as number;
    out[i] = all.subarray(at, at + n) as T;
    at += n;
  }
  return out;
}

const sum = (xs: readonly number[]): number => {
  let total = 0;
  for (const x of xs) total += x;
  return total;
};

/** One view per size: a tuple as long as `sizes` (so destructuring needs no cast). */
type Views<S extends readonly number[], T> = { -readonly [K in keyof S]: T };

/** Views of `sizes` elements each, in order, over one new Int32Array. */
export const int32Views = <const S extends readonly number[]>(sizes: S): Views<S, Int32Array> =>
  carve(new Int32Array(sum(sizes)), sizes) as Views<S, Int32Array>;

/** Views of `sizes` elements each, in order, over one new Float64Array. */
export const float64Views = <const S extends readonly number[]>(sizes: S): Views<S, Float64Array> =>
  carve(new Float64Array(sum(sizes)), sizes) as Views<S, Float64Array>;
