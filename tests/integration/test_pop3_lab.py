"""
The lab's POP3 part (../shared/seed): after the SMTP part, the student
reads the mail with netcat, bare LF line ends: USER, PASS, STAT, LIST,
TOP, RETR, DELE, QUIT (RFC 1939). Then Python's poplib: the message bytes
a POP3 client gets are exactly what SMTP accepted, after the headers
facteur adds (Return-Path, Delivered-To, Received), with octet counts as
sent (CRLF) and byte-stuffing undone.
"""

import poplib

from pop3_helpers import RawPOP3, deliver, pop3_form, read_file, unstuff
from smtp_dialogue import RawSMTP
from test_lab import BODY, play_lab


def test_lab_pop3_netcat(make_instance):
    inst = make_instance(pop3=True)
    s = RawSMTP(inst.port)
    replies = play_lab(s)
    s.close()
    assert [r[:3] for r in replies] == \
        ["220", "250", "250", "250", "354", "250", "221"], replies
    inst.wait_for_delivery("bob", 1, settle=0.2)
    path = inst.message_files("bob")[0]
    data = read_file(path)
    crlf = pop3_form(data)
    lines = crlf.split(b"\r\n")[:-1]
    head_len = lines.index(b"")

    p = RawPOP3(inst.pop3_port)
    assert p.line().startswith("+OK"), p.transcript

    def cmd(text):
        p.send(text + "\n")         # bare LF, as netcat sends it
        got = p.line()
        assert not got.endswith("<bare LF!>"), got
        return got

    assert cmd("USER bob@example.test").startswith("+OK"), p.transcript
    assert cmd("PASS bob-pw").startswith("+OK"), p.transcript
    st = cmd("STAT")
    assert st.split()[:3] == ["+OK", "1", str(len(crlf))], \
        "STAT %r: the maildrop is 1 message of %d octets" % (st, len(crlf))
    assert cmd("LIST").startswith("+OK")
    assert p.multi() == [b"1 %d" % len(crlf)]
    assert cmd("TOP 1 5").startswith("+OK")
    top = unstuff(p.multi())
    assert top == lines[:head_len + 1 + 5], top
    assert cmd("RETR 1").startswith("+OK")
    got = unstuff(p.multi())
    assert got == lines, "RETR 1 differs from the Maildir file"
    body = [ln.encode("utf-8") for ln in BODY]
    assert got[-len(body):] == body
    assert got[0] == b"Return-Path: <alice@example.test>"
    assert got[1] == b"Delivered-To: bob@example.test"
    assert got[2].startswith(b"Received: ")
    assert cmd("DELE 1").startswith("+OK")
    assert inst.message_files("bob") == [path], "DELE removed the file " \
        "before QUIT"
    assert cmd("QUIT").startswith("+OK")
    assert p.at_eof(), "connection left open after QUIT"
    p.close()
    assert inst.message_files("bob") == [], "the message is still there " \
        "after DELE + QUIT"


MESSAGE = (b"From: alice@example.test\r\n"
           b"To: bob@example.test\r\n"
           b"Subject: bytes\r\n"
           b"Message-ID: <bytes-1@example.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n"
           b"\r\n"
           b".\r\n"
           b"..\r\n"
           b". leading dot and space\r\n"
           b"trailing spaces   \r\n"
           b"\ttab first\r\n"
           b"caf\xc3\xa9 \xe2\x82\xac\r\n"
           b"\r\n"
           b"\r\n" +
           b"y" * 998 + b"\r\n"
           b"last line without dot\r\n")


def test_poplib_message_bytes_identical(make_instance):
    inst = make_instance(pop3=True)
    deliver(inst, "bob", [MESSAGE], sender="alice@example.test")
    path = inst.message_files("bob")[0]
    want = pop3_form(read_file(path))

    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=10)
    try:
        assert c.getwelcome().startswith(b"+OK")
        c.user("bob@example.test")
        c.pass_("bob-pw")
        count, size = c.stat()
        assert (count, size) == (1, len(want))
        resp, listing, _ = c.list()
        assert listing == [b"1 %d" % len(want)]
        resp, lines, octets = c.retr(1)
        got = b"\r\n".join(lines) + b"\r\n"
        assert got == want, "RETR differs from the Maildir file"
        # what SMTP accepted, after the headers facteur prepends
        assert got.endswith(MESSAGE), got[-400:]
        prefix = got[:-len(MESSAGE)]
        assert prefix.startswith(b"Return-Path: <alice@example.test>\r\n"
                                 b"Delivered-To: bob@example.test\r\n"
                                 b"Received: from client.example.test "), \
            prefix
        # TOP 1 0: exactly the header block and the empty line
        resp, top, _ = c.top(1, 0)
        assert b"\r\n".join(top) + b"\r\n" == \
            want[:want.index(b"\r\n\r\n") + 4]
        resp, top, _ = c.top(1, 3)
        assert top[-3:] == [b".", b"..", b". leading dot and space"], top
        resp, uidl, _ = c.uidl()
        assert len(uidl) == 1 and uidl[0].startswith(b"1 ")
        c.quit()
    finally:
        c.close()
    assert inst.message_files("bob") == [path], "RETR alone deleted mail"


def test_poplib_session(make_instance):
    """Every RFC 1939 command as poplib sends it, on 3 messages."""
    inst = make_instance(pop3=True)
    paths = deliver(inst, "carol", 3)
    sizes = sorted(len(pop3_form(read_file(p))) for p in paths)
    c = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=10)
    c.user("carol@example.test")
    c.pass_("carol-pw")
    count, size = c.stat()
    assert (count, size) == (3, sum(sizes))
    resp, listing, _ = c.list()
    assert sorted(int(x.split()[1]) for x in listing) == sizes
    assert [int(x.split()[0]) for x in listing] == [1, 2, 3]
    assert c.list(2).startswith(b"+OK 2 ")
    assert c.noop().startswith(b"+OK")
    caps = c.capa()
    for want in ("TOP", "UIDL", "PIPELINING", "RESP-CODES"):
        assert want in caps, caps
    subjects = set()
    for i in (1, 2, 3):
        resp, lines, _ = c.retr(i)
        subjects |= {x for x in lines if x.startswith(b"Subject: ")}
    assert subjects == {b"Subject: message %d" % i for i in (1, 2, 3)}
    c.dele(1)
    c.dele(3)
    assert c.stat()[0] == 1
    c.rset()
    assert c.stat() == (3, sum(sizes))
    c.dele(2)
    c.quit()
    assert len(inst.message_files("carol")) == 2
