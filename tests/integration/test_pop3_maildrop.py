"""
The maildrop as a POP3 user sees it (RFC 1939; DESIGN.md "The mail
store"): deletion only in the UPDATE state, UIDL stable across sessions,
restarts and a lost index, a Maildir changed by hand while popd runs,
exclusive access, 20 parallel sessions on different accounts, delayed
failed logins, privilege separation, and popd surviving its halves'
deaths.
"""

import os
import poplib
import pwd
import shutil
import signal
import threading
import time

import pytest

from facteur_instance import DOMAIN, POP_ACCOUNTS
from pop3_helpers import (RawPOP3, add_user, base_name, deliver, pop3_form,
                          read_file)


def session(inst, user, password=None):
    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=15)
    c.user("%s@%s" % (user, DOMAIN))
    c.pass_(password or "%s-pw" % user)
    return c


def uidls(inst, user):
    """{uidl: size} of user's maildrop, one POP3 session."""
    c = session(inst, user)
    try:
        _, lines, _ = c.uidl()
        _, sizes, _ = c.list()
        c.quit()
    finally:
        c.close()
    size = {int(n): int(s) for n, s in (x.split() for x in sizes)}
    return {u.decode(): size[int(n)] for n, u in (x.split() for x in lines)}


def index_files(maildir):
    """facteur's index files in a Maildir (not the messages, not the
    uidlist that keeps IMAP identity)."""
    out = []
    for name in os.listdir(maildir):
        p = os.path.join(maildir, name)
        if name in ("new", "cur", "tmp") or name.startswith("dovecot") or \
                name == "facteur-uidlist":
            continue
        if "index" in name or name.endswith(".lmdb") or \
                name.endswith("-lock"):
            out.append(p)
    return out


def test_dele_quit_deletes_the_files(make_instance):
    inst = make_instance(pop3=True)
    paths = deliver(inst, "alice", 3)
    by_uid = {base_name(p): p for p in paths}
    c = session(inst, "alice")
    _, lines, _ = c.uidl()
    num = {u.decode(): int(n) for n, u in (x.split() for x in lines)}
    gone = sorted(num)[1]
    c.dele(num[gone])
    assert sorted(inst.message_files("alice")) == sorted(paths), \
        "a file vanished before QUIT"
    c.quit()
    left = inst.message_files("alice")
    assert sorted(map(base_name, left)) == \
        sorted(u for u in by_uid if u != gone), (gone, left)


def test_dropped_connection_deletes_nothing(make_instance):
    inst = make_instance(pop3=True)
    paths = deliver(inst, "alice", 2)
    p = RawPOP3(inst.pop3_port)
    p.line()
    p.login("alice@example.test", "alice-pw")
    p.ok("DELE 1")
    p.ok("DELE 2")
    p.close()                           # no QUIT: no UPDATE state
    time.sleep(1.0)
    assert sorted(inst.message_files("alice")) == sorted(paths)
    # and the next session sees both, nothing marked
    assert len(uidls(inst, "alice")) == 2


def test_uidl_stable_across_sessions_restart_and_index_loss(make_instance):
    inst = make_instance(pop3=True)
    paths = deliver(inst, "bob", 3)
    first = uidls(inst, "bob")
    assert len(first) == 3
    for u in first:
        # RFC 1939 7: 1 to 70 characters 0x21-0x7E; DESIGN.md: the base
        # name of the Maildir file
        assert 1 <= len(u) <= 70 and all(0x21 <= ord(ch) <= 0x7e
                                         for ch in u), u
    assert set(first) == {base_name(p) for p in paths}, \
        "UIDL is not the Maildir base name (DESIGN.md)"
    assert uidls(inst, "bob") == first, "UIDL changed between sessions"

    inst.stop()
    inst.start()
    assert uidls(inst, "bob") == first, "UIDL changed across a restart"

    # the index is a cache: removed while popd runs, then while stopped
    maildir = inst.maildir("bob")
    for p in index_files(maildir):
        os.unlink(p)
    assert uidls(inst, "bob") == first, \
        "UIDL changed after the index was deleted (popd running)"
    inst.stop()
    for p in index_files(maildir):
        os.unlink(p)
    uidlist = os.path.join(maildir, "facteur-uidlist")
    if os.path.exists(uidlist):
        os.unlink(uidlist)
    inst.start()
    assert uidls(inst, "bob") == first, \
        "UIDL changed after index and uidlist were deleted"
    # a new message gets a new UIDL, the old ones stay
    deliver(inst, "bob", 1)
    now = uidls(inst, "bob")
    assert len(now) == 4 and set(first) <= set(now)


