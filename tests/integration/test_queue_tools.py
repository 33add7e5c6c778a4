"""
The administrator's queue tools (issue 4, "Tools"): mailq / facteurctl
queue list, show, flush, hold, release, delete (ID, ALL, --from, --to),
requeue, the --json documents, facteurctl status (daemons, queue sizes,
counters) and facteurctl log ID. Mail is kept in the queue by making the
recipient's Maildir unwritable, as a broken mail store would; what is
checked is what an administrator sees and what the users get.
"""

import json
import re
import signal
import time


from facteur_instance import DAEMONS
from queue_helpers import (ctl, ctl_json, message, queue_entry, queue_json,
                           submit, unwritable_maildir, wait_for,
                           wait_queue_empty)

# retries come fast: a held message would be delivered if hold did not hold
FAST = {"queue_retry_min": "1s", "queue_retry_max": "2s"}
# retries are far away: only flush or requeue makes them happen now
SLOW = {"queue_retry_min": "1h", "queue_retry_max": "2h"}


def deferred(inst, qid, timeout=15):
    """Waits until the queue shows qid with a deferred recipient."""
    def check():
        e = queue_entry(inst, qid)
        return e if e and any(r["state"] == "deferred"
                              for r in e["recipients"]) else None
    return wait_for("%s deferred" % qid, check, timeout, 0.2, inst)


def count_new(inst, user, subject):
    return sum(1 for m in inst.messages(user)
               if ("Subject: %s\n" % subject).encode() in m)


# --- list ----------------------------------------------------------------

def test_mailq_empty(instance):
    r = ctl(instance, prog="mailq")
    assert r.stdout.strip() == "Mail queue is empty"
    assert ctl(instance, "queue").stdout == r.stdout
    assert queue_json(instance) == {"messages": [], "count": 0, "bytes": 0}


def test_mailq_when_facteur_is_down(make_instance):
    inst = make_instance(start=False)
    inst.write_config()
    r = ctl(inst, check=False, prog="mailq")
    assert r.returncode != 0
    assert "not running" in r.stderr, r.stderr


def test_list_shows_deferred_message(make_instance):
    inst = make_instance(config=SLOW)
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "alice@example.test", ["bob@example.test"],
                     message("stuck", body="x" * 3000))
        deferred(inst, qid)
        out = ctl(inst, prog="mailq").stdout
        lines = out.splitlines()
        assert lines[0].split() == ["-Queue", "ID-", "--Size--",
                                    "----Arrival", "Time----",
                                    "-Sender/Recipient-------"], out
        row = [l for l in lines if l.startswith(qid)]
        assert row, out
        # id, no hold mark, size, arrival, sender
        assert re.match(r"%s\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d\s+"
                        r"alice@example\.test$" % qid, row[0]), row[0]
        size = int(row[0].split()[1])
        assert 3000 < size < 4000, row[0]
        # the reason in parentheses, then the recipient
        i = lines.index(row[0])
        assert re.match(r"^\s+\(.+\)$", lines[i + 1]), out
        assert lines[i + 2].strip() == "bob@example.test", out
        assert re.search(r"^-- \d+ Kbytes in 1 Request\.$", out, re.M), out
        assert ctl(inst, "queue", "list").stdout == out

        doc = queue_json(inst)
        assert doc["count"] == 1 and len(doc["messages"]) == 1, doc
        assert doc["bytes"] == size
        m = doc["messages"][0]
        assert m["queue_id"] == qid
        assert m["queue_name"] == "deferred"
        assert m["held"] is False
        assert m["sender"] == "alice@example.test"
        assert m["message_size"] == size
        assert abs(m["arrival_time"] - time.time()) < 120
        assert len(m["recipients"]) == 1
        rc = m["recipients"][0]
        assert rc["address"] == "bob@example.test"
        assert rc["state"] == "deferred"
        assert rc["attempts"] >= 1
        assert rc["next_attempt"] > time.time() + 600   # retry_min 1h
        assert rc["delay_reason"], rc
        # mailq --json is the same document
        assert json.loads(ctl(inst, "--json", prog="mailq").stdout) == doc


def test_null_sender_listed_as_mailer_daemon(make_instance):
    inst = make_instance(config=SLOW)
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "", ["bob@example.test"], message("from nobody"))
        deferred(inst, qid)
        row = [l for l in ctl(inst, prog="mailq").stdout.splitlines()
               if l.startswith(qid)]
        assert row and row[0].endswith("MAILER-DAEMON"), row
        assert queue_entry(inst, qid)["sender"] == ""


# --- show ----------------------------------------------------------------

