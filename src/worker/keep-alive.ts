// Idle environments: parked for reuse, frozen after a short grace (as Lambda freezes them, so background
// work stops; back-to-back requests never pay the thaw), retired after keep-alive.
import type { EnvSlot } from './env-slot.js';
import type { IdleEnvironments } from './placement.js';

/** Idle time before an environment is frozen. */
const FREEZE_AFTER_MS = 1000;
/** How long the runtime may take to give back memory before it is frozen anyway. */
const TRIM_TIMEOUT_MS = 500;
/**
 * Requests served since the last trim before the next is asked for. A trimmed environment's next request
 * pays for it (measured: a lightly used environment's first request after 2 s idle 1.5-1.9x a hot one
 * where it was trimmed, 1.3x where it was not), and the young generation grows only under thousands.
 */
const TRIM_AFTER_INVOCATIONS = 1000;

export class KeepAlive {
  constructor(
    private readonly idle: IdleEnvironments,
    private readonly keepAliveMs: number,
    private readonly retire: (slot: EnvSlot) => void,
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
    if (keepAlive <= FREEZE_AFTER_MS) {
      slot.idleTimer = setTimeout(expire, keepAlive);
    } else {
      const freeze = () => {
        // Taken for a request meanwhile (and perhaps parked again), or retired: not this park's to freeze.
        if (slot.state !== 'bound' || slot.parked !== parked) return;
        slot.frozen = slot.env.freeze();
        slot.idleTimer = setTimeout(expire, keepAlive - FREEZE_AFTER_MS);
        slot.idleTimer.unref();
      };
      slot.idleTimer = setTimeout(() => {
        if (slot.state !== 'bound') return;
        if (slot.invocations - slot.trimmedAt < TRIM_AFTER_INVOCATIONS) return freeze();
        // Busy for a while: the runtime gives back what it grew into, then stops (frozen, it would hold it).
        slot.trimmedAt = slot.invocations;
        void slot.env.trimMemory(TRIM_TIMEOUT_MS).then(freeze);
      }, FREEZE_AFTER_MS);
    }
    slot.idleTimer.unref();
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
