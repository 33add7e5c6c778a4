"""
Retries, expiry and notifications (issue 4, "Retries, expiry, bounces"):
per-recipient exponential backoff between queue_retry_min and
queue_retry_max, expiry after queue_lifetime with an RFC 3464 bounce
(parsed with Python's email package), RET, NOTIFY (RFC 3461), delay
warnings after delay_warning_time, never a bounce to the null sender, a
double bounce to the postmaster that stops there. Deliveries fail
temporarily because the recipient's Maildir is unwritable; the intervals
are seconds so that the whole file runs in about a minute.
"""

import email.utils
import re
import time

from facteur_instance import check_maildir_file
from queue_helpers import (ctl, dsn_parts, message, parse, queue_entry,
                           queue_json, submit, unwritable_maildir, wait_for,
                           wait_queue_empty)

STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def reports(inst, user):
    """The multipart/report messages in user's Maildir, oldest first."""
    out = []
    for path in inst.message_files(user):
        with open(path, "rb") as f:
            data = f.read()
        if re.search(rb"^Content-Type: multipart/report", data,
                     re.M | re.I):
            out.append((check_maildir_file(path)["id"], data))
    return [d for _, d in sorted(out)]


def field(block, name):
    v = block.get(name)
    assert v is not None, "no %s field in\n%s" % (name, block)
    return re.sub(r"\s+", " ", v).strip()


def test_backoff_doubles_up_to_the_maximum(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "4s",
                                 "queue_lifetime": "1h"})
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "alice@example.test", ["bob@example.test"],
                     message("backoff"))
        seen = {}       # attempts -> when the listing first showed it
        deadline = time.time() + 30
        while time.time() < deadline and len(seen) < 5:
            e = queue_entry(inst, qid)
            assert e is not None, inst.log_tail()
            n = e["recipients"][0]["attempts"]
            if n and n not in seen:
                seen[n] = time.time()
            time.sleep(0.05)
        assert sorted(seen) == [1, 2, 3, 4, 5], (seen, inst.log_tail())
        gaps = [seen[k + 1] - seen[k] for k in range(1, 5)]
        # 1s, 2s, 4s, then capped at 4s (whole seconds: allow for it)
        for gap, want in zip(gaps, (1, 2, 4, 4)):
            assert want - 1.05 <= gap <= want + 1.5, (gaps, inst.log_tail())
        assert gaps[2] > gaps[0] + 1.5, gaps
        # each attempt is in the log, as key=value words
        log = ctl(inst, "log", qid).stdout
        for k in range(1, 6):
            assert re.search(r"%s: to=<bob@example\.test>.*status=deferred"
                             r".*attempts=%d\b" % (qid, k), log), log


def test_expiry_bounces_to_the_sender(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "queue_lifetime": "3s"})
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "alice@example.test", ["bob@example.test"],
                     message("doomed", body="the doomed body"))
        wait_for("a bounce to alice", lambda: reports(inst, "alice"), 25,
                 0.2, inst)
        wait_queue_empty(inst)
    [data] = reports(inst, "alice")
    # a bounce has the null sender (RFC 5321 4.5.5) and says it is automatic
    assert data.startswith(b"Return-Path: <>\n"), data[:200]
    msg, per_msg, per_rcpt, third = dsn_parts(data)
    assert msg["To"] and "alice@example.test" in msg["To"]
    assert msg["Auto-Submitted"], "RFC 3834: Auto-Submitted missing"
    assert field(per_msg, "Reporting-MTA") == "dns; mail.example.test"
    assert email.utils.parsedate_to_datetime(field(per_msg, "Arrival-Date"))
    [r] = per_rcpt
    assert field(r, "Final-Recipient").lower() == "rfc822; bob@example.test"
    assert field(r, "Action") == "failed"
    status = field(r, "Status")
    assert STATUS.match(status) and status[0] in "45", status
    assert field(r, "Diagnostic-Code")
    assert email.utils.parsedate_to_datetime(field(r, "Last-Attempt-Date"))
    # the original comes back: the whole of it by default (no RET given)
    assert third is not None
    text = third.as_string()
    assert "Subject: doomed" in text
    # the human part says what happened, with the queue id
    assert qid in parse(data).get_payload()[0].get_payload()
    # bob never got it; the log follows the message and its bounce
    assert not any(b"Subject: doomed" in m for m in inst.messages("bob"))
    log = ctl(inst, "log", qid).stdout
    assert re.search(r"%s: to=<bob@example\.test>.*status=(expired|bounced)"
                     % qid, log), log
    ids = set(re.findall(r"\b([0-9A-F]{16}): ", log))
    assert len(ids) >= 2, "the bounce's own lines are missing:\n" + log
    assert re.search(r"to=<alice@example\.test>.*status=sent", log), log


