"""Write a *species pack*: one ONNX graph (backbone + head + softmax), ``labels.json``, ``taxa.json``
and ``pack.json``.

The graph is the shared backbone (``inference/models/efficientnet_lite0.onnx``) with four nodes
appended after its ``embedding`` output::

    embedding --MatMul(W)--> --Add(b)--> --Div(T)--> --Softmax--> probs

Its outputs are ``probs`` (N, C) (the pack's taxa), ``logits`` (N, 1000) (the base model's ImageNet
logits, used by the runtime for the reptile gate and the type) and ``embedding`` (N, 1280). One
onnxruntime session serves both the pack and the gate, with no Python between backbone and head.
Needs the ``onnx`` package (export / train extras), never at run time.

Taxon rows (``taxa.json``): one full row of the species database's ``taxa`` table per class (every
column of ``bot/species_db/schema.sql``), so a pack can name taxa ``species.sqlite`` lacks and still
give the bot a fact card for them. Each row comes, in order of preference, from

1. ``species.sqlite`` (reviewed facts, copied verbatim; :func:`bot.core.species.read_rows`);
2. a ``--taxa FILE.toml`` in the ``data/species/*.toml`` format, validated by
   :mod:`bot.species_db.build` with ``lists`` values ``seed, imagenet, philippine, pack``
   (:func:`rows_from_toml`);
3. otherwise a *minimal* row (:func:`minimal_row`): common name = scientific name, rank from the
   number of words (1 genus, 2 species, 3 subspecies), family and every fact ``"unknown"`` / NULL,
   venom ``"unknown"`` (not venomous for the venom guard; the card still cautions for a snake),
   ``lists = "pack"``, and ``source_url`` saying no facts were recorded. Its reptile type is inferred
   from the training photos with the base model (:func:`infer_types`) unless ``--type`` is given.

``taxa.json`` holds ``{"format": 1, "taxa": [row, ...], "provenance": [{"scientific_name", "source",
"detail"}, ...], "species_db_source_sha256": ...}``; ``source`` is ``"species.sqlite"``, ``"taxa-toml"``
or ``"minimal"``. ``python -m training.export_pack --refresh-taxa PACK`` rewrites it (and adds
``taxa_file`` to ``pack.json``) from the current database without touching ``model.onnx``, e.g. for a
pack made before taxon rows existed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.species import TAXON_COLUMNS, complete_row, read_rows
from inference.hashing import file_sha256
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.pack import TAXA_FILE, read_pack_files
from inference.postprocess import REPTILE_INDICES, softmax
from inference.types import REPTILE_TYPES
from training.head import LinearHead

log = logging.getLogger("training.export_pack")

PACK_FORMAT = 1
MODEL_FILE = "model.onnx"
#: The columns ``labels.json`` keeps of each taxon row (its format from before ``taxa.json``).
LABEL_KEYS: tuple[str, ...] = ("scientific_name", "common_name", "rank", "reptile_type", "venom")
#: Rank of a taxon with no row, from the number of words of its scientific name.
RANK_BY_WORDS = {1: "genus", 2: "species", 3: "subspecies"}
UNKNOWN = "unknown"


# ------------------------------------------------------------------------------------------ taxon rows


@dataclass(frozen=True, slots=True)
class TypeGuess:
    """The reptile type the base model sees in one taxon's photos (:func:`infer_types`).

    Attributes:
        reptile_type: the type with the largest summed reptile probability mass over the photos.
        share: that type's mass / the total reptile mass of the photos, in [0, 1].
        reptile_probability: mean reptile probability of the photos (the gate's number), in [0, 1].
        photos: number of photos.
    """

    reptile_type: str
    share: float
    reptile_probability: float
    photos: int


def infer_types(logits: np.ndarray, labels: Sequence[str], temperature: float = 1.0) -> dict[str, TypeGuess]:
    """Per label, the reptile type the base model's ImageNet logits point to.

    Args:
        logits: (N, 1000) ImageNet logits of the plain photos (float32 or float64).
        labels: N scientific names, one per row.
        temperature: the base model's calibration temperature (as :func:`inference.postprocess.masses`).

    Returns:
        ``{label: TypeGuess}``: the type (crocodilian / lizard / snake / turtle) with the largest
        summed reptile probability mass across that label's photos.

    Raises:
        ValueError: ``logits`` is not (N, 1000) with N = ``len(labels)``.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape != (len(labels), 1000):
        raise ValueError(f"expected logits ({len(labels)}, 1000), got {logits.shape}")
    probs = softmax(logits, temperature, axis=1)[:, REPTILE_INDICES]  # (N, 35)
    type_of = np.array([REPTILE_TYPES.index(t.reptile_type) for t in IMAGENET_REPTILES])
    per_type = np.stack([probs[:, type_of == k].sum(axis=1) for k in range(len(REPTILE_TYPES))], axis=1)
    out: dict[str, TypeGuess] = {}
    labels_arr = np.array(list(labels), dtype=object)
    for name in dict.fromkeys(labels):
        rows = labels_arr == name
        mass = per_type[rows].sum(axis=0)
        k = int(np.argmax(mass))
        total = float(mass.sum())
        out[name] = TypeGuess(REPTILE_TYPES[k], float(mass[k] / total) if total > 0 else 0.0,
                              float(probs[rows].sum(axis=1).mean()), int(rows.sum()))
    return out


def db_source_sha(db_path: Path | str) -> str | None:
    """The ``source_sha256`` the database was built from (its ``metadata`` table), or ``None``."""
    conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM metadata WHERE key = 'source_sha256'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    return row[0] if row else None


def rows_from_toml(path: Path | str) -> dict[str, dict[str, Any]]:
    """Rows of a ``--taxa`` TOML file in the ``data/species/*.toml`` format (``data/species/FORMAT.md``),
    keyed by scientific name.

    Parsed and validated by :mod:`bot.species_db.build` (:func:`~bot.species_db.build.load_file`,
    :func:`~bot.species_db.build.validate`, :func:`~bot.species_db.build.to_row`), with ``"pack"``
    allowed in ``lists``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: invalid TOML or invalid entries (every problem listed).
    """
    from bot.species_db.build import PACK_LIST_NAMES, load_file, to_row, validate

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    entries, origins = load_file(path)
    try:
        validate(entries, origins, list_names=PACK_LIST_NAMES)
    except ValueError as exc:
        raise ValueError(f"--taxa {path}: {exc}") from exc
    rows = [to_row(e, PACK_LIST_NAMES) for e in entries]
    return {r["scientific_name"]: r for r in rows}


def infer_rank(name: str) -> str:
    """``"genus"`` for one word, ``"species"`` for two, ``"subspecies"`` for three.

    Raises:
        ValueError: any other number of words.
    """
    words = name.split()
    if len(words) not in RANK_BY_WORDS:
        raise ValueError(f"cannot tell the rank of {name!r} (1 word = genus, 2 = species, 3 = subspecies): "
                         "rename its folder or give its row with --taxa FILE.toml")
    return RANK_BY_WORDS[len(words)]


def minimal_row(
    name: str,
    reptile_type: str,
    *,
    note: str,
    rank: str | None = None,
    common_name: str | None = None,
    venom: str = UNKNOWN,
) -> dict[str, Any]:
    """An honest taxon row with no facts: every fact ``"unknown"`` or NULL.

    Args:
        name: scientific name.
        reptile_type: crocodilian, lizard, snake or turtle.
        note: stored in ``source_url``, e.g.
            ``"species pack NAME: no facts recorded; reptile type inferred from 40 training photos"``.
        rank: default from the number of words (:func:`infer_rank`).
        common_name: default ``name``.
        venom: default ``"unknown"``.

    Raises:
        ValueError: unknown reptile type, or a name whose rank cannot be inferred.
    """
    if reptile_type not in REPTILE_TYPES:
        raise ValueError(f"{name}: reptile type {reptile_type!r} is not one of {', '.join(REPTILE_TYPES)}")
    rank = rank or infer_rank(name)
    row: dict[str, Any] = {
        "scientific_name": name,
        "common_name": common_name or name,
        "rank": rank,
        "genus": name.split()[0] if rank in ("species", "subspecies") else None,
        "subfamily": None,
        "family": UNKNOWN,
        "reptile_type": reptile_type,
        "distribution": UNKNOWN,
        "habitat": UNKNOWN,
        "colour": UNKNOWN,
        "diet": UNKNOWN,
        "diet_class": UNKNOWN,
        "iucn_category": UNKNOWN,
        "iucn_year": None,
        "venom": venom,
        "adult_length_cm": None,
        "fun_fact": UNKNOWN,
        "well_known": 0,
        "lists": "pack",
        "source_url": note,
        "iucn_source_url": None,
        "continents": "",
        "synonyms": "",
        "venom_source_url": None,
        "who_category": None,
        "who_regions": "",
    }
    return {k: row[k] for k in TAXON_COLUMNS}


def resolve_taxa(
    names: Sequence[str],
    species_db: Path | str,
    taxa_toml: Path | str | None = None,
    *,
    check_names: bool = False,
) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """Rows for the ``names`` the database or the ``--taxa`` file knows: ``{name: (row, provenance)}``.

    The database wins over the TOML file (a warning names TOML rows it overrides); TOML rows for taxa
    that are not among ``names`` are reported as a warning (a typo?). Names neither knows are left
    out: give them :func:`minimal_row` rows (with ``check_names``, their rank must be inferable from
    the name: :func:`infer_rank`).

    Raises:
        FileNotFoundError: the database or the TOML file is missing.
        ValueError: invalid TOML rows, or (``check_names``) a missing name of 0 or more than 3 words.
    """
    db = read_rows(species_db, names)
    toml = rows_from_toml(taxa_toml) if taxa_toml is not None else {}
    sha = db_source_sha(species_db)
    out: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for name in names:
        if name in db:
            detail = f"reviewed row copied from {Path(species_db).name}"
            out[name] = (db[name], {"scientific_name": name, "source": "species.sqlite",
                                    "detail": detail + (f" (source_sha256 {sha[:12]})" if sha else "")})
            if name in toml:
                log.warning("%s: %s already has reviewed facts; its row in %s is ignored",
                            name, species_db, taxa_toml)
        elif name in toml:
            out[name] = (toml[name], {"scientific_name": name, "source": "taxa-toml",
                                      "detail": f"row from {Path(str(taxa_toml)).name}"})
    if check_names:
        for name in names:
            if name not in out:
                infer_rank(name)
    unused = sorted(set(toml) - set(names))
    if unused:
        log.warning("%s: rows for taxa that are not among the pack's classes are ignored: %s",
                    taxa_toml, ", ".join(unused))
    return out


def complete_taxa(
    classes: Sequence[str],
    known: dict[str, tuple[dict[str, Any], dict[str, str]]],
    *,
    logits: np.ndarray,
    labels: Sequence[str],
    temperature: float,
    type_override: str | None,
    pack_name: str,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Rows for every class, in class order: ``known`` rows, and :func:`minimal_row` rows for the rest
    with their type from ``type_override`` or inferred from the photos (:func:`infer_types` over
    ``logits`` (N, 1000) / ``labels`` (N)).

    Returns:
        ``(rows, provenance)``, each one per class.

    Raises:
        ValueError: a missing taxon's rank cannot be inferred from its name.
    """
    missing = [c for c in classes if c not in known]
    guesses = infer_types(logits, labels, temperature) if missing and type_override is None else {}
    rows, provenance = [], []
    for name in classes:
        if name in known:
            row, prov = known[name]
            rows.append(row)
            provenance.append(prov)
            continue
        if type_override is not None:
            rtype, how = type_override, f"reptile type {type_override!r} given with --type"
            short = how
        else:
            g = guesses[name]
            rtype = g.reptile_type
            short = f"reptile type inferred from {g.photos} training photos"
            how = (f"reptile type {rtype!r} inferred from {g.photos} training photos by the base model "
                   f"({g.share:.0%} of their reptile probability mass; mean reptile probability "
                   f"{g.reptile_probability:.2f})")
            if g.reptile_probability < 0.3:
                log.warning("%s: the base model sees few reptiles in its photos (mean reptile probability "
                            "%.2f); check its inferred type %r or pass --type", name,
                            g.reptile_probability, rtype)
        note = f"species pack {pack_name}: no facts recorded; {short}"
        rows.append(minimal_row(name, rtype, note=note))
        provenance.append({"scientific_name": name, "source": "minimal", "detail": how})
    if missing:
        log.warning(
            "%d taxa are not in the species database and have no --taxa row, so the pack carries minimal "
            "rows for them (common name = scientific name, every fact 'unknown'): %s. To give them facts, "
            "write their rows in a TOML file in the data/species/*.toml format (data/species/FORMAT.md; "
            "lists = [\"pack\"]) and train again with --taxa FILE.toml (embeddings are cached).",
            len(missing), "; ".join(f"{p['scientific_name']} ({p['detail']})"
                                   for p in provenance if p["source"] == "minimal"))
    return rows, provenance


def label_of(row: dict[str, Any]) -> dict[str, Any]:
    """The ``labels.json`` entry of a taxon row (:data:`LABEL_KEYS`)."""
    return {k: row[k] for k in LABEL_KEYS}


def write_taxa(
    pack_dir: Path | str,
    rows: Sequence[dict[str, Any]],
    provenance: Sequence[dict[str, str]],
    *,
    species_db_sha: str | None = None,
    update_meta: bool = True,
) -> Path:
    """Write ``taxa.json`` (rows in class order) and, with ``update_meta``, record ``taxa_file`` in an
    existing ``pack.json`` (nothing else of it changes; ``model.onnx`` is never touched).

    Raises:
        ValueError: a row does not have exactly the :data:`~bot.core.species.TAXON_COLUMNS`.
    """
    pack_dir = Path(pack_dir)
    for row in rows:
        if tuple(row) != TAXON_COLUMNS:
            raise ValueError(f"taxon row {row.get('scientific_name')}: columns must be {TAXON_COLUMNS}")
    data: dict[str, Any] = {"format": PACK_FORMAT, "taxa": list(rows), "provenance": list(provenance)}
    if species_db_sha:
        data["species_db_source_sha256"] = species_db_sha
    path = pack_dir / TAXA_FILE
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    meta_file = pack_dir / "pack.json"
    if update_meta and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("taxa_file") != TAXA_FILE:
            meta["taxa_file"] = TAXA_FILE
            meta_file.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return path


def refresh_taxa(
    pack_dir: Path | str, species_db: Path | str, taxa_toml: Path | str | None = None
) -> list[dict[str, str]]:
    """Rewrite a pack's ``taxa.json`` from the current database (and ``taxa_toml``) without retraining.

    Rank, type and venom are part of the trained pack (the venom guard was calibrated on them), so a
    row whose rank, type or venom differs from ``labels.json`` is refused. A taxon neither source
    knows keeps its current ``taxa.json`` row, or gets a minimal row from its label.

    Returns:
        The provenance list written.

    Raises:
        FileNotFoundError: a pack file, the database or the TOML file is missing.
        ValueError: a row disagrees with the label on rank, type or venom (retrain instead).
    """
    pack_dir = Path(pack_dir)
    meta, pack_taxa = read_pack_files(pack_dir)
    names = [t.scientific_name for t in pack_taxa.labels]
    known = resolve_taxa(names, species_db, taxa_toml)
    current = {r["scientific_name"]: (complete_row(r), p) for r, p in
               zip(pack_taxa.rows, pack_taxa.provenance or [{}] * len(pack_taxa.rows), strict=False)}
    rows, provenance, problems = [], [], []
    for label in pack_taxa.labels:
        name = label.scientific_name
        if name in known:
            row, prov = known[name]
        elif name in current:
            row, prov = current[name]
            prov = prov or {"scientific_name": name, "source": "minimal", "detail": "kept from taxa.json"}
        else:
            how = "reptile type from labels.json"
            note = f"species pack {meta.get('name', pack_dir.name)}: no facts recorded; {how}"
            row = minimal_row(name, label.reptile_type, note=note, rank=label.rank,
                              common_name=label.common_name, venom=label.venom)
            prov = {"scientific_name": name, "source": "minimal", "detail": how}
        key = (row["rank"], row["reptile_type"], row["venom"])
        if key != (label.rank, label.reptile_type, label.venom):
            problems.append(f"{name}: labels.json says {(label.rank, label.reptile_type, label.venom)}, the "
                            f"new row says {key}")
        rows.append(row)
        provenance.append(prov)
    if problems:
        raise ValueError("rank, type or venom changed (the venom guard was calibrated on them): retrain "
                         "the pack instead. " + "; ".join(problems))
    write_taxa(pack_dir, rows, provenance, species_db_sha=db_source_sha(species_db))
    return provenance


# ----------------------------------------------------------------------------------------------- graph


def compose(base_model: Path, head: LinearHead, out_path: Path) -> None:
    """Append the head to ``base_model`` and save the single graph to ``out_path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(base_model))
    g = model.graph
    names = [o.name for o in g.output]
    if "embedding" not in names or "logits" not in names:
        raise ValueError(f"{base_model}: expected outputs logits and embedding, got {names}")
    c = len(head.classes)
    g.initializer.extend([
        numpy_helper.from_array(head.weight.astype(np.float32), "pack_head_W"),
        numpy_helper.from_array(head.bias.astype(np.float32), "pack_head_b"),
        numpy_helper.from_array(np.array(head.temperature, dtype=np.float32), "pack_head_T"),
    ])
    g.node.extend([
        helper.make_node("MatMul", ["embedding", "pack_head_W"], ["pack_head_mm"], name="pack_head_matmul"),
        helper.make_node("Add", ["pack_head_mm", "pack_head_b"], ["pack_head_logits"], name="pack_head_add"),
        helper.make_node("Div", ["pack_head_logits", "pack_head_T"], ["pack_head_scaled"],
                         name="pack_head_temperature"),
        helper.make_node("Softmax", ["pack_head_scaled"], ["probs"], axis=-1, name="pack_head_softmax"),
    ])
    outputs = {o.name: o for o in g.output}
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, c]),
        outputs["logits"],
        outputs["embedding"],
    ])
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))


