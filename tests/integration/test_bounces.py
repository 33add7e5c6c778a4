"""
Retries, expiry and delivery status notifications (issue 4): backoff
between queue_retry_min and queue_retry_max, bounce after queue_lifetime,
RFC 3464 DSNs parsed with Python's email package (multipart/report,
message/delivery-status, the original per RET), NOTIFY (NEVER, SUCCESS,
FAILURE, DELAY), delay warnings, ORCPT/ENVID, double bounces to the
postmaster, and a failing double bounce that stops.

A remote recipient (no relay exists yet: deferred "no relay configured")
is the temporary failure: reached through a virtual alias, since the smtp
listener does not relay.
"""

import email
import email.policy
import os
import re
import smtplib
import time

from test_aliases import make, send, wait_log

FAR = "far@example.test"            # a virtual alias to a remote address
REMOTE = "partner@example.org"
VIRTUAL = "far@example.test: partner@example.org\n"
QUICK = {"queue_retry_min": "1s", "queue_retry_max": "1s",
         "queue_lifetime": "3s"}


def start(make_instance, **cfg):
    config = dict(QUICK)
    config.update(cfg)
    return make(make_instance, aliases="", virtual=VIRTUAL, config=config)


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def report_parts(msg):
    """(human, per-message fields, [per-recipient fields], returned part)"""
    assert msg.get_content_type() == "multipart/report", msg
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    human, status, returned = parts
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    return human, blocks[0], blocks[1:], returned


def the_dsn(inst, user, n=1, timeout=20):
    msgs = inst.wait_for_delivery(user, n, timeout=timeout)
    return parse(msgs[-1])


def test_backoff_doubles_up_to_max(make_instance):
    inst = start(make_instance, queue_retry_min="1s", queue_retry_max="4s",
                 queue_lifetime="1h")
    qid = send(inst, FAR, sender="alice@example.test", subject="slow")
    wait_log(inst, r"%s: to=<%s> .*status=deferred .*attempts=4 " %
             (qid, REMOTE), timeout=20)
    lines = [l for l in inst.log().splitlines()
             if qid in l and "status=deferred" in l]
    nexts = [int(re.search(r" next=(\d+)", l).group(1)) for l in lines]
    assert nexts[:4] == [1, 2, 4, 4], lines
    delays = [float(re.search(r" delay=([\d.]+)", l).group(1))
              for l in lines]
    gaps = [b - a for a, b in zip(delays, delays[1:])]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert 3.5 <= gaps[2] <= 6, gaps


def test_expiry_bounces_with_full_message(make_instance):
    inst = start(make_instance)
    qid = send(inst, FAR, sender="alice@example.test", subject="gone")
    wait_log(inst, r"%s: to=<%s> orig_to=<%s> status=expired .*"
             r"dsn=4\.4\.7" % (qid, REMOTE, FAR))
    dsn = the_dsn(inst, "alice")
    assert dsn["Return-Path"] in ("<>", ""), dsn["Return-Path"]
    assert "MAILER-DAEMON@mail.example.test" in str(dsn["From"])
    assert dsn["Auto-Submitted"] == "auto-replied"
    human, fields, rcpts, returned = report_parts(dsn)
    assert fields["Reporting-MTA"] == "dns; mail.example.test"
    assert fields["Arrival-Date"]
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; " + REMOTE
    assert r["Original-Recipient"] == "rfc822; " + FAR
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.7"
    assert r["Diagnostic-Code"].startswith("X-Facteur;")
    assert r["Last-Attempt-Date"]
    assert REMOTE in human.get_content()
    # RET absent: the whole message comes back
    assert returned.get_content_type() == "message/rfc822"
    orig = returned.get_payload()[0]
    assert orig["Subject"] == "gone"
    assert "body of gone" in orig.get_content()
    wait_log(inst, r"%s: notification=[0-9A-F]{16} kind=failure "
             r"to=<alice@example.test>" % qid)
    wait_log(inst, r"from=<> .*proto=DSN .*orig_id=%s" % qid)
    wait_log(inst, r"%s: removed" % qid)


def test_ret_hdrs_returns_headers_only(make_instance):
    inst = start(make_instance)
    send(inst, FAR, sender="alice@example.test", subject="hdrs",
         mail_options=["RET=HDRS", "ENVID=env-42"],
         rcpt_options=["ORCPT=rfc822;someone@example.net"])
    human, fields, rcpts, returned = report_parts(the_dsn(inst, "alice"))
    assert returned.get_content_type() == "text/rfc822-headers"
    text = returned.get_payload() if isinstance(returned.get_payload(),
                                                str) else \
        returned.get_content()
    if isinstance(text, bytes):
        text = text.decode()
    assert "Subject: hdrs" in text
    assert "body of hdrs" not in text
    assert fields["Original-Envelope-Id"] == "env-42"
    assert rcpts[0]["Original-Recipient"] == "rfc822; someone@example.net"


