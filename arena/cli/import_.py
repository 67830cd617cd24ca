"""``arena import MANIFEST``: outputs made elsewhere, checked first, imported all or nothing.

The manifest is streamed twice (check, then stage), so memory stays bounded however long it is;
one transaction writes everything at the end (:mod:`arena.outputs.importing`)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "import", help="import outputs made elsewhere from a manifest (JSONL, JSON or CSV)",
        description="Import outputs listed in a manifest: task, item (a stored item's key) or "
                    "source and instruction (a new item), model, output, latency_s, cost_usd; "
                    "optional version, kind (imported, api), provider, mask, reference, "
                    "target_text, old_text. Paths are relative to the manifest's folder. The file "
                    "is read twice, in chunks, in bounded memory: first every row is checked "
                    "(the first 20 bad rows are named) and one bad row means nothing is "
                    "imported; then the images are stored and one transaction writes every "
                    "row, so an import that fails on the way (the database or the manifest "
                    "changed meanwhile) also writes nothing and removes its image files. "
                    "Running it again after a failure starts afresh; --skip-existing makes a "
                    "manifest that is partly stored import the rest.")
    p.add_argument("manifest", metavar="MANIFEST", help="manifest file (.jsonl, .json or .csv)")
    p.add_argument("--create-tasks", action="store_true", help="create tasks the database does not hold")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip rows whose model already has an output for the item")
    p.add_argument("--no-ocr", action="store_true", help="skip the OCR metrics of text edits")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.cli import InputError
    from arena.context import Arena
    from arena.files.manifest import ManifestError
    from arena.outputs.importing import import_manifest

    try:
        summary = import_manifest(Arena.open(), args.manifest, create_tasks=args.create_tasks,
                                  skip_existing=args.skip_existing, ocr=not args.no_ocr,
                                  progress=not args.quiet)
    except ManifestError as exc:
        raise InputError(str(exc)) from None
    print(summary.describe())
    return 0
