"""Kind, child-friendly texts used by every platform. Plain text: adapters escape and format."""

from __future__ import annotations

from inference.errors import RejectReason

BOT_NAME = "Reptile Museum"

#: The five reptile types of the species database (schema.sql ``reptile_type``). The identifier only
#: ever outputs the first four; the tuatara (order Rhynchocephalia) is known to look-ups and quizzes.
REPTILE_TYPES: tuple[str, ...] = ("crocodilian", "lizard", "snake", "turtle", "tuatara")

TYPE_EMOJI: dict[str, str] = {
    "crocodilian": "🐊", "lizard": "🦎", "snake": "🐍", "turtle": "🐢", "tuatara": "🦎",
}

#: How a card names each type ("Type: ..."); the tuatara's says why it is not a lizard.
TYPE_NAMES: dict[str, str] = {
    "crocodilian": "Crocodilian",
    "lizard": "Lizard",
    "snake": "Snake",
    "turtle": "Turtle",
    "tuatara": "Tuatara (order Rhynchocephalia: not a lizard, the last of a very old group of reptiles)",
}

#: IUCN Red List categories (IUCN 2012, Red List Categories and Criteria v3.1), plus our "unknown".
IUCN_NAMES: dict[str, str] = {
    "LC": "Least Concern",
    "NT": "Near Threatened",
    "VU": "Vulnerable",
    "EN": "Endangered",
    "CR": "Critically Endangered",
    "EW": "Extinct in the Wild",
    "EX": "Extinct",
    "DD": "Data Deficient",
    "NE": "Not Evaluated",
    "unknown": "unknown",
}

RANK_WORDS: dict[str, str] = {
    "genus": "genus",
    "subfamily": "subfamily",
    "family": "family",
}

PHOTO_TIPS: tuple[str, ...] = (
    "Get the whole animal in the picture, as big as you can.",
    "Use good light and hold the camera still.",
    "One animal per photo works best.",
)

HELP_TEXT = (
    "Hi! I'm the Reptile Museum bot. 🦎🐍🐢🐊\n"
    "Send me a photo of a reptile and I'll tell you what it is: its name, where it lives, what it eats, "
    "whether it is endangered, a fun fact, and a warning if it might be venomous.\n\n"
    "Commands:\n"
    "/species NAME - look up a reptile by name (for example /species komodo)\n"
    "/quiz - play a reptile quiz together (for example /quiz 10 expert; /quiz stop ends it)\n"
    "/leaderboard - the best quiz players here\n"
    "/score - your own quiz points\n"
    "/forgetme - make me forget your quiz scores\n"
    "/help - show this message\n\n"
    "Remember: never touch a wild reptile. Keep away and tell an adult!"
)

#: The command menu (command without "/", short description), shown by chat apps next to the message
#: box. ``group_only`` commands only make sense in groups (in a private chat a photo is enough).
#: Descriptions are at most 256 characters (Telegram ``BotCommand`` limit).
COMMAND_MENU: tuple[tuple[str, str, bool], ...] = (
    ("reptile", "Identify the photo you reply to", True),
    ("species", "Look up a reptile by name", False),
    ("quiz", "Play a reptile quiz together", False),
    ("leaderboard", "The best quiz players here", False),
    ("score", "Your own quiz points", False),
    ("forgetme", "Forget my quiz scores", False),
    ("help", "What I can do", False),
)

GROUP_HELP_EXTRA = "In a group, reply to a photo with /reptile (or /identify) and I'll look at it."

WARN_VENOMOUS = (
    "This animal may be venomous! Do not touch it, keep well away, and tell an adult straight away."
)
WARN_MILD = (
    "This animal has a mild venom. Don't touch or pick it up; keep away and tell an adult if you see one."
)
WARN_UNKNOWN_SNAKE = (
    "I don't know if this one is venomous. Never touch a snake you don't know: keep away and tell an adult."
)
WARN_GROUP_VENOMOUS = (
    "Animals in this group are venomous! Do not touch it, keep well away, and tell an adult straight away."
)
WARN_MAY_BE_VENOMOUS_SNAKE = (
    "Many snakes that look like this are venomous, and a photo can't tell me for sure. "
    "Keep away, never touch it, and tell an adult."
)
WARN_COULD_BE_SNAKE = (
    "If this could be a snake, keep away: many snakes are venomous, and a photo can't tell me for sure. "
    "Never touch it, and tell an adult."
)
#: The venom fact of a harmless answer the photo cannot clear (the venom rule, bot/core/venom.py).
VENOM_NOT_CLEARED = "Can't be sure from a photo: treat it as venomous"
WARN_CROCODILIAN = (
    "Not venomous, but very strong with a dangerous bite. Always watch from far away!"
)
#: Big constrictors, snapping turtles and large monitor lizards (see ``cards.strong_bite``).
WARN_STRONG_BITE = (
    "Not dangerous with venom, but big and strong with a powerful bite. Always watch from far away!"
)


