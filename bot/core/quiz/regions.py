"""A conservative "do these two ranges overlap?" test for the ``distribution`` column.

The quiz asks "Where does the X live?" and offers other animals' ``distribution`` strings as wrong
answers. A wrong answer must really be wrong, so two strings only count as *disjoint* when every place
named in both is known here and their coarse world regions share nothing. Whenever a string names a
place this module does not know, or says "worldwide", :func:`regions_of` returns ``None`` ("not sure")
and the string is never used in a distribution question.

Regions are deliberately coarse (continent parts) and places on a border belong to every region they
touch (Mexico is both North and Central America, Turkey both Europe and the Middle East, "Africa"
includes Madagascar), so the test errs towards "they overlap". Introduced ranges ("introduced to
Hawaii") count as places the animal lives.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Coarse world regions.
NAM = "north_america"
CAM = "central_america"
CAR = "caribbean"
SAM = "south_america"
EUR = "europe"
NAF = "north_africa"
SSA = "subsaharan_africa"
MAD = "madagascar_indian_ocean_islands"
MDE = "middle_east"
CAS = "central_asia"
SAS = "south_asia"
EAS = "east_asia"
SEA = "southeast_asia"
NGU = "new_guinea"
AUS = "australia"
NZL = "new_zealand"
PAC = "pacific_islands"

ALL_REGIONS: frozenset[str] = frozenset(
    {NAM, CAM, CAR, SAM, EUR, NAF, SSA, MAD, MDE, CAS, SAS, EAS, SEA, NGU, AUS, NZL, PAC}
)
_ASIA = {MDE, CAS, SAS, EAS, SEA}
_AMERICAS = {NAM, CAM, CAR, SAM}
_AFRICA = {NAF, SSA, MAD}

#: Place names (lower case) and the regions they touch. Longest names are matched first.
_PLACES: dict[str, set[str]] = {
    # whole world, oceans: overlap with (nearly) everything
    "worldwide": set(ALL_REGIONS),
    "tropical oceans": set(ALL_REGIONS),
    "oceans": set(ALL_REGIONS),
    "ocean": set(ALL_REGIONS),
    "pacific": {PAC, NAM, CAM, SAM, EAS, SEA, AUS, NZL, NGU},
    "atlantic": {NAM, CAM, CAR, SAM, EUR, NAF, SSA},
    "indian ocean": {SSA, MAD, MDE, SAS, SEA, AUS},
    "mediterranean": {EUR, NAF, MDE},
    # continents and big regions
    "americas": set(_AMERICAS),
    "north america": {NAM, CAM},
    "central america": {CAM, NAM},
    "latin america": {CAM, CAR, SAM, NAM},
    "south america": {SAM, CAM},
    "caribbean": {CAR},
    "west indies": {CAR},
    "antilles": {CAR},
    "lesser antilles": {CAR},
    "greater antilles": {CAR},
    "europe": {EUR},
    "balkans": {EUR},
    "eurasia": {EUR} | _ASIA,
    "africa": set(_AFRICA),
    "north africa": {NAF, MDE},
    "sub-saharan africa": {SSA},
    "west africa": {SSA},
    "east africa": {SSA},
    "central africa": {SSA},
    "southern africa": {SSA, MAD},
    "sahara": {NAF, SSA},
    "nile": {NAF, SSA},
    "asia": set(_ASIA),
    "middle east": {MDE, NAF, EUR},
    "arabian peninsula": {MDE},
    "arabia": {MDE},
    "central asia": {CAS, MDE, EUR},
    "south asia": {SAS},
    "east asia": {EAS},
    "southeast asia": {SEA},
    "south and southeast asia": {SAS, SEA},
    "east and southeast asia": {EAS, SEA},
    "indian subcontinent": {SAS},
    "oceania": {AUS, NZL, NGU, PAC},
    "australasia": {AUS, NZL, NGU},
    "melanesia": {NGU, PAC},
    "polynesia": {PAC},
    "micronesia": {PAC},
    # North America
    "united states": {NAM},
    "usa": {NAM},
    "canada": {NAM},
    "alaska": {NAM},
    "mexico": {NAM, CAM},
    "new mexico": {NAM},
    "baja california": {NAM, CAM},
    "gulf of california": {NAM, CAM},
    "sonora": {NAM, CAM},
    "sinaloa": {NAM, CAM},
    "florida": {NAM, CAR},
    "california": {NAM},
    "oregon": {NAM},
    "washington": {NAM},
    "idaho": {NAM},
    "nevada": {NAM},
    "arizona": {NAM},
    "utah": {NAM},
    "texas": {NAM},
    "ohio": {NAM},
    "ontario": {NAM},
    "british columbia": {NAM},
    "great plains": {NAM},
    # Central America and the Caribbean
    "guatemala": {CAM},
    "belize": {CAM},
    "honduras": {CAM},
    "utila": {CAM},
    "el salvador": {CAM},
    "nicaragua": {CAM},
    "costa rica": {CAM},
    "panama": {CAM, SAM},
    "cuba": {CAR},
    "jamaica": {CAR},
    "hispaniola": {CAR},
    "haiti": {CAR},
    "dominican republic": {CAR},
    "puerto rico": {CAR},
    "bahamas": {CAR},
    "cayman islands": {CAR},
    "grand cayman": {CAR},
    "anguilla": {CAR},
    "saint barthélemy": {CAR},
    "sint eustatius": {CAR},
    "guadeloupe": {CAR},
    "dominica": {CAR},
    "martinique": {CAR},
    "trinidad": {CAR, SAM},
    "tobago": {CAR, SAM},
    # South America
    "colombia": {SAM, CAM},
    "venezuela": {SAM, CAR},
    "guyana": {SAM},
    "suriname": {SAM},
    "french guiana": {SAM},
    "ecuador": {SAM},
    "galápagos": {SAM, PAC},
    "galapagos": {SAM, PAC},
    "peru": {SAM},
    "bolivia": {SAM},
    "brazil": {SAM},
    "amazon": {SAM},
    "paraguay": {SAM},
    "uruguay": {SAM},
    "argentina": {SAM},
    "chile": {SAM},
    # Europe
    "portugal": {EUR},
    "spain": {EUR},
    "menorca": {EUR},
    "france": {EUR},
    "italy": {EUR},
    "malta": {EUR},
    "greece": {EUR},
    "greek": {EUR},
    "cyprus": {EUR, MDE},
    "germany": {EUR},
    "austria": {EUR},
    "switzerland": {EUR},
    "england": {EUR},
    "britain": {EUR},
    "great britain": {EUR},
    "united kingdom": {EUR},
    "ireland": {EUR},
    "scandinavia": {EUR},
    "poland": {EUR},
    "ukraine": {EUR},
    "russia": {EUR, CAS, EAS},
    "turkey": {EUR, MDE},
    "caucasus": {EUR, MDE, CAS},
    # Africa and nearby islands
    "morocco": {NAF},
    "algeria": {NAF},
    "tunisia": {NAF},
    "libya": {NAF},
    "egypt": {NAF, MDE},
    "sudan": {NAF, SSA},
    "ethiopia": {SSA},
    "somalia": {SSA},
    "kenya": {SSA},
    "tanzania": {SSA},
    "uganda": {SSA},
    "nigeria": {SSA},
    "ghana": {SSA},
    "cameroon": {SSA},
    "congo": {SSA},
    "angola": {SSA},
    "zambia": {SSA},
    "zimbabwe": {SSA},
    "mozambique": {SSA, MAD},
    "botswana": {SSA},
    "namibia": {SSA},
    "south africa": {SSA},
    "madagascar": {MAD},
    "mauritius": {MAD},
    "réunion": {MAD},
    "reunion": {MAD},
    "seychelles": {MAD},
    "comoros": {MAD},
    # Middle East and Asia
    "israel": {MDE},
    "jordan": {MDE},
    "syria": {MDE},
    "lebanon": {MDE},
    "iraq": {MDE},
    "iran": {MDE, CAS},
    "saudi arabia": {MDE},
    "yemen": {MDE},
    "oman": {MDE},
    "afghanistan": {CAS, SAS},
    "pakistan": {SAS, CAS},
    "india": {SAS},
    "sri lanka": {SAS},
    "nepal": {SAS},
    "bangladesh": {SAS},
    "myanmar": {SEA, SAS},
    "burma": {SEA, SAS},
    "china": {EAS, SEA, CAS},
    "southern china": {EAS, SEA},
    "taiwan": {EAS},
    "japan": {EAS},
    "ogasawara": {EAS, PAC},
    "korea": {EAS},
    "mongolia": {EAS, CAS},
    "thailand": {SEA},
    "vietnam": {SEA},
    "laos": {SEA},
    "cambodia": {SEA},
    "malaysia": {SEA},
    "peninsular malaysia": {SEA},
    "singapore": {SEA},
    "borneo": {SEA},
    "sumatra": {SEA},
    "java": {SEA},
    "sulawesi": {SEA},
    "philippines": {SEA},
    "luzon": {SEA},
    "mindanao": {SEA},
    "palawan": {SEA},
    "visayas": {SEA},
    "indonesia": {SEA, NGU},
    "komodo": {SEA},
    "rinca": {SEA},
    "flores": {SEA},
    "gili motang": {SEA},
    "gili dasami": {SEA},
    # Australia, New Guinea, New Zealand, Pacific
    "new guinea": {NGU},
    "papua new guinea": {NGU},
    "australia": {AUS},
    "western australia": {AUS},
    "queensland": {AUS},
    "new south wales": {AUS},
    "victoria": {AUS},
    "tasmania": {AUS},
    "northern territory": {AUS},
    "blue mountains": {AUS},
    "newnes plateau": {AUS},
    "christmas island": {AUS, SEA},
    "lord howe island": {AUS, PAC},
    "norfolk island": {AUS, PAC},
    "new zealand": {NZL},
    "north island": {NZL},
    "south island": {NZL},
    "northland": {NZL},
    "bay of plenty": {NZL},
    "fiji": {PAC},
    "lau islands": {PAC},
    "tonga": {PAC},
    "samoa": {PAC},
    "vanuatu": {PAC},
    "solomon islands": {PAC, NGU},
    "new caledonia": {PAC},
    "hawaii": {PAC, NAM},
    "guam": {PAC},
    # more places named in data/species (checked against the committed database)
    "indian oceans": {SSA, MAD, MDE, SAS, SEA, AUS},
    "south-east asia": {SEA},
    "indochina": {SEA},
    "west and central africa": {SSA},
    "east and central africa": {SSA},
    "russian far east": {EAS},
    "yangtze": {EAS},
    "hainan": {EAS},
    "hong kong": {EAS},
    "brunei": {SEA},
    "bali": {SEA},
    "timor": {SEA, AUS},
    "bhutan": {SAS},
    "andaman": {SAS, SEA},
    "nicobar": {SAS, SEA},
    "mindoro": {SEA},
    "samar": {SEA},
    "leyte": {SEA},
    "bohol": {SEA},
    "camiguin": {SEA},
    "bangka": {SEA},
    "belitung": {SEA},
    "ganges": {SAS},
    "brahmaputra": {SAS},
    "indus": {SAS},
    "sinai": {MDE, NAF},
    "lesotho": {SSA},
    "malawi": {SSA},
    "antigua": {CAR},
    "aruba": {CAR, SAM},
    "bermuda": {NAM, CAR},
    "orinoco": {SAM},
    "guianas": {SAM},
    "atlantic forest": {SAM},
    "yucatán": {CAM, NAM},
    "yucatan": {CAM, NAM},
    "durango": {NAM, CAM},
    "guerrero": {NAM, CAM},
    "oaxaca": {NAM, CAM},
    "gulf of mexico": {NAM, CAM, CAR},
    "mojave": {NAM},
    "sonoran": {NAM, CAM},
    "great lakes": {NAM},
    "great plains of the united states": {NAM},
    "appalachian": {NAM},
    "apalachicola": {NAM},
    "mississippi": {NAM},
    "gulf states": {NAM},
    "maine": {NAM},
    "vermont": {NAM},
    "new york": {NAM},
    "new jersey": {NAM},
    "massachusetts": {NAM},
    "virginia": {NAM},
    "north carolina": {NAM},
    "tennessee": {NAM},
    "alabama": {NAM},
    "georgia": {NAM, EUR, MDE, CAS},  # the US state or the country
    "louisiana": {NAM},
    "oklahoma": {NAM},
    "kansas": {NAM},
    "missouri": {NAM},
    "arkansas": {NAM},
    "quebec": {NAM},
    "nova scotia": {NAM},
    "alberta": {NAM},
    "saskatchewan": {NAM},
    "manitoba": {NAM},
    "north-west territories": {NAM},
    "florida keys": {NAM, CAR},
    "coral sea": {AUS, NGU, PAC},
    "timor sea": {AUS, SEA},
    "great barrier reef": {AUS},
    "rhine": {EUR},
}

#: Capitalised words that are not places (sentence starts, directions, landform nouns).
_NOT_PLACES = {
    "native", "introduced", "only", "also", "mainly", "mostly", "the", "and", "of", "in", "from",
    "semi-arid", "mainland", "peninsular", "island", "islands", "mountains", "hills", "plateau",
    "peninsula", "coast", "coastal", "lowlands", "highlands", "region", "regions", "bay", "gulf",
    "northern", "southern", "eastern", "western", "north-western", "north-eastern", "south-western",
    "south-eastern", "northwestern", "northeastern", "southwestern", "southeastern", "far",
    "tropical", "subtropical", "arid", "central", "most", "much", "all", "deserts", "desert", "river",
    "rivers", "basin", "basins", "swamp", "valley", "forest", "parts", "including",
}

_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*")
_PLACE_PATTERN = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(p) for p in sorted(_PLACES, key=len, reverse=True)) + r")(?![\w-])"
)


@lru_cache(maxsize=4096)
def regions_of(distribution: str) -> frozenset[str] | None:
    """The coarse regions a ``distribution`` string names, or ``None`` when not sure.

    ``None`` is returned for ``"unknown"``, for empty text, when no known place is named, and when any
    capitalised word is neither a known place nor a harmless word such as "Native" or "Southern".
    """
    text = distribution.strip()
    if not text or text.casefold() == "unknown":
        return None
    lowered = text.casefold().replace("’", "'").replace("'s ", " ")
    found: set[str] = set()
    for match in _PLACE_PATTERN.finditer(lowered):
        found |= _PLACES[match.group(1)]
    rest = _PLACE_PATTERN.sub(" ", lowered)
    # Any capitalised word left over is an unknown place name: not sure.
    original_rest_words = {w.casefold() for w in _WORD.findall(text) if w[0].isupper()}
    for word in _WORD.findall(rest):
        if word in original_rest_words and word not in _NOT_PLACES:
            return None
    return frozenset(found) if found else None


def definitely_disjoint(a: str, b: str) -> bool:
    """True only when both ranges are fully understood and share no region.

    Symmetric. "Not sure" (either side unknown) and any shared region give ``False``.
    """
    ra, rb = regions_of(a), regions_of(b)
    if ra is None or rb is None:
        return False
    return not (ra & rb)
