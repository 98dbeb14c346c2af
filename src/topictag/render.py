"""A self-contained HTML page showing documents with each segment coloured by topic, and a legend."""

from __future__ import annotations

import html

PALETTE = ["#f4a3a3", "#a3c8f4", "#b5e3a1", "#f4d58d", "#d3b5f0", "#f0b5d8", "#a8e6e0", "#e8c39e"]
NEGATIVE_COLOUR = "#e4e4e4"


def segments_html(documents: list[tuple[str, str, list]], labels: list[str], negative_label: str) -> str:
    """``documents`` holds (source, text, segments); text outside every segment (furniture) is shown greyed."""
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    colours[negative_label] = NEGATIVE_COLOUR
    legend = "".join(f'<span class="tag" style="background:{c}">{html.escape(label)}</span>' for label, c in colours.items())
    legend += '<span class="tag furniture">not content</span>'
    body = "".join(_document_html(source, text, segments, colours) for source, text, segments in documents)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>topictag segments</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; line-height: 1.5; }}
.legend {{ position: sticky; top: 0; background: white; padding: .5em 0; border-bottom: 1px solid #ccc; }}
.tag {{ display: inline-block; padding: 0 .5em; margin-right: .5em; border-radius: .3em; }}
.furniture {{ color: #999; border: 1px dashed #bbb; }}
.doc {{ white-space: pre-wrap; font-family: Georgia, serif; border: 1px solid #ddd; padding: 1em; }}
.seg {{ border-radius: .2em; }}
.seg[title]:hover {{ outline: 2px solid #333; }}
.gap {{ color: #999; }}
h2 {{ font-size: 1em; font-family: monospace; margin-top: 2em; }}
</style></head>
<body><div class="legend">{legend}</div>
{body}
</body></html>
"""


def _document_html(source: str, text: str, segments, colours) -> str:
    parts, position = [], 0
    for s in segments:
        parts.append(f'<span class="gap">{html.escape(text[position:s.start])}</span>')
        if s.kind == "furniture":
            parts.append(f'<span class="gap furniture-span" title="furniture [{s.start}:{s.end}]">{html.escape(s.text)}</span>')
        else:
            title = f"{s.label} {s.score:.2f} [{s.start}:{s.end}]"
            parts.append(f'<span class="seg" style="background:{colours.get(s.label, NEGATIVE_COLOUR)}" title="{html.escape(title)}">{html.escape(s.text)}</span>')
        position = s.end
    parts.append(f'<span class="gap">{html.escape(text[position:])}</span>')
    return f'<h2>{html.escape(source)}</h2>\n<div class="doc">{"".join(parts)}</div>\n'
