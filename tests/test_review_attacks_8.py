"""Review attacks on surfaces the earlier attack files leave alone: the detection configuration
(``graphsvc detect --config FILE.json``, ``graphsvc/detect/config.py``) given hostile or careless
values, a pharmacy whose swipes arrive in one batch (the card-burst base rate), ``graphsvc generate``,
``graphsvc apikey`` and ``POST /apikeys`` given odd expiries and names, and ``graphsvc risk --top``.

Each test states a behaviour the product must have; its docstring says what the attack did before the fix.
The command-line tests run ``cli.commands.main`` in process on a copy of the CLI test home
(``Cities.home``); the two that hung or exhausted memory before the fix run it in a subprocess
with a time limit (and, for memory, an address-space limit).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import list_api_keys
from cli.commands import main
from graphsvc.config import Settings
from graphsvc.store import open_store
from helpers.api_city import Cities, City
from helpers.cli_error import cli_error
from helpers.scenes import Scene

_DEFAULT_BASE_STRENGTH = {"agent": 0.9, "payee_account": 0.95, "contact_phone": 0.8, "bound_phone": 0.9,
                          "card_device": 0.9, "scan_device": 0.85, "own_phone": 0.6}


@pytest.fixture
def city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as made:
        yield made


def _detect_with(cities: Cities, tmp_path: Path, capsys: pytest.CaptureFixture[str], config_text: str
                 ) -> tuple[int, str, Path]:
    """``graphsvc detect --config`` with this file's text on a copy of the CLI city home: exit code, stderr,
    the ``--out`` path."""
    home = cities.home(tmp_path)
    config = tmp_path / "tuning.json"
    config.write_text(config_text, encoding="utf-8")
    out = tmp_path / "rings.json"
    capsys.readouterr()
    code = main(["detect", "--home", str(home), "--quiet", "--top", "0", "--config", str(config), "--out", str(out)])
    return code, capsys.readouterr().err, out


def _current_ring_ids(home: Path) -> list[str]:
    with duckdb.connect(str(home / "graph.duckdb"), read_only=True) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "rings" in tables, tables
        return sorted(r for (r,) in con.execute("SELECT id FROM rings").fetchall())


# ---- graphsvc detect --config ----------------------------------------------------------------------


def test_a_config_that_tunes_one_way_of_sharing_keeps_the_other_strengths(cities, tmp_path, capsys):
    """Attack (careless operator): a fund lowers one strength, ``{"shared_identifier": {"base_strength":
    {"payee_account": 0.9}}}`` (config.py: 'sections and keys left out keep their defaults'). The dict
    replaces the default dict whole, so ``shared_identifier_findings`` reads ``config.base_strength[via]``
    for a way of sharing the file did not name and raises ``KeyError``: 'graphsvc: error: an internal
    error (KeyError); run again with --log-level debug to see where', exit 1, no rings (the API's
    POST /detect job fails the same way: 'KeyError: an internal error').
    Expected: the ways of sharing left out keep their default strengths; detection runs (exit 0) and
    still finds the broker's ring."""
    code, err, out = _detect_with(cities, tmp_path, capsys,
                                  json.dumps({"shared_identifier": {"base_strength": {"payee_account": 0.9}}}))
    assert "internal error" not in err, err
    assert code == 0, err
    assert "black_intermediary" in {ring["pattern"] for ring in json.loads(out.read_text("utf-8"))["rings"]}


@pytest.mark.parametrize("value", ["5", "-3", "NaN"])
def test_a_base_strength_outside_zero_to_one_is_refused(cities, tmp_path, capsys, value):
    """Attack (careless or hostile operator): every other strength in DetectionConfig is bounded
    (``gt=0, lt=1``), but ``shared_identifier.base_strength`` is a ``dict[str, float]`` with no bounds,
    so a full dict with ``"payee_account": 5`` (a percentage typed as a whole number), ``-3`` or ``NaN``
    loads. Detection then writes nonsense and exits 0: with 5 the broker's ring R-000003 scores 1.269
    (the contract: score is in [0, 1]); with -3 it drops from 0.93 to 0.60; with NaN it vanishes
    and all three rings are retired ('0 rings ... 3 no longer found').
    Expected: the file is refused before detection with exit 2 and an error naming base_strength,
    and no rings are written."""
    strengths = ", ".join(f'"{k}": {value if k == "payee_account" else v}' for k, v in _DEFAULT_BASE_STRENGTH.items())
    code, err, out = _detect_with(cities, tmp_path, capsys, f'{{"shared_identifier": {{"base_strength": {{{strengths}}}}}}}')
    assert code == 2, err
    assert cli_error(err)[1].startswith("cannot use detection config"), err
    assert "base_strength" in err, err
    assert not out.exists()


