"""``arena import`` of long manifests: memory bounded in both passes, a JSON list read element by
element (the same values as ``json.load``), and nothing written when a late row is bad, the
manifest changes, or the database changes between the check and the write."""
import io
import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_import_manifest import folder, picture, recolor, state, write_jsonl  # noqa: F401 (fixtures)

from arena.files.jsonlist import iter_json_list
from arena.files.manifest import ManifestError
from arena.outputs import importing
from arena.outputs.import_index import ImportIndex
from arena.outputs.importing import ImportConflict, import_manifest, plan_import, write_import
from arena.store.catalog import add_item


def many_rows(n, images=20):
    """``n`` rows, each its own new item, over ``images`` sources and outputs reused."""
    return [{"task": "recolor", "item": f"it-{i}", "source": f"s{i % images}.png",
             "instruction": "recolor it", "model": f"m{i % 3}", "output": f"o{i % images}.png",
             "latency_s": 1.0} for i in range(n)]


@pytest.fixture
def small_images(folder):
    for i in range(20):
        picture(100 + i).resize((16, 16)).save(folder / f"s{i}.png")
        picture(200 + i).resize((16, 16)).save(folder / f"o{i}.png")
    return folder


def traced_peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- memory does not grow with the rows -------------------------------------------------------

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Python's memory, either backend
def test_checking_20k_rows_holds_no_row(recolor, small_images, tmp_path):
    """The check pass once kept every row, item and pair in Python (over 1 KB a row): its
    peak is now the chunk at hand, under 400 bytes a row of the manifest."""
    manifest = write_jsonl(small_images, many_rows(20_000))
    plans = []
    with ImportIndex(tmp_path) as index:
        peak = traced_peak(lambda: plans.append(plan_import(recolor, manifest, index)))
    plan, = plans
    assert (plan.rows, plan.new_items) == (20_000, 20_000)
    assert peak / 20_000 < 400, f"{peak / 20_000:.0f} bytes a row"


def test_whole_import_memory_does_not_grow_with_the_rows(recolor, small_images):
    """Importing 3,000 rows peaks no higher than 1,000 rows, give or take 750 bytes a row (the
    chunk's working set varies a little); once every checked row and output stayed in memory
    until the end, about 10 KB a row."""
    import_manifest(recolor, write_jsonl(small_images, many_rows(10), "warm.jsonl"), ocr=False)
    small = write_jsonl(small_images, [dict(r, item=f"small-{n}") for n, r in enumerate(many_rows(1000))],
                        "small.jsonl")
    large = write_jsonl(small_images, [dict(r, item=f"big-{n}") for n, r in enumerate(many_rows(3000))],
                        "large.jsonl")
    first = traced_peak(lambda: import_manifest(recolor, small, ocr=False))
    second = traced_peak(lambda: import_manifest(recolor, large, ocr=False))
    assert state(recolor)[0][3] == 4010
    assert (second - first) / 2000 < 750, (first, second)


# -- a late bad row writes nothing ------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_bad_last_row_writes_nothing(recolor, small_images, fmt):
    rows = many_rows(2500) + [dict(many_rows(1)[0], item="last", output="missing.png")]
    path = small_images / f"late.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(rows, indent=1))
    else:
        write_jsonl(small_images, rows, path.name)
    before = state(recolor)
    with pytest.raises(ManifestError) as err:
        import_manifest(recolor, path, ocr=False)
    where = "record 2501" if fmt == "json" else "line 2501"
    assert err.value.problems == [(where, "output: missing.png: no such image file")]
    assert state(recolor) == before
    assert not list(small_images.parent.glob(".import-*")), "scratch file left behind"


def test_json_list_broken_after_many_records_writes_nothing(recolor, small_images):
    path = small_images / "broken.json"
    path.write_text(json.dumps(many_rows(1500))[:-1] + ", {]")
    before = state(recolor)
    with pytest.raises(ManifestError, match="cannot read: record 1501 is not valid JSON"):
        import_manifest(recolor, path, ocr=False)
    assert state(recolor) == before


def test_image_broken_past_its_header_is_refused_and_nothing_kept(recolor, small_images):
    """A PNG cut short: its header gives a size, its pixels do not decode."""
    data = (small_images / "o1.png").read_bytes()
    (small_images / "cut.png").write_bytes(data[: len(data) // 2])
    rows = many_rows(1200) + [dict(many_rows(1)[0], item="cut", output="cut.png")]
    before = state(recolor)
    with pytest.raises(ManifestError) as err:
        import_manifest(recolor, write_jsonl(small_images, rows), ocr=False)
    assert [w for w, _ in err.value.problems] == ["line 1201"]
    assert "cut.png" in str(err.value) and "unreadable image" in str(err.value)
    assert state(recolor) == before


# -- the world changing between the passes ----------------------------------------------------

def test_manifest_changed_between_check_and_write(recolor, small_images, tmp_path):
    manifest = write_jsonl(small_images, many_rows(10))
    before = state(recolor)
    with ImportIndex(tmp_path) as index:
        plan = plan_import(recolor, manifest, index)
        write_jsonl(small_images, many_rows(12))
        with pytest.raises(ManifestError, match="changed while importing"):
            write_import(recolor, plan, ocr=False)
    assert state(recolor) == before


def test_item_inserted_during_the_write_rolls_back_everything(recolor, small_images, monkeypatch):
    """Someone stores one of the new items after staging, before the transaction's inserts: the
    unique key refuses it, the transaction rolls back and the staged image files are removed."""
    real = importing._write

    def racing(arena, plan):
        add_item(arena.engine, arena.media, key="it-1500", task="recolor", instruction="meanwhile",
                 source=picture(1))
        return real(arena, plan)

    manifest = write_jsonl(small_images, many_rows(2000))
    before = state(recolor)
    monkeypatch.setattr(importing, "_write", racing)
    with pytest.raises(ImportConflict, match="changed while importing"):
        import_manifest(recolor, manifest, ocr=False)
    (tasks, items, models, outputs), files = state(recolor)
    assert ((tasks, items, models, outputs), files) == ((before[0][0], 1, 0, 0), before[1] + 1)


# -- the JSON-list reader gives what json.load gives ------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(JSON_VALUES, max_size=8), block=st.integers(1, 64),
       indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_json_list_reader_matches_json_load(values, block, indent, ascii_only):
    text = json.dumps(values, indent=indent, ensure_ascii=ascii_only)
    assert list(iter_json_list(io.BytesIO(text.encode()), block=block)) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='[]{},:"0123456789.eE+- \ntrufalsn\\', max_size=40),
       block=st.integers(1, 16))
def test_json_list_reader_refuses_what_json_load_refuses(text, block):
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError):
        expected = ValueError
    if not isinstance(expected, list):
        expected = ValueError
    try:
        got = list(iter_json_list(io.BytesIO(text.encode()), block=block))
    except ValueError as exc:
        assert "\n" not in str(exc)
        got = ValueError
    assert got == expected