def test_show(make_instance):
    inst = make_instance(config=SLOW)
    with unwritable_maildir(inst, "bob"):
        qid = submit(inst, "alice@example.test",
                     ["bob@example.test", "carol@example.test"],
                     message("show me", body="the secret body"))
        deferred(inst, qid)
        inst.wait_for_delivery("carol", 1)
        out = ctl(inst, "queue", "show", qid).stdout
        assert qid in out
        assert "alice@example.test" in out
        # per-recipient status: bob waits, carol has it
        bob = [l for l in out.splitlines() if "bob@example.test" in l
               and "deferred" in l]
        carol = [l for l in out.splitlines() if "carol@example.test" in l
                 and "delivered" in l]
        assert bob and carol, out
        # the headers, with facteur's Received, but not the body
        assert re.search(r"^Subject: show me$", out, re.M), out
        assert re.search(r"^Received: ", out, re.M), out
        assert "the secret body" not in out
        assert "\r" not in out

        doc = ctl_json(inst, "queue", "show", qid, "--json")
        assert doc["queue_id"] == qid
        assert doc["sender"] == "alice@example.test"
        states = {r["address"]: r["state"] for r in doc["recipients"]}
        assert states == {"bob@example.test": "deferred",
                          "carol@example.test": "delivered"}, doc
        assert re.search(r"^Subject: show me$", doc["headers"], re.M)
        assert "the secret body" not in doc["headers"]
        # ids are accepted in any case, as typed from a log
        assert ctl(inst, "queue", "show", qid.lower()).stdout == out


def test_show_unknown_and_bad_ids(instance):
    r = ctl(instance, "queue", "show", "0123456789ABCDEF", check=False)
    assert r.returncode == 1 and "no such message" in r.stderr, r
    r = ctl(instance, "queue", "show", "not-an-id", check=False)
    assert r.returncode == 1 and "not a queue id" in r.stderr, r


# --- hold, release -------------------------------------------------------

def test_hold_and_release(make_instance):
    inst = make_instance(config=FAST)
    with unwritable_maildir(inst, "bob") as restore:
        qid = submit(inst, "alice@example.test", ["bob@example.test"],
                     message("held mail"))
        deferred(inst, qid)
        r = ctl(inst, "queue", "hold", qid)
        assert r.stdout.strip() == "1 message put on hold", r.stdout
        row = [l for l in ctl(inst, prog="mailq").stdout.splitlines()
               if l.startswith(qid)]
        # Postfix's mark of a held message: '!' right after the id
        assert row and row[0].startswith(qid + "!"), row
        e = queue_entry(inst, qid)
        assert e["held"] is True and e["queue_name"] == "hold", e
        restore()
        # retries every second or two: none may touch a held message
        ctl(inst, "queue", "flush")
        time.sleep(4)
        assert count_new(inst, "bob", "held mail") == 0, inst.log_tail()
        assert queue_entry(inst, qid) is not None
        r = ctl(inst, "queue", "release", qid)
        assert r.stdout.strip() == "1 message released from hold"
        wait_for("delivery after release",
                 lambda: count_new(inst, "bob", "held mail") == 1, 15,
                 inst=inst)
        wait_queue_empty(inst)
        time.sleep(1)
        assert count_new(inst, "bob", "held mail") == 1


def test_hold_all_and_release_all(make_instance):
    inst = make_instance(config=FAST)
    with unwritable_maildir(inst, "bob") as restore:
        ids = [submit(inst, "alice@example.test", ["bob@example.test"],
                      message("all held %d" % i)) for i in range(3)]
        for q in ids:
            deferred(inst, q)
        r = ctl(inst, "hold", "ALL")          # without "queue" too
        assert r.stdout.strip() == "3 messages put on hold", r.stdout
        assert all(m["held"] for m in queue_json(inst)["messages"])
        restore()
        time.sleep(3)
        assert sum(count_new(inst, "bob", "all held %d" % i)
                   for i in range(3)) == 0
        r = ctl(inst, "queue", "release", "ALL")
        assert r.stdout.strip() == "3 messages released from hold"
        wait_for("3 deliveries", lambda: all(
            count_new(inst, "bob", "all held %d" % i) == 1
            for i in range(3)), 20, inst=inst)
        wait_queue_empty(inst)


# --- delete --------------------------------------------------------------

