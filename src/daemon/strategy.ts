/** The strategy of one sync target: the one place that maps a strategy name to its engine. */
import { NativeOsxStrategy } from '../strategies/native-osx.js'
import type { SyncRecord } from '../strategies/record.js'
import { RsyncStrategy } from '../strategies/rsync.js'
import type { Sidecar, SyncStrategy, SyncTarget } from '../strategies/types.js'
import { UnisonStrategy } from '../strategies/unison.js'

export function createStrategy(
  target: SyncTarget,
  sidecar: Sidecar,
  record?: SyncRecord,
  stateDir?: string,
): SyncStrategy {
  switch (target.strategy) {
    case 'rsync':
      return new RsyncStrategy(target, sidecar, record)
    case 'native_osx':
      return new NativeOsxStrategy(target, sidecar)
    case 'unison':
      if (!stateDir) throw new Error('the unison strategy keeps its archive in the state folder')
      return new UnisonStrategy(target, sidecar, stateDir)
    case 'native':
      throw new Error(
        `the ${target.strategy} strategy has no sync engine in this version; use rsync`,
      )
  }
}
