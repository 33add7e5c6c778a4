"""
Reads the output of `strace -f -tt -s N -o FILE` and turns it into a list
of events with what the test needs to know: which program did it (from
execve), which file an fd stands for (from open/openat results, following
fork/clone: threads share their fd table, processes copy it).

Handles strace -f's pid prefixes and the "<unfinished ...>" /
"<... name resumed>" pairs: an event has the index of the line where the
call started and of the line where it returned, so "A happened before B"
is A.end < B.start.
"""

import os
import re

LINE = re.compile(r"^(\d+)\s+(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+)?(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\((.*)$", re.S)
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$", re.S)
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
AT_FDCWD = "AT_FDCWD"


class Call:
    __slots__ = ("start", "end", "tid", "name", "args", "ret")

    def __init__(self, start, end, tid, name, args, ret):
        self.start, self.end, self.tid = start, end, tid
        self.name, self.args, self.ret = name, args, ret

    def ret_int(self):
        m = re.match(r"-?\d+", self.ret or "")
        return int(m.group(0)) if m else None

    def first_int(self):
        m = re.match(r"\s*(-?\d+)", self.args)
        return int(m.group(1)) if m else None

    def strings(self):
        return [unescape(s) for s in STRING.findall(self.args)]


def unescape(s):
    out = s.replace('\\"', '"').replace("\\\\", "\\")
    out = re.sub(r"\\r", "\r", out)
    out = re.sub(r"\\n", "\n", out)
    out = re.sub(r"\\t", "\t", out)
    return out


def after_first_string(args):
    m = STRING.search(args)
    return args[m.end():] if m else ""


def parse_calls(text):
    """Complete system calls, in the order strace finished them."""
    calls = []
    pending = {}
    for idx, raw in enumerate(text.splitlines()):
        m = LINE.match(raw)
        if not m:
            continue
        tid, rest = int(m.group(1)), m.group(2)
        if rest.startswith("---") or rest.startswith("+++"):
            continue
        r = RESUMED.match(rest)
        if r:
            p = pending.pop(tid, None)
            if p is None:
                continue
            start, name, args = p
            body = args + r.group(2)
        else:
            c = CALL.match(rest)
            if not c:
                continue
            name, body, start = c.group(1), c.group(2), idx
            if body.endswith("<unfinished ...>"):
                pending[tid] = (idx, name, body[:-len("<unfinished ...>")])
                continue
        cut = body.rfind(") = ")
        if cut < 0:
            cut = body.rfind(") ")      # "= ?" of an exiting call
            args, ret = body[:cut], None
        else:
            args, ret = body[:cut], body[cut + 4:]
        calls.append(Call(start, idx, tid, name, args, ret))
    return calls


class Event:
    __slots__ = ("start", "end", "tid", "proc", "kind", "path", "flags",
                 "old", "new", "data", "name")

    def __init__(self, call, proc, kind, **kw):
        self.start, self.end, self.tid = call.start, call.end, call.tid
        self.proc, self.kind, self.name = proc, kind, call.name
        self.path = self.flags = self.old = self.new = self.data = None
        for k, v in kw.items():
            setattr(self, k, v)

    def __repr__(self):
        return "<%s %s %s@%d-%d %s%s>" % (
            self.proc, self.name, self.kind, self.start, self.end,
            self.path or "", (" %s -> %s" % (self.old, self.new))
            if self.kind == "rename" else "")


def norm(path):
    return os.path.normpath(path) if path else path


class Trace:
    SYNC = ("fsync", "fdatasync")
    WRITE = ("write", "writev", "sendmsg", "sendto", "pwrite64", "pwritev",
             "send")

    def __init__(self, text):
        self.calls = parse_calls(text)
        self.events = []
        self.tables = {}        # tid -> {fd: (path, flags)}
        self.procs = {}         # tid -> program name
        self.clones = {}        # child tid -> (parent tid, shares fds)
        for c in self.calls:
            if c.name in ("clone", "clone3", "fork", "vfork"):
                child = c.ret_int()
                if child and child > 0:
                    self.clones[child] = (c.tid, "CLONE_FILES" in c.args)
        for c in self.calls:
            self._event(c)

    def _table(self, tid):
        if tid not in self.tables:
            parent = self.clones.get(tid)
            if parent:
                ptab = self._table(parent[0])
                self.tables[tid] = ptab if parent[1] else dict(ptab)
                self.procs.setdefault(tid, self.procs.get(parent[0], "?"))
            else:
                self.tables[tid] = {}
                self.procs.setdefault(tid, "?")
        return self.tables[tid]

    def _resolve(self, tab, dirfd, path):
        if path.startswith("/") or dirfd in (None, AT_FDCWD):
            return norm(path)
        try:
            base = tab.get(int(dirfd), (None,))[0]
        except ValueError:
            base = None
        return norm(os.path.join(base, path)) if base else norm(path)

    def _event(self, c):
        tab = self._table(c.tid)
        proc = self.procs[c.tid]
        args = [a.strip() for a in c.args.split(",")]
        if c.name == "execve":
            if c.ret_int() == 0 and c.strings():
                self.procs[c.tid] = os.path.basename(c.strings()[0])
                for fd in [fd for fd, (p, fl) in tab.items()
                           if "O_CLOEXEC" in fl]:
                    del tab[fd]
            return
        if c.name == "close":
            tab.pop(c.first_int(), None)
            return
        if c.name in ("open", "openat"):
            fd = c.ret_int()
            if fd is None or fd < 0 or not c.strings():
                return
            after = after_first_string(c.args).split(",")
            flags = after[1].strip() if len(after) > 1 else ""
            if c.name == "openat":
                path = self._resolve(tab, args[0], c.strings()[0])
            else:
                path = norm(c.strings()[0])
            tab[fd] = (path, flags)
            self.events.append(Event(c, proc, "open", path=path,
                                     flags=flags))
            return
        if c.name in self.SYNC:
            fd = c.first_int()
            path, flags = tab.get(fd, (None, ""))
            self.events.append(Event(c, proc, "sync", path=path))
            return
        if c.name == "msync":
            self.events.append(Event(c, proc, "msync"))
            return
        if c.name in ("rename", "renameat", "renameat2"):
            s = c.strings()
            if len(s) < 2 or c.ret_int() != 0:
                return
            if c.name == "rename":
                old, new = norm(s[0]), norm(s[1])
            else:
                old = self._resolve(tab, args[0], s[0])
                # the second dirfd follows the first path
                rest = after_first_string(c.args).split(",")
                d2 = rest[1].strip() if len(rest) > 1 else None
                new = self._resolve(tab, d2, s[1])
            self.events.append(Event(c, proc, "rename", old=old, new=new))
            return
        if c.name in self.WRITE:
            fd = c.first_int()
            path, flags = tab.get(fd, (None, ""))
            self.events.append(Event(c, proc, "write", path=path,
                                     flags=flags, data="".join(c.strings())))
            if path and ("O_DSYNC" in flags or "O_SYNC" in flags):
                self.events.append(Event(c, proc, "sync", path=path))

    # --- queries -----------------------------------------------------
    def find(self, proc=None, kind=None, after=None, pred=None):
        """Events of proc and kind that start after event `after` ended."""
        for e in self.events:
            if proc and e.proc != proc:
                continue
            if kind and e.kind != kind:
                continue
            if after is not None and e.start <= after.end:
                continue
            if pred and not pred(e):
                continue
            yield e

    def first(self, **kw):
        return next(self.find(**kw), None)

    def programs(self):
        return sorted(set(self.procs.values()))