def test_delete_by_id_from_to_all(make_instance):
    inst = make_instance(config=FAST)
    with unwritable_maildir(inst, "bob") as restore_bob, \
            unwritable_maildir(inst, "carol") as restore_carol:
        m1 = submit(inst, "alice@example.test", ["bob@example.test"],
                    message("del one"))
        m2 = submit(inst, "alice@example.test", ["carol@example.test"],
                    message("del two"))
        m3 = submit(inst, "dave@elsewhere.example", ["bob@example.test"],
                    message("del three"))
        m4 = submit(inst, "alice@example.test", ["bob@example.test"],
                    message("del four"))
        for q in (m1, m2, m3, m4):
            deferred(inst, q)

        def ids():
            return {m["queue_id"] for m in queue_json(inst)["messages"]}
        assert ids() == {m1, m2, m3, m4}

        r = ctl(inst, "queue", "delete", m1)
        assert r.stdout.strip() == "1 message deleted", r.stdout
        assert ids() == {m2, m3, m4}
        r = ctl(inst, "queue", "delete", "--to", "carol@example.test")
        assert r.stdout.strip() == "1 message deleted", r.stdout
        assert ids() == {m3, m4}
        r = ctl(inst, "queue", "delete", "--from", "dave@elsewhere.example")
        assert r.stdout.strip() == "1 message deleted", r.stdout
        assert ids() == {m4}
        # a selector that matches nothing is not an error; an id is
        r = ctl(inst, "queue", "delete", "--from", "nobody@nowhere.example")
        assert r.stdout.strip() == "0 messages deleted"
        r = ctl(inst, "queue", "delete", m1, check=False)
        assert r.returncode == 1 and "no such message" in r.stderr, r
        r = ctl(inst, "delete", "ALL")
        assert r.stdout.strip() == "1 message deleted", r.stdout
        assert queue_json(inst)["count"] == 0
        assert ctl(inst, prog="mailq").stdout.strip() == "Mail queue is empty"

        # deleted mail is never delivered, and nobody gets a bounce
        restore_bob()
        restore_carol()
        ctl(inst, "queue", "flush")
        time.sleep(3)
        for subject in ("del one", "del two", "del three", "del four"):
            for user in ("bob", "carol"):
                assert count_new(inst, user, subject) == 0, (user, subject)
        assert len(inst.messages("alice")) == 0, "a bounce for deleted mail"
        # the log says what happened to each
        for q in (m1, m2, m3, m4):
            out = ctl(inst, "log", q).stdout
            assert re.search(r"%s: .*(delet|remov)" % q, out, re.I), out


def test_delete_needs_a_selector(instance):
    r = ctl(instance, "queue", "delete", check=False)
    assert r.returncode != 0
    r = ctl(instance, "queue", "delete", "bogus", check=False)
    assert r.returncode == 1 and "not a queue id" in r.stderr, r


# --- flush, requeue ------------------------------------------------------

def test_flush_one_and_all(make_instance):
    inst = make_instance(config=SLOW)
    with unwritable_maildir(inst, "bob") as restore:
        a = submit(inst, "alice@example.test", ["bob@example.test"],
                   message("flush a"))
        b = submit(inst, "alice@example.test", ["bob@example.test"],
                   message("flush b"))
        deferred(inst, a)
        deferred(inst, b)
        restore()
        time.sleep(1.5)
        # next attempt is an hour away: nothing moves by itself
        assert count_new(inst, "bob", "flush a") == 0
        r = ctl(inst, "queue", "flush", a)
        assert r.stdout.strip() == "1 message scheduled for delivery now"
        wait_for("flushed delivery", lambda: count_new(
            inst, "bob", "flush a") == 1, 10, inst=inst)
        assert count_new(inst, "bob", "flush b") == 0
        assert queue_entry(inst, b) is not None
        r = ctl(inst, "flush")
        assert r.stdout.strip() == "1 message scheduled for delivery now"
        wait_for("flushed delivery", lambda: count_new(
            inst, "bob", "flush b") == 1, 10, inst=inst)
        wait_queue_empty(inst)
    r = ctl(inst, "queue", "flush", a, check=False)
    assert r.returncode == 1, r


def test_requeue(make_instance):
    inst = make_instance(config=SLOW)
    with unwritable_maildir(inst, "bob") as restore:
        q = submit(inst, "alice@example.test", ["bob@example.test"],
                   message("requeued"))
        deferred(inst, q)
        restore()
        r = ctl(inst, "queue", "requeue", q)
        assert r.stdout.strip() == "1 message requeued", r.stdout
        wait_for("delivery after requeue", lambda: count_new(
            inst, "bob", "requeued") == 1, 10, inst=inst)
        wait_queue_empty(inst)
        time.sleep(1)
        assert count_new(inst, "bob", "requeued") == 1
    r = ctl(inst, "requeue", "ALL")
    assert r.stdout.strip() == "0 messages requeued"


