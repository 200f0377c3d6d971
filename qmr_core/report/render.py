"""Rendering report tables: Markdown, LaTeX (booktabs), CSV and HTML."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path

from qmr_core.report.export import to_latex, to_markdown
from qmr_core.tables import TEXT, ReportTable


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:40] or "x"


def render_markdown(tables: Iterable[ReportTable], title: str = "qmr report") -> str:
    parts = [f"# {title}\n"]
    for t in tables:
        parts.append(f"## {t.title}\n")
        parts.append(to_markdown(t.columns, t.text_rows(), align=t.align))
        if t.note:
            parts.append(f"\n_{t.note}_\n")
    return "\n".join(parts)


WIDE = 9  # tables with more columns are scaled to the line width (needs graphicx)


def drop_columns(t: ReportTable, names: Sequence[str]) -> ReportTable:
    keep = [i for i, c in enumerate(t.columns) if c not in names]
    return ReportTable(t.name, t.title, [t.columns[i] for i in keep], [t.kinds[i] for i in keep],
                       [[row[i] for i in keep] for row in t.rows], t.note)


def render_latex(tables: Iterable[ReportTable]) -> str:
    """booktabs tables; run ids, useful on screen, are left out of the paper."""
    parts = ["% qmr report: tables for a paper. Needs \\usepackage{booktabs} and \\usepackage{graphicx}.\n"]
    for t in (drop_columns(t, ["run"]) for t in tables):
        text = to_latex(t.columns, t.text_rows(), caption=t.title + (". " + t.note if t.note else ""),
                        label=f"tab:qmr-{_slug(t.name)}", align=t.align)
        if len(t.columns) > WIDE:
            text = text.replace("\\begin{tabular}", "\\resizebox{\\linewidth}{!}{%\n\\begin{tabular}", 1)
            text = text.replace("\\end{tabular}", "\\end{tabular}}", 1)
        parts.append(text)
    return "\n".join(parts)


def latex_document(body: str) -> str:
    """A minimal article around the tables (used to check that they compile)."""
    return ("\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
            "\\begin{document}\n" + body + "\n\\end{document}\n")


def write_csv(tables: Iterable[ReportTable], folder: Path) -> list[Path]:
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        path = folder / f"{t.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(t.columns)
            w.writerows([["" if v is None else v for v in row] for row in t.rows])
        written.append(path)
    return written


def render_csv_text(tables: Iterable[ReportTable]) -> str:
    import csv
    import io

    buf = io.StringIO()
    for t in tables:
        buf.write(f"# {t.name}: {t.title}\n")
        csv.writer(buf).writerows([t.columns] + [["" if v is None else v for v in row] for row in t.rows])
        buf.write("\n")
    return buf.getvalue()


def render_html(tables: Iterable[ReportTable], images: Sequence[str] = (), title: str = "qmr report") -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0 1.5em}"
             "th,td{padding:.25em .7em;border-bottom:1px solid #ddd}th{border-bottom:2px solid #333;text-align:left}"
             "td.r{text-align:right;font-variant-numeric:tabular-nums}p.note{color:#555;font-size:.9em}img{max-width:100%}")
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    for t in tables:
        out.append(f"<h2 id='{_slug(t.name)}'>{html.escape(t.title)}</h2><table><tr>")
        out += [f"<th>{html.escape(c)}</th>" for c in t.columns]
        out.append("</tr>")
        for row in t.text_rows():
            cells = "".join(f"<td class='{'r' if k != TEXT else 'l'}'>{html.escape(v)}</td>" for v, k in zip(row, t.kinds, strict=True))
            out.append(f"<tr>{cells}</tr>")
        out.append("</table>")
        if t.note:
            out.append(f"<p class='note'>{html.escape(t.note)}</p>")
    for img in images:
        out.append(f"<h2>{html.escape(Path(img).stem.replace('_', ' '))}</h2><img src='{html.escape(img)}' alt=''>")
    out.append("</body></html>")
    return "\n".join(out)
