"""``reptile-museum`` console script: ``run``, ``identify``, ``species`` and ``train`` subcommands.

The hardening report and the load benchmark are test tools run from a checkout (``make selftest``,
``make loadbench``), not subcommands of the installed package."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.adapters.text_render import render_text
from bot.core.lookup import resolve
from bot.logging_setup import setup_logging
from bot.services import Services, open_services, open_species
from bot.settings import Settings
from inference.pack import PackError

log = logging.getLogger("reptile_museum")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reptile-museum", description="Reptile Museum chatbot.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bots (or a terminal chat when no token is set)")
    ident = sub.add_parser("identify", help="identify photos and print their cards")
    ident.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    ident.add_argument("--json", action="store_true", help="one JSON object per line")
    ident.add_argument("--pack", type=Path, default=None, metavar="DIR",
                       help="use this species pack (overrides REPTILE_PACK)")
    sp = sub.add_parser("species", help="look up a reptile by name")
    sp.add_argument("name", nargs="*", help="common or scientific name (fuzzy)")
    sp.add_argument("--list", action="store_true", help="list every taxon in the database")
    sp.add_argument("--json", action="store_true",
                    help="print one JSON object (found, scientific_name, ..., members, warning; "
                         "or suggestions, warning, not_reptile)")
    sp.add_argument("--pack", type=Path, default=None, metavar="DIR",
                    help="also search this species pack's taxa (overrides REPTILE_PACK)")
    sub.add_parser("train", add_help=False,
                   help="train a species pack (python -m training.train; needs the 'train' extra)")
    return p


def _cmd_train(argv: list[str]) -> int:
    """Delegate to :mod:`training.train`, with a clear message when the ``train`` extra is missing."""
    missing = []
    for module, pkg in (("sklearn", "scikit-learn"), ("matplotlib", "matplotlib"), ("onnx", "onnx")):
        try:
            __import__(module)
        except ImportError:
            missing.append(pkg)
    if missing:
        print(f"reptile-museum train: missing {', '.join(missing)}; install the training extra: "
              "pip install -e '.[train]'", file=sys.stderr)
        return 2
    try:
        from training.train import main as train_main
    except ModuleNotFoundError as exc:
        if exc.name != "training" and not (exc.name or "").startswith("training."):
            raise
        # The Docker image carries the runtime only (no training/).
        print("reptile-museum train: training/ is not installed here; run it from a checkout: "
              "pip install -e '.[train]' && reptile-museum train ...", file=sys.stderr)
        return 2
    return train_main(argv)


async def _identify_one(services: Services, path: Path, as_json: bool) -> tuple[str, bool]:
    """Return (output text, ok) for one photo; never raises for a bad file."""
    try:
        with path.open("rb") as fh:
            data = fh.read(services.settings.max_image_bytes + 1)
    except OSError as exc:
        err = f"cannot read file: {exc.strerror or exc.__class__.__name__}"
        return (json.dumps({"path": str(path), "error": err}) if as_json else f"{path}: {err}"), False
    outcome = await services.identify.identify(data)
    ident = outcome.identification
    if not as_json:
        return f"== {path}\n{render_text(outcome.card)}\n", ident is not None
    if ident is None:
        return json.dumps({"path": str(path), "error": outcome.card.body}, ensure_ascii=False), False
    top = []
    for s in ident.top:
        taxon = await services.species.get(s.scientific_name)
        top.append({
            "scientific_name": s.scientific_name,
            "common_name": taxon.common_name if taxon else None,
            "rank": s.rank,
            "confidence": round(s.confidence, 4),
        })
    try:
        answer = await services.identify.answer_for(ident)
    except LookupError:
        answer = None
    first = answer.taxon if answer else None
    obj = {
        "path": str(path),
        "is_reptile": ident.is_reptile,
        "reptile_probability": round(ident.reptile_probability, 4),
        "type": ident.reptile_type,
        "type_confidence": round(ident.type_confidence, 4),
        "confident": answer.confident if answer else False,
        "answer": first.scientific_name if first else None,
        "rank": first.rank if first else None,
        "top": top,
        "venom": first.venom if (first and ident.is_reptile) else None,
        "venom_warning": answer.venom_warning.value if answer and answer.venom_warning else None,
        "non_reptile_kind": ident.non_reptile_kind,
        "model": ident.model,
        "elapsed_ms": round(ident.elapsed_ms, 1),
    }
    return json.dumps(obj, ensure_ascii=False), True


async def _cmd_identify(settings: Settings, photos: list[Path], as_json: bool) -> int:
    services = await open_services(settings)
    failed = 0
    try:
        for path in photos:
            text, ok = await _identify_one(services, path, as_json)
            print(text, flush=True)
            failed += not ok
    finally:
        await services.close()
    return 1 if failed else 0


async def _cmd_species(settings: Settings, name: str, list_all: bool, as_json: bool = False) -> int:
    from inference.pack import load_pack_taxa

    rows: tuple[dict, ...] = ()
    labels: tuple = ()
    if settings.reptile_pack:  # the pack's labels and taxon rows only: no model is loaded
        pack_taxa = load_pack_taxa(settings.reptile_pack)
        rows, labels = pack_taxa.rows, pack_taxa.labels
    species = await open_species(settings, rows, labels)
    try:
        if list_all:
            for t in species.taxa:
                where = "\tpack" if species.from_pack(t.scientific_name) else ""
                print(f"{t.scientific_name}\t{t.common_name}\t{t.rank}\t{t.reptile_type}\t{t.iucn_category}{where}")
            return 0
        result = await resolve(species, name)
        if as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print(render_text(result.card))
        return 0
    finally:
        await species.close()


async def _cmd_run(settings: Settings) -> int:
    from bot.platforms import run_platforms

    return await run_platforms(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Returns the process exit status (0 ok, 1 some input failed, 2 setup error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return _cmd_train(argv[1:])
    if argv[:1] == ["selftest"]:
        from tests.tools.selftest import main as selftest_main

        return selftest_main(argv[1:])
    args = _parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings)
    try:
        if args.command in ("identify", "species") and args.pack is not None:
            settings = settings.model_copy(update={"reptile_pack": args.pack})
        if args.command == "identify":
            return asyncio.run(_cmd_identify(settings, args.photos, args.json))
        if args.command == "species":
            return asyncio.run(_cmd_species(settings, " ".join(args.name), args.list, args.json))
        return asyncio.run(_cmd_run(settings))
    except (FileNotFoundError, PackError) as exc:
        print(f"reptile-museum: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
