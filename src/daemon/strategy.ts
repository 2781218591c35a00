/** The strategy of one sync target: the one place that maps a strategy name to its engine. */
import type { SyncRecord } from '../strategies/record.js'
import { RsyncStrategy } from '../strategies/rsync.js'
import type { Sidecar, SyncStrategy, SyncTarget } from '../strategies/types.js'

export function createStrategy(
  target: SyncTarget,
  sidecar: Sidecar,
  record?: SyncRecord,
): SyncStrategy {
  switch (target.strategy) {
    case 'rsync':
      return new RsyncStrategy(target, sidecar, record)
    case 'unison':
    case 'native_osx':
    case 'native':
      throw new Error(
        `the ${target.strategy} strategy has no sync engine in this version; use rsync`,
      )
  }
}
