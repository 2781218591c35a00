/**
 * The program that reads inotify for the Linux backend (inotify.ts): a few lines of Perl, run
 * as `perl -e`, since perl-base is part of every Debian and Ubuntu system and its `syscall`
 * reaches inotify_init1, inotify_add_watch and inotify_rm_watch without a compiler or a native
 * module. It keeps no paths: it streams raw events by watch descriptor, and node keeps the
 * descriptor-to-path map (so a rename moves every path below it at once, by construction).
 *
 * Commands, on stdin, each ending in NUL:
 * - `L<absolute folder>`: watch that folder, then list it;
 * - `R<descriptor>`: stop watching that descriptor.
 * Records, on stdout, five NUL-terminated fields each (type, three numbers, a name):
 * - `E wd mask cookie name`: an inotify event (name empty for the watched folder itself);
 * - `W wd 0 0 path`: the answer to `L` (wd negative: minus the errno), followed by one
 *   `d 0 0 0 name` or `f 0 0 0 name` per entry of the folder (`d`: a folder, not following
 *   links) and a `Z 0 0 0` that ends the listing;
 * - `X errno 0 0 message`: inotify could not be set up; the program then exits.
 * Before each `L` it writes every event already queued, so events that happened before a watch
 * came into being come before its `W`. It exits when stdin ends: when the daemon does, even if
 * killed.
 */

/** inotify_init1, inotify_add_watch, inotify_rm_watch per architecture (asm-generic or not). */
export const INOTIFY_SYSCALLS: Partial<
  Record<NodeJS.Architecture, readonly [number, number, number]>
> = {
  x64: [294, 254, 255],
  ia32: [332, 292, 293],
  arm64: [26, 27, 28],
  riscv64: [26, 27, 28],
  loong64: [26, 27, 28],
}

/** inotify(7) event bits. */
export const IN = {
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  UNMOUNT: 0x2000,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ISDIR: 0x40000000,
} as const

/**
 * What each watch asks for, plus IN_ONLYDIR | IN_DONT_FOLLOW (a link is not followed) |
 * IN_EXCL_UNLINK (no events for files already unlinked).
 */
const WATCH_MASK =
  IN.MODIFY |
  IN.ATTRIB |
  IN.CLOSE_WRITE |
  IN.MOVED_FROM |
  IN.MOVED_TO |
  IN.CREATE |
  IN.DELETE |
  IN.DELETE_SELF |
  IN.MOVE_SELF |
  0x01000000 |
  0x02000000 |
  0x04000000

export const HELPER = `
use strict; use warnings;
my ($init1, $add, $rm) = map { $_ + 0 } @ARGV;
my $MASK = ${WATCH_MASK};
my $out = '';
sub rec { $out .= join("\\0", @_) . "\\0" }
sub out { while (length $out) { my $n = syswrite(STDOUT, $out); exit 0 unless $n; substr($out, 0, $n) = '' } }
binmode STDIN; binmode STDOUT;
my $fd = syscall($init1, 04000 | 02000000);
if ($fd < 0) { rec('X', $! + 0, 0, 0, "inotify_init1: $!"); out(); exit 1 }
open(my $ino, '<&=', $fd) or do { rec('X', $! + 0, 0, 0, "inotify fd: $!"); out(); exit 1 };
binmode $ino;
sub events {
  while (1) {
    my $n = sysread($ino, my $buf, 262144);
    return unless $n;
    for (my $o = 0; $o + 16 <= $n;) {
      my ($wd, $mask, $cookie, $len) = unpack('l L L L', substr($buf, $o, 16));
      rec('E', $wd, $mask, $cookie, $len ? unpack('Z*', substr($buf, $o + 16, $len)) : '');
      $o += 16 + $len;
    }
  }
}
sub command {
  my ($op, $arg) = (substr($_[0], 0, 1), substr($_[0], 1));
  if ($op eq 'R') { syscall($rm, $fd, $arg + 0); return }
  return unless $op eq 'L';
  events();
  my $wd = syscall($add, $fd, $arg, $MASK);
  if ($wd < 0) { rec('W', -($! + 0), 0, 0, $arg) }
  else {
    rec('W', $wd, 0, 0, $arg);
    if (opendir(my $dh, $arg)) {
      while (defined(my $e = readdir $dh)) {
        next if $e eq '.' || $e eq '..';
        rec((lstat("$arg/$e") && -d _) ? 'd' : 'f', 0, 0, 0, $e);
      }
      closedir $dh;
    }
  }
  rec('Z', 0, 0, 0, '');
}
my $in = '';
while (1) {
  out();
  my $rin = ''; vec($rin, 0, 1) = 1; vec($rin, $fd, 1) = 1;
  next if select(my $rout = $rin, undef, undef, undef) < 0;
  events() if vec($rout, $fd, 1);
  next unless vec($rout, 0, 1);
  my $n = sysread(STDIN, my $buf, 65536);
  exit 0 unless $n;
  $in .= $buf;
  while ((my $i = index($in, "\\0")) >= 0) {
    command(substr($in, 0, $i));
    substr($in, 0, $i + 1) = '';
    out() if length $out > 262144;
  }
}
`

/** One record of the helper's output. */
export interface HelperRecord {
  type: string
  a: number
  b: number
  c: number
  name: string
}

/** Splits the helper's NUL-separated stream into records, across chunk boundaries. */
export class RecordParser {
  private partial: Buffer[] = []
  private fields: string[] = []

  push(chunk: Buffer): HelperRecord[] {
    const records: HelperRecord[] = []
    let start = 0
    for (let nul = chunk.indexOf(0, start); nul >= 0; nul = chunk.indexOf(0, start)) {
      this.partial.push(chunk.subarray(start, nul))
      this.fields.push(Buffer.concat(this.partial).toString('utf8'))
      this.partial = []
      start = nul + 1
      if (this.fields.length === 5) {
        const [type = '', a = '0', b = '0', c = '0', name = ''] = this.fields
        records.push({ type, a: Number(a), b: Number(b), c: Number(c), name })
        this.fields = []
      }
    }
    if (start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(start)))
    return records
  }
}