def test_ret_hdrs_returns_only_the_header(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "queue_lifetime": "2s"})
    with unwritable_maildir(inst, "bob"):
        submit(inst, "alice@example.test", ["bob@example.test"],
               message("headers only", body="secret body text"),
               mail_options=["RET=HDRS", "ENVID=env-42"],
               rcpt_options=["ORCPT=rfc822;bob@example.test"])
        wait_for("a bounce to alice", lambda: reports(inst, "alice"), 25,
                 0.2, inst)
    [data] = reports(inst, "alice")
    msg, per_msg, per_rcpt, third = dsn_parts(data)
    assert third is not None
    assert third.get_content_type() == "text/rfc822-headers"
    assert "Subject: headers only" in third.as_string()
    assert b"secret body text" not in data
    assert field(per_msg, "Original-Envelope-Id") == "env-42"
    assert field(per_rcpt[0], "Original-Recipient").lower() == \
        "rfc822; bob@example.test"


def test_delay_warning_then_bounce(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "delay_warning_time": "2s",
                                 "queue_lifetime": "7s"})
    with unwritable_maildir(inst, "bob"):
        submit(inst, "alice@example.test", ["bob@example.test"],
               message("slow one"))
        wait_for("a delay warning", lambda: reports(inst, "alice"), 15,
                 0.2, inst)
        [warning] = reports(inst, "alice")
        _, _, [r], third = dsn_parts(warning)
        assert field(r, "Action") == "delayed"
        assert field(r, "Status").startswith("4.")
        # the message is still queued and tried
        assert queue_json(inst)["count"] == 1
        wait_for("the bounce", lambda: len(reports(inst, "alice")) == 2,
                 20, 0.2, inst)
        wait_queue_empty(inst)
    time.sleep(1.5)
    first, second = reports(inst, "alice")
    assert first == warning
    _, _, [r], _ = dsn_parts(second)
    assert field(r, "Action") == "failed"
    assert len(reports(inst, "alice")) == 2, "one warning, one bounce"


def test_notify_never_and_success(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "queue_lifetime": "2s"})
    submit(inst, "alice@example.test", ["carol@example.test"],
           message("tell me"), rcpt_options=["NOTIFY=SUCCESS"])
    wait_for("a success notice", lambda: reports(inst, "alice"), 15, 0.2,
             inst)
    [data] = reports(inst, "alice")
    _, _, [r], third = dsn_parts(data)
    assert field(r, "Final-Recipient").lower() == \
        "rfc822; carol@example.test"
    assert field(r, "Action") == "delivered"
    assert field(r, "Status").startswith("2.")
    assert len(inst.messages("carol")) == 1
    with unwritable_maildir(inst, "bob"):
        submit(inst, "alice@example.test", ["bob@example.test"],
               message("never tell"), rcpt_options=["NOTIFY=NEVER"])
        time.sleep(3)
        wait_queue_empty(inst)
    time.sleep(1)
    assert len(reports(inst, "alice")) == 1, "a bounce despite NOTIFY=NEVER"


def test_double_bounce_goes_to_postmaster_then_stops(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "queue_lifetime": "3s",
                                 "postmaster_address": "carol@example.test"})
    with unwritable_maildir(inst, "bob"):
        # the bounce goes to a sender that does not exist: it fails too
        qid = submit(inst, "ghost@example.test", ["bob@example.test"],
                     message("from a ghost", sender="ghost@example.test"))
        wait_for("a double bounce to the postmaster",
                 lambda: reports(inst, "carol"), 25, 0.2, inst)
        wait_queue_empty(inst)
        time.sleep(1.5)
    [data] = reports(inst, "carol")
    assert data.startswith(b"Return-Path: <>\n"), data[:200]
    dsn_parts(data)
    assert b"ghost@example.test" in data
    assert reports(inst, "alice") == []
    # the whole chain is in the log, under the original id
    log = ctl(inst, "log", qid).stdout
    assert len(set(re.findall(r"\b([0-9A-F]{16}): ", log))) >= 3, log

    # a double bounce that cannot be delivered is dropped, not bounced
    n_carol = len(inst.message_files("carol"))
    with unwritable_maildir(inst, "bob"), unwritable_maildir(inst, "carol"):
        qid = submit(inst, "ghost@example.test", ["bob@example.test"],
                     message("from a ghost again",
                             sender="ghost@example.test"))
        wait_queue_empty(inst, timeout=30)
    time.sleep(1.5)
    log = ctl(inst, "log", qid).stdout
    assert re.search(r"double bounce.*dropped", log), log
    assert len(inst.message_files("carol")) == n_carol
    assert reports(inst, "alice") == []
    assert queue_json(inst)["count"] == 0


def test_null_sender_is_never_bounced(make_instance):
    inst = make_instance(config={"queue_retry_min": "1s",
                                 "queue_retry_max": "1s",
                                 "queue_lifetime": "2s",
                                 "postmaster_address": "carol@example.test"})
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "", ["bob@example.test"],
                     message("a bounce that fails", sender=None))
        wait_queue_empty(inst, timeout=30)
        time.sleep(1.5)
    log = ctl(inst, "log", qid).stdout
    # nothing was sent to the null sender: only the postmaster may hear
    assert not re.search(r"notification=\S+ kind=\S+ to=<>", log), log
    for user in ("alice", "bob"):
        assert reports(inst, user) == [], user
    assert len(reports(inst, "carol")) <= 1