def test_notify_never_sends_nothing(make_instance):
    inst = start(make_instance)
    qid = send(inst, FAR, sender="alice@example.test", subject="quiet",
               rcpt_options=["NOTIFY=NEVER"])
    wait_log(inst, r"%s: removed" % qid)
    time.sleep(0.5)
    assert inst.message_files("alice") == []
    assert "%s: notification=" % qid not in inst.log()


def test_notify_success(make_instance):
    inst = start(make_instance)
    qid = send(inst, "bob@example.test", sender="alice@example.test",
               subject="yay", rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    inst.wait_for_delivery("bob", 1)
    human, fields, rcpts, returned = report_parts(the_dsn(inst, "alice"))
    assert rcpts[0]["Action"] == "delivered"
    assert rcpts[0]["Status"] == "2.0.0"
    assert rcpts[0]["Final-Recipient"] == "rfc822; bob@example.test"
    assert returned.get_content_type() == "text/rfc822-headers"
    wait_log(inst, r"%s: notification=[0-9A-F]{16} kind=success" % qid)
    # no notice without NOTIFY=SUCCESS
    send(inst, "bob@example.test", sender="alice@example.test",
         subject="plain")
    inst.wait_for_delivery("bob", 2)
    inst.wait_for_delivery("alice", 1, settle=1.0)


def test_delay_warning_once(make_instance):
    inst = start(make_instance, queue_lifetime="1h",
                 delay_warning_time="2s")
    qid = send(inst, FAR, sender="alice@example.test", subject="later")
    dsn = the_dsn(inst, "alice", timeout=15)
    assert "Delay" in str(dsn["Subject"])
    human, fields, rcpts, returned = report_parts(dsn)
    assert rcpts[0]["Action"] == "delayed"
    assert rcpts[0]["Status"].startswith("4.")
    assert rcpts[0]["Will-Retry-Until"]
    assert returned.get_content_type() == "text/rfc822-headers"
    wait_log(inst, r"%s: notification=[0-9A-F]{16} kind=delay" % qid)
    # once only, and the message is still queued
    inst.wait_for_delivery("alice", 1, settle=2.5)
    assert "%s: removed" % qid not in inst.log()


def test_no_delay_warning_without_notify_delay(make_instance):
    inst = start(make_instance, queue_lifetime="1h",
                 delay_warning_time="1s")
    qid = send(inst, FAR, sender="alice@example.test", subject="later",
               rcpt_options=["NOTIFY=FAILURE"])
    wait_log(inst, r"%s: .*status=deferred .*attempts=3 " % qid)
    assert inst.message_files("alice") == []


def test_double_bounce_goes_to_postmaster(make_instance):
    inst = start(make_instance, postmaster_address="carol@example.test")
    # the sender is no one here: its bounce cannot be delivered
    qid = send(inst, FAR, sender="ghost@example.test", subject="lost")
    dsn = the_dsn(inst, "carol", timeout=20)
    human, fields, rcpts, returned = report_parts(dsn)
    assert rcpts[0]["Final-Recipient"] == "rfc822; ghost@example.test"
    assert rcpts[0]["Action"] == "failed"
    assert rcpts[0]["Status"] == "5.1.1"
    # the failed bounce's header comes with it
    assert returned.get_content_type() == "text/rfc822-headers"
    wait_log(inst, r"kind=double-bounce to=<carol@example.test>")
    wait_log(inst, r"%s: removed" % qid)
    assert "to=<>" not in inst.log()


def test_null_sender_failure_goes_to_postmaster(make_instance):
    inst = start(make_instance, postmaster_address="carol@example.test")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail("<>")
        code, _ = s.rcpt(FAR)
        assert code == 250
        code, _ = s.data(b"Subject: a bounce\r\n\r\nreturned\r\n")
        assert code == 250
    dsn = the_dsn(inst, "carol", timeout=20)
    assert "double bounce" in str(dsn["Subject"])
    assert "to=<>" not in inst.log()


def test_failing_double_bounce_stops(make_instance):
    inst = start(make_instance, postmaster_address="nobody@example.test")
    qid = send(inst, FAR, sender="ghost@example.test", subject="lost")
    wait_log(inst, r"double bounce not delivered: dropped", timeout=20)
    wait_log(inst, r"%s: removed" % qid)
    # everything is gone from the queue, and nothing keeps bouncing
    deadline = time.time() + 10
    qdir = os.path.join(inst.spool_dir, "queue")
    while time.time() < deadline and os.listdir(qdir):
        time.sleep(0.2)
    assert os.listdir(qdir) == []
    n = inst.log().count("notification=")
    time.sleep(2)
    assert inst.log().count("notification=") == n == 2
