#!/usr/bin/env bash
# pip installs into a fresh venv (verbose), pip check/list, and a passing pytest run.
. "$(dirname "$0")/common.sh"
PY=${PYTHON:-python3}
V=$SCRATCH/venv
capture pip/venv-create.log $PY -m venv "$V"
capture pip/pip-upgrade.log "$V/bin/pip" install --upgrade pip setuptools wheel
capture pip/pip-install-verbose.log "$V/bin/pip" install -v --no-cache-dir \
  requests flask sqlalchemy pyyaml jinja2 click rich pytest numpy
capture pip/pip-install-more.log "$V/bin/pip" install --no-cache-dir \
  httpx pydantic attrs python-dateutil tabulate tqdm
capture pip/pip-wheel-from-source.log "$V/bin/pip" wheel -v --no-cache-dir --no-binary markupsafe,simplejson --no-deps \
  -w "$SCRATCH/wheels" markupsafe simplejson
capture pip/pip-check.log "$V/bin/pip" check
capture pip/pip-list.log "$V/bin/pip" list -v
capture pip/pip-freeze.log "$V/bin/pip" freeze
T=$SCRATCH/pyproj; mkdir -p "$T/tests"
cat >"$T/tests/test_basics.py" <<'PY'
import json, sqlite3, pytest, yaml, requests, numpy as np
from sqlalchemy import create_engine, text

def test_json_round_trip():
    assert json.loads(json.dumps({"a": [1, 2]})) == {"a": [1, 2]}

def test_yaml_parses():
    assert yaml.safe_load("a: 1\nb: [x, y]") == {"a": 1, "b": ["x", "y"]}

def test_sqlite_in_memory():
    con = sqlite3.connect(":memory:")
    con.execute("create table t (x int)")
    con.executemany("insert into t values (?)", [(i,) for i in range(10)])
    assert con.execute("select sum(x) from t").fetchone()[0] == 45

def test_sqlalchemy_engine():
    e = create_engine("sqlite://")
    with e.connect() as c:
        assert c.execute(text("select 1 + 1")).scalar() == 2

def test_numpy():
    assert np.arange(10).reshape(2, 5).sum(axis=1).tolist() == [10, 35]

def test_requests_prepares_url():
    r = requests.Request("GET", "http://127.0.0.1/x", params={"q": "a b"}).prepare()
    assert r.url == "http://127.0.0.1/x?q=a+b"

@pytest.mark.parametrize("n", range(40))
def test_squares(n):
    assert n * n == n ** 2

def test_raises_is_expected():
    with pytest.raises(ZeroDivisionError):
        1 / 0
PY
(cd "$T" && capture pip/pytest-verbose.log "$V/bin/python" -m pytest -v -rA tests)
scrub "$OUT"/pip/*.log
