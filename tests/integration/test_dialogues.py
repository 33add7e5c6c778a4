"""
Plays every dialogues/smtp/*.dlg file against a running instance (RFC 5321
replies, RFC 3463 enhanced codes, RFC 2920 PIPELINING, RFC 1870 SIZE).
Cases with the same "! config:" lines share one instance.
"""

import glob
import os

import pytest

from facteur_instance import Instance
from smtp_dialogue import Dialogue

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(glob.glob(os.path.join(HERE, "dialogues", "smtp", "*.dlg")))


@pytest.fixture(scope="module")
def instances():
    running = {}

    def get(config):
        key = tuple(sorted(config.items()))
        if key not in running:
            inst = Instance(config=config)
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
    assert len(CASES) >= 30, CASES


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-4]
                                             for p in CASES])
def test_dialogue(path, instances):
    d = Dialogue(path)
    d.play(instances(d.config))
