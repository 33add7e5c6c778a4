"""
Real POP3 clients download a whole mailbox from facteur's popd: fetchmail
(into an MDA), mpop (into a Maildir), curl pop3:// (LIST, RETR, UIDL).
Each downloaded message must be the delivered message, byte for byte
(line ends aside: fetchmail and mpop store LF).
"""

import os
import shutil
import subprocess

import pytest

from pop3_helpers import base_name, deliver, pop3_form, read_file


def need(prog):
    path = shutil.which(prog)
    if not path:
        pytest.fail("%s is not installed (./deps test)" % prog)
    return path


def delivered(inst, user):
    """{Message-ID line: Maildir bytes (LF)} of user's messages."""
    out = {}
    for p in inst.message_files(user):
        data = read_file(p)
        mid = [x for x in data.split(b"\n") if x.startswith(b"Message-ID:")]
        out[mid[0]] = data
    return out


def by_message_id(blobs):
    out = {}
    for data in blobs:
        data = data.replace(b"\r\n", b"\n")
        mid = [x for x in data.split(b"\n") if x.startswith(b"Message-ID:")]
        assert len(mid) == 1, data[:500]
        out[mid[0]] = data
    return out


def test_fetchmail_downloads_everything(make_instance, tmp_path):
    fetchmail = need("fetchmail")
    inst = make_instance(pop3=True)
    deliver(inst, "alice", 5)
    want = delivered(inst, "alice")
    out = tmp_path / "out"
    out.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        'set no syslog\n'
        'poll 127.0.0.1 service %d protocol pop3 auth password\n'
        '  user "alice@example.test" there with password "alice-pw"\n'
        '  is "nobody" here\n'
        '  nokeep fetchall no rewrite sslproto ""\n'
        '  mda "/bin/sh -c \'cat > $(mktemp %s/msg.XXXXXX)\'"\n'
        % (inst.pop3_port, out))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path),
               FETCHMAILHOME=str(tmp_path))
    r = subprocess.run([fetchmail, "-f", str(rc), "--nodetach", "-v",
                        "--invisible",
                        "--idfile", str(tmp_path / "ids"),
                        "--pidfile", str(tmp_path / "pid")],
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    log = r.stdout.decode(errors="replace")
    assert r.returncode == 0, log + inst.log_tail(20)
    got = by_message_id(read_file(str(p)) for p in out.iterdir())
    assert set(got) == set(want), log
    for mid, data in want.items():
        assert got[mid] == data, "fetchmail got other bytes for %s" % mid
    # nokeep: fetchmail deleted them, and QUIT made it so
    assert inst.message_files("alice") == [], log


def test_mpop_downloads_everything(make_instance, tmp_path):
    mpop = need("mpop")
    inst = make_instance(pop3=True)
    deliver(inst, "bob", 5)
    want = delivered(inst, "bob")
    md = tmp_path / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True)
    conf = tmp_path / "mpoprc"
    conf.write_text(
        "defaults\n"
        "account test\n"
        "host 127.0.0.1\n"
        "port %d\n"
        "tls off\n"
        "auth user\n"
        "user bob@example.test\n"
        "password bob-pw\n"
        "delivery maildir %s\n"
        "keep off\n"
        "uidls_file %s\n"
        "received_header off\n"
        % (inst.pop3_port, md, tmp_path / "uidls"))
    conf.chmod(0o600)
    r = subprocess.run([mpop, "-C", str(conf), "-a"],
                       env=dict(os.environ, HOME=str(tmp_path)),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    log = r.stdout.decode(errors="replace")
    assert r.returncode == 0, log + inst.log_tail(20)
    files = [md / "new" / n for n in os.listdir(md / "new")]
    got = by_message_id(read_file(str(p)) for p in files)
    assert set(got) == set(want), log
    for mid, data in want.items():
        assert got[mid] == data, "mpop got other bytes for %s" % mid
    assert inst.message_files("bob") == [], log


def curl(inst, url, *args):
    r = subprocess.run([need("curl"), "-sS", "--max-time", "20",
                        "-u", "carol@example.test:carol-pw"] + list(args) +
                       ["pop3://127.0.0.1:%d/%s" % (inst.pop3_port, url)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, "curl %s: exit %d: %s\n%s" % (
        url, r.returncode, r.stderr.decode(errors="replace"),
        inst.log_tail(20))
    return r.stdout


def test_curl_pop3(make_instance):
    need("curl")
    inst = make_instance(pop3=True)
    paths = deliver(inst, "carol", 2)
    wants = {base_name(p): pop3_form(read_file(p)) for p in paths}
    listing = curl(inst, "")
    rows = [x.split() for x in listing.split(b"\r\n") if x]
    assert [int(n) for n, _ in rows] == [1, 2], listing
    assert sorted(int(s) for _, s in rows) == \
        sorted(len(w) for w in wants.values())
    uidl = curl(inst, "", "-X", "UIDL")
    uids = {int(n): u.decode() for n, u in
            (x.split() for x in uidl.split(b"\r\n") if x)}
    assert set(uids.values()) == set(wants)
    for n in (1, 2):
        got = curl(inst, str(n))
        assert got == wants[uids[n]], "curl RETR %d: other bytes" % n
    # curl only read: nothing deleted
    assert len(inst.message_files("carol")) == 2
