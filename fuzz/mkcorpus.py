#!/usr/bin/env python3
"""Regenerate the seed corpora in fuzz/corpus/ (they are committed; this
script documents how they were made).

Seeds from Debian's redis-server 7.0 (started on a unix socket only, no TCP
port): an RDB with every type in its small and large encodings, expiries
and two databases, one with compression off, one holding a stream (which
keyrail refuses cleanly), DUMP payloads of every key, and a small AOF
(manifest + incremental file with MULTI/EXEC and an annotation line).
Seeds from keyrail: the Redis RDB loaded and written back by keyrail's
writer, and keyrail's DUMP payloads (fuzz/seedgen, built with the fuzz
targets).

    fuzz/mkcorpus.py BUILD_DIR      # e.g. build-fuzz (after tools/fuzz.sh)
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            got = self.s.recv(65536)
            if not got:
                raise ConnectionError("server closed the connection")
            self.buf += got
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return rest
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            return [self._read() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self._read()


def fill(c):
    """Every type, small (listpack/intset/int) and large encodings."""
    c.cmd("CONFIG", "SET", "hash-max-listpack-entries", "4")
    c.cmd("CONFIG", "SET", "zset-max-listpack-entries", "4")
    c.cmd("CONFIG", "SET", "set-max-intset-entries", "4")
    c.cmd("CONFIG", "SET", "list-max-listpack-size", "4")
    c.cmd("SET", "s:int", "12345")
    c.cmd("SET", "s:neg", "-70000")
    c.cmd("SET", "s:big", "1234567890123")
    c.cmd("SET", "s:raw", "hello world")
    c.cmd("SET", "s:lzf", "a" * 120)
    c.cmd("SET", "s:ttl", "v", "PX", "86400000")
    c.cmd("RPUSH", "l:small", "a", "1", "b")
    c.cmd("RPUSH", "l:big", *["e%d" % i for i in range(12)], "x" * 40)
    c.cmd("SADD", "st:int", "1", "2", "3")
    c.cmd("SADD", "st:ht", "a", "b", "c", "d", "e", "f")
    c.cmd("SADD", "st:bigint", *[str(i * 1000003) for i in range(6)])
    c.cmd("ZADD", "z:small", "1", "a", "2.5", "b", "-inf", "c")
    c.cmd("ZADD", "z:big", *sum([[str(i / 3), "m%d" % i] for i in range(8)], []))
    c.cmd("HSET", "h:small", "f1", "v1", "f2", "2")
    c.cmd("HSET", "h:big", *sum([["f%d" % i, "v%d" % i] for i in range(7)], []))
    c.cmd("PFADD", "hll", "a", "b", "c")
    c.cmd("SELECT", "3")
    c.cmd("SET", "db3", "x")
    c.cmd("HSET", "h3", "a", "1")
    c.cmd("SELECT", "0")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build-fuzz"
    tmp = tempfile.mkdtemp(prefix="kr-corpus-")
    sock = os.path.join(tmp, "redis.sock")
    srv = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                            "--dir", tmp, "--save", "", "--appendonly", "no"],
                           stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        c = Conn(sock)
        fill(c)
        c.cmd("SAVE")
        rdb = open(os.path.join(tmp, "dump.rdb"), "rb").read()
        write("fuzz_rdb", "redis70-all-types.rdb", rdb)
        shutil.copy(os.path.join(tmp, "dump.rdb"), os.path.join(tmp, "redis.rdb"))
        c.cmd("CONFIG", "SET", "rdbcompression", "no")
        c.cmd("SAVE")
        write("fuzz_rdb", "redis70-nocompress.rdb", open(os.path.join(tmp, "dump.rdb"), "rb").read())
        keys = sorted(c.cmd("KEYS", "*"))
        for k in keys:
            write("fuzz_dump", "redis70-" + k.decode().replace(":", "-"), c.cmd("DUMP", k))
        c.cmd("XADD", "stream", "1-1", "f", "v")
        c.cmd("XADD", "stream", "2-1", "g", "w")
        c.cmd("SAVE")
        write("fuzz_rdb", "redis70-stream.rdb", open(os.path.join(tmp, "dump.rdb"), "rb").read())
        write("fuzz_dump", "redis70-stream", c.cmd("DUMP", "stream"))
        # AOF: turned on now, its base is an RDB preamble; write more after.
        c.cmd("CONFIG", "SET", "aof-use-rdb-preamble", "no")
        c.cmd("CONFIG", "SET", "appendonly", "yes")
        for _ in range(100):
            if c.cmd("INFO", "persistence").find(b"aof_rewrite_in_progress:0") >= 0 and \
               c.cmd("INFO", "persistence").find(b"aof_rewrite_scheduled:0") >= 0:
                break
            time.sleep(0.05)
        c.cmd("SET", "after", "1")
        c.cmd("MULTI")
        c.cmd("INCR", "after")
        c.cmd("LPUSH", "l:small", "z")
        c.cmd("EXEC")
        c.cmd("SELECT", "3")
        c.cmd("DEL", "db3")
        c.cmd("FLUSHALL")
        c.cmd("HSET", "h", "a", "b")
        time.sleep(1.2)   # appendfsync everysec
        adir = os.path.join(tmp, "appendonlydir")
        man = open(os.path.join(adir, "appendonly.aof.manifest"), "rb").read()
        write("fuzz_aof", "manifest-redis70", b"\x00" + man)
        for line in man.decode().splitlines():
            w = line.split()
            name, typ = w[1], w[5]
            data = open(os.path.join(adir, name), "rb").read()
            if typ == "i":
                write("fuzz_aof", "incr-redis70", b"\x01" + data)
                cut = data[:-7]   # ends inside a command: truncated on load
                write("fuzz_aof", "incr-redis70-cut", b"\x01" + cut)
            else:
                write("fuzz_aof", "base-redis70", b"\x02" + data)
        c.s.sendall(resp("SHUTDOWN", "NOSAVE"))   # no reply: it exits
    except (ConnectionError, RuntimeError):
        srv.kill()
        raise
    finally:
        srv.wait(timeout=10)
    # Hand-written: a manifest with history, quotes and a later-Redis key.
    write("fuzz_aof", "manifest-hist", b"\x00" +
          b'file appendonly.aof.2.base.rdb seq 2 type b\n'
          b'file "appendonly.aof.1.base.aof" seq 1 type h\n'
          b'file appendonly.aof.5.incr.aof seq 5 type i startoffset 10\n'
          b'# a comment\n'
          b'file appendonly.aof.6.incr.aof seq 6 type i\n')
    write("fuzz_aof", "annotated", b"\x01" + b"#TS:1700000000\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
          b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n#TS:1700000001\r\n"
          b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n")
    # keyrail's writer: the Redis file saved back, and keyrail's DUMPs.
    seedgen = os.path.join(build, "fuzz", "seedgen")
    subprocess.check_call([seedgen, os.path.join(tmp, "redis.rdb"),
                           os.path.join(CORPUS, "fuzz_rdb"), os.path.join(CORPUS, "fuzz_dump")])
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
