/**
 * Compose's variables: the `.env` file and the `${VAR:-default}` interpolation of the values of
 * compose files, with compose's rules, so that dsync reads the same values compose does.
 */
import { ownValue, setOwn } from '../lib/objects.js'

export type Env = Record<string, string | undefined>

/**
 * Parses a compose `.env` file. Values of `env` win over the file's own earlier variables when
 * interpolating, as in compose; the result holds only the file's variables.
 */
export function parseDotEnv(text: string, env: Env = {}): Record<string, string> {
  const vars: Record<string, string> = {}
  const lookup: Lookup = (name) => ownValue(env, name) ?? ownValue(vars, name)
  const src = text.replace(/\r\n?/g, '\n')
  let pos = 0
  let lineNo = 1
  while (pos < src.length) {
    const eol = src.indexOf('\n', pos)
    const line = src.slice(pos, eol === -1 ? src.length : eol)
    let next = eol === -1 ? src.length : eol + 1
    const trimmed = line.trim()
    const assign = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$/.exec(line)
    const key = assign?.[1]
    const rest = assign?.[2]
    if (trimmed === '' || trimmed.startsWith('#')) {
      // blank line or comment
    } else if (key === undefined) {
      throw new Error(`line ${lineNo}: expected KEY=VALUE, got "${trimmed}"`)
    } else if (rest === undefined) {
      // A bare `KEY` passes the variable through from the environment, if it is set.
      const inherited = ownValue(env, key)
      if (inherited !== undefined) setOwn(vars, key, inherited)
    } else if (rest.startsWith('"') || rest.startsWith("'")) {
      // Quoted values may span lines: scan from the opening quote to the closing one.
      const quote = rest[0]
      let i = pos + line.length - rest.length + 1
      let raw = ''
      for (; i < src.length && src[i] !== quote; i++) {
        // Keep escapes for unescapeDouble; skipping the escaped char keeps \" from closing.
        if (src[i] === '\\' && i + 1 < src.length) raw += src[i++]
        raw += src[i]
      }
      if (i >= src.length) throw new Error(`line ${lineNo}: unterminated ${quote} quote`)
      const tailEnd = src.indexOf('\n', i)
      next = tailEnd === -1 ? src.length : tailEnd + 1
      const tail = src.slice(i + 1, tailEnd === -1 ? src.length : tailEnd).trim()
      if (tail !== '' && !tail.startsWith('#')) {
        throw new Error(`line ${lineNo}: unexpected "${tail}" after the closing quote`)
      }
      setOwn(
        vars,
        key,
        quote === "'" ? raw.replace(/\\'/g, "'") : expand(unescapeDouble(raw), lookup),
      )
    } else {
      // An inline comment needs a space before the `#`, so `a#b` stays a value.
      setOwn(vars, key, expand(rest.replace(/(^|\s)#.*$/, '').trim(), lookup))
    }
    lineNo += src.slice(pos, next).split('\n').length - 1
    pos = next
  }
  return vars
}

/** Shell escapes of double-quoted .env values; `\$` stays a literal dollar through interpolation. */
function unescapeDouble(raw: string): string {
  const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$$' }
  return raw.replace(/\\(.)/gs, (whole, c: string) => map[c] ?? whole)
}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/

/**
 * Compose's interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`, `$$`. Defaults and
 * alternatives may nest (`${A:-${B}}`). An unset variable without default becomes "", as in
 * compose. Throws on a missing required variable or a malformed `${...}`.
 */
export function interpolate(value: string, env: Env): string {
  return expand(value, (name) => ownValue(env, name))
}

type Lookup = (name: string) => string | undefined

function expand(value: string, env: Lookup): string {
  let out = ''
  let i = 0
  while (i < value.length) {
    const dollar = value.indexOf('$', i)
    if (dollar === -1) {
      out += value.slice(i)
      break
    }
    out += value.slice(i, dollar)
    const next = value[dollar + 1]
    if (next === '$') {
      out += '$'
      i = dollar + 2
    } else if (next === '{') {
      const end = closingBrace(value, dollar + 2)
      if (end === -1) throw invalidTemplate(value.slice(dollar))
      out += substitute(value.slice(dollar + 2, end), env, value.slice(dollar, end + 1))
      i = end + 1
    } else {
      const name = NAME.exec(value.slice(dollar + 1))?.[0]
      // A `$` not followed by a name is literal text, as in compose (`cost: 5$`).
      out += name === undefined ? '$' : (env(name) ?? '')
      i = dollar + 1 + (name?.length ?? 0)
    }
  }
  return out
}

function closingBrace(value: string, from: number): number {
  let depth = 1
  for (let i = from; i < value.length; i++) {
    const c = value[i]
    if (c === '$' && value[i + 1] === '$') i++
    else if (c === '$' && value[i + 1] === '{') {
      depth++
      i++
    } else if (c === '}' && --depth === 0) return i
  }
  return -1
}

function substitute(body: string, env: Lookup, whole: string): string {
  const match = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body)
  const name = match?.[1]
  if (!match || name === undefined) throw invalidTemplate(whole)
  const op = match[2]
  const arg = match[3] ?? ''
  const current = env(name)
  const set = current !== undefined
  const nonEmpty = set && current !== ''
  switch (op) {
    case undefined:
      return current ?? ''
    case ':-':
      return nonEmpty ? current : expand(arg, env)
    case '-':
      return set ? current : expand(arg, env)
    case ':?':
    case '?': {
      if (op === ':?' ? nonEmpty : set) return current ?? ''
      const message = expand(arg, env)
      throw new Error(
        `required variable ${name} is missing a value${message ? `: ${message}` : ''}`,
      )
    }
    case ':+':
      return nonEmpty ? expand(arg, env) : ''
    case '+':
      return set ? expand(arg, env) : ''
    default:
      throw invalidTemplate(whole)
  }
}

function invalidTemplate(text: string): Error {
  return new Error(`invalid interpolation format "${text}": you may need to escape $ as $$`)
}
