"""
A Unix user's mail client: bsd-mailx (`mail -s subject alice@example.test`)
with `set sendmail=PREFIX/sbin/sendmail` in its MAILRC and the
configuration named by FACTEUR_CONF; the message lands in the Maildir.
"""

import os
import shutil
import subprocess

import pytest

from facteur_instance import sbin

MAILX = "/usr/bin/bsd-mailx"


def mailx(inst, args, body):
    rc = os.path.join(inst.dir, "mailrc")
    with open(rc, "w") as f:
        f.write("set sendmail=%s\n" % sbin("sendmail"))
    os.chmod(rc, 0o644)
    env = dict(os.environ, MAILRC=rc, FACTEUR_CONF=inst.conf,
               HOME=inst.dir)
    r = subprocess.run([MAILX] + args, input=body, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


@pytest.fixture(autouse=True)
def need_mailx():
    if not os.access(MAILX, os.X_OK):
        pytest.fail("bsd-mailx is not installed")


def test_mailx_subject_to_local_user(instance):
    code, out = mailx(instance, ["-s", "hello from mailx",
                                 "alice@example.test"],
                      b"Written with bsd-mailx.\nSecond line.\n")
    assert code == 0, out + instance.log_tail()
    data = instance.wait_for_delivery("alice", 1, settle=0.5)[0]
    head, _, body = data.partition(b"\n\n")
    assert b"\nSubject: hello from mailx\n" in head + b"\n", head
    assert b"To: alice@example.test" in head, head
    assert body.endswith(b"Written with bsd-mailx.\nSecond line.\n"), body
    assert b"Delivered-To: alice@example.test\n" in head


def test_mailx_several_recipients_and_cc(instance):
    code, out = mailx(instance, ["-s", "to two", "-c", "carol@example.test",
                                 "bob@example.test"],
                      b"for bob, copy to carol\n")
    assert code == 0, out
    for user in ("bob", "carol"):
        data = instance.wait_for_delivery(user, 1, settle=0.5)[0]
        assert data.endswith(b"for bob, copy to carol\n"), data


def test_mailx_remote_recipient_queued(instance):
    """The local listener relays: a remote address is queued (deferred,
    no relay yet), mailx reports success."""
    code, out = mailx(instance, ["-s", "far", "someone@elsewhere.example"],
                      b"far away\n")
    assert code == 0, out
    r = subprocess.run([sbin("mailq"), "-c", instance.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert "someone@elsewhere.example" in r.stdout.decode(errors="replace")


@pytest.mark.system
def test_mailx_as_ordinary_user(instance):
    user = os.environ.get("FACTEUR_SANDBOX_USER", "facteurtest")
    import pwd
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pytest.fail("no account %s" % user)
    rc = os.path.join(instance.dir, "mailrc")
    with open(rc, "w") as f:
        f.write("set sendmail=%s\n" % sbin("sendmail"))
    os.chmod(rc, 0o644)
    home = os.path.join(instance.dir, "home")
    os.makedirs(home, exist_ok=True)
    shutil.chown(home, pw.pw_uid, pw.pw_gid)
    r = subprocess.run(["runuser", "-u", user, "--", "env",
                        "MAILRC=" + rc, "FACTEUR_CONF=" + instance.conf,
                        "HOME=" + home, MAILX, "-s", "from a user",
                        "bob@example.test"],
                       input=b"hi bob\n", stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0, r.stdout
    data = instance.wait_for_delivery("bob", 1, settle=0.5)[0]
    assert data.endswith(b"hi bob\n")
    assert str(pw.pw_uid) in data.split(b"\n\n")[0].decode(), data
