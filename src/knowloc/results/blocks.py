"""The README's generated blocks: ``<!-- results:NAME:begin -->`` ... ``<!-- results:NAME:end -->``.

The text between the two markers is exactly ``docs/results/NAME.md``; nothing else in the README is
touched.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowloc.errors import UserError

BLOCK = re.compile(r"<!-- results:([a-z_]+):begin -->\n(.*?)<!-- results:\1:end -->", re.S)


def blocks(text: str) -> dict[str, str]:
    """``{name: content}`` of every block in ``text``."""
    return {m.group(1): m.group(2) for m in BLOCK.finditer(text)}


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with block ``name``'s content replaced by ``content`` (which ends with a newline)."""
    if not content.endswith("\n"):
        content += "\n"
    begin, end = f"<!-- results:{name}:begin -->\n", f"<!-- results:{name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise UserError(f"README: expected one '{begin.strip()}' ... '{end}' block, found {text.count(begin)}")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return head + begin + content + end + tail


def update_readme(readme: Path, docs: Path, names) -> list[str]:
    """Put ``docs/NAME.md`` into the README's block ``NAME`` for each name that has a file; returns
    the names updated."""
    text = readme.read_text()
    done = []
    for name in names:
        md = docs / f"{name}.md"
        if md.is_file():
            text = replace_block(text, name, md.read_text())
            done.append(name)
    readme.write_text(text)
    return done
