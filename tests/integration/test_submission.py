"""
Submission (RFC 6409 on 587, RFC 8314 implicit TLS on 465): no MAIL before
AUTH (530 5.7.0); an authenticated user may relay to any domain (the
message is queued and deferred until a relay exists, never dropped); the
envelope sender must be one of the user's own addresses (553 5.7.1); msmtp
submits a message that lands in the Maildir.
"""

import os
import re
import subprocess
import time

import pytest

from facteur_instance import Instance, sbin
from smtp_tls import (auth_plain, connect, ehlo, greet, starttls,
                      spool_envelopes, envelope_fields, ALICE, BOB)


@pytest.fixture(scope="module")
def sub():
    inst = Instance(tls=True, submission=True, smtps=True)
    try:
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def authed(inst, port=None, who=ALICE, tls=True):
    port = port or inst.submission_port
    raw = connect(port, tls=(port == inst.smtps_port))
    greet(raw)
    if tls and port != inst.smtps_port:
        starttls(raw)
    code, lines = auth_plain(raw, *who)
    assert code == 235, lines
    return raw


def mailq(inst):
    r = subprocess.run([sbin("mailq"), "-c", inst.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return r.returncode, r.stdout.decode(errors="replace")


def send(raw, sender, rcpts, body=b"Subject: test\r\n\r\nbody\r\n"):
    raw.cmd("MAIL FROM:<%s>" % sender)
    code, lines = raw.code()
    if code != 250:
        return code, lines
    for r in rcpts:
        raw.cmd("RCPT TO:<%s>" % r)
        code, lines = raw.code()
        if code != 250:
            return code, lines
    raw.cmd("DATA")
    code, lines = raw.code()
    assert code == 354, lines
    raw.send(body + b".\r\n")
    return raw.code()


@pytest.mark.parametrize("listener", ["submission", "smtps"])
def test_mail_before_auth_530(sub, listener):
    port = sub.submission_port if listener == "submission" else \
        sub.smtps_port
    raw = connect(port, tls=(listener == "smtps"))
    greet(raw)
    if listener == "submission":
        starttls(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    code, lines = raw.code()
    assert code == 530 and "5.7.0" in lines[-1], lines
    # not even to a local recipient
    raw.cmd("RCPT TO:<bob@example.test>")
    assert raw.code()[0] in (503, 530)
    raw.close()


def test_mail_before_auth_530_in_plaintext(sub):
    raw = connect(sub.submission_port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    code, lines = raw.code()
    assert code == 530, lines
    raw.close()


@pytest.mark.parametrize("listener", ["submission", "smtps"])
def test_authenticated_relay_queued_and_deferred(sub, listener):
    port = sub.submission_port if listener == "submission" else \
        sub.smtps_port
    rcpt = "friend-%s@elsewhere.example" % listener
    raw = authed(sub, port)
    code, lines = send(raw, ALICE[0], [rcpt],
                       b"Subject: to a friend\r\n\r\nfar away\r\n")
    assert code == 250 and "queued as" in lines[-1], lines
    qid = re.search(r"queued as ([0-9A-F]{16})", lines[-1]).group(1)
    raw.cmd("QUIT")
    raw.close()
    deadline = time.time() + 15
    out = ""
    while time.time() < deadline:
        code, out = mailq(sub)
        if rcpt in out and "no relay configured" in out:
            break
        time.sleep(0.5)
    assert qid in out and rcpt in out, out + sub.log_tail()
    # still in the spool a while later: deferred, not dropped or bounced
    time.sleep(1)
    env = spool_envelopes(sub).get(qid)
    assert env is not None, "queue file %s gone" % qid
    fields = envelope_fields(env)
    assert ("auth", ALICE[0]) in fields, env
    assert any(k == "rcpt" and v.split()[0] == rcpt and v.split()[1] == "-"
               for k, v in fields), env
    assert [m for m in sub.messages("alice") if b"far away" in m] == []


def test_relay_from_smtp_listener_after_auth(sub):
    """AUTH on port 25 (here over STARTTLS) also lifts the relay ban."""
    raw = authed(sub, sub.port)
    code, lines = send(raw, ALICE[0], ["x@relayed-from-25.example"])
    assert code == 250, lines
    raw.close()


def test_unauthenticated_smtp_still_no_relay(sub):
    raw = connect(sub.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<x@elsewhere.example>")
    code, lines = raw.code()
    assert code == 554 and "5.7.1" in lines[-1], lines
    raw.close()


@pytest.mark.parametrize("sender", ["bob@example.test",
                                    "alice@elsewhere.example",
                                    "ALICE@other.test",
                                    "mallory@example.test"])
def test_sender_not_owned_553(sub, sender):
    raw = authed(sub)
    raw.cmd("MAIL FROM:<%s>" % sender)
    code, lines = raw.code()
    assert code == 553 and "5.7.1" in lines[-1], lines
    raw.close()


@pytest.mark.parametrize("sender", ["alice@example.test",
                                    "Alice@Example.Test"])
def test_own_sender_accepted(sub, sender):
    raw = authed(sub)
    raw.cmd("MAIL FROM:<%s>" % sender)
    code, lines = raw.code()
    assert code == 250, lines
    raw.close()


def test_null_sender_after_auth(sub):
    """<> is nobody's address; whether it is allowed is a policy choice,
    but it must be a clear answer, not a crash: 250 or 553."""
    raw = authed(sub)
    raw.cmd("MAIL FROM:<>")
    code, lines = raw.code()
    assert code in (250, 553), lines
    raw.cmd("NOOP")
    assert raw.code()[0] == 250
    raw.close()


def test_bob_sends_as_bob(sub):
    n = len(sub.message_files("carol"))
    raw = authed(sub, who=BOB)
    code, lines = send(raw, BOB[0], ["carol@example.test"],
                       b"Subject: from bob\r\n\r\nhi carol\r\n")
    assert code == 250, lines
    raw.close()
    sub.wait_for_delivery("carol", n + 1)


def test_sender_check_can_be_turned_off(make_instance):
    inst = make_instance(tls=True, submission=True,
                         config={"sender_login_check": "no"})
    raw = authed(inst)
    raw.cmd("MAIL FROM:<bob@example.test>")
    code, lines = raw.code()
    assert code == 250, lines
    raw.close()


def msmtp(inst, port, extra, rcpt, body, user=ALICE):
    cfg = os.path.join(inst.dir, "msmtprc-%d" % port)
    with open(cfg, "w") as f:
        f.write("defaults\nlogfile %s/msmtp.log\n"
                "account facteur\nhost 127.0.0.1\nport %d\n"
                "from %s\nauth on\nuser %s\npassword %s\n%s"
                "account default : facteur\n" % (
                    inst.dir, port, user[0], user[0], user[1], extra))
    os.chmod(cfg, 0o600)
    r = subprocess.run(["msmtp", "-C", cfg, "-t", rcpt], input=body,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_msmtp_lands_in_maildir(sub, mode):
    n = len(sub.message_files("bob"))
    if mode == "starttls":
        port, extra = sub.submission_port, \
            "tls on\ntls_starttls on\ntls_certcheck off\n"
    else:
        port, extra = sub.smtps_port, \
            "tls on\ntls_starttls off\ntls_certcheck off\n"
    body = ("From: alice@example.test\nTo: bob@example.test\n"
            "Subject: msmtp %s\n\nsent with msmtp\n" % mode).encode()
    code, out = msmtp(sub, port, extra, "bob@example.test", body)
    assert code == 0, out + sub.log_tail()
    sub.wait_for_delivery("bob", n + 1)
    data = [d for d in sub.messages("bob")
            if b"Subject: msmtp " + mode.encode() in d]
    assert data and data[0].endswith(b"\nsent with msmtp\n"), data


def test_msmtp_wrong_password_fails(sub):
    code, out = msmtp(sub, sub.submission_port,
                      "tls on\ntls_starttls on\ntls_certcheck off\n",
                      "bob@example.test", b"Subject: x\n\nx\n",
                      user=(ALICE[0], "not-the-password"))
    assert code != 0, out
    assert "535" in out or "authentication failed" in out.lower(), out


def test_require_auth_scoped_to_smtp(make_instance):
    """require_auth is per listener: smtp.require_auth = yes makes port 25
    want AUTH too; submission.require_auth = no lets a local recipient be
    reached without it (relaying still needs AUTH)."""
    inst = make_instance(tls=True, submission=True,
                         config={"smtp.require_auth": "yes",
                                 "submission.require_auth": "no"})
    raw = connect(inst.port)
    greet(raw)
    raw.cmd("MAIL FROM:<alice@example.test>")
    code, lines = raw.code()
    assert code == 530, lines
    raw.close()
    raw = connect(inst.submission_port)
    greet(raw)
    raw.cmd("MAIL FROM:<carol@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<bob@example.test>")
    assert raw.code()[0] == 250
    raw.cmd("RCPT TO:<x@elsewhere.example>")
    code, lines = raw.code()
    assert code == 554 and "5.7.1" in lines[-1], lines
    raw.close()
