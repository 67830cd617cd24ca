"""``arena import MANIFEST``: good manifests imported with metrics; every bad one refused with
its rows named and nothing written (rows and media files counted before and after)."""
import csv
import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from arena.files.manifest import ManifestError, read_manifest_rows
from arena.outputs.import_index import ImportIndex
from arena.outputs.importing import (ImportConflict, derived_key, import_manifest, plan_import,
                                     write_import)
from arena.store.catalog import add_item, ensure_task
from arena.store.schema import Item, Model, Output, Task

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
W, H = 64, 48


def picture(seed, mode="RGB"):
    rng = np.random.default_rng(seed)
    if mode == "L":
        mask = np.zeros((H, W), dtype=np.uint8)
        mask[10:30, 20:44] = 255
        return Image.fromarray(mask, "L")
    return Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))


def header_only_png(path, width, height):
    """A PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * width))) + chunk(b"IEND", b""))


@pytest.fixture
def folder(tmp_path):
    """A manifest folder with sources, a mask, a reference and outputs; a file just outside it."""
    root = tmp_path / "batch"
    root.mkdir()
    for name, seed in (("src1", 1), ("src2", 2), ("ref1", 3), ("out_a1", 4), ("out_b1", 5),
                       ("out_a2", 6), ("out_b2", 7)):
        picture(seed).save(root / f"{name}.png")
    picture(0, "L").save(root / "mask1.png")
    Image.new("L", (W + 1, H)).save(root / "mask_wrong_size.png")
    (root / "garbage.png").write_bytes(b"this is not an image")
    header_only_png(root / "bomb.png", 8000, 6000)
    picture(9).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", root / "link.png")
    return root


def good_rows():
    first = {"task": "recolor", "source": "src1.png", "instruction": "make the ball red",
             "mask": "mask1.png", "reference": "ref1.png"}
    second = {"task": "recolor", "source": "src2.png", "instruction": "make the car blue"}
    return [
        {**first, "model": "api-a", "kind": "api", "output": "out_a1.png", "latency_s": 12.5, "cost_usd": 0.04},
        {**first, "model": "api-b", "output": "out_b1.png", "latency_s": "3", "cost_usd": ""},
        {**second, "model": "api-a", "kind": "api", "output": "out_a2.png", "latency_s": 11.0, "cost_usd": 0.04},
        {**second, "model": "api-b", "output": "out_b2.png"},
    ]


def write_jsonl(folder, rows, name="manifest.jsonl"):
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def write_csv(folder, rows, name="manifest.csv"):
    columns = sorted({k for r in rows for k in r})
    path = folder / name
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def state(arena):
    """Rows of every table an import writes, and the media files."""
    with arena.engine.connect() as conn:
        counts = tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                       for t in (Task, Item, Model, Output))
    return counts, len(os.listdir(arena.media.root))


@pytest.fixture
def recolor(arena):
    ensure_task(arena.engine, "recolor")
    return arena


def test_import_new_items_with_metrics_then_reimport(recolor, folder):
    arena = recolor
    manifest = write_jsonl(folder, good_rows())
    summary = import_manifest(arena, manifest, ocr=False)
    assert (summary.outputs, summary.items, summary.models, summary.tasks) == (4, 2, 2, 0)
    assert state(arena) == ((1, 2, 2, 4), 2 + 1 + 1 + 4)  # 2 sources, a mask, a reference, 4 outputs
    with arena.engine.connect() as conn:
        got = conn.execute(select(Item.key, Model.name, Model.kind, Output.latency_s, Output.cost_usd,
                                  Output.metrics).join(Item, Item.id == Output.item_id)
                           .join(Model, Model.id == Output.model_id)).all()
    by = {(key[:7], name, latency): (kind, cost, metrics) for key, name, kind, latency, cost, metrics in got}
    assert all(k[0] == "import/" for k in by)
    kind, cost, metrics = by[("import/", "api-a", 12.5)]
    assert (kind, cost) == ("api", 0.04)
    assert {"psnr_outside", "ssim_outside", "ref_psnr", "ref_ssim"} <= set(metrics)
    assert by[("import/", "api-b", 3.0)][:2] == ("imported", None)
    assert by[("import/", "api-b", None)][2] == {}  # no mask, no reference: no metric applies

    before = state(arena)
    with pytest.raises(ManifestError) as err:
        import_manifest(arena, manifest, ocr=False)
    assert "4 bad row(s)" in str(err.value) and "line 4" in str(err.value)
    assert "already has an output" in str(err.value)
    assert state(arena) == before
    again = import_manifest(arena, manifest, skip_existing=True, ocr=False)
    assert (again.outputs, again.items, again.skipped) == (0, 0, 4)
    assert state(arena) == before


@SQLITE_ONLY
def test_csv_rows_add_outputs_to_a_stored_item(recolor, folder):
    arena = recolor
    item = add_item(arena.engine, arena.media, key="stored-1", task="recolor", instruction="make it red",
                    source=picture(1), mask=picture(0, "L"), target_text=None)
    rows = [{"task": "recolor", "item": "stored-1", "model": "m1", "output_path": "out_a1.png",
             "latency_s": "2.5", "cost_usd": "0.01"},
            {"task": "recolor", "item_id": "stored-1", "model": "m2", "version": "2",
             "image": "out_b1.png", "latency_s": "", "cost_usd": ""}]
    summary = import_manifest(arena, write_csv(folder, rows), ocr=False)
    assert (summary.outputs, summary.items, summary.models) == (2, 0, 2)
    with arena.engine.connect() as conn:
        got = conn.execute(select(Output.item_id, Output.latency_s, Output.metrics)).all()
    assert {g[0] for g in got} == {item.id}
    assert {g[1] for g in got} == {2.5, None}
    assert all("psnr_outside" in g[2] for g in got)


# -- refused manifests: the bad row named, nothing written ------------------------------------

def bad(**change):
    row = dict(good_rows()[2])
    for key, value in change.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


BAD_ROWS = {
    "missing output": (bad(output="nope.png"), "output: nope.png: no such image file"),
    "unreadable output": (bad(output="garbage.png"), "garbage.png: unreadable image"),
    "decompression bomb": (bad(output="bomb.png"), "8000x6000 pixels exceeds the limit"),
    "oversized source": (bad(source="bomb.png"), "possible decompression bomb"),
    "missing source": (bad(source="gone.png"), "source: gone.png: no such image file"),
    "path leaves folder": (bad(output="../outside.png"), "leaves the manifest's folder"),
    "absolute path outside": (bad(output="{outside}"), "leaves the manifest's folder"),
    "symlink out": (bad(output="link.png"), "leaves the manifest's folder"),
    "unknown task": (bad(task="style"), "task 'style' is not in the database (--create-tasks"),
    "no model": (bad(model=None), "no 'model'"),
    "no output": (bad(output=None), "no 'output'"),
    "negative latency": (bad(latency_s=-1), "latency_s must be a non-negative number"),
    "latency not a number": (bad(latency_s="fast"), "latency_s must be a number"),
    "unknown column": (bad(latecy_s=3), "unknown column 'latecy_s'"),
    "bad kind": (bad(kind="magic"), "kind 'magic'"),
    "no instruction": (bad(instruction=None), "needs an 'instruction'"),
    "neither item nor source": (bad(source=None), "give 'item'"),
    "unknown item": (bad(source=None, item="ghost"), "item 'ghost' is not in the database"),
    "mask of another size": (bad(mask="mask_wrong_size.png"), "mask is (65, 48), source is (64, 48)"),
    "bad mask file": (bad(mask="garbage.png"), "mask: garbage.png: unreadable image"),
    "not JSON": ('{"task": "recolor", ', "not valid JSON"),
    "not an object": ("[1, 2]", "expected an object"),
    "same pair twice": (good_rows()[0], "has an output for item"),
    "item described twice": (bad(source="src1.png"), "described differently on line 1"),
}


@SQLITE_ONLY
@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_row_refused_with_its_line_and_nothing_written(recolor, folder, tmp_path, case):
    row, message = BAD_ROWS[case]
    if isinstance(row, dict) and row.get("output") == "{outside}":
        row = {**row, "output": str(tmp_path / "outside.png")}
    if case == "item described twice":
        row = {**row, "mask": "mask1.png", "reference": "ref1.png", "instruction": "another"}
        row["item"] = "shared"
    rows = [good_rows()[0], row]
    if case == "item described twice":
        rows[0] = {**rows[0], "item": "shared"}
    before = state(recolor)
    with pytest.raises(ManifestError) as err:
        import_manifest(recolor, write_jsonl(folder, rows), ocr=False)
    text = str(err.value)
    assert message in text and "line 2:" in text and "line 1:" not in text, text
    assert "nothing imported, 1 bad row(s)" in text
    assert state(recolor) == before


def test_several_bad_rows_all_named_on_each_database(recolor, folder):
    rows = [good_rows()[0], bad(task="style"), good_rows()[1], bad(output="nope.png"), good_rows()[0]]
    before = state(recolor)
    with pytest.raises(ManifestError) as err:
        import_manifest(recolor, write_csv(folder, rows), ocr=False)
    text = str(err.value)
    # CSV rows are named by their line (the header is line 1)
    assert "3 bad row(s)" in text
    assert "line 3: task 'style'" in text and "line 5: " in text and "line 6: " in text
    assert "line 2:" not in text and "line 4:" not in text
    assert [where for where, _ in err.value.problems] == ["line 3", "line 5", "line 6"]
    assert state(recolor) == before


def test_stored_item_of_another_task_is_refused(recolor, folder):
    ensure_task(recolor.engine, "object_removal")
    add_item(recolor.engine, recolor.media, key="r-1", task="recolor", instruction="x", source=picture(1))
    before = state(recolor)
    rows = [{"task": "object_removal", "item": "r-1", "model": "m", "output": "out_a1.png"}]
    with pytest.raises(ManifestError, match="item 'r-1' belongs to task 'recolor'"):
        import_manifest(recolor, write_jsonl(folder, rows), ocr=False)
    assert state(recolor) == before


def test_unknown_task_created_on_request(arena, folder):
    rows = [dict(r, task="style") for r in good_rows()[:2]]
    summary = import_manifest(arena, write_jsonl(folder, rows), create_tasks=True, ocr=False)
    assert (summary.outputs, summary.items, summary.tasks) == (2, 1, 1)
    with arena.engine.connect() as conn:
        assert conn.execute(select(Task.name)).scalars().all() == ["style"]


def test_item_stored_meanwhile_is_a_conflict_and_writes_nothing(recolor, folder):
    """An item stored by someone else between the checks and the write: the import fails
    before its transaction, and the image files it had written are removed."""
    manifest = write_jsonl(folder, good_rows()[:2])
    with ImportIndex(folder.parent) as index:
        plan = plan_import(recolor, manifest, index)
        key = derived_key(read_manifest_rows(manifest)[0])
        assert index.items([key])
        add_item(recolor.engine, recolor.media, key=key, task="recolor", instruction="meanwhile",
                 source=picture(8))
        before = state(recolor)
        with pytest.raises(ImportConflict, match=r"changed while importing \(item 'import/"):
            write_import(recolor, plan, ocr=False)
    assert state(recolor) == before


def test_unreadable_manifest_files(recolor, tmp_path):
    for name, text, message in (("m.txt", "", "use a .jsonl"), ("m.json", '{"a": 1}', "list of records"),
                                ("m.jsonl", "\n\n", "no rows"), ("m.json", "[1,", "cannot read")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ManifestError, match=message):
            import_manifest(recolor, path)
    with pytest.raises(ManifestError, match="cannot read"):
        import_manifest(recolor, tmp_path / "absent.jsonl")


# -- the command line -------------------------------------------------------------------------

@SQLITE_ONLY
def test_cli_import_exit_codes(db_url, recolor, folder, monkeypatch, capsys):
    from arena.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARENA_MEDIA", str(recolor.media.root))
    bad_manifest = write_jsonl(folder, [good_rows()[0], bad(output="nope.png")], "bad.jsonl")
    assert main(["import", str(bad_manifest), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "line 2: output: nope.png: no such image file" in err
    assert err.startswith("arena import: error: ") and "line 1" not in err
    good = write_jsonl(folder, good_rows())
    assert main(["import", str(good), "--quiet", "--no-ocr"]) == 0
    assert "imported 4 outputs (2 new items, 2 new models" in capsys.readouterr().out
    assert main(["import", str(good), "--quiet", "--no-ocr"]) == 2
    assert main(["import", str(good), "--quiet", "--no-ocr", "--skip-existing"]) == 0
    assert "4 already stored" in capsys.readouterr().out


# -- refused the same way on both databases, before either sees the values -----------------

def deep_json(depth=100_000):
    return '{"task": ' + "[" * depth + "]" * depth + "}"


REFUSED = {
    "deep JSON": (deep_json(), "not valid JSON (nested too deeply)"),
    "NUL in a model name": (bad(model="a\0b"), "model contains a NUL character"),
    "NUL in an instruction": (bad(instruction="red\0"), "instruction contains a NUL character"),
    "over-long model name": (bad(model="m" * 121), "model is 121 characters long; the most is 120"),
    "over-long task": (bad(task="t" * 65), "task is 65 characters long; the most is 64"),
    "over-long version": (bad(version="v" * 61), "version is 61 characters long; the most is 60"),
    "over-long item key": (bad(item="k" * 201), "item is 201 characters long; the most is 200"),
    "model name an object": (bad(model={"name": "x"}), "model must be text, not an object"),
    "latency an object": (bad(latency_s={"s": 1}), "latency_s must be a number, not an object"),
    "huge latency": (bad(latency_s=10 ** 400), "latency_s must be a number, not 1000000000"),
    "output of another size": (bad(output="small.png"), "output is 32x24, its source 64x48"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_cli_refuses_the_same_way_on_both_databases(db_url, recolor, folder, monkeypatch, capsys, case):
    """Each of these once imported on SQLite, or ended in a traceback on PostgreSQL."""
    from arena.cli import main

    picture(5).resize((W // 2, H // 2)).save(folder / "small.png")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARENA_MEDIA", str(recolor.media.root))
    row, message = REFUSED[case]
    before = state(recolor)
    manifest = write_jsonl(folder, [good_rows()[0], row])
    assert main(["import", str(manifest), "--quiet", "--no-ocr", "--create-tasks"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "line 2: " in err, err
    assert "line 1:" not in err
    assert state(recolor) == before


def test_latin1_csv_is_refused_with_its_line(recolor, folder):
    path = folder / "latin1.csv"
    path.write_bytes("task,source,instruction,model,output\n"
                     "recolor,src1.png,caf\xe9 au lait,m,out_a1.png\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="line 2 is not UTF-8 text"):
        import_manifest(recolor, path, ocr=False)


def test_output_of_another_size_than_a_stored_source(recolor, folder):
    add_item(recolor.engine, recolor.media, key="s-1", task="recolor", instruction="x",
             source=picture(1).resize((W * 2, H)))
    rows = [{"task": "recolor", "item": "s-1", "model": "m", "output": "out_a1.png"}]
    with pytest.raises(ManifestError, match="output is 64x48, its source 128x48"):
        import_manifest(recolor, write_jsonl(folder, rows), ocr=False)


def test_many_bad_rows_stop_early_with_the_first_ones_named(recolor, folder):
    rows = [bad(output=f"missing-{n}.png") for n in range(5000)]
    with pytest.raises(ManifestError) as err:
        import_manifest(recolor, write_jsonl(folder, rows), ocr=False)
    text = str(err.value)
    assert "the first 20 bad row(s) (checking stopped at line 20)" in text, text[:300]
    assert [w for w, _ in err.value.problems] == [f"line {n}" for n in range(1, 21)]
