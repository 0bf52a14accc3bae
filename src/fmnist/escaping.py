"""A name (a class, a dataset) as text in each place it is shown. Names are user input: a folder name or a
params.yaml string may hold `|`, `<`, `&`, `$`, quotes, commas, line breaks and any script. Each medium
gets the name as literal text: Markdown, a terminal line. (HTML: html.escape; CSV: the csv module's quoting;
figures: matplotlib with mathtext off, fmnist.plots; MLflow metric names: fmnist.tracking.metrics.)
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What Markdown (CommonMark, GitHub's tables) would take for markup inside a line; `<`, `>` and `&` become
# entities, which every renderer reads as text (a backslash before `<` is not an escape to all of them).
_MARKUP = re.compile(r"([\\`*_\[\]|~$#])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def one_line(text) -> str:
    """Line breaks, tabs and other control characters as single spaces."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def markdown(text) -> str:
    """`text` as literal Markdown on one line: inline markup escaped, HTML as entities."""
    escaped = _MARKUP.sub(r"\\\1", one_line(text))
    return re.sub(r"[<>&]", lambda m: _ENTITIES[m.group()], escaped)


def terminal(text) -> str:
    """`text` on one terminal line: control characters shown as escapes (\\n, \\t, \\x1b), so a name cannot
    break a line in two or move the cursor."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))

