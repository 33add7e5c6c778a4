"""
Real clients: Python's smtplib and swaks deliver to the Maildir; a
pipelining client (RFC 2920) sends its whole envelope in one packet.
"""

import smtplib
import subprocess

import pytest

from facteur_instance import check_maildir_file, queue_id_from_reply
from smtp_dialogue import RawSMTP


def test_smtplib(instance):
    msg = (b"From: alice@example.test\r\nTo: bob@example.test\r\n"
           b"Subject: via smtplib\r\nMessage-ID: <smtplib-1@example.test>"
           b"\r\n\r\nHello from smtplib.\r\n")
    with smtplib.SMTP("127.0.0.1", instance.port, timeout=10) as c:
        code, banner = c.ehlo("client.example.test")
        assert code == 250
        assert c.has_extn("pipelining") and c.has_extn("size")
        refused = c.sendmail("alice@example.test", ["bob@example.test"],
                             msg)
        assert refused == {}
    data = instance.wait_for_delivery("bob", 1, settle=0.3)[0]
    check_maildir_file(instance.message_files("bob")[0])
    assert data.startswith(b"Return-Path: <alice@example.test>\n")
    assert b"\nReceived: from client.example.test " in data
    assert b"with ESMTP" in data
    assert data.endswith(msg.replace(b"\r\n", b"\n"))


def test_smtplib_rejections(instance):
    with smtplib.SMTP("127.0.0.1", instance.port, timeout=10) as c:
        c.ehlo("client.example.test")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("alice@example.test", ["nobody@example.test"],
                       b"Subject: x\r\n\r\nx\r\n")
        code, text = e.value.recipients["nobody@example.test"]
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
        refused = c.sendmail("alice@example.test",
                             ["nobody@example.test", "carol@example.test"],
                             b"Subject: partly\r\n\r\nx\r\n")
        assert list(refused) == ["nobody@example.test"]
    instance.wait_for_delivery("carol", 1, settle=0.3)


def test_swaks(instance):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % instance.port,
         "--helo", "swaks.example.test",
         "--from", "carol@example.test", "--to", "alice@example.test",
         "--header", "Subject: via swaks", "--body", "Hello from swaks.",
         "--pipeline"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + instance.log_tail()
    assert "<-  250 2.0.0 Ok: queued as " in out, out
    data = instance.wait_for_delivery("alice", 1, settle=0.3)[0]
    check_maildir_file(instance.message_files("alice")[0])
    assert b"\nSubject: via swaks\n" in data
    assert b"\nHello from swaks.\n" in data
    assert b"Delivered-To: alice@example.test\n" in data


def test_swaks_unknown_user(instance):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % instance.port,
         "--from", "carol@example.test", "--to", "nobody@example.test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode != 0, out
    assert "<** 550 5.1.1" in out, out


def test_pipelining_two_recipients(instance):
    s = RawSMTP(instance.port)
    assert s.code()[0] == 220
    s.cmd("EHLO client.example.test")
    code, ehlo = s.code()
    assert code == 250 and any(x[4:] == "PIPELINING" for x in ehlo), ehlo
    s.send(b"MAIL FROM:<carol@example.test>\r\n"
           b"RCPT TO:<alice@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n")
    replies = [s.reply()[-1] for _ in range(4)]
    assert [r[:3] for r in replies] == ["250", "250", "250", "354"], replies
    body = (b"From: carol@example.test\r\nSubject: pipelined\r\n\r\n"
            b"to both\r\n")
    s.send(body + b".\r\nQUIT\r\n")
    done = s.reply()[-1]
    assert done.startswith("250 2.0.0 Ok: queued as "), done
    assert s.reply()[-1].startswith("221")
    s.close()
    qid = queue_id_from_reply(done)
    seen = set()
    for user in ("alice", "bob"):
        data = instance.wait_for_delivery(user, 1, settle=0.3)[0]
        name = check_maildir_file(instance.message_files(user)[0])
        assert name["id"] == qid
        seen.add(name["rcpt"])
        assert b"Delivered-To: %s@example.test\n" % user.encode() in data
        assert data.endswith(body.replace(b"\r\n", b"\n"))
    assert seen == {"0", "1"}, "recipient numbers in the names: %s" % seen
    assert instance.messages("carol") == []
