"""
Supervision (DESIGN.md "Processes"): facteurd restarts a daemon killed with
SIGKILL, hands fresh channels to it and its peers, and mail flows again
within seconds.
"""

import re
import signal
import smtplib
import time

import pytest

from facteur_instance import DAEMONS


def send_until_accepted(inst, rcpt, subject, timeout=15):
    """Retries like an MTA would (4xx or connection errors) until a 250."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as c:
                c.sendmail("alice@example.test", ["%s@example.test" % rcpt],
                           "Subject: %s\r\n\r\n%s\r\n" % (subject, subject))
                return
        except (smtplib.SMTPException, OSError) as e:
            last = e
            time.sleep(0.2)
    raise AssertionError("no 250 within %ds after a restart: %r\n%s" % (
        timeout, last, inst.log_tail()))


def test_daemons_are_children_of_facteurd(instance):
    pids = instance.pids()
    assert sorted(pids) == sorted(DAEMONS), pids


@pytest.mark.parametrize("daemon", ["smtpd", "auth", "queue", "deliver"])
def test_kill_daemon_restarts(instance, daemon):
    send_until_accepted(instance, "bob", "before")
    instance.wait_for_delivery("bob", 1)
    others = {d: p for d, p in instance.pids().items() if d != daemon}
    old = instance.kill(daemon, signal.SIGKILL)
    new = instance.wait_restarted(daemon, old)
    assert new != old
    send_until_accepted(instance, "bob", "after")
    msgs = instance.wait_for_delivery("bob", 2, settle=0.5)
    assert any(b"\nafter\n" in m for m in msgs)
    # only the dead one was restarted
    now = instance.pids()
    for d, p in others.items():
        assert now.get(d) == p, "%s restarted too (%s -> %s)" % (
            d, p, now.get(d))
    assert re.search(r"%s.*(exit|kill|signal|restart)" % daemon,
                     instance.log(), re.I), instance.log_tail()


def test_kill_smtpd_twice(instance):
    for _ in range(2):
        old = instance.kill("smtpd")
        instance.wait_restarted("smtpd", old)
    send_until_accepted(instance, "carol", "twice")
    instance.wait_for_delivery("carol", 1)
