import type { MaintenanceMode } from '../runtime/proxy.js';
import type { AppRuntime } from '../runtime/app-runtime.js';

/**
 * How long a request is held while the data changes (a backup's snapshot, a migration, a
 * restore) before it is answered 503. Past the hold a write is refused, never let through:
 * it could land on data that is then restored away.
 */
export const DATA_CHANGE_HOLD_MS = 60_000;

/**
 * The update's one writer of maintenance. It remembers the mode before the update (an
 * operator's maintenance stays on after it) and whether the hold in place is its own.
 */
export class MaintenanceWindow {
  private before: MaintenanceMode | null = null;
  private holding = false;

  constructor(private readonly runtime: Pick<AppRuntime, 'maintenance' | 'setMaintenance'>) {}

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
