"""
facteur.conf checking and reloading (DESIGN.md "Configuration"):
`facteurd -n` names file, line and problem; SIGHUP with a bad file keeps
the old configuration, with a good one applies the new one to new
sessions.
"""

import os
import re
import smtplib
import subprocess
import time

import pytest

from facteur_instance import sbin
from smtp_dialogue import RawSMTP


def check(path):
    r = subprocess.run([sbin("facteurd"), "-n", "-c", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    return r.returncode, r.stdout.decode(errors="replace")


@pytest.fixture
def conf_dir(make_instance):
    inst = make_instance(start=False)
    inst._make_dirs()
    inst.write_config()
    return inst


def test_check_good_config(conf_dir):
    code, out = check(conf_dir.conf)
    assert code == 0, out


BAD = [
    ("max_recipients = lots\n", "max_recipients"),
    ("frobnicate = 1\n", "frobnicate"),
    ("max_message_size = 10 parsecs\n", "max_message_size"),
    ("this line has no equals sign\n", None),
    ("smtpd_banner\n", None),
    ("run_mode = sometimes\n", "run_mode"),
    ("smtp.no_such_setting = 1\n", "no_such_setting"),
]


@pytest.mark.parametrize("line,word", BAD, ids=[b[0].split()[0]
                                                for b in BAD])
def test_check_bad_config(conf_dir, line, word):
    good = conf_dir.config_text()
    text = good + "# a comment\n\n" + line + "max_errors = 5\n"
    lineno = text.count("\n", 0, text.index(line)) + 1
    bad = os.path.join(conf_dir.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write(text)
    code, out = check(bad)
    assert code != 0, "facteurd -n accepted a bad file:\n" + out
    assert re.search(r"bad\.conf:%d:" % lineno, out), \
        "expected bad.conf:%d: in %r" % (lineno, out)
    if word:
        assert word in out, out


def test_check_missing_file(conf_dir):
    code, out = check(os.path.join(conf_dir.dir, "nonexistent.conf"))
    assert code != 0
    assert "nonexistent.conf" in out, out


def rcpt_codes(port, n):
    """RCPT reply codes for n recipients in a new session."""
    s = RawSMTP(port)
    try:
        s.code()
        s.cmd("EHLO client.example.test")
        s.code()
        s.cmd("MAIL FROM:<alice@example.test>")
        s.code()
        codes = []
        for u in ("alice", "bob", "carol")[:n]:
            s.cmd("RCPT TO:<%s@example.test>" % u)
            codes.append(s.code()[0])
        s.cmd("QUIT")
        return codes
    finally:
        s.close()


def wait_log(inst, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, inst.log(), re.I)
        if m:
            return m
        time.sleep(0.1)
    return None


def test_reload(instance):
    assert rcpt_codes(instance.port, 2) == [250, 250]
    pids = instance.pids()

    # a bad file: logged, the old configuration stays
    good = instance.config_text()
    instance.reload(good + "max_recipients = many\n")
    assert wait_log(instance, r"reload.*fail|fail.*reload"), \
        "no 'reload failed' in the log\n" + instance.log_tail()
    assert rcpt_codes(instance.port, 2) == [250, 250]
    with smtplib.SMTP("127.0.0.1", instance.port, timeout=10) as c:
        c.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: after a bad reload\r\n\r\nstill here\r\n")
    instance.wait_for_delivery("bob", 1)

    # a good file applies to new sessions
    instance.extra["max_recipients"] = "1"
    instance.reload(instance.config_text())
    deadline = time.time() + 10
    codes = None
    while time.time() < deadline:
        codes = rcpt_codes(instance.port, 2)
        if codes == [250, 452]:
            break
        time.sleep(0.2)
    assert codes == [250, 452], "max_recipients = 1 not applied: %s\n%s" % (
        codes, instance.log_tail())
    # a reload restarts nothing
    assert instance.pids() == pids
