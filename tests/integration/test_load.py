"""
Load and durability: parallel smtplib clients; kill -9 of queue and of
deliver in the middle of a load. A 250 is a promise: every message that got
one is in its Maildir exactly once; a message that did not get one may be
absent or present once, never twice (DESIGN.md "Durability, proven").
"""

import collections
import re
import signal
import smtplib
import threading
import time

USERS = ("alice", "bob", "carol")
LOAD_CONFIG = {"max_sessions_per_ip": "200", "max_sessions": "200"}
# deliveries interrupted by a kill are retried quickly
KILL_CONFIG = dict(LOAD_CONFIG, queue_retry_min="1s", queue_retry_max="5s")


def make_message(msgid, rcpts):
    return ("From: alice@example.test\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.test>\r\n\r\nbody of %s\r\n" % (
                ", ".join(rcpts), msgid, msgid, msgid)).encode()


def delivered(instance):
    """Counter of (message-id, user) over every Maildir."""
    count = collections.Counter()
    for user in USERS:
        for data in instance.messages(user):
            m = re.search(rb"^Message-ID: <([^@>]+)@", data, re.M | re.I)
            count[(m.group(1).decode() if m else "?", user)] += 1
    return count


def total(instance):
    return sum(len(instance.message_files(u)) for u in USERS)


def wait_total(instance, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and total(instance) < n:
        time.sleep(0.2)
    return total(instance)


def test_parallel_clients(make_instance):
    inst = make_instance(config=LOAD_CONFIG)
    nclients, nmsgs = 20, 20
    errors = []
    sent = collections.Counter()

    def client(c):
        try:
            with smtplib.SMTP("127.0.0.1", inst.port, timeout=60) as s:
                s.ehlo("load%d.example.test" % c)
                for i in range(nmsgs):
                    user = USERS[(c + i) % 3]
                    msgid = "load-%d-%d" % (c, i)
                    s.sendmail("alice@example.test",
                               ["%s@example.test" % user],
                               make_message(msgid, [user]))
                    sent[(msgid, user)] += 1
        except Exception as e:          # reported below
            errors.append("client %d: %r" % (c, e))

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(c,))
               for c in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, "\n".join(errors[:10]) + inst.log_tail()
    assert len(sent) == nclients * nmsgs
    got = wait_total(inst, nclients * nmsgs, 120)
    time.sleep(1)
    count = delivered(inst)
    assert got == nclients * nmsgs and count == sent, (
        "delivered %d of %d; missing %s; extra %s\n%s" % (
            total(inst), nclients * nmsgs,
            sorted(set(sent) - set(count))[:10],
            sorted(k for k, v in count.items() if v != sent.get(k))[:10],
            inst.log_tail()))
    print("%d messages accepted and delivered in %.1fs" % (
        nclients * nmsgs, time.time() - t0))


def test_kill_queue_and_deliver_under_load(make_instance):
    inst = make_instance(config=KILL_CONFIG)
    nclients, nmsgs = 10, 15
    promised = collections.Counter()    # (attempt id, user) -> 1
    attempts = collections.Counter()
    lock = threading.Lock()
    problems = []

    def send_one(c, i):
        rcpts = [USERS[(c + i) % 3]]
        if i % 4 == 0:
            rcpts.append(USERS[(c + i + 1) % 3])
        deadline = time.time() + 90
        a = 0
        while time.time() < deadline:
            a += 1
            msgid = "kill-%d-%d-%d" % (c, i, a)
            try:
                s = smtplib.SMTP("127.0.0.1", inst.port, timeout=30)
            except OSError:
                time.sleep(0.2)
                continue
            try:
                s.ehlo("kill%d.example.test" % c)
                with lock:
                    for u in rcpts:
                        attempts[(msgid, u)] += 1
                refused = s.sendmail(
                    "alice@example.test",
                    ["%s@example.test" % u for u in rcpts],
                    make_message(msgid, rcpts))
            except (smtplib.SMTPException, OSError):
                time.sleep(0.2)
                continue
            finally:
                try:
                    s.close()
                except OSError:
                    pass
            with lock:
                for u in rcpts:
                    if "%s@example.test" % u not in refused:
                        promised[(msgid, u)] += 1
            return
        with lock:
            problems.append("client %d message %d: no 250 in 90s" % (c, i))

    def client(c):
        for i in range(nmsgs):
            send_one(c, i)

    threads = [threading.Thread(target=client, args=(c,))
               for c in range(nclients)]
    for t in threads:
        t.start()

    kills = []
    for daemon, after in (("queue", 25), ("deliver", 70)):
        deadline = time.time() + 60
        while len(promised) < after and time.time() < deadline:
            time.sleep(0.05)
        old = inst.kill(daemon, signal.SIGKILL)
        kills.append("%s pid %d after %d promises" % (daemon, old,
                                                     len(promised)))
        inst.wait_restarted(daemon, old)
    for t in threads:
        t.join(240)
    assert not problems, "\n".join(problems) + "\n" + inst.log_tail()

    deadline = time.time() + 120
    while time.time() < deadline:
        count = delivered(inst)
        if all(count[k] >= 1 for k in promised):
            break
        time.sleep(0.3)
    time.sleep(3)       # anything delivered twice would show up by now
    count = delivered(inst)
    lost = sorted(k for k in promised if count[k] != 1)
    twice = sorted(k for k, v in count.items() if v > 1)
    unknown = sorted(k for k in count if k not in attempts)
    assert not lost and not twice and not unknown, (
        "kills: %s\npromised %d; not exactly once: %s\ntwice: %s\n"
        "never sent: %s\n%s" % (kills, len(promised), lost[:10], twice[:10],
                                unknown[:10], inst.log_tail(80)))
    print("kills: %s; %d promised, %d attempts, %d delivered" % (
        kills, len(promised), len(attempts), sum(count.values())))
    # the instance still takes mail normally
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail("alice@example.test", ["carol@example.test"],
                   make_message("after-kills", ["carol"]))
    deadline = time.time() + 20
    while time.time() < deadline and \
            delivered(inst)[("after-kills", "carol")] != 1:
        time.sleep(0.2)
    assert delivered(inst)[("after-kills", "carol")] == 1, inst.log_tail()

