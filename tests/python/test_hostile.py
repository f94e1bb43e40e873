"""Memory stays bounded by -m whatever clients send (issue 9): every attack of
scripts/hostile_clients.py in --quick mode against FERROCACHE_BIN, one test per attack.

The script is imported as a module (it is not a package); each test starts its own server
(`-m 64 -t 2 -c 20000`), so the module-scoped `server` fixture is not used. The whole file
takes about 25 s. See the script's docstring for the attacks and the bounds.
"""

import importlib.util

import pytest

from conftest import ROOT, server_bin

SCRIPT = ROOT / "scripts/hostile_clients.py"


def load_script():
    spec = importlib.util.spec_from_file_location("hostile_clients", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hostile = load_script()


@pytest.mark.parametrize("attack", list(hostile.ATTACKS))
def test_memory_bounded(attack):
    row = hostile.run_attack(attack, server_bin(), quick=True)
    assert row.verdict == "PASS", hostile.format_row(row)
