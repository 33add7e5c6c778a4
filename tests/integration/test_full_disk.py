"""
A full disk (issue 4, DESIGN.md "LMDB rules" and "Durability, proven"):
the spool on a small tmpfs (system pass only: mounting needs root).
While space is short SMTP answers 452 4.3.1, never 5xx and never 250;
a message cut short by the full disk leaves nothing behind; what was
queued before is not damaged and is delivered intact; flow resumes as
soon as space returns.
"""

import errno
import hashlib
import os
import re
import smtplib
import subprocess
import time

import pytest

from queue_helpers import (ctl, message, queue_json, submit,
                           unwritable_maildir, wait_for, wait_queue_empty)

pytestmark = pytest.mark.system

TMPFS_SIZE = "2m"


def fill(path):
    """Writes path until the file system is full; returns its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    size = 0
    try:
        for chunk in (65536, 4096, 512, 1):
            buf = b"\0" * chunk
            while True:
                try:
                    n = os.write(fd, buf)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                size += n
                if n < chunk:
                    break
    finally:
        os.close(fd)
    return size


def transaction(inst, data, rcpt="bob@example.test"):
    """MAIL, RCPT, DATA; returns the first reply that is not a success
    as (code, text), or (250, text) of the final reply."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as c:
        c.ehlo("client.example.test")
        code, resp = c.mail("alice@example.test")
        if code != 250:
            return code, resp.decode()
        code, resp = c.rcpt(rcpt)
        if code != 250:
            return code, resp.decode()
        try:
            code, resp = c.data(data)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error.decode()
        return code, resp.decode()


def assert_452(reply):
    code, text = reply
    assert code == 452, "expected 452 4.3.1 with a full spool, got %r" % (
        reply,)
    assert re.match(r"4\.3\.1\b", text), reply


@pytest.fixture
def tmpfs_instance(make_instance):
    inst = make_instance(start=False, config={
        "queue_retry_min": "1s", "queue_retry_max": "2s"})
    os.makedirs(inst.spool_dir)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" %
                    TMPFS_SIZE, "tmpfs", inst.spool_dir], check=True)
    try:
        inst.start()
        yield inst
    finally:
        inst.stop()
        r = subprocess.run(["umount", inst.spool_dir])
        if r.returncode != 0:
            subprocess.run(["umount", "-l", inst.spool_dir])


def test_full_spool(tmpfs_instance):
    inst = tmpfs_instance
    filler = os.path.join(inst.spool_dir, "filler")
    queued = {}
    with unwritable_maildir(inst, "bob") as restore:
        # mail queued before the disk fills up
        for i in range(5):
            data = message("queued before %d" % i,
                           body=("line %d of the queued mail\r\n" % i) * 400)
            qid = submit(inst, "alice@example.test", ["bob@example.test"],
                         data)
            queued[qid] = hashlib.sha256(
                data.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n")
            ).hexdigest()
        wait_for("5 deferred messages", lambda: queue_json(inst)["count"]
                 == 5, 15, 0.3, inst)

        # full: every attempt is a temporary failure
        fill(filler)
        for i in range(3):
            assert_452(transaction(inst, message("no room %d" % i)))
        # retries of the queued mail go on meanwhile (index writes fail)
        time.sleep(2.5)

        # a little room, a message too big for it: 452, and the part
        # written is removed (else the next small message would fail)
        size = os.path.getsize(filler)
        os.truncate(filler, size - 256 * 1024)
        big = message("too big for the room left",
                      body=("x" * 76 + "\r\n") * 13000)   # ~1 MB
        assert_452(transaction(inst, big))
        time.sleep(0.5)
        code, text = transaction(inst, message("small fits"))
        assert code == 250, (code, text, inst.log_tail())

        # room again: flow resumes
        os.unlink(filler)
        for i in range(3):
            code, text = transaction(inst, message("after %d" % i))
            assert code == 250, (code, text)
        assert queue_json(inst)["count"] >= 5
        restore()
        ctl(inst, "queue", "flush")
        inst.wait_for_delivery("bob", 1 + 5 + 1 + 3, timeout=30)
        wait_queue_empty(inst)

    # what was queued before arrived whole, once
    bodies = {}
    for data in inst.messages("bob"):
        m = re.search(rb"^Subject: queued before \d", data, re.M)
        if m:
            body = data.split(b"\n\n", 1)[1]
            bodies.setdefault(hashlib.sha256(body).hexdigest(), 0)
            bodies[hashlib.sha256(body).hexdigest()] += 1
    assert sorted(bodies) == sorted(queued.values()), \
        "queued mail damaged or lost by the full disk"
    assert all(v == 1 for v in bodies.values()), bodies
    for subject in ("no room", "too big for the room left"):
        assert not any(("Subject: %s" % subject).encode() in m
                       for m in inst.messages("bob")), subject
    # nothing was declared corrupt, nothing is left in tmp/
    for sub in ("corrupt", "tmp"):
        d = os.path.join(inst.spool_dir, sub)
        left = os.listdir(d) if os.path.isdir(d) else []
        assert left == [], (sub, left)
