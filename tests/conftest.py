"""Shared test setup: one thread for BLAS and torch, offline hub, no analytics."""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Most tests vote as fast as a script can; the look-time rule has its own test, which sets it.
os.environ.setdefault("ARENA_MIN_LOOK_MS", "0")
os.environ.setdefault("ARENA_BOARD_REFIT_SPACING", "0")   # each test reads its own last vote
if "ARENA_LIMITS_DIR" not in os.environ:     # each arena's shared rate-limit table, not in /dev/shm
    import atexit
    import shutil
    import tempfile

    os.environ["ARENA_LIMITS_DIR"] = tempfile.mkdtemp(prefix="arena-limits-")
    atexit.register(shutil.rmtree, os.environ["ARENA_LIMITS_DIR"], True)

import secrets  # noqa: E402

import pytest  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "ARENA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test run, dropped afterwards.

    Skips when no server answers, except under CI (``CI=true``), where it fails instead.
    """
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"arena_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    from arena.store.db import get_engine

    get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Each database the arena supports: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arena.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from arena.store import schema  # noqa: F401

    engine = create_engine(url)
    SQLModel.metadata.drop_all(engine)  # each test starts from empty tables
    engine.dispose()
    from arena.store.db import get_engine

    get_engine.cache_clear()
    yield url
    get_engine(url).dispose()       # its pooled connections closed now, not when collected
    get_engine.cache_clear()


@pytest.fixture
def arena(db_url, tmp_path):
    """An arena on an empty database with its own media folder."""
    from arena.context import Arena

    return Arena.open(db_url, media=str(tmp_path / "media"))


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """The real app on a small demo set (3 items per task), served on a free port."""
    from live_server import LiveServer, app_env, run_cli

    workdir = tmp_path_factory.mktemp("demo_server")
    env = app_env(workdir)
    built = run_cli(["demo", "--per-task", "3"], env)
    assert built.returncode == 0, built.stderr
    server = LiveServer(workdir, env)
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    Skips when chromium is missing, except under CI (``CI=true``), where it fails instead.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required under CI (scripts/test.sh installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_url(demo_server):
    """Base URL of the demo server, which also serves the live-session routes and pages."""
    return demo_server.url


@pytest.fixture(scope="session")
def organiser(demo_server) -> dict[str, str]:
    """The header that lets the demo server's organiser start live sessions."""
    from live_server import run_cli

    key = run_cli(["organiser"], demo_server.env).stdout.strip()
    assert key, "arena organiser printed no key"
    return {"X-Organiser-Key": key}
