"""
Routing and aliases (issue 4): the aliases file (local names, every local
domain), virtual aliases and catch-alls, sub-addressing, :include:, alias
loops (bounced with 5.4.6, never looped), the reserved names postmaster
and abuse, and newaliases itself (compiles to FILE.lmdb; errors name
file:line and leave the old map alone).

Mail is sent with smtplib to the instance's smtp listener; what a user
sees is checked: the Maildir files, Delivered-To, the bounce in the
sender's Maildir, the log's key=value lines.
"""

import email
import email.policy
import os
import re
import smtplib
import subprocess
import time

import pytest

import facteur_instance as fi

ALIASES = """\
# local names, for every local domain
team: alice, bob@example.test
selfish: selfish-target
selfish-target: carol
# continuation lines
crew: alice,
  carol
loop1: loop2
loop2: loop1
mixed: alice, loopa
loopa: loopb
loopb: loopa
ghostly: nobody-here
halfghost: alice, nobody-here
list: :include:%(dir)s/list.txt
"""

VIRTUAL = """\
sales@example.test: bob@example.test, partner@example.org
redirected@example.test: carol@example.test
"""


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def newaliases(inst, *args):
    return subprocess.run([fi.sbin("newaliases"), "-c", inst.conf] +
                          list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30,
                          universal_newlines=True)


def chown_sandbox(inst, *paths):
    if inst.sandbox_user and os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam(inst.sandbox_user)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def make(make_instance, aliases=ALIASES, virtual=VIRTUAL, config=None,
         catchall=False):
    inst = make_instance(start=False, config=config)
    cfg = {"aliases_file": os.path.join(inst.dir, "aliases"),
           "virtual_aliases_file": os.path.join(inst.dir, "virtual"),
           "queue_retry_min": "1s", "queue_retry_max": "2s"}
    cfg.update(config or {})
    inst.extra.update(cfg)
    write(os.path.join(inst.dir, "list.txt"),
          "# a mailing list\nalice@example.test\ncarol, bob\n")
    write(cfg["aliases_file"], aliases % {"dir": inst.dir})
    v = virtual + ("@example.test: carol@example.test\n" if catchall
                   else "")
    write(cfg["virtual_aliases_file"], v)
    inst.write_config()
    r = newaliases(inst)
    assert r.returncode == 0, r.stdout
    inst.start()
    return inst


def send(inst, rcpts, sender="sender@example.org", subject="hello",
         mail_options=(), rcpt_options=()):
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@t>"
           "\r\n\r\nbody of %s\r\n" % (sender, rcpts[0], subject,
                                       subject, subject))
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail(sender, list(mail_options))
        for r in rcpts:
            code, text = s.rcpt(r, list(rcpt_options))
            assert code == 250, (r, code, text)
        code, text = s.data(msg.encode())
        assert code == 250, (code, text)
    return fi.queue_id_from_reply(text.decode())


def wait_log(inst, pattern, timeout=20.0):
    rx = re.compile(pattern, re.M)
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = rx.search(inst.log())
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError("no log line matching %r\n%s" %
                         (pattern, inst.log_tail()))


def subjects(inst, user):
    out = []
    for data in inst.messages(user):
        m = email.message_from_bytes(data, policy=email.policy.default)
        out.append(str(m["Subject"]))
    return out


def delivered_to(inst, user):
    out = []
    for data in inst.messages(user):
        m = email.message_from_bytes(data, policy=email.policy.default)
        out.append(str(m["Delivered-To"]))
    return out


def test_local_alias_expands_to_each_once(make_instance):
    inst = make(make_instance)
    qid = send(inst, "team@example.test", subject="team")
    inst.wait_for_delivery("alice", 1)
    inst.wait_for_delivery("bob", 1, settle=1.0)
    assert subjects(inst, "alice") == ["team"]
    assert subjects(inst, "bob") == ["team"]
    assert inst.message_files("carol") == []
    wait_log(inst, r"queue\[\d+\]: %s: to=<team@example.test> status=expanded "
             r"nrcpt=2" % qid)
    wait_log(inst, r"queue\[\d+\]: %s: to=<alice@example.test> "
             r"orig_to=<team@example.test> relay=local status=sent" % qid)
    wait_log(inst, r"queue\[\d+\]: %s: removed" % qid)


def test_continuation_and_include(make_instance):
    inst = make(make_instance)
    send(inst, "crew@example.test", subject="crew")
    send(inst, "list@example.test", subject="list")
    inst.wait_for_delivery("carol", 2)
    inst.wait_for_delivery("bob", 1)
    inst.wait_for_delivery("alice", 2, settle=1.0)
    assert sorted(subjects(inst, "alice")) == ["crew", "list"]
    assert sorted(subjects(inst, "bob")) == ["list"]
    assert sorted(subjects(inst, "carol")) == ["crew", "list"]


