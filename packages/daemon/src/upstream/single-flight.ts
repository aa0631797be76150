/**
 * Runs one task per key at a time; callers that ask for a key while its task
 * runs share the same promise.
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, task: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const p = task().finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  get size(): number {
    return this.running.size;
  }
}
