"""POP3 benchmark pieces: a generated Maildir, a fast raw POP3 client
(STAT, LIST, UIDL, RETR of every message, optionally pipelined), the
facteur and Dovecot targets serving the same Maildirs, and process memory
(RSS and PSS summed from /proc)."""

import os
import random
import socket
import sys
import time

from .common import BenchError, DOMAIN, chown_tree, free_port
from .facteur import Facteur, password_hash

HERE = os.path.dirname(os.path.abspath(__file__))
# the Dovecot helper of the integration tests, shared
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests",
                                "integration"))
import dovecot_instance  # noqa: E402

HOST = "mail.example.test"


# --- the Maildir -----------------------------------------------------------
def make_message(rng, n, size):
    words = ("lorem", "ipsum", "dolor", "sit", "amet", "facteur", "pop3",
             "maildir", "courrier", "lettre", ".dot", "x" * 20)
    head = ("Return-Path: <sender@example.test>\n"
            "Delivered-To: alice@example.test\n"
            "Received: from client.example.test ([127.0.0.1]) by %s "
            "with ESMTP id %016X; Mon, 1 Jan 2024 00:00:00 +0000\n"
            "From: sender@example.test\nTo: alice@example.test\n"
            "Subject: benchmark message %d\n"
            "Message-ID: <bench-%d@example.test>\n\n" % (HOST, n, n, n))
    out = [head]
    total = len(head)
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        out.append(line + "\n")
        total += len(line) + 1
    return "".join(out).encode()