def warn_lookalike(common_name: str) -> str:
    """Caution for a harmless-looking answer when a venomous candidate is among the top guesses."""
    return (
        f"Be careful: it could also be a venomous animal, like the {common_name}. "
        "Never touch a reptile you don't know: keep away and tell an adult."
    )


REJECT_TEXT: dict[RejectReason, str] = {
    RejectReason.EMPTY: "That file is empty, so there's nothing for me to look at. Please send a photo!",
    RejectReason.TOO_LARGE: "That file is too big for me. Please send it as a normal photo instead.",
    RejectReason.NOT_AN_IMAGE: (
        "That doesn't look like a picture I can open. Please send a photo (JPEG, PNG, WebP, GIF or HEIC)."
    ),
    RejectReason.UNSUPPORTED: (
        "I can't read that kind of picture. Please send a normal photo (JPEG, PNG, WebP, GIF or HEIC)."
    ),
    RejectReason.CORRUPT: (
        "That picture seems broken or cut off, so I couldn't open it. Could you try sending it again?"
    ),
    RejectReason.TOO_MANY_PIXELS: (
        "That picture is enormous! Please send a smaller version; a normal phone photo is perfect."
    ),
    RejectReason.TOO_SMALL: "That picture is too tiny for me to see anything. Please send a bigger photo.",
}

BUSY_TEXT = "I'm busy looking at lots of photos right now. Please try again in a minute!"
ERROR_TEXT = "Oops, something went wrong on my side. Please try again in a little while."
NO_PHOTO_TEXT = "Please send me a photo of a reptile, and I'll tell you what it is!"
GROUP_NO_PHOTO_TEXT = "Reply to a photo with /reptile and I'll tell you what reptile it is!"
SPECIES_USAGE_TEXT = "Tell me a name to look up, for example: /species komodo dragon"
NO_IMAGE_IN_MESSAGE_TEXT = (
    "I couldn't find a picture in that message. Pick a message with a photo of a reptile in it!"
)
DOWNLOAD_FAILED_TEXT = "I couldn't fetch that picture. Could you try again in a moment?"
MOVING_MEDIA_TEXT = (
    "GIFs and videos move too much for me! Please send a still photo of a reptile instead."
)
PRIVATE_TEXT_HINT = (
    "Send me a photo of a reptile and I'll tell you what it is! "
    "You can also look one up by name, for example: /species komodo. Type /help to see more."
)


def too_large_text(limit_bytes: int) -> str:
    """The too-large message with the limit in megabytes (1 MB = 1,048,576 bytes)."""
    return (
        f"That file is too big for me (the limit is {limit_bytes / 1048576:.0f} MB). "
        "Please send it as a normal photo instead."
    )


def not_found_text(query: str, suggestions: list[str]) -> str:
    """Reply for a /species search with no good match."""
    text = f"I couldn't find a reptile called “{query[:80]}” in the museum."
    if suggestions:
        text += " Did you mean: " + ", ".join(suggestions) + "?"
    return text


def rate_limited_text(retry_after_s: float) -> str:
    """Reply when one user sends photos faster than the per-user limit allows."""
    minutes = max(1, round(retry_after_s / 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    return f"Wow, that's a lot of photos! Please wait {wait} before sending the next one. 🐢"


FORGOTTEN_TEXT = "Done! I've forgotten your quiz scores and answers. 🧹"

#: /species answers for names that are not reptiles (issue 11: a kind answer that says why).
NOT_REPTILE_LOOKUP: dict[str, str] = {
    "amphibian": (
        "{animals} are amphibians, not reptiles! Amphibians (frogs, toads, newts, salamanders, axolotls and "
        "caecilians) have smooth, damp skin without scales, and most start life in water as tadpoles or "
        "larvae. Reptiles have dry, scaly skin, and their eggs have a shell or their babies are born live."
    ),
    "dinosaur": (
        "Dinosaurs were reptiles, but all of them except the birds died out about 66 million years ago, so "
        "there are no dinosaurs among the reptiles living today. I know the living reptiles: the "
        "crocodilians are the dinosaurs' closest living relatives after the birds."
    ),
}
WARN_DANGEROUS_NAME = (
    "“{term}” is the name of a dangerous venomous animal. If you see one, do not touch it: keep well away "
    "and tell an adult straight away."
)


def not_reptile_text(kind: str, term: str = "") -> str:
    """Kind answer for a /species name that is an amphibian or a dinosaur.

    Args:
        kind: ``"amphibian"`` or ``"dinosaur"`` (:data:`NOT_REPTILE_LOOKUP`).
        term: the animal word found, e.g. ``"axolotl"`` (-> "Axolotls are amphibians ...").
    """
    word = (term or "amphibian").strip()
    animals = word if word.endswith("s") else word + ("es" if word.endswith(("sh", "ch", "x")) else "s")
    return NOT_REPTILE_LOOKUP[kind].format(animals=animals[:1].upper() + animals[1:])


def danger_name_text(term: str) -> str:
    """Keep-away warning for an unknown name that names a dangerous group (e.g. "mamba")."""
    return WARN_DANGEROUS_NAME.format(term=term)
