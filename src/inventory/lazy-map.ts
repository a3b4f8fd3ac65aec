/**
 * A read-only map whose values are made from stored records when first read, then kept: a fleet
 * model's profiles and ABIs, validated only when the analysis uses them (most impacts use a few of
 * the inventory's profiles, each ~0.5 MB of JSON).
 */
export class LazyMap<V, R> implements ReadonlyMap<string, V> {
  private readonly made = new Map<string, V>();

  constructor(
    private readonly records: ReadonlyMap<string, R>,
    private readonly make: (record: R) => V,
  ) {}

  /** Every value made, in the records' order (what iterating the map asks for). */
  private all(): Map<string, V> {
    return new Map([...this.records.keys()].map((k) => [k, this.get(k)!]));
  }

  get size(): number {
    return this.records.size;
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  get(key: string): V | undefined {
    let v = this.made.get(key);
    if (v === undefined) {
      const r = this.records.get(key);
      if (r === undefined) return undefined;
      v = this.make(r);
      this.made.set(key, v);
    }
    return v;
  }

  keys(): MapIterator<string> {
    return this.records.keys();
  }

  values(): MapIterator<V> {
    return this.all().values();
  }

  entries(): MapIterator<[string, V]> {
    return this.all().entries();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}