# --- status --------------------------------------------------------------

def status_rows(out):
    rows = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) == 4 and (w[0] in DAEMONS or w[0] == "facteurd"):
            rows[w[0]] = w
    return rows


def test_status_daemons_and_restarts(instance):
    out = ctl(instance, "status").stdout
    rows = status_rows(out)
    pids = instance.pids()
    assert set(rows) == set(DAEMONS) | {"facteurd"}, out
    for d in DAEMONS:
        assert int(rows[d][1]) == pids[d], out
        assert rows[d][3] == "0"
    assert int(rows["facteurd"][1]) == instance.master_pid()
    old = instance.kill("deliver", signal.SIGKILL)
    new = instance.wait_restarted("deliver", old)
    doc = ctl_json(instance, "status", "--json")
    by = {d["name"]: d for d in doc["daemons"]}
    assert by["deliver"]["pid"] == new and by["deliver"]["running"] is True
    assert by["deliver"]["restarts"] == 1
    assert by["smtpd"]["restarts"] == 0
    assert isinstance(by["queue"]["uptime"], int)
    rows = status_rows(ctl(instance, "status").stdout)
    assert rows["deliver"][3] == "1" and int(rows["deliver"][1]) == new


def test_status_queue_sizes_and_counters(make_instance):
    inst = make_instance(config=SLOW)
    before = ctl_json(inst, "status", "--json")["messages"]
    for k in ("received", "delivered", "deferred", "bounced"):
        assert isinstance(before[k], int), before
    for i in range(3):
        submit(inst, "alice@example.test", ["carol@example.test"],
               message("count %d" % i))
    inst.wait_for_delivery("carol", 3)
    with unwritable_maildir(inst, "bob"):
        q1 = submit(inst, "alice@example.test", ["bob@example.test"],
                    message("stuck one"))
        q2 = submit(inst, "alice@example.test", ["bob@example.test"],
                    message("stuck two"))
        deferred(inst, q1)
        deferred(inst, q2)
        ctl(inst, "queue", "hold", q2)
        doc = ctl_json(inst, "status", "--json")
        after = doc["messages"]
        # 3 to carol, 1 creating bob's Maildir, 2 stuck
        assert after["received"] - before["received"] == 6, (before, after)
        assert after["delivered"] - before["delivered"] == 4, (before,
                                                               after)
        assert after["deferred"] - before["deferred"] >= 2, (before, after)
        assert after["bounced"] == before["bounced"]
        q = doc["queue"]
        assert q["held"] == 1, q
        assert q["deferred"] >= 1, q
        assert q["active"] + q["deferred"] + q["held"] >= 2, q
        out = ctl(inst, "status").stdout
        assert re.search(r"^Queue:.*\b1 held\b", out, re.M), out
        assert re.search(r"^Since start:.*\b%d received\b" %
                         after["received"], out, re.M), out


# --- log -----------------------------------------------------------------

def test_log_follows_one_message(make_instance):
    inst = make_instance(config=FAST)
    other = submit(inst, "alice@example.test", ["carol@example.test"],
                   message("another one"))
    with unwritable_maildir(inst, "bob") as restore:
        qid = submit(inst, "alice@example.test", ["bob@example.test"],
                     message("follow me"))
        deferred(inst, qid)
        restore()
        inst.wait_for_delivery("bob", 2)
        wait_queue_empty(inst)
    out = ctl(inst, "log", qid).stdout
    lines = out.splitlines()
    assert lines and all(qid in l for l in lines), out
    assert other not in out
    # in order: received, deferred, sent

    def first(pattern):
        for i, l in enumerate(lines):
            if re.search(pattern, l):
                return i
        raise AssertionError("no line matching %r in\n%s" % (pattern, out))
    i_from = first(r"%s: from=<alice@example\.test>" % qid)
    i_def = first(r"%s: to=<bob@example\.test>.*status=deferred" % qid)
    i_sent = first(r"%s: to=<bob@example\.test>.*status=sent" % qid)
    assert i_from < i_def < i_sent, out
    # key=value words as documented in the README
    sent = lines[i_sent]
    assert re.search(r"\bdelay=\d+(\.\d+)?\b", sent), sent
    assert re.search(r"\bdsn=2\.0\.0\b", sent), sent
    # lower case works, an unknown id fails
    assert ctl(inst, "log", qid.lower()).stdout == out
    r = ctl(inst, "log", "0000000000000000", check=False)
    assert r.returncode == 1
