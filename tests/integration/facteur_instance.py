"""
A facteur instance for the integration tests: a fresh directory, free
loopback ports, a facteur.conf, a users file (alice, bob, carol of
example.test), facteurd started in the foreground, and helpers to look at
what a user would see (Maildirs, the log, the daemons' processes).

Environment:
  FACTEUR_PREFIX  the installation prefix (PREFIX/sbin/facteurd, ...)
  FACTEUR_MODE    "sandbox" or "system" (default: system as root, else
                  sandbox)
  FACTEUR_SANDBOX_USER  the account sandbox mode runs as when the tests
                  run as root (default facteurtest)
  FACTEUR_KEEP    if set, instance directories are left behind

TLS: Instance(tls=True) gives the instance a self-signed certificate for
HOSTNAME (tls_cert/tls_key, copies in its directory, so a test may replace
them and reload); submission=True / smtps=True add those listeners on free
ports (submission_port, smtps_port; smtps implies tls).
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOMAIN = "example.test"
HOSTNAME = "mail.example.test"
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
DAEMONS = ("smtpd", "queue", "deliver", "auth")
# spawned only when pop3_listen or pop3s_listen is set
POP_DAEMONS = ("popd", "popd-mail")
SYSTEM_ACCOUNTS = {
    "smtpd": "_facteur",
    "queue": "_facteurq",
    "deliver": "_vmail",
    "auth": "_facteurauth",
}
POP_ACCOUNTS = {"popd": "_facteur", "popd-mail": "_vmail"}
START_TIMEOUT = 10.0


def prefix():
    return os.environ.get("FACTEUR_PREFIX", "")


def mode():
    m = os.environ.get("FACTEUR_MODE")
    if m:
        return m
    return "system" if os.geteuid() == 0 else "sandbox"


def sbin(name):
    return os.path.join(prefix(), "sbin", name)


def libexec(name):
    return os.path.join(prefix(), "libexec", "facteur", name)


def missing_binaries():
    """Paths of installed programs the suite needs and cannot find."""
    if not prefix():
        return ["FACTEUR_PREFIX (environment variable not set)"]
    want = [sbin(p) for p in ("facteurd", "facteurctl", "sendmail",
                              "mailq")]
    want += [libexec(d) for d in DAEMONS]
    return [p for p in want if not os.access(p, os.X_OK)]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_children(ppid):
    """{pid: comm} of the live children of ppid, from /proc/*/stat."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces or ')'
        rest = stat.rsplit(")", 1)[1].split()
        if rest[0] == "Z" or int(rest[1]) != ppid:
            continue
        out[int(name)] = proc_name(int(name))
    return out


def proc_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return ""
    if comm in DAEMONS + POP_DAEMONS or comm == "facteurd":
        return comm
    # setproctitle() or a long comm: fall back to argv[0]
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return comm
    base = os.path.basename(argv0.split()[0]) if argv0.split() else ""
    return base if base in DAEMONS + POP_DAEMONS else comm


_TLS_DIR = []


def make_certificate(directory, cn=HOSTNAME, name="cert"):
    """Writes a self-signed certificate and its key (RSA 2048, PEM) for cn
    into directory as NAME.pem and NAME.key; returns (cert, key)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=" + cn, "-days", "3650",
                    "-addext", "subjectAltName=DNS:" + cn,
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def tls_files():
    """(cert, key) of the test session's certificate, made once."""
    if not _TLS_DIR:
        import atexit
        d = tempfile.mkdtemp(prefix="facteur-tls-",
                             dir="/var/tmp" if os.geteuid() == 0 else None)
        os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, d, True)
        _TLS_DIR.append((d, make_certificate(d)))
    return _TLS_DIR[0][1]


class InstanceError(Exception):
    pass


class Instance:
    """One running facteur. Use start() / stop(), or as a context."""

    def __init__(self, config=None, strace=None, run_mode=None,
                 sandbox_user=None, tls=False, submission=False,
                 smtps=False, pop3=False, pop3s=False):
        self.mode = run_mode or mode()
        if sandbox_user is None and self.mode == "sandbox" and \
                os.geteuid() == 0:
            # root starting sandbox mode must name the account to run as
            sandbox_user = os.environ.get("FACTEUR_SANDBOX_USER",
                                          "facteurtest")
        self.sandbox_user = sandbox_user
        self.extra = dict(config or {})
        self.strace = strace            # path of the strace output, or None
        if os.geteuid() == 0:
            # chrooted daemons need 0755 parents all the way down
            self.dir = tempfile.mkdtemp(prefix="facteur-", dir="/var/tmp")
            os.chmod(self.dir, 0o755)
        else:
            self.dir = tempfile.mkdtemp(prefix="facteur-")
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.users_file = os.path.join(self.dir, "users")
        self.spool_dir = os.path.join(self.dir, "spool")
        self.mail_dir = os.path.join(self.dir, "mail")
        self.run_dir = os.path.join(self.dir, "run")
        self.empty_dir = os.path.join(self.dir, "empty")
        self.log_file = os.path.join(self.dir, "facteur.log")
        self.out_file = os.path.join(self.dir, "facteurd.out")
        self.port = free_port()
        self.submission_port = free_port() if submission else None
        self.smtps_port = free_port() if smtps else None
        # pop3=True adds pop3_listen, pop3s=True pop3s_listen (implies tls)
        self.pop3_port = free_port() if pop3 else None
        self.pop3s_port = free_port() if pop3s else None
        self.tls_cert = self.tls_key = None
        if tls or smtps or pop3s:
            self.tls_cert = os.path.join(self.dir, "cert.pem")
            self.tls_key = os.path.join(self.dir, "key.pem")
            for src, dst in zip(tls_files(), (self.tls_cert, self.tls_key)):
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o644)
        self.proc = None
        self.out = None
        self.known_pids = set()
        self.user_add_error = None

    # --- configuration ---------------------------------------------------
    def config_text(self, extra=None):
        settings = [
            ("run_mode", self.mode),
            ("hostname", HOSTNAME),
            ("domains", DOMAIN),
            ("users_file", self.users_file),
            ("spool_dir", self.spool_dir),
            ("mail_dir", self.mail_dir),
            ("run_dir", self.run_dir),
            ("empty_dir", self.empty_dir),
            ("log_file", self.log_file),
            ("daemon_directory", os.path.join(prefix(), "libexec",
                                              "facteur")),
            ("smtp_listen", "127.0.0.1:%d" % self.port),
        ]
        if self.sandbox_user:
            settings.append(("sandbox_user", self.sandbox_user))
        if self.tls_cert:
            settings += [("tls_cert", self.tls_cert),
                         ("tls_key", self.tls_key)]
        if self.submission_port:
            settings.append(("submission_listen",
                             "127.0.0.1:%d" % self.submission_port))
        if self.smtps_port:
            settings.append(("smtps_listen",
                             "127.0.0.1:%d" % self.smtps_port))
        if self.pop3_port:
            settings.append(("pop3_listen", "127.0.0.1:%d" % self.pop3_port))
        if self.pop3s_port:
            settings.append(("pop3s_listen",
                             "127.0.0.1:%d" % self.pop3s_port))
        lines = ["# written by tests/integration/facteur_instance.py"]
        lines += ["%s = %s" % kv for kv in settings]
        for k, v in (self.extra if extra is None else extra).items():
            lines.append(("%s = %s" % (k, v)).rstrip())
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        with open(self.conf, "w") as f:
            f.write(self.config_text() if text is None else text)
        os.chmod(self.conf, 0o644)

    def _make_dirs(self):
        """facteurd creates spool_dir, mail_dir, run_dir and empty_dir
        with their owners itself; root starting sandbox mode needs a data
        directory owned by sandbox_user."""
        if self.sandbox_user and os.geteuid() == 0:
            pw = pwd.getpwnam(self.sandbox_user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def add_users(self):
        """Hashes the passwords with `facteurctl user add` (password on
        stdin); falls back to Python's crypt only when that fails, and
        remembers why in user_add_error."""
        for user, pw in USERS.items():
            addr = "%s@%s" % (user, DOMAIN)
            try:
                r = subprocess.run(
                    [sbin("facteurctl"), "-c", self.conf, "user", "add",
                     addr], input=(pw + "\n").encode(), timeout=30,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                ok = r.returncode == 0 and addr in self.users_text()
                if not ok:
                    self.user_add_error = "exit %d: %s" % (
                        r.returncode, r.stdout.decode(errors="replace"))
            except (OSError, subprocess.TimeoutExpired) as e:
                ok = False
                self.user_add_error = str(e)
            if not ok:
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import crypt
                h = crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))
                with open(self.users_file, "a") as f:
                    f.write("%s:%s\n" % (addr, h))
        os.chmod(self.users_file, 0o644)

    def users_text(self):
        try:
            with open(self.users_file) as f:
                return f.read()
        except OSError:
            return ""

    # --- process control -------------------------------------------------
    def command(self):
        cmd = [sbin("facteurd"), "-d", "-c", self.conf]
        if self.mode == "sandbox":
            cmd.insert(2, "-S")
        if self.strace:
            cmd = ["strace", "-f", "-tt", "-s", "512", "-e",
                   "trace=fsync,fdatasync,msync,rename,renameat,renameat2,"
                   "write,writev,pwrite64,pwritev,sendmsg,sendto,"
                   "open,openat,close,clone,clone3,fork,vfork,execve",
                   "-o", self.strace] + cmd
        return cmd

    def start(self, wait=True):
        self._make_dirs()
        self.write_config()
        if not os.path.exists(self.users_file):
            self.add_users()
        self.out = open(self.out_file, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.out,
                                     start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise InstanceError("facteurd exited with %s before "
                                    "accepting mail\n%s" %
                                    (self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=2) as s:
                    s.settimeout(max(0.5, deadline - time.time()))
                    line = s.makefile("rb").readline()
                    if line.startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        if self._pop3_ready(deadline):
                            self.remember_pids()
                            return
                        last = "no POP3 greeting on port %s" % \
                            self.pop3_port
                        continue
                    last = "greeting %r" % line
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise InstanceError("no SMTP greeting on 127.0.0.1:%d within %ds "
                            "(%s)\n%s" % (self.port, timeout, last,
                                          self.log_tail()))

    def _pop3_ready(self, deadline):
        """True when the pop3 listener (if any) greets with +OK."""
        if not self.pop3_port:
            return True
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.pop3_port),
                                              timeout=2) as s:
                    s.settimeout(max(0.5, deadline - time.time()))
                    if s.makefile("rb").readline().startswith(b"+OK"):
                        s.sendall(b"QUIT\r\n")
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def master_pid(self):
        if self.proc is None:
            return None
        if not self.strace:
            return self.proc.pid
        for pid, name in proc_children(self.proc.pid).items():
            if name == "facteurd":
                return pid
        return None

    def pids(self):
        """{daemon name: pid} of facteurd's live children."""
        mp = self.master_pid()
        if mp is None:
            return {}
        out = {}
        for pid, name in proc_children(mp).items():
            if name in DAEMONS + POP_DAEMONS:
                out[name] = pid
        return out

    def remember_pids(self):
        self.known_pids.update(self.pids().values())

    def pid(self, daemon):
        p = self.pids().get(daemon)
        if p is None:
            raise InstanceError("no %s process under facteurd\n%s" %
                                (daemon, self.log_tail()))
        return p

    def kill(self, daemon, sig=signal.SIGKILL):
        pid = self.pid(daemon)
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, daemon, old_pid, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = self.pids().get(daemon)
            if p is not None and p != old_pid:
                self.remember_pids()
                return p
            time.sleep(0.1)
        raise InstanceError("%s (pid %d) was not restarted within %ds\n%s" %
                            (daemon, old_pid, timeout, self.log_tail()))

    def reload(self, text):
        """Writes a new facteur.conf and sends SIGHUP to facteurd."""
        self.write_config(text)
        os.kill(self.master_pid(), signal.SIGHUP)

    def stop(self):
        if self.proc is None:
            return
        self.remember_pids()
        mp = self.master_pid()
        if self.proc.poll() is None:
            try:
                os.kill(mp if mp else self.proc.pid, signal.SIGTERM)
            except (OSError, TypeError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                if mp:
                    os.kill(mp, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait(timeout=10)
        # daemons exit when their master channel closes; make sure
        deadline = time.time() + 5
        for pid in sorted(self.known_pids):
            while time.time() < deadline and self._alive(pid):
                time.sleep(0.05)
            if self._alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None
        if self.out:
            self.out.close()
            self.out = None

    @staticmethod
    def _alive(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def cleanup(self):
        self.stop()
        if os.environ.get("FACTEUR_KEEP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.cleanup()

    # --- what a user sees ------------------------------------------------
    def log(self):
        """facteurd's output (-d copies every log line to stderr); the
        log_file when that is empty."""
        for p in (self.out_file, self.log_file):
            try:
                with open(p, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            if text:
                return text
        return ""

    def log_tail(self, n=60):
        return "--- log of %s (last %d lines) ---\n%s" % (
            self.dir, n, "\n".join(self.log().splitlines()[-n:]))

    def maildir(self, user):
        return os.path.join(self.mail_dir, DOMAIN, user)

    def message_files(self, user):
        """Paths of the messages in new/ and cur/ of user's Maildir."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(user), sub)
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            out += [os.path.join(d, n) for n in names
                    if not n.startswith(".")]
        return out

    def messages(self, user):
        out = []
        for p in self.message_files(user):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def wait_for_delivery(self, user, n, timeout=20.0, settle=0.0):
        """Waits until user has at least n messages; with settle, waits
        that much longer and checks there are not more than n."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.message_files(user)) >= n:
                break
            time.sleep(0.05)
        got = self.message_files(user)
        if len(got) < n:
            raise InstanceError("%s has %d messages, expected %d after "
                                "%ds\n%s" % (user, len(got), n, timeout,
                                             self.log_tail()))
        if settle:
            time.sleep(settle)
            got = self.message_files(user)
            if len(got) != n:
                raise InstanceError("%s has %d messages, expected exactly "
                                    "%d\n%s" % (user, len(got), n,
                                                self.log_tail()))
        return self.messages(user)


def queue_id_from_reply(text):
    m = re.search(r"queued as ([0-9A-F]{16})", text)
    return m.group(1) if m else None


MAILDIR_NAME = re.compile(
    r"(?P<secs>\d+)\.(?P<id>[0-9A-F]{16})_(?P<rcpt>\d+)\.(?P<host>[^/:,]+)"
    r",S=(?P<S>\d+),W=(?P<W>\d+)(?P<flags>:2,[A-Za-z]*)?\Z")


def check_maildir_file(path):
    """Checks a delivered file's name against DESIGN.md (base name
    <secs>.<queueid>_<rcptno>.<host>,S=<size>,W=<CRLF size>) and its
    content (LF line ends only). Returns the name's fields."""
    name = os.path.basename(path)
    m = MAILDIR_NAME.match(name)
    assert m, "Maildir file name %r has not the expected shape" % name
    with open(path, "rb") as f:
        data = f.read()
    assert b"\r\n" not in data, "%s: CRLF in a Maildir file" % name
    assert int(m.group("S")) == len(data), \
        "%s: S= is not the file size %d" % (name, len(data))
    assert int(m.group("W")) == len(data) + data.count(b"\n"), \
        "%s: W= is not the size with CRLF line ends %d" % (
            name, len(data) + data.count(b"\n"))
    return m.groupdict()
