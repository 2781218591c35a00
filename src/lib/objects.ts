/**
 * Plain-object helpers for values parsed from user files (YAML, .env), where any key may
 * appear, `__proto__` and `constructor` included.
 */

/** A map as YAML and JSON have them: an object that is neither null nor an array. */
export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Assigns without letting a `__proto__` key in user YAML reach the prototype. */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  })
}

/** Own keys only, so `constructor` and friends never resolve through the prototype. */
export function ownValue(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  return Object.hasOwn(env, name) ? env[name] : undefined
}