def fill_maildir(maildir, count, size, uid, gid, seed=1):
    """count messages of about size bytes (sizes spread 0.25x..1.75x) in
    maildir/new, named as facteur's deliver names them. Returns (count,
    total octets as POP3 counts them, with CRLF)."""
    rng = random.Random(seed)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    base = 1700000000
    total = 0
    for n in range(count):
        data = make_message(rng, n, rng.randint(size // 4, size * 7 // 4))
        w = len(data) + data.count(b"\n")
        total += w
        name = "%d.%016X_0.%s,S=%d,W=%d" % (base + n // 100, n + 1, HOST,
                                           len(data), w)
        with open(os.path.join(maildir, "new", name), "wb") as f:
            f.write(data)
    chown_tree(maildir, uid, gid)
    return count, total


# --- the client ------------------------------------------------------------
class Client:
    def __init__(self, port, timeout=120):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        self.buf = b""
        self.status()

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise BenchError("server closed the connection")
        self.buf += chunk

    def status(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        if not line.startswith(b"+OK"):
            raise BenchError("POP3 error: %r" % line[:200])
        return line

    def multi(self):
        """Status line and the data up to CRLF.CRLF (still stuffed)."""
        st = self.status()
        if self.buf.startswith(b".\r\n"):
            self.buf = self.buf[3:]
            return st, b""
        start = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                data, self.buf = self.buf[:i + 2], self.buf[i + 5:]
                return st, data
            start = max(0, len(self.buf) - 4)
            self._fill()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def login(self, user, password):
        self.cmd("USER " + user)
        self.status()
        self.cmd("PASS " + password)
        self.status()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def unstuffed_len(data):
    """Octets of a multi-line response's data once unstuffed."""
    return len(data) - data.count(b"\r\n..") - (1 if data.startswith(b"..")
                                                else 0)


def download_all(port, user, password, window=1):
    """One session: login, STAT, LIST, UIDL, RETR 1..n (window commands in
    flight), QUIT. Returns {phase: seconds} and the checks."""
    t = {}
    t0 = time.perf_counter()
    c = Client(port)
    c.login(user, password)
    t["login"] = time.perf_counter() - t0
    c.cmd("STAT")
    st = c.status().split()
    count, octets = int(st[1]), int(st[2])
    t1 = time.perf_counter()
    c.cmd("LIST")
    _, listing = c.multi()
    c.cmd("UIDL")
    _, uidl = c.multi()
    t["stat_list_uidl"] = time.perf_counter() - t1
    sizes = [int(x.split()[1]) for x in listing.split(b"\r\n") if x]
    if len(sizes) != count or sum(sizes) != octets:
        raise BenchError("LIST disagrees with STAT")
    if len([x for x in uidl.split(b"\r\n") if x]) != count:
        raise BenchError("UIDL has not one line per message")
    t2 = time.perf_counter()
    got = 0
    sent = 0
    done = 0
    while done < count:
        while sent < count and sent - done < window:
            sent += 1
            c.cmd("RETR %d" % sent)
        _, data = c.multi()
        n = unstuffed_len(data)
        if n != sizes[done]:
            raise BenchError("RETR %d: %d octets, LIST said %d" % (
                done + 1, n, sizes[done]))
        got += n
        done += 1
    t["retr"] = time.perf_counter() - t2
    c.cmd("QUIT")
    c.status()
    c.close()
    t["session"] = time.perf_counter() - t0
    return t, count, got


# --- memory ----------------------------------------------------------------
def tree(root_pid):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if rest[0] != "Z":
            children.setdefault(int(rest[1]), []).append(int(name))
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def memory(pids):
    """(RSS kB, PSS kB, process count) summed over pids."""
    rss = pss = n = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            pass
    return rss, pss, n


def idle_sessions(port, users, password_of):
    """Logs in one session per user, STAT, and leaves it open."""
    out = []
    for u in users:
        c = Client(port, timeout=60)
        c.login(u, password_of(u))
        c.cmd("STAT")
        c.status()
        out.append(c)
    return out


# --- targets ---------------------------------------------------------------
class FacteurPop3(Facteur):
    """facteur with a pop3 listener and extra accounts."""

    def __init__(self, topdir, prefix, user, uid, gid, accounts,
                 sessions):
        super().__init__(topdir, prefix, user, uid, gid,
                         max_sessions=sessions + 50)
        self.pop3_port = free_port()
        self.accounts = accounts    # {address: password}

    def setup(self):
        super().setup()
        with open(self.conf, "a") as f:
            f.write("pop3_listen = 127.0.0.1:%d\n" % self.pop3_port)
            f.write("pop3.max_sessions = %d\n" % self.max_sessions)
            f.write("pop3.max_sessions_per_ip = %d\n" % self.max_sessions)
        with open(os.path.join(self.dir, "users"), "w") as f:
            for addr, pw in self.accounts.items():
                f.write("%s:%s\n" % (addr, password_hash(pw)))
        chown_tree(self.dir, self.uid, self.gid)

    def start(self):
        super().start()
        wait_pop3(self.pop3_port, self.proc)

    def maildir(self, local):
        return os.path.join(self.dir, "mail", DOMAIN, local)

    def pids(self):
        return tree(self.proc.pid)

    def pop_pids(self):
        out = []
        for p in tree(self.proc.pid):
            try:
                with open("/proc/%d/comm" % p) as f:
                    if f.read().strip().startswith("popd"):
                        out.append(p)
            except OSError:
                pass
        return out


class DovecotPop3:
    name = "dovecot"

    def __init__(self, users, workdir, sessions):
        self.d = dovecot_instance.Dovecot(users, workdir=workdir,
                                          process_limit=sessions + 50)
        self.pop3_port = self.d.port

    def start(self):
        self.d.start()

    def stop(self):
        self.d.cleanup()

    def pids(self):
        return self.d.pids()

    def describe(self):
        import subprocess
        v = subprocess.run([dovecot_instance.DOVECOT, "--version"],
                           capture_output=True, text=True).stdout.strip()
        return "Dovecot %s (private instance, %s)" % (v, self.d.conf)


def wait_pop3(port, proc=None, timeout=30.0):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BenchError("server exited before listening on %d" % port)
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as s:
                s.settimeout(5)
                line = s.recv(512)
                if line.startswith(b"+OK"):
                    s.sendall(b"QUIT\r\n")
                    return
                last = line
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise BenchError("no +OK greeting on 127.0.0.1:%d (%s)" % (port, last))
