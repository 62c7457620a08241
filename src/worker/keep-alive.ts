// Idle environments: parked for reuse, frozen after a short grace (as Lambda freezes them, so background
// work stops; back-to-back requests never pay the thaw), retired after keep-alive.
import type { EnvSlot } from './env-slot.js';
import type { IdleEnvironments } from './placement.js';

/** Idle time before an environment is frozen. */
const FREEZE_AFTER_MS = 1000;
/** How long the runtime may take to give back memory before it is frozen anyway. */
const TRIM_TIMEOUT_MS = 500;
/**
 * Requests served since the last trim before the next is asked for: the young generation grows only under
 * thousands, and a lightly used environment has nothing to give back.
 */
const TRIM_AFTER_INVOCATIONS = 1000;
/**
 * Idle time before a busy environment is woken to give back memory (then frozen again). Not at the freeze:
 * the collection that shrinks V8's young generation also costs the runtime its warm state, so its next
 * ~2,000 requests cost 2-3x the CPU (measured in one runtime on one CPU: 40 µs, then 18, against 12);
 * traffic that pauses for seconds would pay that on every burst. An environment idle this long has
 * likely seen its burst end, and holds less while it waits.
 */
export const TRIM_AFTER_IDLE_MS = 10_000;

export class KeepAlive {
  constructor(
    private readonly idle: IdleEnvironments,
    private readonly keepAliveMs: number,
    private readonly retire: (slot: EnvSlot) => void,
    private readonly trimAfterIdleMs = TRIM_AFTER_IDLE_MS,
  ) {}

  park(slot: EnvSlot): void {
    slot.lastUsed = Date.now();
    const parked = ++slot.parked;
    this.idle.put(slot);
    const keepAlive = this.keepAliveMs;
    const expire = () => {
      // Prewarmed for a window that has not ended: wait for its end (it stays frozen meanwhile).
      const left = (slot.keepUntil ?? 0) - Date.now();
      if (left > 0) {
        slot.idleTimer = setTimeout(expire, left);
        slot.idleTimer.unref();
        return;
      }
      if (this.idle.remove(slot)) this.retire(slot);
    };
    // Taken for a request meanwhile (and perhaps parked again), or retired: not this park's to touch.
    const stillParked = () => slot.state === 'bound' && slot.parked === parked;
    const later = (f: () => void, ms: number) => {
      slot.idleTimer = setTimeout(f, ms);
      slot.idleTimer.unref();
    };
    if (keepAlive <= FREEZE_AFTER_MS) {
      later(expire, keepAlive);
      return;
    }
    const trimAt = this.trimAfterIdleMs;
    const trim = () => {
      if (!stillParked()) return;
      // Woken only to collect: a request that arrives meanwhile waits for the collection, and is not frozen by it.
      if (slot.frozen) {
        slot.env.thaw();
        slot.frozen = false;
      }
      slot.trimmedAt = slot.invocations;
      void slot.env.trimMemory(TRIM_TIMEOUT_MS).then(() => {
        if (stillParked()) slot.frozen = slot.env.freeze();
      });
      later(expire, keepAlive - trimAt);
    };
    later(() => {
      if (!stillParked()) return;
      slot.frozen = slot.env.freeze();
      const grew = slot.invocations - slot.trimmedAt >= TRIM_AFTER_INVOCATIONS;
      if (grew && keepAlive > trimAt) later(trim, trimAt - FREEZE_AFTER_MS);
      else later(expire, keepAlive - FREEZE_AFTER_MS);
    }, FREEZE_AFTER_MS);
  }

  /** A parked environment taken for a request: its timer stops, and it runs again if it was frozen. */
  wake(slot: EnvSlot): void {
    clearTimeout(slot.idleTimer);
    if (slot.frozen) {
      slot.env.thaw();
      slot.frozen = false;
    }
  }
}
