"""
Open-relay resistance (issue 3): the classic relay-test addresses, sent by
an unauthenticated client on the smtp listener (port 25), are never
accepted for a non-local destination. Each address is its own case; an
address whose destination is local but whose local part is no account is
refused too (550 5.1.1), so no case may get 250. Afterwards nothing is
in the queue and no Maildir got anything.
"""

import os
import subprocess

import pytest

from facteur_instance import Instance, sbin
from smtp_tls import connect, greet

ADDRESSES = [
    # percent hack
    "user%other.test@example.test",
    "user%other.test@EXAMPLE.TEST",
    "bob%other.test@example.test",
    "user%other.test",
    '"user%other.test"@example.test',
    # bang paths
    "other.test!user@example.test",
    "other.test!user",
    "other.test!bob@example.test",
    '"other.test!user"@example.test',
    # source routes
    "@example.test:user@other.test",
    "@mail.example.test:user@other.test",
    "@a.test,@b.test:user@other.test",
    "@example.test:user%other.test@example.test",
    # quoted local parts holding an @
    '"user@other.test"@example.test',
    '"user@other.test"',
    '"bob@other.test"@example.test',
    # more than one @
    "user@other.test@example.test",
    "user@example.test@other.test",
    # IP literals
    "user@[127.0.0.1]",
    "user@[192.0.2.1]",
    "user@[IPv6:::1]",
    "user@[IPv6:2001:db8::1]",
    "bob@[192.0.2.1]",
    # trailing dots
    "user@other.test.",
    "user@example.test.",
    "user@other.test..",
    # mixed case and look-alikes of the local domain
    "user@OTHER.TEST",
    "USER@Other.Test",
    "user@sub.example.test",
    "user@example.test.other.test",
    "user@example.testx",
    "user@xexample.test",
    "user@localhost",
    "user@mail.example.test",
    # plain remote
    "user@other.test",
    # odd encodings
    "user@other.test%example.test",
    "user\\@other.test@example.test",
    "user@other.test\t",
    "<user@other.test>",
]


@pytest.fixture(scope="module")
def mx():
    inst = Instance()
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


@pytest.mark.parametrize("address", ADDRESSES)
def test_relay_address_refused(mx, address):
    raw = connect(mx.port)
    greet(raw, "relaytest.other.test")
    raw.cmd("MAIL FROM:<spammer@other.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<%s>" % address)
    code, lines = raw.code()
    assert code >= 500, "RCPT TO:<%s> got %s" % (address, lines)
    # an accepted recipient would let DATA through
    raw.cmd("DATA")
    code, lines = raw.code()
    assert code in (503, 554), lines
    raw.close()


@pytest.mark.parametrize("address,code,enh", [
    ("user@other.test", 554, "5.7.1"),
    ("user%other.test@example.test", 550, "5.1.1"),
    ("other.test!user@example.test", 550, "5.1.1"),
    ("user@other.test.", 501, "5.1."),      # not a valid domain
    ("USER@Other.Test", 554, "5.7.1"),
])
def test_relay_refusal_codes(mx, address, code, enh):
    raw = connect(mx.port)
    greet(raw)
    raw.cmd("MAIL FROM:<spammer@other.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<%s>" % address)
    got, lines = raw.code()
    assert got == code and lines[-1][4:].startswith(enh), lines
    raw.close()


def test_all_addresses_in_one_pipelined_session(mx):
    """The same list pipelined in one session (errors count up: a 421
    cut-off is fine), then DATA: nothing may be queued."""
    raw = connect(mx.port)
    greet(raw)
    cmds = ["MAIL FROM:<spammer@other.test>"] + \
        ["RCPT TO:<%s>" % a for a in ADDRESSES[:8]] + ["DATA"]
    raw.send("".join(c + "\r\n" for c in cmds))
    codes = []
    try:
        for _ in cmds:
            codes.append(raw.code()[0])
    except Exception:
        pass
    assert 354 not in codes, codes
    assert all(c >= 500 or c == 421 for c in codes[1:]), codes
    raw.close()


def test_nothing_queued_nothing_delivered(mx):
    """Runs last in this module: after every attempt above the queue is
    empty and no local Maildir got anything."""
    r = subprocess.run([sbin("mailq"), "-c", mx.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "other.test" not in out, out
    assert os.listdir(os.path.join(mx.spool_dir, "queue")) == [], out
    for user in ("alice", "bob", "carol"):
        assert mx.message_files(user) == [], user
