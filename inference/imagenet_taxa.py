"""Mapping of the ImageNet-1k (ILSVRC-2012) reptile and amphibian classes to taxa.

Class indices and names are those of the ILSVRC-2012 label list (the order used by the
EfficientNet-Lite checkpoints). Each reptile class is mapped to the taxon at the rank its
WordNet synset really denotes: a binomial synset ("loggerhead, Caretta caretta") is a species; a
vernacular group name ("garter snake") is the genus it names; "sea snake" is the subfamily
Hydrophiinae; "terrapin" (used in ImageNet for many pond turtles) is the family Emydidae.
Sources: WordNet 3.0 synset glosses; Reptile Database (https://reptile-database.reptarium.cz) for
current names (e.g. Cnemidophorus/Aspidoscelis, Gerrhonotus/Elgaria).

Index 51 (triceratops) is an extinct dinosaur and is *not* a living reptile.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.types import ReptileType


@dataclass(frozen=True, slots=True)
class ImageNetTaxon:
    """One ImageNet-1k class mapped to a taxon.

    Attributes:
        index: class index in [0, 999].
        label: ImageNet class name (first WordNet lemma).
        scientific_name: taxon key in the species database.
        rank: 'species', 'genus', 'subfamily' or 'family'.
        reptile_type: crocodilian, lizard, snake or turtle.
    """

    index: int
    label: str
    scientific_name: str
    rank: str
    reptile_type: ReptileType


#: The 35 living-reptile classes of ImageNet-1k (indices 33-68 without 51).
IMAGENET_REPTILES: tuple[ImageNetTaxon, ...] = (
    ImageNetTaxon(33, "loggerhead", "Caretta caretta", "species", "turtle"),
    ImageNetTaxon(34, "leatherback turtle", "Dermochelys coriacea", "species", "turtle"),
    ImageNetTaxon(35, "mud turtle", "Kinosternon", "genus", "turtle"),
    ImageNetTaxon(36, "terrapin", "Emydidae", "family", "turtle"),
    ImageNetTaxon(37, "box turtle", "Terrapene", "genus", "turtle"),
    ImageNetTaxon(38, "banded gecko", "Coleonyx", "genus", "lizard"),
    ImageNetTaxon(39, "common iguana", "Iguana iguana", "species", "lizard"),
    ImageNetTaxon(40, "American chameleon", "Anolis carolinensis", "species", "lizard"),
    ImageNetTaxon(41, "whiptail", "Aspidoscelis", "genus", "lizard"),
    ImageNetTaxon(42, "agama", "Agama", "genus", "lizard"),
    ImageNetTaxon(43, "frilled lizard", "Chlamydosaurus kingii", "species", "lizard"),
    ImageNetTaxon(44, "alligator lizard", "Elgaria", "genus", "lizard"),
    ImageNetTaxon(45, "Gila monster", "Heloderma suspectum", "species", "lizard"),
    ImageNetTaxon(46, "green lizard", "Lacerta viridis", "species", "lizard"),
    ImageNetTaxon(47, "African chameleon", "Chamaeleo chamaeleon", "species", "lizard"),
    ImageNetTaxon(48, "Komodo dragon", "Varanus komodoensis", "species", "lizard"),
    ImageNetTaxon(49, "African crocodile", "Crocodylus niloticus", "species", "crocodilian"),
    ImageNetTaxon(50, "American alligator", "Alligator mississippiensis", "species", "crocodilian"),
    ImageNetTaxon(52, "thunder snake", "Carphophis amoenus", "species", "snake"),
    ImageNetTaxon(53, "ringneck snake", "Diadophis punctatus", "species", "snake"),
    ImageNetTaxon(54, "hognose snake", "Heterodon", "genus", "snake"),
    ImageNetTaxon(55, "green snake", "Opheodrys", "genus", "snake"),
    ImageNetTaxon(56, "king snake", "Lampropeltis", "genus", "snake"),
    ImageNetTaxon(57, "garter snake", "Thamnophis", "genus", "snake"),
    ImageNetTaxon(58, "water snake", "Nerodia", "genus", "snake"),
    ImageNetTaxon(59, "vine snake", "Oxybelis", "genus", "snake"),
    ImageNetTaxon(60, "night snake", "Hypsiglena torquata", "species", "snake"),
    ImageNetTaxon(61, "boa constrictor", "Boa constrictor", "species", "snake"),
    ImageNetTaxon(62, "rock python", "Python sebae", "species", "snake"),
    ImageNetTaxon(63, "Indian cobra", "Naja naja", "species", "snake"),
    ImageNetTaxon(64, "green mamba", "Dendroaspis angusticeps", "species", "snake"),
    ImageNetTaxon(65, "sea snake", "Hydrophiinae", "subfamily", "snake"),
    ImageNetTaxon(66, "horned viper", "Cerastes cerastes", "species", "snake"),
    ImageNetTaxon(67, "diamondback", "Crotalus adamanteus", "species", "snake"),
    ImageNetTaxon(68, "sidewinder", "Crotalus cerastes", "species", "snake"),
)

#: ImageNet-1k amphibian classes (indices 25-32): salamanders, newts and frogs.
IMAGENET_AMPHIBIANS: dict[int, str] = {
    25: "European fire salamander",
    26: "common newt",
    27: "eft",
    28: "spotted salamander",
    29: "axolotl",
    30: "bullfrog",
    31: "tree frog",
    32: "tailed frog",
}

#: Extinct reptile class: a photo of it is a model or a skeleton, not a living reptile.
IMAGENET_DINOSAURS: dict[int, str] = {51: "triceratops"}
