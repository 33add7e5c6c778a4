"""
The commit order, proven from system calls (DESIGN.md "The spool",
TESTING.md "Durability, proven"). facteurd runs under strace -f; three
messages are sent at once; then, for each queue id:
  queue:  fsync(tmp/ID) < rename(tmp/ID, queue/ID) < fsync(queue/)
          < LMDB sync (fsync/fdatasync of queue.lmdb, a write on its
            O_DSYNC fd, or msync) < smtpd writes "250 ... queued as ID"
and for each delivery:
  deliver: fsync(.../tmp/F) < rename(.../tmp/F, .../new/F)
           < fsync(.../new) < the result sent back (naming F).
"""

import os
import re
import shutil
import smtplib
import threading

import pytest

from strace_log import Trace

USERS = ("alice", "bob", "carol")


@pytest.fixture
def traced(make_instance, tmp_path):
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed")
    out = str(tmp_path / "strace.out")
    inst = make_instance(strace=out)
    return inst, out


def send_three(inst):
    errors = []

    def one(i):
        try:
            with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
                s.sendmail("alice@example.test",
                           ["%s@example.test" % USERS[i]],
                           "Subject: traced %d\r\n\r\nbody %d\r\n" % (i, i))
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for u in USERS:
        inst.wait_for_delivery(u, 1, timeout=30)


def is_lmdb(e):
    return (e.path and "queue.lmdb" in e.path
            and "lock" not in os.path.basename(e.path))


def is_result(e, base):
    """A frame on a channel naming the stored file, not a log line."""
    return (e.path is None and base in (e.data or "")
            and "to=<" not in e.data)


# the reply on the client socket (smtpd's log lines quote it too, but not
# at the start of a line and without the CRLF)
REPLY_250 = r"(?:^|\n)250 2\.0\.0 Ok: queued as (%s)\r\n"


def queued_ids(trace):
    ids = set()
    for e in trace.find(proc="smtpd", kind="write"):
        ids.update(re.findall(REPLY_250 % "[0-9A-F]{16}", e.data or ""))
    return ids


def lmdb_commit(trace, after):
    """The first LMDB commit made durable after event `after`: its pages
    synced (fsync/fdatasync of queue.lmdb, or msync), then its meta page
    written through the O_DSYNC fd or synced by a later fsync."""
    data = trace.first(proc="queue", after=after,
                       pred=lambda e: e.kind == "msync" or
                       (e.kind == "sync" and e.name in Trace.SYNC and
                        is_lmdb(e)))
    if data is None:
        return None
    if data.kind == "msync":
        return data
    meta = trace.first(proc="queue", after=data,
                       pred=lambda e: is_lmdb(e) and e.kind in ("sync",
                                                                "write"))
    if meta is None:
        return None
    if "O_DSYNC" in (meta.flags or "") or "O_SYNC" in (meta.flags or ""):
        return meta
    return trace.first(proc="queue", kind="sync", after=meta,
                       pred=lambda e: e.name in Trace.SYNC and is_lmdb(e))


def commit_problems(trace, qid):
    tmp = "tmp/" + qid
    fsync = trace.first(proc="queue", kind="sync",
                        pred=lambda e: e.path and e.path.endswith(tmp))
    if not fsync:
        return "%s: no fsync of %s in queue" % (qid, tmp)
    ren = trace.first(proc="queue", kind="rename",
                      pred=lambda e: e.old.endswith(tmp) and
                      e.new.endswith("queue/" + qid))
    if not ren:
        return "%s: no rename %s -> queue/%s" % (qid, tmp, qid)
    if not fsync.end < ren.start:
        return "%s: rename before the file fsync: %r %r" % (qid, fsync, ren)
    dsync = trace.first(proc="queue", kind="sync", after=ren,
                        pred=lambda e: e.path and
                        os.path.basename(e.path) == "queue")
    if not dsync:
        return "%s: no fsync of queue/ after the rename %r" % (qid, ren)
    commit = lmdb_commit(trace, dsync)
    if not commit:
        return "%s: no synced LMDB commit after the queue/ fsync" % qid
    w250 = trace.first(proc="smtpd", kind="write",
                       pred=lambda e: re.search(REPLY_250 % qid,
                                                e.data or ""))
    if not w250 or not commit.end < w250.start:
        return ("%s: 250 written before the commit was durable: "
                "%r %r %r %r %r" % (qid, fsync, ren, dsync, commit, w250))
    return None


def delivery_problems(trace, ren):
    fsync = [e for e in trace.find(proc="deliver", kind="sync")
             if e.path == ren.old and e.end < ren.start]
    if not fsync:
        return "deliver: no fsync of %s before its rename" % ren.old
    newdir = os.path.dirname(ren.new)
    nsync = trace.first(proc="deliver", kind="sync", after=ren,
                        pred=lambda e: e.path == newdir)
    if not nsync:
        return "deliver: no fsync of %s after %r" % (newdir, ren)
    base = os.path.basename(ren.new).split(":2,")[0]
    if not trace.first(proc="deliver", kind="write", after=nsync,
                       pred=lambda e: is_result(e, base)):
        return "deliver: result for %s not sent after the fsync of " \
            "new/" % base
    early = trace.first(proc="deliver", kind="write",
                        pred=lambda e: is_result(e, base) and
                        e.start < nsync.end)
    if early:
        return "deliver: result sent before new/ was synced: %r" % early
    return None


