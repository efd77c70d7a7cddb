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
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="esat-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for i, (key, n) in enumerate(values.items()):
        y = top + i * row
        bar = max(1, round(room * n / biggest)) if n else 0
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 18}" text-anchor="end" font-size="14" '
            f'fill="{TEXT_COLOR}">{escape(str(key))}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{bar}" height="20" fill="{BAR_COLOR}">'
            f"<title>{escape(str(key))} : {_number(n)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_width + bar + 6}" y="{y + 18}" font-size="14" fill="{TEXT_COLOR}">{_number(n)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


STACK_COLORS = {"OK": "#18753c", "ECHEC": "#ce0500", "IGNORE": "#666666", "EN_COURS": "#000091"}  # DSFR, ≥ 4.5:1


def stacked_columns(
    days: list[str], stacks: dict[str, list[int]], title: str, chart_id: str, width: int = 720, height: int = 220
) -> Markup:
    """One column per day (oldest left), each split by key (bottom to top in `stacks` order), the day's total
    above it, a legend under the axis. The same figures go in a table beside it (the text equivalent)."""
    if not days:
        return Markup("")
    left, bottom, top = 36, 46, 18
    room_w, room_h = width - left - 8, height - bottom - top
    biggest = max((sum(s[i] for s in stacks.values()) for i in range(len(days))), default=0) or 1
    step = room_w / len(days)
    bar = max(2.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="esat-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + room_h}" x2="{width - 8}" y2="{top + room_h}" stroke="{TEXT_COLOR}"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="12" fill="{TEXT_COLOR}">'
        f"{_number(biggest)}</text>",
        f'<text x="{left - 6}" y="{top + room_h}" text-anchor="end" font-size="12" fill="{TEXT_COLOR}">0</text>',
    ]
    label_every = max(1, round(len(days) / 8))
    for i, day in enumerate(days):
        x = left + i * step + (step - bar) / 2
        y: float = top + room_h
        total = 0
        for key, values in stacks.items():
            n = values[i]
            if not n:
                continue
            h = room_h * n / biggest
            y -= h
            total += n
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{STACK_COLORS.get(key, BAR_COLOR)}"><title>{escape(day)} : {_number(n)} {escape(key)}'
                f"</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + room_h + 16}" text-anchor="middle" font-size="11" '
                f'fill="{TEXT_COLOR}">{escape(day[:5])}</text>'
            )
    for j, key in enumerate(stacks):
        x = left + j * 110
        parts.append(
            f'<rect x="{x}" y="{height - 16}" width="12" height="12" fill="{STACK_COLORS.get(key, BAR_COLOR)}"/>'
            f'<text x="{x + 16}" y="{height - 6}" font-size="12" fill="{TEXT_COLOR}">{escape(key)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def progress_line(
    days: list[str], cumulative: list[int], goal: int, title: str, chart_id: str, width: int = 720, height: int = 220
) -> Markup:
    """How many have declared, day after day (a step line), against the `goal` drawn as a dashed line."""
    if not days:
        return Markup("")
    left, bottom, top = 44, 28, 18
    room_w, room_h = width - left - 12, height - bottom - top
    biggest = max(goal, max(cumulative), 1)
    step = room_w / max(1, len(days) - 1) if len(days) > 1 else room_w

    def y(n: int) -> float:
        return top + room_h - room_h * n / biggest

    points = " ".join(f"{left + i * step:.1f},{y(n):.1f}" for i, n in enumerate(cumulative))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="esat-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + room_h}" x2="{width - 12}" y2="{top + room_h}" stroke="{TEXT_COLOR}"/>',
        f'<line x1="{left}" y1="{y(goal):.1f}" x2="{width - 12}" y2="{y(goal):.1f}" stroke="{TEXT_COLOR}" '
        f'stroke-dasharray="6 4"/>',
        f'<text x="{left - 6}" y="{y(goal) + 4:.1f}" text-anchor="end" font-size="12" fill="{TEXT_COLOR}">'
        f"{_number(goal)}</text>",
        f'<text x="{left - 6}" y="{top + room_h}" text-anchor="end" font-size="12" fill="{TEXT_COLOR}">0</text>',
        f'<polyline points="{points}" fill="none" stroke="{BAR_COLOR}" stroke-width="3"/>',
    ]
    for i in (0, len(days) - 1):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{height - 8}" text-anchor="{"start" if i == 0 else "end"}" '
            f'font-size="11" fill="{TEXT_COLOR}">{escape(days[i])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