@pytest.mark.parametrize(("setting", "key"), [('{"community": {"resolution": 1e999}}', "community.resolution"),
                                              ('{"community": {"iterations": 0}}', "community.iterations")])
def test_a_community_setting_that_splits_every_ring_apart_is_refused(cities, tmp_path, capsys, setting, key):
    """Attack (careless operator): ``1e999`` is standard JSON that Python reads as infinity, and the
    float fields of DetectionConfig allow infinity (``gt=0`` holds for it); ``community.iterations``
    has no bound at all, and 0 runs Leiden not at all. Either leaves every person a community of
    its own: detection exits 0 with '0 rings (0 kept their id ..., 0 new, 3 no longer found)',
    retiring every ring of the previous run (and telling the case systems so).
    Expected: the value is refused with exit 2 and an error naming the setting; the previous run's
    rings stay current."""
    code, err, out = _detect_with(cities, tmp_path, capsys, setting)
    assert code == 2, err
    assert cli_error(err)[1].startswith("cannot use detection config"), err
    assert key in err, err
    assert not out.exists()
    assert _current_ring_ids(tmp_path / "home") == ["R-000001", "R-000002", "R-000003"]


def test_a_true_for_a_number_of_minutes_is_refused(cities, tmp_path, capsys):
    """Attack (careless operator): ``{"card_burst": {"minutes": true}}`` (a flag where a number goes).
    pydantic's lax mode turns ``true`` into 1, so detection looks for bursts within one minute, finds
    none, and exits 0 with the card collector's ring R-000002 no longer a card_collector ring
    (it becomes 'other'): a wrong type silently changes the result.
    Expected: a boolean where a number goes is refused with exit 2 and an error naming
    card_burst.minutes."""
    code, err, out = _detect_with(cities, tmp_path, capsys, '{"card_burst": {"minutes": true}}')
    assert code == 2, err
    assert "card_burst.minutes" in err, err
    assert "\n" not in err.strip(), err  # pydantic's report of several lines, said on one
    assert not out.exists()


@pytest.mark.parametrize(("setting", "key"),
                         [('{"shared_card": {"two_places_minutes": 1000000000000}}', "two_places_minutes"),
                          ('{"co_admission_lockstep": {"window_days": 1000000000000}}', "window_days")])
def test_a_window_no_calendar_holds_is_a_one_line_error(cities, tmp_path, capsys, setting, key):
    """Attack (careless operator, a few zeros too many): windows have a lower bound only, so
    ``two_places_minutes`` or ``co_admission_lockstep.window_days`` of 10**12 loads and reaches
    DuckDB as an INTERVAL it cannot hold: 'graphsvc: error: an internal error (InvalidInputException);
    run again with --log-level debug to see where', exit 1.
    Expected: the value is refused before detection with exit 2 and an error naming the setting."""
    code, err, _ = _detect_with(cities, tmp_path, capsys, setting)
    assert "internal error" not in err, err
    assert code == 2, err
    assert key in err, err


def test_a_deeply_nested_config_file_is_a_one_line_error(cities, tmp_path, capsys):
    """Attack (hostile or broken file): a config of 100,000 nested lists. ``json.loads`` raises
    ``RecursionError``, which ``_detect`` does not catch (it catches OSError and ValueError):
    'graphsvc: error: an internal error (RecursionError)', exit 1.
    Expected: 'cannot use detection config FILE: ...' with exit 2, as for any other unreadable file."""
    code, err, _ = _detect_with(cities, tmp_path, capsys, "[" * 100_000 + "]" * 100_000)
    assert code == 2, err
    assert cli_error(err)[1].startswith("cannot use detection config"), err


# ---- card bursts: a pharmacy whose swipes come in one batch ---------------------------------------------