def deliveries(trace):
    return list(trace.find(proc="deliver", kind="rename",
                           pred=lambda e: "/tmp/" in e.old and
                           "/new/" in e.new))


def test_commit_and_delivery_order(traced):
    inst, out = traced
    send_three(inst)
    inst.stop()
    with open(out, errors="replace") as f:
        trace = Trace(f.read())
    assert {"smtpd", "queue", "deliver"} <= set(trace.programs()), \
        trace.programs()
    ids = queued_ids(trace)
    assert len(ids) == 3, "queued ids written by smtpd: %s" % ids
    problems = [commit_problems(trace, qid) for qid in sorted(ids)]
    renames = deliveries(trace)
    assert len(renames) == 3, "deliver renames tmp -> new: %s" % renames
    problems += [delivery_problems(trace, ren) for ren in renames]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


# A hand-written trace in strace -f's format, in the right order: the
# checks above must pass on it and fail on each reordering below.
GOOD = """\
10 12:00:00.000001 execve("/p/libexec/facteur/queue", ["queue"], 0x1) = 0
11 12:00:00.000001 execve("/p/libexec/facteur/smtpd", ["smtpd"], 0x1) = 0
12 12:00:00.000001 execve("/p/libexec/facteur/deliver", ["deliver"], 0x1) = 0
10 12:00:00.000002 openat(AT_FDCWD, "queue", O_RDONLY|O_DIRECTORY) = 5
10 12:00:00.000003 openat(AT_FDCWD, "queue.lmdb", O_RDWR|O_CREAT, 0600) = 6
10 12:00:00.000003 openat(AT_FDCWD, "queue.lmdb", O_WRONLY|O_DSYNC) = 7
10 12:00:00.000004 clone3({flags=CLONE_VM|CLONE_FILES|CLONE_THREAD}, 88 <unfinished ...>
13 12:00:00.000005 openat(AT_FDCWD, "tmp/00000000000000AA", O_WRONLY|O_CREAT|O_EXCL, 0600) = 8
10 12:00:00.000006 <... clone3 resumed>) = 13
13 12:00:00.000007 fsync(8 <unfinished ...>
10 12:00:00.000008 write(1, "x", 1) = 1
13 12:00:00.000009 <... fsync resumed>) = 0
10 12:00:00.000010 rename("tmp/00000000000000AA", "queue/00000000000000AA") = 0
10 12:00:00.000011 fsync(5) = 0
10 12:00:00.000012 pwrite64(6, "\\0\\0", 2, 8192) = 2
10 12:00:00.000013 fdatasync(6) = 0
10 12:00:00.000014 pwrite64(7, "\\0\\0", 2, 0) = 2
11 12:00:00.000015 writev(9, [{iov_base="250 2.0.0 Ok: queued as 00000000000000AA\\r\\n", iov_len=42}], 1) = 42
12 12:00:00.000016 openat(AT_FDCWD, "example.test/bob/tmp/1.00000000000000AA_0.h", O_WRONLY|O_CREAT|O_EXCL, 0600) = 4
12 12:00:00.000017 fsync(4) = 0
12 12:00:00.000018 rename("example.test/bob/tmp/1.00000000000000AA_0.h", "example.test/bob/new/1.00000000000000AA_0.h,S=1,W=2") = 0
12 12:00:00.000019 close(4) = 0
12 12:00:00.000020 openat(AT_FDCWD, "example.test/bob/new", O_RDONLY|O_DIRECTORY) = 4
12 12:00:00.000021 fsync(4) = 0
12 12:00:00.000022 sendmsg(3, {msg_iov=[{iov_base="-\\1\\0\\0001.00000000000000AA_0.h,S=1,W=2", iov_len=40}]}, 0) = 40
"""


def check_text(text):
    trace = Trace(text)
    ids = queued_ids(trace)
    assert ids == {"00000000000000AA"}
    renames = deliveries(trace)
    assert len(renames) == 1
    return [p for p in [commit_problems(trace, "00000000000000AA"),
                        delivery_problems(trace, renames[0])] if p]


def move_after(text, what, anchor):
    """text with the line containing `what` moved after the one with
    `anchor`."""
    lines = text.splitlines(keepends=True)
    i = next(n for n, x in enumerate(lines) if what in x)
    line = lines.pop(i)
    j = next(n for n, x in enumerate(lines) if anchor in x)
    lines.insert(j + 1, line)
    return "".join(lines)


def test_order_checks_catch_reordering():
    assert check_text(GOOD) == []
    bad = {
        "file fsync after rename": ("<... fsync resumed>", "rename(\"tmp"),
        "dir fsync before rename": ("fsync(5)", "clone3"),
        "LMDB sync after the 250": ("fdatasync(6)", "queued as"),
        "meta write after the 250": ("pwrite64(7", "queued as"),
        "250 before the rename": ("queued as", "clone3"),
        "Maildir fsync after rename": ("fsync(4) = 0", "new/1."),
        "result before new/ fsync": ("sendmsg(3", "new\", O_RDONLY"),
    }
    for why, (what, anchor) in bad.items():
        assert check_text(move_after(GOOD, what, anchor)), why
    no_sync = GOOD.replace("fdatasync(6) = 0\n", "")
    assert check_text(no_sync), "no LMDB data sync"
