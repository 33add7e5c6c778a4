"""
Exactly once under fire (issue 4, DESIGN.md "Durability, proven"): 2,000
messages flow from 10 smtplib clients while every daemon is killed with
SIGKILL in turn at random moments (smtpd, queue, deliver, auth), then all
of facteurd's children at once. Afterwards every message that got a 250
is in its Maildir exactly once; a message whose transaction broke before
its 250 is there at most once; nothing else is there. A client never
resends a message under the same Message-ID (a real MTA would, and a
duplicate of a message that never got its 250 is allowed).

The seed of the random kill times is printed: FACTEUR_KILL_SEED=N repeats
a run.
"""

import collections
import os
import random
import re
import signal
import smtplib
import threading
import time

from facteur_instance import DAEMONS
from queue_helpers import queue_json

USERS = ("alice", "bob", "carol")
CONFIG = {"max_sessions_per_ip": "200", "max_sessions": "200",
          "queue_retry_min": "1s", "queue_retry_max": "3s",
          # a daemon killed again and again comes back within a second
          "restart_backoff_max": "1s"}
NCLIENTS = 10
NMSGS = 2000
PACE = 0.06                 # seconds between two messages of a client:
                            # the flow lasts long enough for many kills
ALL_AT_ONCE_AT = 1700       # accepted messages before the final massacre
MSGID = re.compile(rb"^Message-ID: <([^@>]+)@", re.M | re.I)


def files(inst):
    return sum(len(inst.message_files(u)) for u in USERS)


def delivered(inst):
    count = collections.Counter()
    for user in USERS:
        for path in inst.message_files(user):
            try:
                with open(path, "rb") as f:
                    head = f.read(4096)
            except FileNotFoundError:
                continue
            m = MSGID.search(head)
            count[(m.group(1).decode() if m else "?", user)] += 1
    return count


def test_exactly_once_under_kill_9(make_instance):
    seed = int(os.environ.get("FACTEUR_KILL_SEED", time.time() * 1000))
    print("FACTEUR_KILL_SEED=%d" % seed)
    rnd = random.Random(seed)
    inst = make_instance(config=CONFIG)
    lock = threading.Lock()
    acked = []          # [(msgid, user)]: got 250
    unsure = []         # transaction broke before a 250
    state = {"next": 0, "accepted": 0, "errors": 0, "done": False}
    failures = []

    def take():
        with lock:
            if state["next"] >= NMSGS:
                return None
            state["next"] += 1
            return state["next"] - 1

    def client(c):
        conn = None
        n = take()
        attempt = 0
        try:
            while n is not None:
                rcpts = [USERS[n % 3]] + ([USERS[(n + 1) % 3]]
                                          if n % 10 == 0 else [])
                msgid = "m%d-%d" % (n, attempt)
                data = ("From: <alice@example.test>\r\nTo: x\r\n"
                        "Subject: load %d\r\nMessage-ID: <%s@example.test>"
                        "\r\n\r\nbody %d\r\n" % (n, msgid, n)).encode()
                try:
                    if conn is None:
                        conn = smtplib.SMTP("127.0.0.1", inst.port,
                                            timeout=30)
                        conn.ehlo("c%d.example.test" % c)
                    started = False
                    code, resp = conn.mail("alice@example.test")
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, resp)
                    for r in rcpts:
                        code, resp = conn.rcpt("%s@example.test" % r)
                        if code != 250:
                            raise smtplib.SMTPResponseException(code, resp)
                    started = True
                    code, resp = conn.data(data)
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, resp)
                    with lock:
                        acked.extend((msgid, r) for r in rcpts)
                        state["accepted"] += 1
                    n = take()
                    attempt = 0
                    time.sleep(PACE)
                except (smtplib.SMTPException, OSError) as e:
                    code = getattr(e, "smtp_code", 0)
                    if 500 <= code < 600:
                        failures.append("permanent error for %s: %r" %
                                        (msgid, e))
                        return
                    with lock:
                        state["errors"] += 1
                        if started or not isinstance(
                                e, smtplib.SMTPResponseException):
                            unsure.extend((msgid, r) for r in rcpts)
                    attempt += 1
                    if conn is not None:
                        try:
                            conn.rset()
                        except (smtplib.SMTPException, OSError):
                            conn.close()
                            conn = None
                    time.sleep(0.05)
        except Exception as e:      # noqa: B902 - reported below
            failures.append("client %d: %r" % (c, e))
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    conn.close()

    threads = [threading.Thread(target=client, args=(c,))
               for c in range(NCLIENTS)]
    t0 = time.time()
    for t in threads:
        t.start()

    kills = []
    cycle = ["smtpd", "queue", "deliver", "auth"]
    rnd.shuffle(cycle)
    i = 0
    while state["accepted"] < ALL_AT_ONCE_AT and \
            any(t.is_alive() for t in threads):
        time.sleep(rnd.uniform(0.05, 0.6))
        d = cycle[i % len(cycle)]
        i += 1
        old = inst.kill(d, signal.SIGKILL)
        kills.append((round(time.time() - t0, 2), d, state["accepted"]))
        inst.wait_restarted(d, old, timeout=20)
    # and every child of facteurd at once, mail still flowing
    pids = inst.pids()
    for d in DAEMONS:
        os.kill(pids[d], signal.SIGKILL)
    kills.append((round(time.time() - t0, 2), "all", state["accepted"]))
    for d in DAEMONS:
        inst.wait_restarted(d, pids[d], timeout=30)
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients hung"
    assert not failures, failures
    print("kills:", kills)
    print("accepted %d, broken transactions %d, %.1fs" % (
        state["accepted"], state["errors"], time.time() - t0))
    assert state["accepted"] == NMSGS
    assert len([k for k in kills if k[1] != "all"]) >= 8, kills

    # every acknowledged message arrives; then the queue drains
    want = len(acked)
    deadline = time.time() + 60
    while time.time() < deadline and files(inst) < want:
        time.sleep(0.5)
    deadline = time.time() + 30
    while time.time() < deadline and queue_json(inst)["count"] > 0:
        time.sleep(0.5)
    time.sleep(1)
    got = delivered(inst)
    acked_set = collections.Counter(acked)
    unsure_set = set(unsure)
    missing = [k for k in acked_set if got[k] == 0]
    dup = [(k, got[k]) for k in got if got[k] > 1]
    unknown = [k for k in got if k not in acked_set and k not in unsure_set]
    assert not missing, "%d acknowledged messages lost, e.g. %s\n%s" % (
        len(missing), missing[:10], inst.log_tail())
    assert not dup, "%d messages stored more than once, e.g. %s" % (
        len(dup), dup[:10])
    assert not unknown, "messages nobody sent: %s" % unknown[:10]
    assert all(v == 1 for v in acked_set.values()), "test bug: msgid reused"
    assert queue_json(inst)["count"] == 0, "the queue did not drain"
