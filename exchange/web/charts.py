"""Charts drawn on the server as SVG (horizontal bars): readable without script, with a text equivalent."""
from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR_COLOR = "#000091"  # DSFR bleu France: contrast 15:1 on white
TEXT_COLOR = "#161616"


def _number(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def bar_chart(values: dict[str, int], title: str, label_width: int = 70, width: int = 640) -> Markup:
    """One horizontal bar per key, largest value full width, the count written after each bar."""
    if not values:
        return Markup("")
    row, top = 28, 8
    height = top + row * len(values) + 8
    biggest = max(values.values()) or 1
    room = width - label_width - 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="esat-chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="chart-title">',
             f'<title id="chart-title">{escape(title)}</title>']
    for i, (key, n) in enumerate(values.items()):
        y = top + i * row
        bar = max(1, round(room * n / biggest)) if n else 0
        parts.append(f'<text x="{label_width - 8}" y="{y + 18}" text-anchor="end" font-size="14" '
                     f'fill="{TEXT_COLOR}">{escape(str(key))}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 4}" width="{bar}" height="20" fill="{BAR_COLOR}">'
                     f'<title>{escape(str(key))} : {_number(n)}</title></rect>')
        parts.append(f'<text x="{label_width + bar + 6}" y="{y + 18}" font-size="14" fill="{TEXT_COLOR}">'
                     f'{_number(n)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
