#!/usr/bin/env python3
"""Shrink a failing difftest sequence to a minimal reproduction.

    difftest ... --trace /tmp/t.resp          # a run that fails at its last step
    tools/difftest/minimize.py /tmp/t.resp --a-bin build/server/keyrail-server \
        [--shards 3] [--b-bin redis-server] [--ports 23600-23799] [--unordered]

The trace holds every step difftest sent to both servers (RESP commands);
the last one is the step that failed. This script starts A (keyrail: --port P
--shards N --bind 127.0.0.1) and B (redis-server, no persistence) on free
ports, replays candidate subsequences on both (FLUSHALL, SCRIPT FLUSH and
SELECT 0 in between; a crashed A is restarted) and keeps removing steps
(ddmin) while the failure stays: A's connection drops, A does not answer
within 5 s (a hang), or the replies to
the last step differ (byte for byte, or with --unordered as multisets of
array elements) while all earlier replies are equal. It prints the minimal sequence with both servers' replies.

Replays run without difftest's expiry gate: a failure that depends on a
short expiry may not shrink well. Exit 0 with a result, 1 if the full trace
does not fail on replay, 2 on usage or start-up trouble.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def parse_trace(data):
    """RESP arrays of bulk strings -> list of argument lists (bytes)."""
    cmds, i = [], 0
    while i < len(data):
        if data[i:i + 1] != b'*':
            raise ValueError('bad trace at byte %d' % i)
        j = data.index(b'\r\n', i)
        n = int(data[i + 1:j])
        i = j + 2
        args = []
        for _ in range(n):
            j = data.index(b'\r\n', i)
            ln = int(data[i + 1:j])
            i = j + 2
            args.append(data[i:i + ln])
            i += ln + 2
        cmds.append(args)
    return cmds


# difftest's key names (see build_keys in difftest.c); "" is one too but is
# also a common value, so it is left out of the slicing.
KEY_RE = re.compile(rb'^(k\d+|\{t\}k\d+|\{u\}k\d+|bin\x00\xff\r\n key)$')
# Steps that act on the whole keyspace or connection: always kept by the slice.
GLOBAL = {b'FLUSHDB', b'FLUSHALL', b'SWAPDB', b'SELECT', b'MULTI', b'EXEC', b'DISCARD',
          b'WATCH', b'UNWATCH', b'SCRIPT', b'EVALSHA', b'EVALSHA_RO'}


def key_slice(cmds, last):
    """The steps that touch the last step's keys, transitively (a step that
    touches a relevant key makes all its keys relevant), plus global ones."""
    rel = {a for a in last if KEY_RE.match(a)}
    keep = []
    for args in reversed(cmds):
        keys = {a for a in args if KEY_RE.match(a)}
        if args[0].upper() in GLOBAL or keys & rel:
            rel |= keys
            keep.append(args)
    return list(reversed(keep))


HANG_S = 5  # no reply for this long: a hang
# Replies difftest checks by other means than equality (random picks,
# cursors, times, encodings): never "an earlier difference".
LOOSE = {b'SPOP', b'SRANDMEMBER', b'HRANDFIELD', b'ZRANDMEMBER', b'RANDOMKEY', b'SCAN', b'SSCAN',
         b'HSCAN', b'ZSCAN', b'TTL', b'PTTL', b'EXPIRETIME', b'PEXPIRETIME', b'OBJECT',
         b'SMEMBERS',  # read back after SPOP, before difftest re-syncs the set
         b'PUBLISH', b'SPUBLISH', b'PUBSUB'}  # the subscriber's steps are not traced

BLOCKING_LAST = {b'BLPOP', b'BRPOP', b'BZPOPMIN', b'BZPOPMAX', b'BLMOVE', b'BRPOPLPUSH'}
BLOCKING_FIRST = {b'BLMPOP', b'BZMPOP'}


def unblock(args):
    """A blocking command with timeout 0 (difftest sends those only inside
    MULTI, where nothing blocks) gets 0.01 instead: once the search drops
    the MULTI around it, it must not block the replay forever."""
    name = args[0].upper()
    idx = len(args) - 1 if name in BLOCKING_LAST else 1 if name in BLOCKING_FIRST else None
    if idx is not None and 0 < idx < len(args) and args[idx] == b'0':
        args = args[:idx] + [b'0.01'] + args[idx + 1:]
    return args


def tolerated(args, ra):
    """An earlier step whose difference difftest accepts (or checks by
    other means): never "an earlier difference"."""
    name = args[0].upper()
    if name in LOOSE:
        return True
    if ra[0] == '-' and name in (b'BITCOUNT', b'BITPOS', b'LPOS'):
        return True  # known 7.0 vs 7.2 argument checks
    return ra[0] == '-' and ra[1].startswith(b'ERR SORT BY/GET pattern reached a key on another shard')


def encode(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=HANG_S)
        self.buf = b''

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError('closed')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError('closed')
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        """One reply as a tree: ('+', b), ('-', b), (':', int), ('$', b|None),
        ('*', list|None)."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b'+', b'-'):
            return (t.decode(), rest)
        if t == b':':
            return (':', int(rest))
        if t == b'$':
            n = int(rest)
            return ('$', None if n < 0 else self._bytes(n))
        if t == b'*':
            n = int(rest)
            return ('*', None if n < 0 else [self.reply() for _ in range(n)])
        raise ValueError('bad reply %r' % line)

    def call(self, args):
        self.s.sendall(encode(args))
        return self.reply()

    def close(self):
        self.s.close()


