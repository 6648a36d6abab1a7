/** Values a 32-bit word takes: scales a draw in [0, 1) to a whole word and back. */
const UINT32_RANGE = 4_294_967_296;

/** A small seeded PRNG (mulberry32): same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / UINT32_RANGE;
  };
}

/** Two hex digits per byte value, so drawing a hash is table look-ups, not number formatting. */
const BYTE_HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Typed draws from one seeded sequence. */
export class Draw {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** A whole number in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One of the items, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** `chars` lower-case hex digits. */
  hex(chars: number): string {
    let out = "";
    for (let i = 0; i < chars; i += 8) {
      const w = Math.floor(this.next() * UINT32_RANGE);
      out += `${BYTE_HEX[w >>> 24]}${BYTE_HEX[(w >>> 16) & 255]}${BYTE_HEX[(w >>> 8) & 255]}${BYTE_HEX[w & 255]}`;
    }
    return out.slice(0, chars);
  }
}
