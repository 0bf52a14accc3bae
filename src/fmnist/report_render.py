"""The report's page as a list of blocks (headings, paragraphs, a banner, tables, rows of images) and its two
renderings: Markdown, which links the images by relative path, and one self-contained HTML file, which embeds
them as base64 data URIs."""

from __future__ import annotations

import base64
import html
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from fmnist.escaping import markdown


@dataclass
class Block:
    """One piece of the page: heading, paragraph, banner, table or a row of images. Headings, paragraphs and
    banners hold Markdown (a name in them goes through fmnist.escaping.markdown); table cells and alt texts
    are plain text, escaped by each rendering."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "banner" | "table" | "images"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (file, alt text)


# The Markdown a text block holds, read for HTML: a code span, a bold marker, a backslash escape, an entity.
_INLINE = re.compile(r"`(?P<code>[^`]+)`|(?P<bold>\*\*)|\\(?P<escaped>[!-/:-@\[-`{-~])|(?P<entity>&(?:lt|gt|amp);)")


def _inline_html(text: str) -> str:
    """A text block's Markdown (names in it escaped by fmnist.escaping.markdown) as HTML: `code` and **bold**
    become tags, escapes and entities the characters they stand for, everything else escaped."""
    out, bold, at = [], False, 0
    for m in _INLINE.finditer(str(text)):
        out.append(html.escape(text[at:m.start()]))
        if m.group("code") is not None:
            out.append(f"<code>{html.escape(m.group('code'))}</code>")
        elif m.group("bold"):
            out.append("</strong>" if bold else "<strong>")
            bold = not bold
        else:
            out.append(html.escape(m.group("escaped") or html.unescape(m.group("entity"))))
        at = m.end()
    return "".join(out) + html.escape(text[at:]) + ("</strong>" if bold else "")


def _md_cell(text: str) -> str:
    """A table cell is plain text (a class name, a figure): all of it escaped."""
    return markdown(text)


def _md_image(path: Path, alt: str, out_dir: Path) -> str:
    target = urllib.parse.quote(Path(os.path.relpath(path, out_dir)).as_posix())  # spaces, parentheses
    return f"![{markdown(alt)}]({target})"


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "banner":
            out.append("> **" + b.text.replace("\n", "\n> ") + "**")
        elif b.kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
        elif b.kind == "images":
            out.append(" ".join(_md_image(path, alt, out_dir) for path, alt in b.images))
        out.append("")
    return "\n".join(out)


CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 1180px; margin: 24px auto; padding: 0 20px; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: 6px; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 36px; }
.banner { background: #fff4ce; border: 2px solid #d4a72c; border-radius: 6px; padding: 12px 16px;
          font-weight: 600; }
table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 5px 9px; text-align: left; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.images { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.images img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
.images.two img { max-width: calc(50% - 8px); }
code { background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
"""

_NUMBER = re.compile(r"^[-+]?[\d.,]+\s*(%|s|min|h)?$")


def render_html(blocks: list[Block], title: str) -> str:
    """A single HTML file: inline CSS, images as data URIs, no external references."""
    body = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}>{_inline_html(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{_inline_html(b.text)}</p>")
        elif b.kind == "banner":
            body.append(f'<div class="banner" role="alert">{_inline_html(b.text)}</div>')
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(
                    f'<td class="num">{html.escape(str(c))}</td>' if _NUMBER.match(str(c)) else
                    f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "images":
            tags = "".join(f'<img alt="{html.escape(alt)}" src="{data_uri(path)}">' for path, alt in b.images)
            cls = "images two" if len(b.images) == 2 else "images"
            body.append(f'<div class="{cls}">{tags}</div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
    kind = mime.get(Path(path).suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
