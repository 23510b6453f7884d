"""Words for the terminal: counts with the right noun form, and long texts shortened at a word."""
from __future__ import annotations

def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """'1 case', '2 cases', '0 cases'; `plural_form` where adding 's' is wrong ('1 match', '2 matches')."""
    many = plural_form or noun + "s"
    return f"{count} {noun if count == 1 else many}"


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at the last word boundary before the limit
    with an ellipsis, never inside a word (a long word alone is cut, there being no boundary)."""
    text = str(text)
    if len(text) <= limit:
        return text
    room = max(limit - 3, 1)
    cut = text[:room + 1].rfind(" ")
    head = text[:cut] if cut > 0 else text[:room]
    return head.rstrip(" ,;:") + "..."