def _owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid


def test_maildir_changed_by_hand(make_instance):
    """mutt/mblaze/Dovecot change the Maildir behind popd's back: a file
    added to new/, one removed, one renamed into cur/ with flags; the next
    session sees exactly that."""
    inst = make_instance(pop3=True)
    paths = deliver(inst, "carol", 3)
    before = uidls(inst, "carol")
    assert len(before) == 3
    maildir = inst.maildir("carol")
    uid, gid = _owner(maildir)

    removed, renamed = paths[0], paths[1]
    os.unlink(removed)
    new_name = os.path.join(maildir, "cur",
                            os.path.basename(renamed) + ":2,S")
    os.rename(renamed, new_name)
    added = b"From: hand@example.test\nSubject: by hand\n\nwritten by " \
        b"hand\n.dot line\n"
    hand = os.path.join(maildir, "new", "1700000000.M1P2.handmade")
    with open(hand + ".tmp", "wb") as f:
        f.write(added)
    os.chown(hand + ".tmp", uid, gid)
    os.rename(hand + ".tmp", hand)

    after = uidls(inst, "carol")
    want = dict(before)
    del want[base_name(removed)]
    want["1700000000.M1P2.handmade"] = len(added) + added.count(b"\n")
    assert after == want, "after the hand changes:\n%r\nexpected\n%r" % (
        after, want)

    c = session(inst, "carol")
    try:
        _, lines, _ = c.uidl()
        num = {u.decode(): int(n) for n, u in (x.split() for x in lines)}
        _, got, _ = c.retr(num["1700000000.M1P2.handmade"])
        assert b"\r\n".join(got) + b"\r\n" == pop3_form(added)
        _, got, _ = c.retr(num[base_name(renamed)])
        assert b"\r\n".join(got) + b"\r\n" == \
            pop3_form(read_file(new_name))
        c.dele(num[base_name(renamed)])
        c.quit()
    finally:
        c.close()
    assert not os.path.exists(new_name), "the renamed message (with " \
        "flags, in cur/) was not deleted"
    assert len(uidls(inst, "carol")) == 2


def test_exclusive_access(make_instance):
    """RFC 1939 8 / RFC 2449 8.1.1: one session per maildrop; a second one
    gets -ERR [IN-USE]; the lock goes with the session (QUIT or drop)."""
    inst = make_instance(pop3=True)
    deliver(inst, "alice", 1)
    a = RawPOP3(inst.pop3_port)
    a.line()
    a.login("alice@example.test", "alice-pw")

    b = RawPOP3(inst.pop3_port)
    b.line()
    b.cmd("USER alice@example.test")
    r = b.line()
    if r.startswith("+OK"):
        b.cmd("PASS alice-pw")
        r = b.line()
    assert r.startswith("-ERR [IN-USE]"), \
        "second session on a locked maildrop: %r" % r
    b.close()

    a.ok("QUIT")
    a.close()
    c = session(inst, "alice")         # free again after QUIT
    c.stat()
    # dropped without QUIT: the lock must go too (poplib's close() shuts
    # the socket down without sending QUIT)
    c.close()
    deadline = time.time() + 5
    while True:
        try:
            d = session(inst, "alice")
            break
        except poplib.error_proto as e:
            if b"IN-USE" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.1)
    assert d.stat()[0] == 1
    d.quit()


