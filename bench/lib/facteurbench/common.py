"""Helpers shared by the benchmarks: accounts, ports, Maildir counting,
waiting for an SMTP banner, stopping processes by pid."""

import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import time

BENCH_USER = "facteurbench"
DOMAIN = "example.test"
RCPT = "alice@" + DOMAIN
SENDER = "from@" + DOMAIN


class BenchError(Exception):
    pass


def ensure_user(name=BENCH_USER):
    """Returns (uid, gid) of the unprivileged account that owns the data
    directories, creating a system account without a home if it is missing."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name],
                       check=True)
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mkdirs(base, names, uid=None, gid=None, mode=0o755):
    for n in names:
        p = os.path.join(base, n)
        os.makedirs(p, mode=mode, exist_ok=True)
        os.chmod(p, mode)
        if uid is not None:
            os.chown(p, uid, gid)


def chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid)


def count_files(path):
    """Number of entries in a directory; 0 while it does not exist yet."""
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def maildir_count(maildir):
    """Messages in a Maildir: new/ plus cur/."""
    return (count_files(os.path.join(maildir, "new")) +
            count_files(os.path.join(maildir, "cur")))


def maildir_empty(maildir):
    """Removes the delivered messages (new/ and cur/) so the next row starts
    from an empty Maildir."""
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        try:
            with os.scandir(d) as it:
                for e in it:
                    os.unlink(e.path)
        except FileNotFoundError:
            pass


def wait_banner(port, timeout=30.0, proc=None):
    """Waits until 127.0.0.1:port answers with a 220 greeting."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BenchError("process exited with status %d before "
                             "listening on port %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as s:
                s.settimeout(5)
                line = s.recv(512)
                if line.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    try:
                        s.recv(512)
                    except OSError:
                        pass
                    return
                last = line
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise BenchError("no 220 greeting on 127.0.0.1:%d after %.0fs (%s)" %
                     (port, timeout, last))


def stop_pid(pid, timeout=20.0):
    """SIGTERM to one pid we started, then SIGKILL if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                return
        except ChildProcessError:
            # not our child: poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def make_certificate(directory, cn="mail.example.test"):
    """A self-signed RSA 2048 certificate and key (PEM) in directory, made
    once and shared by both targets of a STARTTLS run; returns (cert,
    key). Readable by all: the benchmark's data are throw-away."""
    cert = os.path.join(directory, "tls-cert.pem")
    key = os.path.join(directory, "tls-key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-subj", "/CN=" + cn, "-days", "30",
                        "-keyout", key, "-out", cert], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(cert, 0o644)
        os.chmod(key, 0o644)
    return cert, key


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
