"""The museum's taxonomy: rank levels, parent links and the roll-up of model scores.

Every taxon row (species database and species packs) is a node; its parent is the next rank up
that the row names: subspecies -> species -> genus -> subfamily -> family -> type (crocodilian,
lizard, snake, turtle, tuatara: the order-level group the cards call "type"). A genus, subfamily or
family with no row of its own still exists as a node (its name comes from its members' rows) so that
scores can be summed through it, but only nodes with a row can be answered (they have a card).

:func:`roll_up` implements the roll-up used by SpeciesNet and iNaturalist's computer vision: sum each
node's probability into all its ancestors, then answer at the *finest* rank whose summed score
reaches the threshold. Worked example (tested): scores Naja samarensis 0.40, N. philippinensis 0.35,
N. sumatrana 0.20 -> no species reaches 0.85, the genus *Naja* holds 0.95 -> the answer is
"a cobra (genus Naja)", confidently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

#: Rank levels, finest first. "type" is the order-level group (Crocodylia, Squamata lizards and
#: snakes, Testudines, Rhynchocephalia) the bot reports as the reptile type.
RANKS: tuple[str, ...] = ("subspecies", "species", "genus", "subfamily", "family", "type")
#: Ranks above species: a row of one of these stands for a group of species.
GROUP_RANKS: tuple[str, ...] = ("genus", "subfamily", "family")


def rank_level(rank: str) -> int:
    """Position of ``rank`` in :data:`RANKS` (0 = subspecies ... 5 = type).

    Raises:
        ValueError: unknown rank.
    """
    return RANKS.index(rank)


class TaxonRow(Protocol):
    """What the taxonomy reads of a taxon row (:class:`bot.core.species.Taxon` has these)."""

    scientific_name: str
    rank: str
    genus: str | None
    subfamily: str | None
    family: str
    reptile_type: str


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the tree.

    Attributes:
        name: scientific name (or the type word for a type node, e.g. ``"snake"``).
        rank: one of :data:`RANKS`.
        parent: the parent's name, ``None`` for a type node (the root's children).
        has_row: true when the species database or a pack has a row (a card) for it.
    """

    name: str
    rank: str
    parent: str | None
    has_row: bool


@dataclass(frozen=True, slots=True)
class RollUp:
    """The answer of :func:`roll_up`.

    Attributes:
        name: the node answered (a taxon with a row), or the best leaf when nothing reached the
            threshold.
        rank: its rank.
        score: its summed probability, in [0, 1].
        confident: true when ``score`` reached the threshold (the card may say "I'm pretty sure").
        rolled_up: true when the answer is coarser than the best-scoring leaf.
    """

    name: str
    rank: str
    score: float
    confident: bool
    rolled_up: bool


class Taxonomy:
    """The tree over a set of taxon rows.

    Args:
        rows: every taxon row (database rows and pack rows); duplicates by scientific name keep
            the first.
    """

    def __init__(self, rows: Iterable[TaxonRow]) -> None:
        self._nodes: dict[str, Node] = {}
        rows = list(rows)
        named = {r.scientific_name for r in rows}
        # Implicit higher nodes first, so a row's parent always exists.
        for r in rows:
            self._add_type(r.reptile_type)
            if r.family and r.family not in self._nodes and r.family not in named:
                self._nodes[r.family] = Node(r.family, "family", r.reptile_type, False)
            if r.subfamily and r.subfamily not in self._nodes and r.subfamily not in named:
                self._nodes[r.subfamily] = Node(r.subfamily, "subfamily", r.family or r.reptile_type, False)
            if r.genus and r.genus not in self._nodes and r.genus not in named:
                parent = r.subfamily or r.family or r.reptile_type
                self._nodes[r.genus] = Node(r.genus, "genus", parent, False)
        for r in rows:
            if r.scientific_name in self._nodes and self._nodes[r.scientific_name].has_row:
                continue
            self._nodes[r.scientific_name] = Node(r.scientific_name, r.rank, self._parent_of(r), True)
        # Genus rows carry no subfamily column of their own: adopt their members' subfamily.
        for r in rows:
            if r.genus and r.subfamily and r.genus in self._nodes:
                g = self._nodes[r.genus]
                if g.parent == r.family and r.subfamily in self._nodes:
                    self._nodes[r.genus] = Node(g.name, g.rank, r.subfamily, g.has_row)

    def _add_type(self, reptile_type: str) -> None:
        if reptile_type not in self._nodes:
            self._nodes[reptile_type] = Node(reptile_type, "type", None, False)

    @staticmethod
    def _parent_of(r: TaxonRow) -> str:
        if r.rank == "subspecies":
            return " ".join(r.scientific_name.split()[:2])
        if r.rank == "species":
            return r.genus or r.subfamily or r.family or r.reptile_type
        if r.rank == "genus":
            return r.subfamily or r.family or r.reptile_type
        if r.rank == "subfamily":
            return r.family or r.reptile_type
        return r.reptile_type

    def node(self, name: str) -> Node | None:
        """The node named ``name``, or ``None``."""
        return self._nodes.get(name)

    def ancestors(self, name: str) -> list[str]:
        """``name`` and its ancestors, finest first (empty for an unknown name)."""
        out: list[str] = []
        cur: str | None = name
        while cur is not None and cur in self._nodes and cur not in out:
            out.append(cur)
            cur = self._nodes[cur].parent
        return out

    def descendants(self, name: str) -> list[str]:
        """Names of every node below ``name`` that has a row (not ``name`` itself), sorted."""
        return sorted(n for n, node in self._nodes.items()
                      if node.has_row and n != name and name in self.ancestors(n))

    def type_of(self, name: str) -> str | None:
        """The type (crocodilian, lizard, ...) above ``name``, or ``None`` when unknown."""
        chain = self.ancestors(name)
        return chain[-1] if chain and self._nodes[chain[-1]].rank == "type" else None

    def summed(self, scores: Mapping[str, float]) -> dict[str, float]:
        """Each node's own score plus all its descendants' (unknown names are ignored)."""
        total: dict[str, float] = {}
        for name, p in scores.items():
            for a in self.ancestors(name):
                total[a] = total.get(a, 0.0) + float(p)
        return total

    def roll_up(self, scores: Mapping[str, float], threshold: float) -> RollUp | None:
        """Answer at the finest rank whose summed score reaches ``threshold``.

        Args:
            scores: probability per taxon (scientific name -> value in [0, 1]); they should sum to at
                most 1 (P(taxon | reptile)). Names the taxonomy does not know are ignored.
            threshold: calibrated "pretty sure" level in (0, 1].

        Returns:
            The finest node with a row whose summed score >= ``threshold`` (ties: the higher score);
            when none reaches it, the best-scoring leaf with ``confident=False``; ``None`` when no
            score names a known taxon. Type nodes are never answered (they have no card); the card
            says "not sure" and the type stays the model's type.
        """
        known = {n: p for n, p in scores.items() if n in self._nodes}
        if not known:
            return None
        total = self.summed(known)
        best_leaf = max(known, key=lambda n: known[n])
        reached = [n for n, s in total.items()
                   if s >= threshold and self._nodes[n].has_row and self._nodes[n].rank != "type"]
        if not reached:
            return RollUp(best_leaf, self._nodes[best_leaf].rank, known[best_leaf], False, False)
        pick = min(reached, key=lambda n: (rank_level(self._nodes[n].rank), -total[n]))
        return RollUp(pick, self._nodes[pick].rank, min(1.0, total[pick]), True, pick != best_leaf)
