"""A gentle tone check for complaints: suggestions, never a block."""

from __future__ import annotations

import re

# Kept small on purpose: it nudges, it does not police.
HARSH_WORDS = frozenset(
    """
    idiot idiots idiotic moron morons moronic stupid dumb useless incompetent pathetic
    clown clowns scum crooks liars losers garbage trash crap crappy shit shitty bullshit
    fuck fucking fucked fuckers damn damned hell bastard bastards asshole assholes
    wtf suck sucks
    """.split()
)
WORD_RE = re.compile(r"[A-Za-z']+")
SHOUTING_MIN_LETTERS = 12
SHOUTING_SHARE = 0.7

SHOUTING = "Lots of capital letters can read as shouting. Try normal case; the facts will speak."
HARSH = (
    "Words like “{words}” can make a business defensive. "
    "Sticking to what happened gets faster fixes."
)
BANGS = "A single “!” is plenty; runs of “!!!” make a fair complaint sound like a rant."


def tone_suggestions(text: str) -> list[str]:
    """Return friendly suggestions for a calmer complaint (empty when it reads fine)."""
    suggestions = []
    letters = [ch for ch in text if ch.isalpha()]
    uppercase = sum(1 for ch in letters if ch.isupper())
    if len(letters) >= SHOUTING_MIN_LETTERS and uppercase / len(letters) >= SHOUTING_SHARE:
        suggestions.append(SHOUTING)
    harsh = sorted({w.lower() for w in WORD_RE.findall(text) if w.lower() in HARSH_WORDS})
    if harsh:
        suggestions.append(HARSH.format(words="”, “".join(harsh[:3])))
    if "!!!" in text:
        suggestions.append(BANGS)
    return suggestions
