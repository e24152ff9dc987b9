#!/usr/bin/env python3
"""Small RESP client for the DPDK end-to-end test (tests/dpdk/dpdk_e2e.sh).

Each subcommand drives a keyrail server at HOST:PORT, checks replies and
state, prints one summary line and exits 0, or prints what went wrong and
exits 1:

  bigval HOST PORT SIZE...   SET random values of SIZE bytes (k/m suffixes),
                             GET them back byte-identical, STRLEN, DEL
  conns HOST PORT N          N connections open at once: each SETs its own
                             key, then each GETs it back; INFO clients sees
                             them all; DBSIZE afterwards
  cycles HOST PORT N         N times: connect, PING, +PONG, close (4 clients
                             doing N/4 each)
  split HOST PORT N          N pipelined requests (SET/GET/INCR/APPEND of
                             values up to 5000 bytes, inline PINGs) sent in
                             pieces cut at random points, a pause between
                             pieces so each is its own segment; one SET sent
                             a byte at a time; every reply checked
"""
import os
import socket
import sys
import time

TIMEOUT_S = 60


class RespError(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT_S)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.s.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n" % len(a))
            out.append(a)
            out.append(b"\r\n")
        self.s.sendall(b"".join(out))

    def _fill(self):
        chunk = self.s.recv(4 * 1024 * 1024)
        if not chunk:
            raise RespError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data = bytes(self.buf[:n])
            del self.buf[:n + 2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RespError("bad reply type %r" % line[:20])

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


def expect(what, got, want):
    if got != want:
        shown = got if not isinstance(got, bytes) or len(got) < 80 else got[:80] + b"..."
        raise RespError("%s: got %r, want %r" % (what, shown, want))


def parse_size(s):
    mul = {"k": 1024, "m": 1024 * 1024}.get(s[-1:].lower(), 1)
    return int(s[:-1] if mul > 1 else s) * mul


def info_field(c, section, name):
    text = c.cmd("INFO", section)
    for line in text.decode().split("\r\n"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise RespError("INFO %s has no %s" % (section, name))


def bigval(host, port, sizes):
    c = Conn(host, port)
    for size in map(parse_size, sizes):
        key = "big:%d" % size
        val = os.urandom(size)
        t0 = time.monotonic()
        expect("SET %s" % key, c.cmd("SET", key, val), "OK")
        expect("STRLEN %s" % key, c.cmd("STRLEN", key), size)
        got = c.cmd("GET", key)
        dt = time.monotonic() - t0
        if got != val:
            raise RespError("GET %s: %s bytes back, first difference at %s" % (
                key, len(got) if got is not None else None,
                next((i for i, (a, b) in enumerate(zip(got or b"", val)) if a != b), "end")))
        expect("DEL %s" % key, c.cmd("DEL", key), 1)
        print("bigval: %d bytes SET+GET byte-identical in %.2f s" % (size, dt))
    c.close()


def conns(host, port, n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    cs = [Conn(host, port) for _ in range(n)]
    for i, c in enumerate(cs):
        c.send("SET", "conn:%d" % i, "v%d" % i)
    for i, c in enumerate(cs):
        expect("SET conn:%d" % i, c.reply(), "OK")
    for i, c in enumerate(cs):
        c.send("GET", "conn:%d" % i)
    for i, c in enumerate(cs):
        expect("GET conn:%d" % i, c.reply(), b"v%d" % i)
    probe = Conn(host, port)
    connected = int(info_field(probe, "clients", "connected_clients"))
    if connected < n + 1:
        raise RespError("INFO clients: connected_clients %d with %d open" % (connected, n + 1))
    for c in cs:
        c.close()
    keys = probe.cmd("DBSIZE")
    if keys < n:
        raise RespError("DBSIZE %d after %d connections each SET a key" % (keys, n))
    # Every connection the server saw close is gone from its count.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        connected = int(info_field(probe, "clients", "connected_clients"))
        if connected == 1:
            break
        time.sleep(0.05)
    expect("connected_clients after closing %d" % n, connected, 1)
    probe.close()
    print("conns: %d connections open at once, each SET and GET its key; all closed" % n)


def cycles(host, port, n, workers=4):
    import threading
    errors = []

    def run(first, count):
        try:
            for i in range(first, first + count):
                c = Conn(host, port)
                try:
                    expect("PING on connection %d" % i, c.cmd("PING"), "PONG")
                finally:
                    c.close()
        except (RespError, OSError) as e:
            errors.append(e)

    t0 = time.monotonic()
    per = n // workers
    threads = [threading.Thread(target=run, args=(w * per, per if w < workers - 1 else n - w * per))
               for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        raise errors[0]
    probe = Conn(host, port)
    expect("PING after the cycles", probe.cmd("PING"), "PONG")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        connected = int(info_field(probe, "clients", "connected_clients"))
        if connected == 1:
            break
        time.sleep(0.05)
    expect("connected_clients after %d cycles" % n, connected, 1)
    probe.close()
    print("cycles: %d connect/PING/close cycles (%d clients at a time) in %.1f s (%.0f/s)" % (
        n, workers, dt, n / dt))


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def split(host, port, n, seed=1234):
    import random
    rnd = random.Random(seed)
    c = Conn(host, port)
    expect("FLUSHALL", c.cmd("FLUSHALL"), "OK")
    # One SET, a byte per segment: every cut inside a request's framing.
    req = encode("SET", "split:bytewise", "hello world")
    for i in range(len(req)):
        c.s.sendall(req[i:i + 1])
        time.sleep(0.0005)
    expect("SET sent a byte at a time", c.reply(), "OK")
    expect("GET split:bytewise", c.cmd("GET", "split:bytewise"), b"hello world")
    # A pipeline with its own model of the replies.
    model, counters, wire, want = {}, {}, [], []
    for i in range(n):
        k = "split:%d" % rnd.randrange(50)
        op = rnd.randrange(5)
        if op == 0:
            v = bytes(rnd.randrange(256) for _ in range(rnd.choice((1, 10, 100, 1500, 5000))))
            wire.append(encode("SET", k, v))
            model[k] = v
            want.append("OK")
        elif op == 1:
            wire.append(encode("GET", k))
            want.append(model.get(k))
        elif op == 2:
            ck = "splitc:%d" % rnd.randrange(5)
            counters[ck] = counters.get(ck, 0) + 1
            wire.append(encode("INCR", ck))
            want.append(counters[ck])
        elif op == 3:
            v = b"x" * rnd.randrange(1, 200)
            model[k] = model.get(k, b"") + v
            wire.append(encode("APPEND", k, v))
            want.append(len(model[k]))
        else:
            wire.append(b"PING\r\n")
            want.append("PONG")
    data = b"".join(wire)
    pieces, at = 0, 0
    while at < len(data):
        size = rnd.choice((1, 2, 3, 7, 50, 700, 1448, 3000))
        c.s.sendall(data[at:at + size])
        at += size
        pieces += 1
        if pieces % 4 == 0:
            time.sleep(0.0005)
    for i, w in enumerate(want):
        expect("reply %d of %d" % (i + 1, n), c.reply(), w)
    for k, v in model.items():
        expect("GET %s after the pipeline" % k, c.cmd("GET", k), v)
    c.close()
    print("split: %d requests (%d bytes) in %d pieces, every reply right" % (
        n, len(data), pieces))


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, host, port = argv[1], argv[2], int(argv[3])
    try:
        if cmd == "bigval":
            bigval(host, port, argv[4:])
        elif cmd == "conns":
            conns(host, port, int(argv[4]))
        elif cmd == "cycles":
            cycles(host, port, int(argv[4]))
        elif cmd == "split":
            split(host, port, int(argv[4]))
        else:
            print("unknown subcommand %s" % cmd, file=sys.stderr)
            return 2
    except (RespError, OSError) as e:
        print("%s: FAILED: %s" % (cmd, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
