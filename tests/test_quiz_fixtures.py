"""Shared data for the quiz tests: a small species database from the real schema.

Rows are real animals with plausible facts. ``CONTINENTS`` is a *hand-written* annotation of where each
one lives (continent level), used by the tests as an independent truth for "where does it live?"
questions. It is not used by the code under test.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.species import Taxon
from tests.species_rows import build_db

_BASE = {
    "subfamily": None, "habitat": "unknown", "colour": "unknown", "diet": "unknown",
    "diet_class": "unknown", "iucn_year": None, "adult_length_cm": None, "fun_fact": "unknown",
    "well_known": 0, "lists": "seed", "iucn_source_url": None, "source_url": "https://example.org/",
    "genus": None,
}


def _row(sci, common, rank, family, rtype, dist, diet_class, iucn, venom, fun, well_known, **kw):
    genus = kw.pop("genus", sci.split()[0] if rank in ("species", "subspecies") else None)
    return dict(
        _BASE, scientific_name=sci, common_name=common, rank=rank, genus=genus, family=family,
        reptile_type=rtype, distribution=dist, diet_class=diet_class, iucn_category=iucn, venom=venom,
        fun_fact=fun, well_known=int(well_known), **kw,
    )


ROWS = [
    _row("Naja naja", "Indian cobra", "species", "Elapidae", "snake",
         "India, Sri Lanka, Pakistan and Nepal", "carnivore", "LC", "venomous",
         "It spreads a hood when it feels threatened.", 1, diet="Rats, frogs and other snakes",
         iucn_year=2021),
    _row("Dendroaspis polylepis", "Black mamba", "species", "Elapidae", "snake", "Sub-Saharan Africa",
         "carnivore", "LC", "venomous", "Its name comes from the inky-black inside of its mouth.", 1,
         diet="Small mammals and birds"),
    _row("Crotalus atrox", "Western diamondback rattlesnake", "species", "Viperidae", "snake",
         "South-western United States and northern Mexico", "carnivore", "LC", "venomous",
         "It shakes the rattle on its tail to warn big animals to stay away.", 1),
    _row("Ophiophagus hannah", "King cobra", "species", "Elapidae", "snake",
         "India, southern China and Southeast Asia", "carnivore", "VU", "venomous",
         "It is the longest venomous snake in the world.", 1, diet="Mostly other snakes"),
    _row("Python regius", "Ball python", "species", "Pythonidae", "snake", "West Africa", "carnivore",
         "NT", "harmless", "It curls into a tight ball when it is scared.", 1),
    _row("Thamnophis sirtalis", "Common garter snake", "species", "Colubridae", "snake", "North America",
         "carnivore", "LC", "harmless", "Garter snakes give birth to live babies instead of laying eggs.", 1,
         diet="Worms, frogs and fish"),
    _row("Thamnophis sirtalis sirtalis", "Eastern garter snake", "subspecies", "Colubridae", "snake",
         "Eastern North America", "carnivore", "NE", "harmless", "unknown", 0, genus="Thamnophis"),
    _row("Thamnophis", "Garter snakes", "genus", "Colubridae", "snake", "North and Central America",
         "carnivore", "NE", "harmless", "Some garter snakes can swim and catch fish.", 0),
    _row("Eunectes murinus", "Green anaconda", "species", "Boidae", "snake", "South America", "carnivore",
         "LC", "harmless", "It is the heaviest snake in the world.", 1),
    _row("Pseudonaja textilis", "Eastern brown snake", "species", "Elapidae", "snake", "Eastern Australia",
         "carnivore", "LC", "venomous", "It is one of the most venomous land snakes on Earth.", 0),
    _row("Heterodon platirhinos", "Eastern hog-nosed snake", "species", "Colubridae", "snake",
         "Eastern United States", "carnivore", "LC", "mildly venomous",
         "It plays dead, rolling over with its tongue hanging out.", 1),
    _row("Calamaria lumbricoidea", "Variable reed snake", "species", "Colubridae", "snake", "unknown",
         "unknown", "unknown", "unknown", "unknown", 0),
    _row("Elapidae", "Elapids", "family", "Elapidae", "snake", "Warm regions worldwide", "carnivore", "NE",
         "venomous", "unknown", 0),
    _row("Varanus komodoensis", "Komodo dragon", "species", "Varanidae", "lizard",
         "Indonesia: the islands of Komodo, Rinca, Flores, Gili Motang and Gili Dasami", "carnivore", "EN",
         "venomous", "It is the biggest lizard in the world.", 1, iucn_year=2021,
         diet="Deer, pigs and carrion"),
    _row("Heloderma suspectum", "Gila monster", "species", "Helodermatidae", "lizard",
         "South-western United States and north-western Mexico", "carnivore", "NT", "venomous",
         "It stores fat in its thick tail and can go months without eating.", 1),
    _row("Heloderma horridum", "Mexican beaded lizard", "species", "Helodermatidae", "lizard",
         "Mexico and Guatemala", "carnivore", "LC", "venomous", "unknown", 0),
    _row("Iguana iguana", "Green iguana", "species", "Iguanidae", "lizard",
         "Mexico, Central and South America", "herbivore", "LC", "harmless",
         "It can drop its tail to escape and grow a new one.", 1, diet="Leaves, flowers and fruit"),
    _row("Chamaeleo calyptratus", "Veiled chameleon", "species", "Chamaeleonidae", "lizard",
         "Yemen and Saudi Arabia", "insectivore", "LC", "harmless", "It changes colour to show its mood.", 1),
    _row("Pogona vitticeps", "Central bearded dragon", "species", "Agamidae", "lizard", "Australia",
         "omnivore", "LC", "harmless", "It waves one arm slowly to say 'I give up' to other dragons.", 1),
    _row("Eublepharis macularius", "Leopard gecko", "species", "Eublepharidae", "lizard",
         "Afghanistan, Pakistan, India and Iran", "insectivore", "LC", "harmless",
         "Unlike most geckos, it has eyelids and can blink.", 1),
    _row("Moloch horridus", "Thorny devil", "species", "Agamidae", "lizard", "Australia", "insectivore",
         "LC", "harmless", "It drinks water through tiny grooves in its skin.", 0, diet="Ants"),
    _row("Cyclura lewisi", "Grand Cayman blue iguana", "species", "Iguanidae", "lizard",
         "Grand Cayman (Cayman Islands)", "herbivore", "EN", "harmless",
         "It is one of the longest-living lizards.", 0),
    _row("Brachylophus vitiensis", "Fiji crested iguana", "species", "Iguanidae", "lizard", "Fiji",
         "herbivore", "CR", "harmless", "unknown", 0),
    _row("Crocodylus niloticus", "Nile crocodile", "species", "Crocodylidae", "crocodilian",
         "Sub-Saharan Africa", "carnivore", "LC", "harmless",
         "It can hold its breath underwater for more than an hour.", 1),
    _row("Alligator mississippiensis", "American alligator", "species", "Alligatoridae", "crocodilian",
         "South-eastern United States", "carnivore", "LC", "harmless",
         "The warmth of the nest decides whether the babies are boys or girls.", 1),
    _row("Gavialis gangeticus", "Gharial", "species", "Gavialidae", "crocodilian", "India and Nepal",
         "carnivore", "CR", "harmless", "Males have a round bump on the tip of their long snout.", 1,
         iucn_year=2019, diet="Fish"),
    _row("Crocodylus siamensis", "Siamese crocodile", "species", "Crocodylidae", "crocodilian",
         "Cambodia, Laos, Thailand, Vietnam and Indonesia", "carnivore", "CR", "harmless", "unknown", 0),
    _row("Alligator sinensis", "Chinese alligator", "species", "Alligatoridae", "crocodilian", "China",
         "carnivore", "CR", "harmless", "It spends the winter asleep in a burrow.", 0),
    _row("Caretta caretta", "Loggerhead sea turtle", "species", "Cheloniidae", "turtle",
         "Atlantic, Pacific and Indian oceans and the Mediterranean Sea", "carnivore", "VU", "harmless",
         "Loggerheads have jaws strong enough to crunch conch shells.", 1, iucn_year=2017),
    _row("Chelonia mydas", "Green sea turtle", "species", "Cheloniidae", "turtle",
         "Tropical and subtropical oceans worldwide", "herbivore", "EN", "harmless",
         "It is named after the green colour of its body fat.", 1),
    _row("Eretmochelys imbricata", "Hawksbill sea turtle", "species", "Cheloniidae", "turtle",
         "Tropical oceans worldwide", "carnivore", "CR", "harmless",
         "Its pointed beak reaches sponges hidden in coral reefs.", 1),
    _row("Chelonoidis niger", "Galápagos giant tortoise", "species", "Testudinidae", "turtle",
         "Galápagos Islands (Ecuador)", "herbivore", "VU", "harmless",
         "It can live for more than 100 years.", 1),
    _row("Trachemys scripta elegans", "Red-eared slider", "subspecies", "Emydidae", "turtle",
         "Southern United States and north-eastern Mexico; introduced worldwide", "omnivore", "LC",
         "harmless", "It is named after the red stripe behind each eye.", 1, genus="Trachemys"),
    _row("Testudo hermanni", "Hermann's tortoise", "species", "Testudinidae", "turtle", "Southern Europe",
         "herbivore", "NT", "harmless", "It has a horny spike at the tip of its tail.", 0),
    _row("Astrochelys radiata", "Radiated tortoise", "species", "Testudinidae", "turtle",
         "Southern and south-western Madagascar", "herbivore", "CR", "harmless",
         "Every plate of its shell has a yellow star pattern.", 1, iucn_year=2018),
    _row("Chelydra serpentina", "Common snapping turtle", "species", "Chelydridae", "turtle",
         "Eastern North America", "omnivore", "LC", "harmless",
         "It cannot hide its head in its shell, so it snaps to defend itself.", 1),
]

#: Hand-written areas for each distribution string above (independent of bot.core.quiz.regions).
AREAS: dict[str, set[str]] = {
    "India, Sri Lanka, Pakistan and Nepal": {"south asia"},
    "Sub-Saharan Africa": {"africa"},
    "South-western United States and northern Mexico": {"north america"},
    "India, southern China and Southeast Asia": {"south asia", "east asia", "southeast asia"},
    "West Africa": {"africa"},
    "North America": {"north america"},
    "Eastern North America": {"north america"},
    "North and Central America": {"north america", "central america"},
    "South America": {"south america"},
    "Eastern Australia": {"australia"},
    "Eastern United States": {"north america"},
    "Indonesia: the islands of Komodo, Rinca, Flores, Gili Motang and Gili Dasami": {"southeast asia"},
    "South-western United States and north-western Mexico": {"north america"},
    "Mexico and Guatemala": {"north america", "central america"},
    "Mexico, Central and South America": {"north america", "central america", "south america"},
    "Yemen and Saudi Arabia": {"middle east"},
    "Australia": {"australia"},
    "Afghanistan, Pakistan, India and Iran": {"south asia", "middle east"},
    "Grand Cayman (Cayman Islands)": {"caribbean"},
    "Fiji": {"pacific islands"},
    "South-eastern United States": {"north america"},
    "India and Nepal": {"south asia"},
    "Cambodia, Laos, Thailand, Vietnam and Indonesia": {"southeast asia"},
    "China": {"east asia"},
    "Galápagos Islands (Ecuador)": {"galapagos"},
    "Southern United States and north-eastern Mexico; introduced worldwide": {"everywhere"},
    "Southern Europe": {"europe"},
    "Southern and south-western Madagascar": {"madagascar"},
    "Atlantic, Pacific and Indian oceans and the Mediterranean Sea": {"everywhere"},
    "Tropical and subtropical oceans worldwide": {"everywhere"},
    "Tropical oceans worldwide": {"everywhere"},
    "Warm regions worldwide": {"everywhere"},
}


def areas_overlap(a: str, b: str) -> bool:
    """Independent truth: do two of the distribution strings above share an area?"""
    ca, cb = AREAS[a], AREAS[b]
    return "everywhere" in ca or "everywhere" in cb or bool(ca & cb)


def make_species_db(path: Path) -> Path:
    """Write the rows above into a species database at ``path``."""
    return build_db(path, ROWS)


def taxa() -> list[Taxon]:
    """The rows as :class:`Taxon` objects (column order of the dataclass)."""
    out = []
    for r in ROWS:
        values = {**r, "well_known": bool(r["well_known"])}
        out.append(Taxon(**{k: values.get(k) for k in Taxon.__dataclass_fields__}))
    return sorted(out, key=lambda t: t.scientific_name)


def test_fixture_rows_are_annotated():
    """Every distribution string has a hand-written continent annotation."""
    assert {r["distribution"] for r in ROWS if r["distribution"] != "unknown"} <= set(AREAS)
