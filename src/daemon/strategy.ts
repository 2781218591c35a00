/** The strategy of one sync target: the one place that maps a strategy name to its engine. */
import { RsyncStrategy } from '../strategies/rsync.js'
import type { Sidecar, SyncStrategy, SyncTarget } from '../strategies/types.js'

export function createStrategy(target: SyncTarget, sidecar: Sidecar): SyncStrategy {
  switch (target.strategy) {
    case 'rsync':
      return new RsyncStrategy(target, sidecar)
    case 'unison':
    case 'native_osx':
    case 'native':
      throw new Error(
        `the ${target.strategy} strategy has no sync engine in this version; use rsync`,
      )
  }
}
