"""
Interoperability with Dovecot (Debian's dovecot-core + dovecot-pop3d): a
private Dovecot started by the test on its own port, reading the Maildirs
facteur delivered, lists the same messages (count and octet sizes) that
facteur's popd serves, and returns the same bytes. Dovecot then changes
the Maildir its way (dovecot-uidlist, index files, new/ -> cur/ with
flags); facteur's popd still serves the same messages with the same UIDLs
(issue 5: the store resyncs behind other tools).
"""

import os
import poplib

import pytest

import dovecot_instance
from facteur_instance import DOMAIN
from pop3_helpers import deliver

USERS = ("alice", "bob")


def listing(port, user, password):
    """(STAT, [sizes by number], [message bytes by number], UIDLs)."""
    c = poplib.POP3("127.0.0.1", port, timeout=15)
    try:
        c.user("%s@%s" % (user, DOMAIN))
        c.pass_(password)
        stat = c.stat()
        _, rows, _ = c.list()
        sizes = [int(x.split()[1]) for x in rows]
        bodies = []
        for i in range(1, len(rows) + 1):
            _, lines, _ = c.retr(i)
            bodies.append(b"\r\n".join(lines) + b"\r\n")
        _, u, _ = c.uidl()
        uidls = [x.split()[1].decode() for x in u]
        c.quit()
    finally:
        c.close()
    return stat, sizes, bodies, uidls


@pytest.fixture
def dovecot_for():
    why = dovecot_instance.available()
    if why:
        pytest.fail(why)
    made = []

    def make(inst):
        users = {"%s@%s" % (u, DOMAIN): ("%s-pw" % u, inst.maildir(u))
                 for u in USERS}
        d = dovecot_instance.Dovecot(users)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.cleanup()


def test_dovecot_lists_what_facteur_delivered(make_instance, dovecot_for):
    inst = make_instance(pop3=True)
    deliver(inst, "alice", 4)
    big = b"Subject: big one\r\n\r\n" + b"z" * 70 + b"\r\n" + \
        b".\r\n" * 3 + (b"w" * 76 + b"\r\n") * 3000
    deliver(inst, "alice", [big])
    deliver(inst, "bob", 2)

    ours = {u: listing(inst.pop3_port, u, "%s-pw" % u) for u in USERS}
    dove = dovecot_for(inst)
    theirs = {u: listing(dove.port, u, "%s-pw" % u) for u in USERS}
    for u in USERS:
        f_stat, f_sizes, f_bodies, f_uidls = ours[u]
        d_stat, d_sizes, d_bodies, _ = theirs[u]
        assert f_stat == d_stat, "%s: STAT facteur %r, Dovecot %r" % (
            u, f_stat, d_stat)
        # the same messages; the order may differ
        assert sorted(zip(f_sizes, f_bodies)) == \
            sorted(zip(d_sizes, d_bodies)), \
            "%s: facteur and Dovecot serve other messages" % u
        assert f_stat[0] == (5 if u == "alice" else 2)
        assert f_sizes == [len(b) for b in f_bodies], \
            "facteur's LIST sizes are not the octets RETR sends"

    # Dovecot has now touched the Maildirs (its uidlist and index files,
    # messages moved to cur/ with the S flag): facteur sees the same mail
    after = {u: listing(inst.pop3_port, u, "%s-pw" % u) for u in USERS}
    moved = [p for u in USERS for p in inst.message_files(u)
             if "/cur/" in p]
    for u in USERS:
        assert sorted(zip(after[u][1], after[u][2])) == \
            sorted(zip(ours[u][1], ours[u][2])), u
        assert sorted(after[u][3]) == sorted(ours[u][3]), \
            "%s: UIDLs changed after Dovecot read the Maildir" % u
    assert os.path.exists(os.path.join(inst.maildir("alice"),
                                       "dovecot-uidlist"))
    assert moved, "Dovecot moved nothing into cur/: the rename case " \
        "was not exercised"
