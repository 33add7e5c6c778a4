"""
The lab session (../shared/seed): a student types HELO, MAIL FROM, RCPT TO,
DATA, a few lines, "." and QUIT into netcat, with bare LF line ends, from
127.0.0.1. The reply codes are the lab's, and the Maildir file is checked
byte for byte (RFC 5321 4.4 trace fields, Maildir with LF line ends).
"""

import email.utils
import re
import time

from facteur_instance import check_maildir_file, queue_id_from_reply
from smtp_dialogue import RawSMTP

BODY = [
    "Subject: TP messagerie",
    "From: alice@example.test",
    "To: bob@example.test",
    "",
    "Bonjour Bob,",
    "Ceci est un test du TP R\u00e9seaux : SMTP, POP3 et IMAP.",
    "line1",
    "line2",
]

RECEIVED = re.compile(
    r"Received: from lab\.example\.test \(.*\[127\.0\.0\.1\].*\)"
    r" by mail\.example\.test\b.* with SMTP\b.*;"
    r" (?P<date>(\w{3}, )?\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4})"
    r"( \(\w+\))?\Z")


def split_received(data):
    """(Received header unfolded, its raw bytes, the rest)."""
    lines = data.split(b"\n")
    assert lines[0].startswith(b"Received:"), lines[0]
    n = 1
    while lines[n][:1] in (b" ", b"\t"):
        n += 1
    raw = b"\n".join(lines[:n]) + b"\n"
    unfolded = re.sub(r"\s*\n[ \t]+", " ", raw.decode().rstrip("\n"))
    return unfolded, raw, b"\n".join(lines[n:])


def play_lab(s):
    replies = [s.reply()[-1]]
    for line in ("HELO lab.example.test", "MAIL FROM:<alice@example.test>",
                 "RCPT TO:<bob@example.test>", "DATA"):
        s.send(line + "\n")
        replies.append(s.reply()[-1])
    for line in BODY:
        s.send(line + "\n")
    s.send(".\n")
    replies.append(s.reply()[-1])
    s.send("QUIT\n")
    replies.append(s.reply()[-1])
    return replies


def test_lab_netcat_session(instance):
    t0 = int(time.time())
    s = RawSMTP(instance.port)
    replies = play_lab(s)
    assert s.at_eof(), "connection left open after QUIT"
    s.close()
    assert [r[:3] for r in replies] == \
        ["220", "250", "250", "250", "354", "250", "221"], replies
    qid = queue_id_from_reply(replies[5])
    assert qid, "no queue id in %r" % replies[5]

    msgs = instance.wait_for_delivery("bob", 1, settle=0.5)
    path = instance.message_files("bob")[0]
    assert "/new/" in path
    name = check_maildir_file(path)
    assert name["id"] == qid
    assert name["rcpt"] == "0"
    assert t0 - 1 <= int(name["secs"]) <= time.time() + 1

    data = msgs[0]
    head = b"Return-Path: <alice@example.test>\nDelivered-To: " \
        b"bob@example.test\n"
    assert data.startswith(head), data[:200]
    received, raw, rest = split_received(data[len(head):])
    m = RECEIVED.match(received)
    assert m, "Received header of an unexpected shape: %r" % received
    idm = re.search(r"\bid (\S+)", received)
    if idm:
        assert idm.group(1).rstrip(";") == qid, received
    when = email.utils.parsedate_to_datetime(m.group("date")).timestamp()
    assert abs(when - time.time()) < 300, m.group("date")
    expected = ("\n".join(BODY) + "\n").encode("utf-8")
    assert rest == expected, "message text changed:\n%r\n%r" % (rest,
                                                                 expected)
    assert data == head + raw + expected

    log = instance.log()
    assert "%s: from=<alice@example.test>" % qid in log, instance.log_tail()
    assert re.search(r"%s: to=<bob@example.test>.*status=sent" % qid, log), \
        instance.log_tail()
    assert instance.messages("alice") == []
    assert instance.messages("carol") == []


def test_dot_unstuffing_and_crlf(instance):
    """Dot-stuffed lines (RFC 5321 4.5.2) come out unstuffed, CRLF
    becomes LF, long lines and 8-bit bytes are kept."""
    body = [b"Subject: dots", b"", b"..leading dot", b"...", b". .",
            b"x" * 990, b"caf\xc3\xa9", b"", b"last"]
    s = RawSMTP(instance.port)
    assert s.code()[0] == 220
    s.cmd("EHLO client.example.test")
    assert s.code()[0] == 250
    s.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME")
    assert s.code()[0] == 250
    s.cmd("RCPT TO:<carol@example.test>")
    assert s.code()[0] == 250
    s.cmd("DATA")
    assert s.code()[0] == 354
    s.send(b"\r\n".join(body) + b"\r\n.\r\n")
    code, r = s.code()
    assert code == 250, r
    s.cmd("QUIT")
    s.close()
    data = instance.wait_for_delivery("carol", 1, settle=0.3)[0]
    check_maildir_file(instance.message_files("carol")[0])
    want = [b"Subject: dots", b"", b".leading dot", b"..", b" .",
            b"x" * 990, b"caf\xc3\xa9", b"", b"last"]
    assert data.endswith(b"\n".join(want) + b"\n"), data
    assert b"\nReceived: " in data.split(b"\n\n")[0] + b"\n"
