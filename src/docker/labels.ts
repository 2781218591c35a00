/** Labels on everything dsync creates, so it can be found (and removed) by label. */
export const LABEL_PREFIX = 'dev.dsync'
export const LABEL_ROLE = `${LABEL_PREFIX}.role`
export const LABEL_PROJECT = `${LABEL_PREFIX}.project`
export const LABEL_SYNC = `${LABEL_PREFIX}.sync`
export const ROLE_SIDECAR = 'sidecar'
export const ROLE_VOLUME = 'sync-volume'

/** The compose service name of the sync sidecar. */
export const SIDECAR_SERVICE = 'dsync-sync'
/** Where each sync volume is mounted in the sidecar. */
export const SIDECAR_SYNC_ROOT = '/sync'
/** Where native_osx mounts the host folder in the sidecar. */
export const SIDECAR_HOST_ROOT = '/host'
