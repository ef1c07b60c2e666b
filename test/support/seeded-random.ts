/**
 * A small seeded generator (mulberry32) for randomized tests: the same seed
 * gives the same choices, so a failing run is replayed by passing its seed.
 */
export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [low, high]. */
  integer(low: number, high: number): number;
  pick<T>(items: readonly T[]): T;
}

export function createSeededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
  const random: SeededRandom = {
    seed,
    next,
    integer: (low, high) => low + Math.floor(next() * (high - low + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('nothing to pick from');
      return items[Math.floor(next() * items.length)] as never;
    },
  };
  return random;
}

/** The seed given in `variable`, or a new one. */
export function seedFrom(variable: string | undefined): number {
  if (variable !== undefined && /^\d+$/.test(variable)) return Number(variable);
  return Math.floor(Math.random() * 2 ** 31);
}