def test_a_pharmacy_whose_swipes_are_stamped_in_one_batch_does_not_hang_detection(tmp_path):
    """Attack (data supplier): a pharmacy's 3,000 card swipes of one day all carry times within the
    same hour (its system uploads the day's sales in one batch at 23:10). ``_expected_swipes`` then
    takes the pharmacy as open 60 minutes and expects 750 swipes per 15-minute window;
    ``poisson_threshold(750, ...)`` starts from ``math.exp(-750)``, which is 0.0, so its running sum
    never grows and ``while 1.0 - below >= p_value`` loops for ever: ``graphsvc detect`` on these 3,061
    rows spins at 100% CPU and never ends (killed after 30 s here, after 60 s when measured; the same
    3,000 swipes spread over ten hours are detected in 2 s). The same loop is reached with
    ``{"card_burst": {"minutes": 100000}}`` on any city, and a POST /detect job carrying it never finishes.
    Expected: detection finishes (exit 0): the threshold for a large expected count is computed
    without underflow (e.g. in logs, or from the normal approximation)."""
    scene = Scene()
    scene.institution("PHB", "pharmacy")
    people = scene.people("BP", 30)
    for person in people:
        scene.card(f"K{person}", person)
    batch = datetime(2026, 3, 5, 23, 10)
    for i in range(3000):
        person = people[i % 30]
        scene.claim("pharmacy", person, "PHB", batch + timedelta(seconds=i), card_id=f"K{person}", fund_amount=20.0)
    folder = scene.write_folder(tmp_path / "batch")
    home = tmp_path / "home"
    assert main(["ingest", str(folder), "--home", str(home), "--quiet"]) == 0
    try:
        done = subprocess.run([sys.executable, "-m", "cli", "detect", "--home", str(home), "--quiet"],
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("graphsvc detect did not finish within 30 s on 3,061 rows")
    assert done.returncode == 0, done.stderr


# ---- graphsvc generate --------------------------------------------------------------------------


def test_generate_with_a_negative_seed_is_a_one_line_error(tmp_path, capsys):
    """Attack (careless operator): ``graphsvc generate city --persons 5000 --seed -1``. argparse takes
    any int; numpy's ``default_rng(-1)`` raises ``ValueError``: 'graphsvc: error: an internal error
    (ValueError); run again with --log-level debug to see where', exit 1.
    Expected: exit 2 with an error naming --seed; nothing written."""
    out = tmp_path / "city"
    code = main(["generate", str(out), "--persons", "5000", "--seed", "-1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--seed" in err, err
    assert not out.exists()


@pytest.mark.parametrize("dirt", ["2", "-1", "nan"])
def test_generate_refuses_a_dirt_share_that_is_not_a_share(tmp_path, capsys, dirt):
    """Attack (careless operator): ``--dirt`` is 'the share of claim rows with real-world dirt', but
    any float is taken: 2 (meant as 2%) makes every row dirty, -1 and nan none; each writes a
    5,000-person city and exits 0 as if the share had been understood.
    Expected: a share outside [0, 1] (or not a number) is refused with exit 2 and an error naming
    --dirt, before anything is written."""
    out = tmp_path / "city"
    code = main(["generate", str(out), "--persons", "5000", "--dirt", dirt, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--dirt" in err, err
    assert not out.exists()


def _four_gib_of_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_generate_refuses_a_city_no_machine_can_hold(tmp_path):
    """Attack (careless operator, a few zeros too many): ``graphsvc generate city --persons
    1000000000000``. Only a lower bound (5000) is checked; ``build_city`` starts drawing arrays of
    10**12 persons: unlimited, the process grew to 20 GB in its first minute (measured here, and it
    would go on until the machine swaps or the OOM killer steps in); under a 4 GiB address-space
    limit it dies at once with 'graphsvc: error: an internal error (MemoryError)', exit 1.
    Expected: a count beyond what the generator supports (the README measures 10 million) is refused
    up front with exit 2 and an error naming --persons; nothing written."""
    out = tmp_path / "city"
    try:
        done = subprocess.run([sys.executable, "-m", "cli", "generate", str(out), "--persons", "1000000000000",
                               "--quiet"], capture_output=True, text=True, timeout=60,
                              preexec_fn=_four_gib_of_address_space)
    except subprocess.TimeoutExpired:
        pytest.fail("graphsvc generate --persons 10**12 was still running after 60 s")
    assert done.returncode == 2, done.stderr
    assert "--persons" in done.stderr, done.stderr
    assert not out.exists()


# ---- API keys: graphsvc apikey and POST /apikeys ------------------------------------------------------


def test_apikey_create_with_expiry_beyond_the_calendar_is_a_one_line_error(cities, tmp_path, capsys):
    """Attack (careless operator): ``graphsvc apikey create --expires-days 1000000000`` ('never, really').
    Only ``< 1`` is checked; ``now + timedelta(days=10**9)`` raises ``OverflowError``: 'graphsvc: error:
    an internal error (OverflowError); run again with --log-level debug to see where', exit 1.
    Expected: exit 2 with an error naming --expires-days; no key is made."""
    home = cities.home(tmp_path)
    with open_store(Settings(home=home)) as store:
        before = len(list_api_keys(store))
    code = main(["apikey", "create", "--home", str(home), "--role", "analyst", "--name", "Wang",
                 "--expires-days", "1000000000"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--expires-days" in err, err
    with open_store(Settings(home=home)) as store:
        assert len(list_api_keys(store)) == before


def test_apikey_create_refuses_an_empty_name_as_the_api_does(cities, tmp_path, capsys):
    """Attack (careless operator): ``graphsvc apikey create --role investigator --name ""``. POST /apikeys
    refuses such a key (``ApiKeyIn.name``: min_length=1), but the command line stores it and exits 0:
    every audit entry of that key then names nobody (GET /me answers ``"name": ""``), which defeats
    the point of naming a key ('who the key is for (shown in the audit log)').
    Expected: exit 2 with an error naming --name; no key is made."""
    home = cities.home(tmp_path)
    with open_store(Settings(home=home)) as store:
        before = len(list_api_keys(store))
    code = main(["apikey", "create", "--home", str(home), "--role", "investigator", "--name", ""])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "--name" in captured.err, captured.err
    assert not captured.out.strip(), captured.out
    with open_store(Settings(home=home)) as store:
        assert len(list_api_keys(store)) == before


def test_an_api_key_expiring_at_the_calendars_end_west_of_utc_is_a_422(city, tmp_path):
    """Attack (admin's case system): POST /apikeys with ``"expires_at": "9999-12-31T23:59:59-12:00"``
    ('does not expire'). It passes ``ApiKeyIn`` (aware, in the future), then ``create_api_key`` calls
    ``expires_at.astimezone()``, which overflows past year 9999: ``OverflowError``, answered as
    '500 Internal Server Error'. (With +14:00 the same day is accepted.)
    Expected: 422 naming expires_at (or the key made, expiring at the calendar's end); never a 500."""
    with TestClient(create_app(Settings(home=tmp_path / "home", backend="embedded"), store=city.store),
                    raise_server_exceptions=False) as client:
        answer = client.post("/apikeys", headers=city.headers("admin"),
                             json={"role": "analyst", "name": "case system", "expires_at": "9999-12-31T23:59:59-12:00"})
    assert answer.status_code == 422, answer.text
    assert "expires_at" in answer.text


# ---- graphsvc risk --top ----------------------------------------------------------------------------


def test_risk_with_a_negative_top_is_a_one_line_error(cities, tmp_path, capsys):
    """Attack (careless operator): ``graphsvc risk --top -5``. ``ranking[:args.top]`` is a Python slice,
    so -5 prints 'all but the last five' institutions (here the top 2 of 7) under a header that
    says nothing of it, and exits 0. (``graphsvc detect --top`` prints nothing for a count below 1.)
    Expected: a negative count is refused with exit 2 and an error naming --top."""
    home = cities.home(tmp_path)
    code = main(["risk", "--home", str(home), "--top", "-5"])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert "--top" in captured.err, captured.err


@pytest.mark.parametrize("name", ["   ", "x\x1b[2Jcleared", "two\nlines"])
def test_a_key_name_that_names_no_one_or_drives_a_terminal_is_refused_by_the_api_and_the_cli(
        city, cities, tmp_path, capsys, name):
    """A name of blanks names no one in the audit log; escape sequences or line breaks in a name are
    written raw to the terminal by ``graphsvc apikey list`` (an ESC[2J clears the admin's screen).
    Both ways of making a key refuse them alike: 422 naming ``name``, exit 2 naming ``--name``."""
    with TestClient(create_app(Settings(home=tmp_path / "api-home", backend="embedded"), store=city.store),
                    raise_server_exceptions=False) as client:
        answer = client.post("/apikeys", headers=city.headers("admin"), json={"role": "analyst", "name": name})
    assert answer.status_code == 422 and "name" in answer.text, answer.text
    home = cities.home(tmp_path / "cli")
    code = main(["apikey", "create", "--home", str(home), "--role", "analyst", "--name", name])
    captured = capsys.readouterr()
    assert code == 2 and "--name" in captured.err and not captured.out.strip(), captured
