"""
The Unix interface: PREFIX/sbin/sendmail submits through smtpd's local
socket (which records the caller's uid and may relay), mailq lists the
queue through facteurd's control socket.
"""

import os
import pwd
import re
import stat
import subprocess
import time

import pytest

from facteur_instance import check_maildir_file, sbin
from smtp_dialogue import RawSMTP


def run(argv, data=b"", timeout=30):
    r = subprocess.run(argv, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


def sendmail(inst, args, data):
    return run([sbin("sendmail"), "-C", inst.conf] + args, data)


def mailq(inst, *args):
    return run([sbin("mailq"), "-c", inst.conf] + list(args))


def received_header(data):
    head = data.split(b"\n\n", 1)[0].decode(errors="replace")
    m = re.search(r"^Received:.*(?:\n[ \t].*)*", head, re.M)
    assert m, head
    return re.sub(r"\s*\n[ \t]+", " ", m.group(0))


def test_sendmail_recipient_on_command_line(instance):
    msg = b"Subject: from sendmail\nFrom: alice@example.test\n\nhello bob\n"
    code, out = sendmail(instance, ["-f", "alice@example.test",
                                    "bob@example.test"], msg)
    assert code == 0, out
    data = instance.wait_for_delivery("bob", 1, settle=0.3)[0]
    check_maildir_file(instance.message_files("bob")[0])
    assert data.startswith(b"Return-Path: <alice@example.test>\n"
                           b"Delivered-To: bob@example.test\n")
    assert data.endswith(b"\nhello bob\n")
    assert b"\nSubject: from sendmail\n" in data
    rec = received_header(data)
    assert "uid" in rec.lower() and str(os.getuid()) in rec, rec


def test_sendmail_t_reads_recipients_from_headers(instance):
    msg = (b"From: alice@example.test\nTo: bob@example.test\n"
           b"Cc: carol@example.test\nBcc: alice@example.test\n"
           b"Subject: sendmail -t\n\nto three\n")
    code, out = sendmail(instance, ["-t", "-f", "alice@example.test"], msg)
    assert code == 0, out
    for user in ("alice", "bob", "carol"):
        data = instance.wait_for_delivery(user, 1, settle=0.3)[0]
        assert data.endswith(b"\nto three\n"), data
        assert b"\nBcc:" not in data.split(b"\n\n")[0], \
            "Bcc: header left in the message to %s" % user


def test_sendmail_unknown_user_fails(instance):
    code, out = sendmail(instance, ["-f", "alice@example.test",
                                    "nobody@example.test"],
                         b"Subject: x\n\nx\n")
    assert code != 0, out
    assert "nobody@example.test" in out or "5.1.1" in out, out


def test_mailq_lists_deferred_remote(instance):
    code, out = mailq(instance)
    assert code == 0, out
    code, out = sendmail(instance, ["-f", "alice@example.test",
                                    "someone@remote.example"],
                         b"Subject: far away\n\nto a remote domain\n")
    assert code == 0, "the local listener relays:\n" + out
    deadline = time.time() + 15
    while time.time() < deadline:
        code, out = mailq(instance)
        if "someone@remote.example" in out and \
                "no relay configured" in out:
            break
        time.sleep(0.5)
    assert code == 0, out
    assert "someone@remote.example" in out, out
    assert re.search(r"\b[0-9A-F]{16}\b", out), "no queue id in:\n" + out
    assert "alice@example.test" in out, out
    assert "no relay configured" in out, out
    code, out2 = sendmail(instance, ["-bp"], b"")
    assert code == 0, out2
    assert "someone@remote.example" in out2, out2
    # deferred, never dropped: nothing bounced to alice
    assert instance.messages("alice") == []


def test_mailq_when_not_running(make_instance):
    inst = make_instance()
    inst.stop()
    code, out = mailq(inst)
    assert code != 0, out
    assert "not running" in out.lower(), out


def test_local_socket_relays_and_takes_lf_dot_lf(instance):
    """The local listener (what sendmail uses) speaks SMTP, relays, and
    ends DATA at LF.LF."""
    path = os.path.join(instance.run_dir, "sendmail.sock")
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert os.stat(path).st_mode & 0o777 == 0o666, oct(os.stat(path).st_mode)
    s = RawSMTP(None, unix=path)
    assert s.code()[0] == 220
    for line, want in (("EHLO localhost", 250),
                       ("MAIL FROM:<alice@example.test>", 250),
                       ("RCPT TO:<someone@remote.example>", 250),
                       ("RCPT TO:<carol@example.test>", 250),
                       ("DATA", 354)):
        s.send(line + "\n")
        code, r = s.code()
        assert code == want, (line, r)
    s.send("Subject: local\n\nvia the socket\n.\n")
    code, r = s.code()
    assert code == 250, r
    s.send("QUIT\n")
    assert s.code()[0] == 221
    s.close()
    data = instance.wait_for_delivery("carol", 1, settle=0.3)[0]
    assert data.endswith(b"\nSubject: local\n\nvia the socket\n"), data
    rec = received_header(data)
    assert "uid %d" % os.getuid() in rec or str(os.getuid()) in rec, rec


@pytest.mark.system
def test_sendmail_as_ordinary_user(instance):
    """Any local user may submit; the Received header names their uid."""
    user = os.environ.get("FACTEUR_SANDBOX_USER", "facteurtest")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pytest.fail("no unprivileged account %r" % user)
    code, out = run(["runuser", "-u", user, "--", sbin("sendmail"), "-C",
                     instance.conf, "-f", "%s@example.test" % "alice",
                     "bob@example.test"],
                    b"Subject: from a user\n\nhello\n")
    assert code == 0, out
    data = instance.wait_for_delivery("bob", 1, settle=0.3)[0]
    rec = received_header(data)
    assert str(pw.pw_uid) in rec, rec