def test_self_reference_delivers_to_the_account(make_instance):
    inst = make(make_instance, aliases="alice: alice, archive\n"
                "archive: carol\n")
    send(inst, "alice@example.test", subject="self")
    inst.wait_for_delivery("alice", 1)
    inst.wait_for_delivery("carol", 1, settle=1.0)
    assert subjects(inst, "alice") == ["self"]
    assert subjects(inst, "carol") == ["self"]


def test_chained_aliases(make_instance):
    inst = make(make_instance)
    send(inst, "selfish@example.test", subject="chain")
    inst.wait_for_delivery("carol", 1, settle=0.5)
    assert delivered_to(inst, "carol") == ["carol@example.test"]


def test_virtual_alias_overrides_account(make_instance):
    inst = make(make_instance, virtual="bob@example.test: "
                "carol@example.test\n")
    send(inst, "bob@example.test", subject="moved")
    inst.wait_for_delivery("carol", 1, settle=1.0)
    assert inst.message_files("bob") == []


def test_virtual_alias_and_remote_target(make_instance):
    inst = make(make_instance)
    qid = send(inst, "sales@example.test", subject="sales")
    inst.wait_for_delivery("bob", 1)
    # the remote target waits for a relay: deferred, never dropped
    wait_log(inst, r"queue\[\d+\]: %s: to=<partner@example.org> "
             r"orig_to=<sales@example.test> status=deferred" % qid)
    assert "%s: removed" % qid not in inst.log()


def test_catch_all(make_instance):
    inst = make(make_instance, catchall=True)
    send(inst, "whoever@example.test", subject="catch")
    inst.wait_for_delivery("carol", 1)
    # an existing account is not caught
    send(inst, "bob@example.test", subject="direct")
    inst.wait_for_delivery("bob", 1, settle=0.5)
    assert subjects(inst, "bob") == ["direct"]


def test_unknown_user_still_refused(make_instance):
    inst = make(make_instance)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail("sender@example.org")
        code, text = s.rcpt("nobody@example.test")
        assert code == 550 and b"5.1.1" in text, (code, text)


def test_subaddress(make_instance):
    inst = make(make_instance)
    send(inst, "carol+lists@example.test", subject="plus")
    got = inst.wait_for_delivery("carol", 1, settle=0.5)
    assert delivered_to(inst, "carol") == ["carol+lists@example.test"]
    assert b"body of plus" in got[0]


def test_alias_loop_bounces(make_instance):
    inst = make(make_instance)
    qid = send(inst, "loop1@example.test", sender="bob@example.test",
               subject="loopy")
    wait_log(inst, r"queue\[\d+\]: %s: to=<loop1@example.test> status=bounced "
             r".*dsn=5\.4\.6" % qid)
    msgs = inst.wait_for_delivery("bob", 1, settle=1.0)
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    report = [p for p in dsn.walk()
              if p.get_content_type() == "message/delivery-status"][0]
    blocks = report.get_payload()
    assert any(b.get("Status") == "5.4.6" for b in blocks)
    assert any(b.get("Action") == "failed" for b in blocks)
    wait_log(inst, r"queue\[\d+\]: %s: removed" % qid)


def test_loop_in_one_branch(make_instance):
    inst = make(make_instance)
    qid = send(inst, "mixed@example.test", sender="bob@example.test",
               subject="mixed")
    inst.wait_for_delivery("alice", 1)
    wait_log(inst, r"queue\[\d+\]: %s: to=<loopa@example.test> "
             r"orig_to=<mixed@example.test> status=bounced .*dsn=5\.4\.6"
             % qid)
    inst.wait_for_delivery("bob", 1)     # the bounce of the loop part
    wait_log(inst, r"queue\[\d+\]: %s: removed" % qid)


def test_alias_to_nobody(make_instance):
    inst = make(make_instance)
    # every target unknown: refused at RCPT TO, as an unknown user
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail("bob@example.test")
        code, text = s.rcpt("ghostly@example.test")
        assert code == 550 and b"5.1.1" in text, (code, text)
    # some targets unknown: accepted, the unknown ones bounce
    qid = send(inst, "halfghost@example.test", sender="bob@example.test",
               subject="ghost")
    wait_log(inst, r"queue\[\d+\]: %s: to=<nobody-here@example.test> "
             r"orig_to=<halfghost@example.test> status=bounced "
             r".*dsn=5\.1\.1" % qid)
    inst.wait_for_delivery("alice", 1)
    inst.wait_for_delivery("bob", 1)


@pytest.mark.parametrize("name", ["postmaster", "abuse", "Postmaster"])
def test_reserved_names_resolve_without_alias(make_instance, name):
    inst = make(make_instance, aliases="", virtual="")
    send(inst, "%s@example.test" % name, subject=name)
    # no alias, no account: the first account of the domain
    inst.wait_for_delivery("alice", 1, settle=0.5)


def test_bare_postmaster(make_instance):
    inst = make(make_instance, aliases="", virtual="")
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail("sender@example.org")
        code, text = s.rcpt("<postmaster>")
        assert code == 250, (code, text)
        code, text = s.data(b"Subject: bare\r\n\r\nhi\r\n")
        assert code == 250, (code, text)
    inst.wait_for_delivery("alice", 1, settle=0.5)


