"""
pytest set-up for facteur's integration tests.

Run: FACTEUR_PREFIX=<install prefix> FACTEUR_MODE=sandbox|system \
     /usr/bin/python3 -m pytest -p no:cacheprovider tests/integration

Tests marked `system` run only in the system pass, tests marked `sandbox`
only in the sandbox pass: the others are deselected (not skipped), so a
pass reports only what it checked.
"""

import os
import sys

import pytest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import facteur_instance  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "system: runs only with FACTEUR_MODE=system")
    config.addinivalue_line("markers",
                            "sandbox: runs only with FACTEUR_MODE=sandbox")
    if config.option.collectonly:
        return
    missing = facteur_instance.missing_binaries()
    if missing:
        pytest.exit("facteur is not installed where FACTEUR_PREFIX=%r "
                    "says; missing: %s" % (facteur_instance.prefix(),
                                           ", ".join(missing)),
                    returncode=4)
    m = facteur_instance.mode()
    if m not in ("system", "sandbox"):
        pytest.exit("FACTEUR_MODE must be system or sandbox, not %r" % m,
                    returncode=4)
    if m == "system" and os.geteuid() != 0:
        pytest.exit("FACTEUR_MODE=system needs root", returncode=4)
    if m == "system":
        import pwd
        absent = []
        for account in facteur_instance.SYSTEM_ACCOUNTS.values():
            try:
                pwd.getpwnam(account)
            except KeyError:
                absent.append(account)
        if absent:
            pytest.exit("system mode needs the accounts %s (created by "
                        ".ci/run)" % ", ".join(absent), returncode=4)


def pytest_report_header(config):
    return "facteur: prefix=%s mode=%s uid=%d" % (
        facteur_instance.prefix(), facteur_instance.mode(), os.geteuid())


def pytest_collection_modifyitems(config, items):
    mode = facteur_instance.mode()
    other = "sandbox" if mode == "system" else "system"
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker(other) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def make_instance():
    """Factory: make_instance(config={...}, strace=path) starts an
    instance; every instance made is stopped and removed at teardown."""
    made = []

    def make(config=None, start=True, **kw):
        inst = facteur_instance.Instance(config=config, **kw)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    for inst in made:
        inst.cleanup()


@pytest.fixture
def instance(make_instance):
    """A fresh running instance with the default test configuration."""
    return make_instance()
