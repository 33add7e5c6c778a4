"""A facteur sandbox instance for benchmarks, from an installed tree
(PREFIX/sbin/facteurd, PREFIX/libexec/facteur/*): config as in the quick
start, one account alice@example.test, every daemon as the unprivileged
benchmark account (sandbox_user), data under a temp dir."""

import os
import subprocess
import warnings

from .common import (BenchError, DOMAIN, RCPT, mkdirs, chown_tree,
                     free_port, wait_banner, stop_pid, make_certificate)

CONF = """\
# Benchmark instance (written by bench/lib/facteurbench/facteur.py)
run_mode = sandbox
sandbox_user = {user}
hostname = mail.{domain}
domains = {domain}
users_file = {dir}/users
spool_dir = {dir}/spool
mail_dir = {dir}/mail
run_dir = {dir}/run
empty_dir = {dir}/empty
log_file = {dir}/facteur.log
daemon_directory = {libexec}
smtp_listen = 127.0.0.1:{port}
# smtp-source opens every session from 127.0.0.1: lift the per-client cap
# (Postfix exempts $mynetworks from its own by default).
max_sessions = {max_sessions}
max_sessions_per_ip = {max_sessions}
"""


def password_hash(password="benchmark"):
    """A sha512-crypt hash; the crypt module is deprecated in 3.11 but
    Debian 12 has it, else openssl(1) makes one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        return subprocess.run(["openssl", "passwd", "-6", password],
                              check=True, capture_output=True,
                              text=True).stdout.strip()


class Facteur:
    name = "facteur"

    def __init__(self, topdir, prefix, user, uid, gid, max_sessions=200,
                 tls=False):
        self.topdir = topdir
        self.tls = tls          # STARTTLS on the smtp listener
        self.prefix = os.path.abspath(prefix)
        self.facteurd = os.path.join(self.prefix, "sbin", "facteurd")
        self.libexec = os.path.join(self.prefix, "libexec", "facteur")
        if not os.access(self.facteurd, os.X_OK):
            raise BenchError("%s: not found or not executable (set "
                             "FACTEUR_PREFIX or --facteur-prefix to an "
                             "installed tree)" % self.facteurd)
        self.dir = os.path.join(topdir, "facteur")
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.log = os.path.join(self.dir, "facteur.log")
        self.stderr_log = os.path.join(self.dir, "facteurd.stderr")
        self.user, self.uid, self.gid = user, uid, gid
        self.port = free_port()
        self.ports = {"plain": self.port}
        self.max_sessions = max_sessions
        self.maildir = os.path.join(self.dir, "mail", DOMAIN, "alice")
        self.proc = None

    def setup(self):
        mkdirs(self.dir, ["", "spool", "mail", "run", "empty"],
               mode=0o750)
        with open(self.conf, "w") as f:
            f.write(CONF.format(user=self.user, domain=DOMAIN, dir=self.dir,
                                libexec=self.libexec, port=self.port,
                                max_sessions=self.max_sessions))
            if self.tls:
                cert, key = make_certificate(self.topdir)
                f.write("tls_cert = %s\ntls_key = %s\n" % (cert, key))
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("%s:%s\n" % (RCPT, password_hash()))
        chown_tree(self.dir, self.uid, self.gid)
        r = subprocess.run([self.facteurd, "-n", "-c", self.conf],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("facteurd -n -c %s: %s%s" %
                             (self.conf, r.stdout, r.stderr))

    def start(self):
        err = open(self.stderr_log, "ab")
        self.proc = subprocess.Popen([self.facteurd, "-d", "-S", "-c",
                                      self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err)
        err.close()
        try:
            wait_banner(self.port, proc=self.proc)
        except BenchError as e:
            raise BenchError("facteur: %s; see %s" % (e, self.stderr_log))

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def flush(self):
        pass

    def describe(self):
        return "facteur %s (%s, sandbox mode as %s)" % (
            self.version(), self.prefix, self.user)

    def version(self):
        """facteurd has no version option yet: try -V, else say so."""
        r = subprocess.run([self.facteurd, "-V"], capture_output=True,
                           text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip().splitlines()[0]
        return "(version unknown)"
