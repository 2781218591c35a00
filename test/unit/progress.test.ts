import { expect, test } from 'vitest'

import type { PassProgress } from '../../src/daemon/status.js'
import { progressView } from '../../src/lib/progress.js'

/** A stream that is not a TTY and keeps what is written. */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = ''
  const stream = {
    isTTY: false,
    write(chunk: string) {
      text += chunk
      return true
    },
  } as unknown as NodeJS.WriteStream
  return { stream, text: () => text }
}

function progress(sync: string, phase: PassProgress['phase'], files = 0): PassProgress {
  return { sync, phase, files, totalFiles: files, bytes: files * 1024, totalBytes: files * 1024 }
}

test('the closing lines name the pass and report only the syncs whose pass finished', () => {
  // Given one sync whose pass finished and one whose pass failed after its scan
  const out = capture()
  const view = progressView('initial sync', out.stream)
  view.update(progress('code', 'scan'))
  view.update(progress('code', 'done', 3))
  view.update(progress('assets', 'scan'))
  // When the view ends
  view.end()
  // Then one line reports the finished one, under the given name
  expect(out.text()).toMatch(
    /^dsync: code: initial sync done \(3 changes, [0-9.]+ MB\) in [0-9.]+ s\n$/,
  )
})

test('a pass with nothing to do reads "up to date"', () => {
  const out = capture()
  const view = progressView('sync', out.stream)
  view.update(progress('code', 'done', 0))
  view.end()
  expect(out.text()).toMatch(/^dsync: code: sync done \(up to date\) in [0-9.]+ s\n$/)
})