def render(r):
    t, v = r
    if t == '*':
        return '(nil array)' if v is None else '*%d [%s]' % (len(v), ', '.join(render(x) for x in v))
    if t == '$':
        return '(nil)' if v is None else repr(v)[1:]
    if t == ':':
        return ':%d' % v
    return t + v.decode('latin-1')


def canon(r, unordered):
    t, v = r
    if t == '*' and v is not None:
        items = [canon(x, unordered) for x in v]
        return ('*', tuple(sorted(items, key=repr) if unordered else items))
    return r


def show_cmd(args):
    out = []
    for a in args:
        s = repr(a)[2:-1]
        out.append(s if s and all(c.isalnum() or c in '-_.:{}' for c in s) else '"%s"' % s.replace('"', '\\"'))
    return ' '.join(out)


class Server:
    def __init__(self, name, argv_fn, ports, tmp):
        self.name, self.argv_fn, self.ports, self.tmp = name, argv_fn, ports, tmp
        self.proc, self.port = None, None

    def start(self):
        for port in self.ports:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
                continue  # taken
            except OSError:
                pass
            d = os.path.join(self.tmp, self.name)
            os.makedirs(d, exist_ok=True)
            log = open(os.path.join(d, 'log'), 'ab')
            self.proc = subprocess.Popen(self.argv_fn(port, d), cwd=d, stdout=log, stderr=log)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                try:
                    c = Conn(port)
                    if c.call([b'PING']) == ('+', b'PONG'):
                        c.close()
                        self.port = port
                        return
                    c.close()
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError('cannot start %s' % self.name)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def main():
    # A SIGTERM (timeout, kill) must still stop the servers started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('trace')
    ap.add_argument('--a-bin', required=True)
    ap.add_argument('--shards', default='1')
    ap.add_argument('--b-bin', default=shutil.which('redis-server') or 'redis-server')
    ap.add_argument('--ports', default='23600-23799')
    ap.add_argument('--unordered', action='store_true')
    ap.add_argument('--keep-last', type=int, default=0,
                    help='start from only the last N steps (faster for long traces)')
    o = ap.parse_args()

    cmds = [unblock(a) for a in parse_trace(open(o.trace, 'rb').read())]
    if not cmds:
        print('minimize: empty trace', file=sys.stderr)
        return 2
    # difftest's set-up steps (SELECT/FLUSHDB) are redone by reset().
    lo, hi = (int(x) for x in o.ports.split('-'))
    ports = list(range(lo, hi + 1))
    tmp = tempfile.mkdtemp(prefix='dtmin.')
    a_bin = os.path.abspath(o.a_bin)
    if os.path.basename(a_bin).startswith('redis-server'):
        a_argv = lambda p, d: [a_bin, '--port', str(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                               '--hz', '100', '--dir', d]
    else:
        a_argv = lambda p, d: [a_bin, '--port', str(p), '--shards', o.shards, '--bind', '127.0.0.1']
    b_argv = lambda p, d: [o.b_bin, '--port', str(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                           '--hz', '100', '--dir', d]
    srv = [Server('a', a_argv, ports, tmp), Server('b', b_argv, list(reversed(ports)), tmp)]
    trials = [0]

    def run(seq, show=False):
        """Replay seq on fresh data; return 'crash', 'diff', 'early' (an
        earlier step differs) or None. Pipelined in batches."""
        trials[0] += 1
        if trials[0] % 20 == 0:
            print('minimize: %d trials, %d steps' % (trials[0], len(seq)), file=sys.stderr, flush=True)
        for s in srv:
            if not s.alive():
                s.start()
        conns = []
        for s in srv:
            c = Conn(s.port)
            for reset in ([b'FLUSHALL'], [b'SCRIPT', b'FLUSH'], [b'SELECT', b'0']):
                c.call(reset)
            conns.append(c)
        verdict = None
        # Batches end after each SPOP, whose random pick is then copied
        # from A to B (difftest re-syncs the same way, but its trace holds
        # the re-sync for the picks of its own run).
        starts, start = [], 0
        while start < len(seq):
            end = start + 1
            while end < len(seq) and end - start < (1 if show else 256) and \
                    seq[end - 1][0].upper() != b'SPOP':
                end += 1
            starts.append((start, end))
            start = end
        for start, end in starts:
            part = seq[start:end]
            reps = [[], []]
            for i, c in enumerate(conns):
                try:
                    c.s.sendall(b''.join(encode(args) for args in part))
                except OSError:
                    pass
            for i, c in enumerate(conns):
                for _ in part:
                    try:
                        reps[i].append(c.reply())
                    except socket.timeout:
                        # A hangs (a failure of its own), or B blocks (the
                        # search removed what made a command return).
                        if show:
                            print('  %s -> (no reply from %s in %d s)'
                                  % (show_cmd(part[len(reps[i])]), 'A' if i == 0 else 'B', HANG_S))
                        for c2 in conns:
                            c2.close()
                        for s in srv:
                            s.stop()
                        return 'hang' if i == 0 else 'timeout'
                    except (ConnectionError, OSError):
                        if i == 1:
                            raise
                        reps[i].append(None)
                        break
            for j, args in enumerate(part):
                n = start + j
                ra = reps[0][j] if j < len(reps[0]) else None
                rb = reps[1][j]
                if show:
                    line = '  %s -> %s' % (show_cmd(args), render(ra) if ra else '(connection lost)')
                    if ra is None or ra != rb:
                        line += '   | redis: ' + render(rb)
                    print(line)
                if ra is None:
                    verdict = 'crash'
                    break
                if n == len(seq) - 1:
                    if canon(ra, o.unordered) != canon(rb, o.unordered):
                        verdict = 'diff'
                elif not tolerated(args, ra) and canon(ra, True) != canon(rb, True):
                    # Only a difference at the last step counts: an earlier
                    # one is another failure (the search must not drift to
                    # it). Compared loosely: difftest normalises many.
                    verdict = 'early'
                    if not show:
                        break
            if verdict in ('crash',) or (verdict and not show):
                break
            if part[-1][0].upper() == b'SPOP' and len(part[-1]) > 1:
                key = part[-1][1]
                members = conns[0].call([b'SMEMBERS', key])
                if members[0] == '*':
                    for c in conns:
                        c.call([b'DEL', key])
                        if members[1]:
                            c.call([b'SADD', key] + [m[1] for m in members[1]])
        for c in conns:
            c.close()
        return verdict

    try:
        if o.keep_last:
            cmds = cmds[-o.keep_last:]
        want = run(cmds)
        if want is None or want in ('early', 'timeout'):
            print('minimize: the trace does not fail at its last step on replay (%s; timing?)'
                  % (want or 'no difference'))
            return 1
        last = cmds[-1] if want == 'diff' else None

        def fails(seq):
            if want == 'diff':
                return run(seq + [last]) == 'diff'
            return run(seq) == want

        body = cmds[:-1] if want == 'diff' else cmds
        # First pass: only the steps that touch the failing step's keys.
        if want == 'diff':
            sliced = key_slice(body, last)
            if len(sliced) < len(body) and fails(sliced):
                body = sliced
        # Then chop off long prefixes (cheap), then ddmin.
        while len(body) > 8 and fails(body[len(body) // 2:]):
            body = body[len(body) // 2:]
        n = 2
        while len(body) >= 2:
            chunk = max(1, len(body) // n)
            reduced = False
            for start in range(0, len(body), chunk):
                cand = body[:start] + body[start + chunk:]
                if fails(cand):
                    body, n, reduced = cand, max(n - 1, 2), True
                    break
            if not reduced:
                if chunk == 1:
                    break
                n = min(len(body), n * 2)
        if len(body) == 1 and fails([]):
            body = []
        final = body + ([last] if last else [])
        print('minimize: %s reproduced with %d command(s) (%d trials), shards %s:' % (want, len(final), trials[0], o.shards))
        run(final, show=True)
        return 0
    finally:
        for s in srv:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