def write_pack(
    out_dir: Path,
    *,
    base_model: Path,
    base_meta: dict[str, Any],
    head: LinearHead,
    taxa: list[dict[str, Any]],
    thresholds: dict[str, float],
    metrics: dict[str, Any],
    name: str,
    training: dict[str, Any],
    taxon_rows: Sequence[dict[str, Any]] | None = None,
    provenance: Sequence[dict[str, str]] = (),
    species_db_sha: str | None = None,
    head_only: bool = False,
) -> Path:
    """Write the pack folder; returns it.

    With ``head_only`` the pack is ``head.npz`` (the head's weight, bias and temperature, applied at run
    time to the base model's embedding: :mod:`inference.pack_heads`) instead of a composed ONNX graph;
    a stale ``model.onnx`` in the folder is removed.

    Args:
        taxa: one ``labels.json`` entry per class, in head order (:data:`LABEL_KEYS`: scientific_name,
            common_name, rank, reptile_type, venom).
        taxon_rows: full taxon rows, one per class in the same order (``taxa.json``, see
            :func:`write_taxa`); ``None`` writes no ``taxa.json`` (an old-style pack).
        provenance: per row, where it came from.
        species_db_sha: ``source_sha256`` of the database the rows were copied from.

    Raises:
        ValueError: the head's outputs are missing from ``base_model``, or the rows and labels differ.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if taxon_rows is not None and [label_of(r) for r in taxon_rows] != list(taxa):
        raise ValueError("taxon rows and labels differ")
    model_path = out_dir / MODEL_FILE
    head_path = out_dir / "head.npz"
    if head_only:
        np.savez(head_path, weight=head.weight.astype(np.float32), bias=head.bias.astype(np.float32),
                 temperature=np.float64(head.temperature))
        model_path.unlink(missing_ok=True)
        files: dict[str, Any] = {"head_file": head_path.name, "head_sha256": file_sha256(head_path)}
    else:
        compose(base_model, head, model_path)
        head_path.unlink(missing_ok=True)
        files = {"model_file": MODEL_FILE, "model_sha256": file_sha256(model_path)}
    labels = {"format": PACK_FORMAT, "taxa": taxa}
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=2, ensure_ascii=False) + "\n")
    if taxon_rows is not None:
        write_taxa(out_dir, taxon_rows, provenance, species_db_sha=species_db_sha, update_meta=False)
    else:
        (out_dir / TAXA_FILE).unlink(missing_ok=True)
    pack = {
        "format": PACK_FORMAT,
        "name": name,
        **files,
        "base_model": {
            "name": base_meta.get("name", base_model.stem),
            "sha256": base_meta.get("sha256", file_sha256(base_model)),
        },
        "input_name": base_meta.get("input_name", "input"),
        "input_size": base_meta["input_size"],
        "resize_size": base_meta.get("resize_size", base_meta["input_size"] + 32),
        "mean": base_meta.get("mean", [127.0] * 3),
        "std": base_meta.get("std", [128.0] * 3),
        "outputs": {"probs": len(head.classes), "logits": 1000, "embedding": head.weight.shape[0]},
        **({"taxa_file": TAXA_FILE} if taxon_rows is not None else {}),
        "temperature": head.temperature,
        "thresholds": thresholds,
        "metrics": metrics,
        "training": training,
    }
    (out_dir / "pack.json").write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n")
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.export_pack --refresh-taxa PACK [--species-db DB] [--taxa FILE.toml]``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(prog="python -m training.export_pack",
                                description="Rewrite a species pack's taxon rows (taxa.json) without "
                                            "retraining; model.onnx is not touched.")
    p.add_argument("--refresh-taxa", type=Path, required=True, metavar="PACK", help="pack folder")
    p.add_argument("--species-db", type=Path, default=repo / "species.sqlite")
    p.add_argument("--taxa", type=Path, default=None, help="rows for taxa the database lacks (TOML)")
    args = p.parse_args(argv)
    try:
        provenance = refresh_taxa(args.refresh_taxa, args.species_db, args.taxa)
    except (FileNotFoundError, ValueError) as exc:
        print(f"training.export_pack: {exc}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for prov in provenance:
        counts[prov.get("source", "?")] = counts.get(prov.get("source", "?"), 0) + 1
    print(f"wrote {args.refresh_taxa / TAXA_FILE}: {len(provenance)} taxa ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
