"""
A private Dovecot (Debian's dovecot-core + dovecot-pop3d) serving POP3 on a
free loopback port from Maildirs that facteur wrote, for interoperability
tests (TESTING.md "Peers in tests"): its own base_dir, state and log under
a temp directory, a passwd-file userdb/passdb with clear passwords, the
Maildir as each user's home (mail_location = maildir:~), ssl = no,
auth_mechanisms = plain, disable_plaintext_auth = no. Nothing of the host's
own Dovecot configuration is read or changed; the host's Dovecot is never
started. Stopped by pid (the master's), never by name.

As root the mail processes run as the Maildir's owner (mail_uid/mail_gid);
as an unprivileged user Dovecot runs "rootless": every process as that user.
"""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"

CONF = """\
# private Dovecot for facteur's tests (tests/integration/dovecot_instance.py)
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = facteur-test-{port}
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
mail_location = maildir:~
first_valid_uid = 0
first_valid_gid = 0
{identity}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  # no chroot: a rootless Dovecot cannot chroot (same for every run)
  chroot =
  process_min_avail = 0
}}
service pop3 {{
  process_limit = {process_limit}
  client_limit = 1
}}
default_process_limit = {process_limit}
default_client_limit = {client_limit}
service anvil {{
  chroot =
}}
service auth {{
  client_limit = {client_limit}
}}
service stats {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dir}/passwd
}}
mail_max_userip_connections = {process_limit}
pop3_uidl_format = %08Xu%08Xv
{extra}
"""


def available():
    """None when Dovecot can be used, else why not."""
    for p in (DOVECOT, DOVEADM):
        if not os.access(p, os.X_OK):
            return "%s not installed (Debian: dovecot-core dovecot-pop3d)" \
                % p
    if not os.path.exists("/usr/lib/dovecot/pop3"):
        return "Dovecot's pop3 service is missing (dovecot-pop3d)"
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class DovecotError(Exception):
    pass


class Dovecot:
    """users: {address: (password, maildir path)}. The Maildirs' owner is
    taken from the first one's directory."""

    def __init__(self, users, workdir=None, process_limit=100,
                 extra=""):
        self.users = dict(users)
        if os.geteuid() == 0:
            base = workdir or "/var/tmp"
        else:
            base = workdir or tempfile.gettempdir()
        self.dir = tempfile.mkdtemp(prefix="dovecot-", dir=base)
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_file = os.path.join(self.dir, "dovecot.log")
        self.port = free_port()
        self.process_limit = process_limit
        self.extra = extra
        self.master_pid = None

    def _identity(self):
        first = next(iter(self.users.values()))[1]
        st = os.stat(first)
        if os.geteuid() == 0:
            self.owner = (st.st_uid, st.st_gid)
            return ("mail_uid = %d\nmail_gid = %d\n" % self.owner +
                    "default_internal_user = dovecot\n"
                    "default_login_user = dovenull\n")
        me = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        self.owner = (os.geteuid(), os.getegid())
        # rootless: every process is the invoking user
        return ("default_internal_user = %s\ndefault_login_user = %s\n"
                "default_internal_group = %s\n" % (me, me, group))

    def write_config(self):
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(CONF.format(
                dir=self.dir, port=self.port, identity=self._identity(),
                process_limit=self.process_limit,
                client_limit=max(1000, 4 * self.process_limit),
                extra=self.extra))
        uid, gid = self.owner
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, (pw, maildir) in self.users.items():
                f.write("%s:%s:%d:%d::%s::\n" % (user, pw, uid, gid,
                                                 maildir))
        os.chmod(os.path.join(self.dir, "passwd"), 0o644)

    def start(self, timeout=15.0):
        self.write_config()
        # dovecot forks into the background: its output goes to a file
        # (a pipe would stay open in the master)
        out_path = os.path.join(self.dir, "dovecot.out")
        with open(out_path, "wb") as out:
            r = subprocess.run([DOVECOT, "-c", self.conf],
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=out, timeout=30)
        if r.returncode != 0:
            with open(out_path, errors="replace") as f:
                why = f.read()
            raise DovecotError("dovecot -c %s: exit %d: %s\n%s" % (
                self.conf, r.returncode, why, self.log_tail()))
        pidfile = os.path.join(self.dir, "run", "master.pid")
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                with open(pidfile) as f:
                    self.master_pid = int(f.read().split()[0])
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=2) as s:
                    s.settimeout(5)
                    line = s.makefile("rb").readline()
                    if line.startswith(b"+OK"):
                        s.sendall(b"QUIT\r\n")
                        return self
                    last = line
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.1)
        self.stop()
        raise DovecotError("Dovecot not answering on 127.0.0.1:%d (%s)\n%s"
                           % (self.port, last, self.log_tail()))

    def pids(self):
        """The master and all its descendants."""
        if self.master_pid is None:
            return []
        children = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if rest[0] != "Z":
                children.setdefault(int(rest[1]), []).append(int(name))
        out, todo = [], [self.master_pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += children.get(p, [])
        return out

    def stop(self):
        if self.master_pid is None:
            return
        pid, self.master_pid = self.master_pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, n=30):
        try:
            with open(self.log_file, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        return "--- dovecot log (last %d lines) ---\n%s" % (
            n, "\n".join(lines[-n:]))

    def cleanup(self):
        self.stop()
        if not os.environ.get("FACTEUR_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.cleanup()
