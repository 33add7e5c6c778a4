"""
Interoperability with a real Postfix (Debian's package): a private Postfix
relays messages to facteur over STARTTLS (relayhost, TLS required), with
the CHUNKING and DSN facteur advertises, and facteur accepts them; and
Postfix's smtp-source load passes with every message delivered.
"""

import os
import re
import smtplib
import subprocess
import time

import pytest

from smtp_tls import received_headers

SMTP_SOURCE = "/usr/sbin/smtp-source"


@pytest.fixture(scope="module")
def pair():
    if os.geteuid() != 0:
        pytest.fail("a private Postfix needs root")
    if not os.access("/usr/sbin/postfix", os.X_OK):
        pytest.fail("postfix is not installed")
    from facteur_instance import Instance
    from postfix_instance import Postfix
    inst = Instance(tls=True)
    pf = None
    try:
        inst.start()
        pf = Postfix(inst.port).start()
        yield inst, pf
    finally:
        if pf:
            pf.stop()
        inst.cleanup()


@pytest.mark.system
def test_postfix_relays_over_starttls(pair):
    inst, pf = pair
    n = len(inst.message_files("bob"))
    body = (b"From: someone@postfix.example.test\r\nTo: bob@example.test\r\n"
            b"Subject: relayed by postfix\r\n"
            b"Message-ID: <pf-1@postfix.example.test>\r\n\r\n"
            b"through Postfix\r\n.leading dot\r\n")
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as c:
        c.ehlo("client.example.test")
        c.sendmail("someone@postfix.example.test", ["bob@example.test"],
                   body)
    try:
        data = inst.wait_for_delivery("bob", n + 1, timeout=40)
    except Exception:
        raise AssertionError("not delivered\n--- postfix log ---\n%s\n%s" %
                             (pf.log_text()[-4000:], inst.log_tail()))
    msg = [d for d in data if b"<pf-1@postfix.example.test>" in d][0]
    assert msg.endswith(b"\n\nthrough Postfix\n.leading dot\n"), msg
    rec = received_headers(msg)[0]
    assert "postfix.example.test" in rec, rec
    assert "ESMTPS" in rec and "TLSv1." in rec, rec
    log = pf.log_text()
    assert re.search(r"TLS connection established to 127\.0\.0\.1\[127\.0"
                     r"\.0\.1\]:%d" % inst.port, log), log[-3000:]
    assert re.search(r"status=sent \(250 2\.0\.0 ", log), log[-3000:]


@pytest.mark.system
def test_postfix_relays_a_batch_with_dsn(pair):
    """Postfix reuses its connection, pipelines, sends ORCPT/NOTIFY (DSN)
    and BDAT (CHUNKING) when facteur offers them: 20 messages to three
    users all arrive."""
    inst, pf = pair
    before = {u: len(inst.message_files(u)) for u in ("alice", "carol")}
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as c:
        c.ehlo("client.example.test")
        for i in range(20):
            c.sendmail("someone@postfix.example.test",
                       ["alice@example.test", "carol@example.test"],
                       b"Subject: batch %d\r\n\r\n" % i + b"line\r\n" * 200,
                       rcpt_options=["NOTIFY=FAILURE"])
    for u in ("alice", "carol"):
        try:
            inst.wait_for_delivery(u, before[u] + 20, timeout=60,
                                   settle=0.5)
        except Exception as e:
            raise AssertionError("%s\n--- postfix log ---\n%s" %
                                 (e, pf.log_text()[-4000:]))
    log = pf.log_text()
    assert "status=deferred" not in log and "status=bounced" not in log, \
        log[-3000:]


def test_smtp_source_load(make_instance):
    """smtp-source: 200 messages over 10 parallel sessions, one message
    per connection; every one lands in the Maildir, exactly once."""
    if not os.access(SMTP_SOURCE, os.X_OK):
        pytest.fail("smtp-source (postfix) is not installed")
    inst = make_instance()
    r = subprocess.run([SMTP_SOURCE, "-c", "-s", "10", "-m", "200",
                        "-l", "2048", "-f", "from@elsewhere.example",
                        "-t", "alice@example.test",
                        "127.0.0.1:%d" % inst.port],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "error" not in out.lower(), out
    inst.wait_for_delivery("alice", 200, timeout=90, settle=1.0)


def test_smtp_source_load_one_session(make_instance):
    """smtp-source -d: 50 messages in one SMTP session each for 4
    sessions (RSET-free reuse of a session)."""
    if not os.access(SMTP_SOURCE, os.X_OK):
        pytest.fail("smtp-source (postfix) is not installed")
    inst = make_instance()
    r = subprocess.run([SMTP_SOURCE, "-d", "-s", "4", "-m", "200",
                        "-f", "from@elsewhere.example",
                        "-t", "bob@example.test",
                        "127.0.0.1:%d" % inst.port],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "error" not in out.lower(), out
    inst.wait_for_delivery("bob", 200, timeout=90, settle=1.0)
