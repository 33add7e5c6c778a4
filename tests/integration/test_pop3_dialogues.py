"""
Plays every dialogues/pop3/*.dlg file against a running instance with a
POP3 listener (RFC 1939 commands, states and replies, RFC 2449 CAPA and
response codes, RFC 5034 AUTH PLAIN). Cases with the same "! config:"
lines share one instance; each case has an account of its own.
"""

import glob
import os

import pytest

from facteur_instance import Instance
from pop3_dialogue import Dialogue

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(glob.glob(os.path.join(HERE, "dialogues", "pop3", "*.dlg")))
# failed logins are delayed by auth (auth_fail_delay); keep cases quick
BASE = {"auth_fail_delay": "1s", "auth_fail_delay_max": "1s"}


@pytest.fixture(scope="module")
def instances():
    running = {}

    def get(config):
        conf = dict(BASE)
        conf.update(config)
        key = tuple(sorted(conf.items()))
        if key not in running:
            inst = Instance(config=conf, pop3=True)
            try:
                inst.start()
            except Exception:
                inst.cleanup()
                raise
            running[key] = inst
        return running[key]

    yield get
    for inst in running.values():
        inst.cleanup()


def test_there_are_cases():
    assert len(CASES) >= 20, CASES


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-4]
                                             for p in CASES])
def test_pop3_dialogue(path, instances):
    d = Dialogue(path)
    d.play(instances(d.config))