def test_twenty_parallel_sessions(make_instance):
    """20 accounts (made with facteurctl user add), each read and emptied
    by its own session, all at once."""
    inst = make_instance(pop3=True)
    users = ["par%02d" % i for i in range(20)]
    for u in users:
        add_user(inst, "%s@%s" % (u, DOMAIN), u + "-secret")
    import smtplib
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        for n in (1, 2):
            s.sendmail("alice@example.test",
                       ["%s@%s" % (u, DOMAIN) for u in users],
                       b"Subject: parallel %d\r\n\r\nhello %d\r\n" % (n, n))
    for u in users:
        inst.wait_for_delivery(u, 2, timeout=30)

    barrier = threading.Barrier(len(users))
    errors = {}

    def run(u):
        try:
            c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=30)
            barrier.wait(timeout=30)
            c.user("%s@%s" % (u, DOMAIN))
            c.pass_(u + "-secret")
            count, _ = c.stat()
            assert count == 2, count
            got = set()
            for i in (1, 2):
                _, lines, _ = c.retr(i)
                got |= {x for x in lines if x.startswith(b"Subject:")}
                c.dele(i)
            assert got == {b"Subject: parallel 1", b"Subject: parallel 2"}
            c.quit()
        except Exception as e:          # reported below, per account
            errors[u] = repr(e)

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, "%d of 20 sessions failed: %r\n%s" % (
        len(errors), errors, inst.log_tail(30))
    for u in users:
        assert inst.message_files(u) == [], u
    assert time.time() - t0 < 30


def test_failed_login_is_delayed(make_instance):
    inst = make_instance(pop3=True)
    p = RawPOP3(inst.pop3_port, timeout=40)
    p.line()
    p.ok("USER alice@example.test")
    t0 = time.time()
    p.cmd("PASS not-the-password")
    r = p.line()
    took = time.time() - t0
    assert r.startswith("-ERR"), r
    assert took >= 1.5, "a failed login answered after %.2fs (default " \
        "auth_fail_delay is 2s)" % took
    p.ok("USER alice@example.test")
    t0 = time.time()
    p.ok("PASS alice-pw")
    assert time.time() - t0 < 1.5
    p.ok("QUIT")


def ids(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                out[k] = [int(x) for x in v.split()]
    return out


@pytest.mark.system
def test_popd_privsep(make_instance):
    """popd (pre-login) as _facteur chrooted to empty_dir, popd-mail as
    _vmail chrooted to mail_dir (flow notes, DESIGN.md)."""
    inst = make_instance(pop3=True)
    deliver(inst, "alice", 1)
    c = session(inst, "alice")
    c.stat()
    roots = {"popd": inst.empty_dir, "popd-mail": inst.mail_dir}
    pids = inst.pids()
    c.quit()
    problems = []
    for daemon, account in POP_ACCOUNTS.items():
        pid = pids.get(daemon)
        if pid is None:
            problems.append("%s is not running" % daemon)
            continue
        pw = pwd.getpwnam(account)
        st = ids(pid)
        if st["Uid"] != [pw.pw_uid] * 4:
            problems.append("%s: Uid %s, expected %s" % (daemon, st["Uid"],
                                                         account))
        root = os.readlink("/proc/%d/root" % pid)
        if os.path.realpath(root) != os.path.realpath(roots[daemon]):
            problems.append("%s: root %s, expected %s" % (daemon, root,
                                                          roots[daemon]))
    assert not problems, problems


@pytest.mark.parametrize("daemon", ["popd", "popd-mail"])
def test_popd_killed_and_restarted(make_instance, daemon):
    inst = make_instance(pop3=True)
    deliver(inst, "bob", 1)
    old = inst.kill(daemon, signal.SIGKILL)
    inst.wait_restarted(daemon, old)
    deadline = time.time() + 10
    while True:
        try:
            c = session(inst, "bob")
            break
        except (OSError, poplib.error_proto):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert c.stat()[0] == 1
    c.quit()


def test_large_message(make_instance):
    """A 3 MB message is sent whole, octets as counted by LIST."""
    inst = make_instance(pop3=True)
    line = b"0123456789" * 7 + b"\r\n"
    big = b"Subject: big\r\n\r\n" + line * (3 * 1024 * 1024 // len(line))
    path = deliver(inst, "alice", [big])[0]
    want = pop3_form(read_file(path))
    c = session(inst, "alice")
    _, listing, _ = c.list()
    assert listing == [b"1 %d" % len(want)]
    _, lines, octets = c.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == want
    c.quit()


def test_empty_maildir_removed_while_logged_out(make_instance):
    """An account whose Maildir does not exist (never got mail, or removed
    by hand) is an empty maildrop, not an error."""
    inst = make_instance(pop3=True)
    deliver(inst, "alice", 1)
    shutil.rmtree(inst.maildir("alice"))
    c = session(inst, "alice")
    assert c.stat() == (0, 0)
    c.quit()
