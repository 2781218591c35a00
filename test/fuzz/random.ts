/**
 * The fuzz's only source of randomness: sfc32 seeded from one integer, so a seed replays the
 * same operations (timing aside). Math.random is never used.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    // splitmix32 spreads a small seed over the four words of state.
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.float() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(0, items.length - 1)] as T
  }

  /** A key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    const total = entries.reduce((sum, [, w]) => sum + w, 0)
    let x = this.float() * total
    for (const [key, w] of entries) {
      x -= w
      if (x < 0) return key
    }
    return (entries[entries.length - 1] as [K, number])[0]
  }

  /** `n` bytes. */
  bytes(n: number): Buffer {
    const buf = Buffer.alloc(n)
    let i = 0
    for (; i + 4 <= n; i += 4) buf.writeUInt32LE(this.u32(), i)
    for (; i < n; i++) buf[i] = this.u32() & 0xff
    return buf
  }

  /** `n` bytes of printable text with newlines, like source code. */
  text(n: number): Buffer {
    const buf = Buffer.alloc(n)
    for (let i = 0; i < n; i++) buf[i] = this.chance(1 / 40) ? 10 : 32 + (this.u32() % 95)
    return buf
  }
}
