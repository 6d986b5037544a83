import type { MaintenanceMode } from '../runtime/proxy.js';
import type { AppRuntime } from '../runtime/app-runtime.js';

/**
 * How long a request is held while the data changes (a backup's snapshot, a migration, a
 * restore) before it is answered 503. Past the hold a write is refused, never let through:
 * it could land on data that is then restored away.
 */
export const DATA_CHANGE_HOLD_MS = 60_000;

/** How long a held update waits for the writes already at the app to be answered. */
export const WRITES_SETTLE_MS = 30_000;

/**
 * The update's one writer of maintenance. It remembers the mode before the update (an
 * operator's maintenance stays on after it) and whether the hold in place is its own.
 */
export class MaintenanceWindow {
  private before: MaintenanceMode | null = null;
  private holding = false;

  constructor(private readonly runtime: Pick<AppRuntime, 'maintenance' | 'setMaintenance'> & Partial<Pick<AppRuntime, 'writesSettled'>>) {}

  /** the operator's maintenance, on before the update changed anything; null when it was off */
  operatorsMode(): MaintenanceMode | null {
    const before = this.modeBefore();
    return before.mode === 'off' ? null : before;
  }

  /** Holds writes (reads still served) unless an operator's maintenance is on; says whether it did. */
  holdWrites(): boolean {
    if (this.operatorsMode()) return false;
    this.hold('writes');
    return true;
  }

  /** Holds every request unless an operator's maintenance is on (the data is being swapped); says whether it did. */
  holdAll(): boolean {
    if (this.operatorsMode()) return false;
    this.hold('all');
    return true;
  }

  /** Holds requests whatever mode is on: an undo about to restore the data must not let a write through. */
  hold(scope: 'writes' | 'all'): void {
    this.modeBefore();
    this.runtime.setMaintenance({ mode: 'hold', holdMs: DATA_CHANGE_HOLD_MS, afterHold: 'refuse', ...(scope === 'writes' ? { writesOnly: true } : {}) });
    this.holding = true;
  }

  /**
   * After a hold: waits until the writes let through before it have been answered, so that a
   * snapshot or a restore that follows sees every write a client was told succeeded. False when
   * some were still running after WRITES_SETTLE_MS (the caller says so).
   */
  async settleWrites(): Promise<boolean> {
    return (await this.runtime.writesSettled?.(WRITES_SETTLE_MS)) ?? true;
  }

  /** Puts back the mode from before the update, when the hold in place is the update's own. */
  end(): void {
    if (!this.holding) return;
    this.runtime.setMaintenance(this.before ?? { mode: 'off' });
    this.holding = false;
  }

  isHolding(): boolean {
    return this.holding;
  }

  private modeBefore(): MaintenanceMode {
    this.before ??= this.runtime.maintenance();
    return this.before;
  }
}