def test_postmaster_follows_root_alias(make_instance):
    inst = make(make_instance, aliases="root: bob\n", virtual="")
    send(inst, "postmaster@example.test", subject="pm")
    send(inst, "abuse@example.test", subject="abuse")
    inst.wait_for_delivery("bob", 2, settle=0.5)


def test_postmaster_address_setting(make_instance):
    inst = make(make_instance, aliases="", virtual="",
                config={"postmaster_address": "carol@example.test"})
    send(inst, "postmaster@example.test", subject="pm")
    inst.wait_for_delivery("carol", 1, settle=0.5)


def test_newaliases_errors_name_file_and_line(make_instance):
    inst = make(make_instance)
    path = inst.extra["aliases_file"]
    db = path + ".lmdb"
    before = os.stat(db)
    write(path, "good: alice\nbad line without colon\n"
          "alsobad: <not an address\n")
    r = newaliases(inst)
    assert r.returncode != 0
    assert "%s:2:" % path in r.stdout, r.stdout
    assert "%s:3:" % path in r.stdout, r.stdout
    after = os.stat(db)
    assert (after.st_ino, after.st_mtime) == (before.st_ino,
                                              before.st_mtime)
    # the old map still works
    send(inst, "team@example.test", subject="still")
    inst.wait_for_delivery("alice", 1)


def test_newaliases_reload_without_restart(make_instance):
    inst = make(make_instance)
    path = inst.extra["aliases_file"]
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example.test")
        s.mail("sender@example.org")
        code, _ = s.rcpt("newname@example.test")
        assert code == 550
    with open(path, "a") as f:
        f.write("newname: carol\n")
    time.sleep(1.1)
    send(inst, "team@example.test", subject="nudge")     # auth looks
    wait_log(inst, r"auth\[\d+\]: aliases: .* is newer than .*: run "
             r"newaliases", timeout=10)
    r = newaliases(inst)
    assert r.returncode == 0, r.stdout
    time.sleep(1.2)     # auth looks at the map at most once a second
    send(inst, "newname@example.test", subject="new")
    inst.wait_for_delivery("carol", 1)


def test_several_recipients_one_queue_file(make_instance):
    inst = make(make_instance)
    qid = send(inst, ["alice@example.test", "team@example.test",
                      "carol@example.test"], subject="multi")
    m = wait_log(inst, r"queue\[\d+\]: %s: from=<[^>]*> .* nrcpt=(\d+)" % qid)
    assert m.group(1) == "3"
    inst.wait_for_delivery("bob", 1)
    inst.wait_for_delivery("carol", 1)
    # alice once, though named directly and through team
    inst.wait_for_delivery("alice", 1, settle=1.0)
    assert len(inst.message_files("carol")) == 1
    wait_log(inst, r"queue\[\d+\]: %s: removed" % qid)


def test_expansion_survives_queue_kill(make_instance):
    """The expanded recipients live in the index: after kill -9 of queue
    each one is delivered once, the alias is not expanded again."""
    from queue_helpers import ctl, unwritable_maildir, wait_queue_empty
    inst = make(make_instance)
    with unwritable_maildir(inst, "bob"):
        qid = send(inst, "team@example.test", subject="survivor")
        inst.wait_for_delivery("alice", 1)
        wait_log(inst, r"%s: to=<bob@example.test> orig_to=<team@"
                 r"example.test> status=deferred" % qid)
        old = inst.pid("queue")
        inst.kill("queue")
        inst.wait_restarted("queue", old)
    ctl(inst, "queue", "flush")
    inst.wait_for_delivery("bob", 2, settle=1.0)    # + the maildir maker
    wait_queue_empty(inst)
    assert len(inst.message_files("alice")) == 1
    assert inst.log().count("%s: to=<team@example.test> status=expanded"
                            % qid) == 1


def test_hold_release_delete_requeue_by_alias_target(make_instance):
    """Selectors see expanded recipients: to=ADDR matches them."""
    from queue_helpers import ctl, queue_json, wait_queue_empty
    inst = make(make_instance)
    qid = send(inst, "sales@example.test", subject="remote part")
    wait_log(inst, r"%s: to=<partner@example.org> .*status=deferred" % qid)
    out = ctl(inst, "queue", "hold", "--to", "partner@example.org")
    wait_log(inst, r"%s: held" % qid)
    entry = [m for m in queue_json(inst)["messages"]
             if m.get("queue_id") == qid]
    assert entry, queue_json(inst)
    ctl(inst, "queue", "release", qid)
    wait_log(inst, r"%s: released" % qid)
    ctl(inst, "queue", "requeue", qid)
    wait_log(inst, r"%s: requeued" % qid)
    ctl(inst, "queue", "delete", "--from", "sender@example.org")
    wait_log(inst, r"%s: removed \(deleted" % qid)
    wait_queue_empty(inst)
    assert out is not None
