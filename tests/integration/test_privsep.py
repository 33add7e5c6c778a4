"""
Privilege separation as the kernel sees it (DESIGN.md "Processes" and
"Run modes"): each daemon's uid, gid and root directory from /proc.
"""

import os
import pwd
import smtplib

import pytest

from facteur_instance import SYSTEM_ACCOUNTS


def ids(pid):
    """(real, effective, saved, fs) uids and gids, supplementary groups."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                out[k] = [int(x) for x in v.split()]
            elif k == "Groups":
                out[k] = [int(x) for x in v.split()]
    return out


def root_of(pid):
    return os.readlink("/proc/%d/root" % pid)


def send(inst, rcpt="bob"):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as c:
        c.sendmail("alice@example.test", ["%s@example.test" % rcpt],
                   b"Subject: privsep\r\n\r\nhello\r\n")
    inst.wait_for_delivery(rcpt, 1)


@pytest.mark.system
def test_system_mode_accounts_and_roots(instance):
    send(instance)
    roots = {"smtpd": instance.empty_dir, "queue": instance.spool_dir,
             "deliver": instance.mail_dir, "auth": "/"}
    pids = instance.pids()
    problems = []
    for daemon, account in SYSTEM_ACCOUNTS.items():
        pw = pwd.getpwnam(account)
        pid = pids.get(daemon)
        if pid is None:
            problems.append("%s is not running" % daemon)
            continue
        st = ids(pid)
        if st["Uid"] != [pw.pw_uid] * 4:
            problems.append("%s: Uid %s, expected %s (%d)" % (
                daemon, st["Uid"], account, pw.pw_uid))
        if st["Gid"] != [pw.pw_gid] * 4:
            problems.append("%s: Gid %s, expected %s's group %d" % (
                daemon, st["Gid"], account, pw.pw_gid))
        if set(st["Groups"]) - {pw.pw_gid}:
            problems.append("%s: supplementary groups %s" % (
                daemon, st["Groups"]))
        root = root_of(pid)
        if root != os.path.realpath(roots[daemon]):
            problems.append("%s: root %s, expected %s" % (
                daemon, root, roots[daemon]))
    master = ids(instance.master_pid())
    if master["Uid"][0] != 0:
        problems.append("facteurd: Uid %s, expected root" % master["Uid"])
    if root_of(instance.master_pid()) != "/":
        problems.append("facteurd: root %s" % root_of(instance.master_pid()))
    assert not problems, "\n".join(problems)


@pytest.mark.system
def test_system_mode_file_owners(instance):
    """What each daemon writes belongs to its account."""
    send(instance, "carol")
    vmail = pwd.getpwnam(SYSTEM_ACCOUNTS["deliver"]).pw_uid
    path = instance.message_files("carol")[0]
    assert os.stat(path).st_uid == vmail
    assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)
    queue = pwd.getpwnam(SYSTEM_ACCOUNTS["queue"]).pw_uid
    for name in ("queue", "tmp"):
        d = os.path.join(instance.spool_dir, name)
        assert os.stat(d).st_uid == queue, d


@pytest.mark.system
def test_sandbox_mode_as_root(make_instance):
    """facteurd -S started by root runs every daemon as sandbox_user,
    without chroot."""
    user = os.environ.get("FACTEUR_SANDBOX_USER", "facteurtest")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pytest.fail("no account %r for sandbox_user (FACTEUR_SANDBOX_USER)"
                    % user)
    inst = make_instance(run_mode="sandbox", sandbox_user=user)
    send(inst)
    pids = inst.pids()
    assert sorted(pids) == sorted(SYSTEM_ACCOUNTS), pids
    for daemon, pid in pids.items():
        st = ids(pid)
        assert st["Uid"] == [pw.pw_uid] * 4, (daemon, st)
        assert st["Gid"] == [pw.pw_gid] * 4, (daemon, st)
        assert root_of(pid) == "/", daemon
    assert os.stat(inst.message_files("bob")[0]).st_uid == pw.pw_uid


@pytest.mark.sandbox
def test_sandbox_mode_runs_as_invoker(instance):
    """Every daemon runs as whoever started facteurd (as sandbox_user when
    that was root), without chroot."""
    send(instance)
    pids = instance.pids()
    assert sorted(pids) == sorted(SYSTEM_ACCOUNTS), pids
    uid = os.getuid()
    if uid == 0:
        uid = pwd.getpwnam(instance.sandbox_user).pw_uid
    for daemon, pid in pids.items():
        st = ids(pid)
        assert st["Uid"] == [uid] * 4, (daemon, st)
        assert root_of(pid) == "/", daemon
