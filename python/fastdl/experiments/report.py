"""Output of a run: the PNG (matplotlib, imported lazily), the console text and the HTML index."""
from __future__ import annotations

import html
import os

__all__ = ["require_matplotlib", "write_png", "text", "write_index"]


def require_matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("fastdl experiments draw their plots with matplotlib, which is not installed; "
                          "install it with: pip install 'fastdl[plot]'") from e
    return Figure


def write_png(exp, res, record, path):
    """Draw ``exp.plot`` on a fresh Figure (Agg canvas; pyplot and the global backend are
    never touched) titled with the verdict, and save it as PNG."""
    Figure = require_matplotlib()
    fig = Figure(figsize=exp.figsize)
    exp.plot(fig, res)
    # fixed margins: a layout engine (constrained/tight) doubles the time savefig takes
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84, wspace=0.3)
    fig.suptitle(f"{exp.name} (seed {record['seed']}{', quick' if record['quick'] else ''}): "
                 f"claim {record['verdict']}", fontsize=11)
    fig.savefig(path, format="png", dpi=80)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "-"
    return str(v)


def _table_lines(table):
    if not table:
        return []
    rows = [[_fmt(c) for c in r] for r in table]
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(len(r) for r in rows))]
    lines = ["  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def text(record):
    """Claim, table and verdict as printed on the console."""
    lines = [f"== {record['name']} (seed {record['seed']}{', quick' if record['quick'] else ''}, "
             f"{record['seconds']:.1f} s)", f"claim: {record['claim']}"]
    lines += ["  " + ln for ln in _table_lines(record["table"])]
    lines += [f"rule: {record['rule']}", f"verdict: claim {record['verdict']}", ""]
    return "\n".join(lines)


def _html_table(table):
    if not table:
        return ""
    head = "".join(f"<th>{html.escape(_fmt(c))}</th>" for c in table[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in table[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def write_index(records, path):
    """One HTML page: for every experiment the claim, verdict, rule, key numbers and plot."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>fastdl experiments</title><style>",
             "body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
             ".yes{color:#070}.no{color:#b00}</style></head><body><h1>fastdl experiments</h1>"]
    n = sum(r["supported"] for r in records)
    parts.append(f"<p>{n} of {len(records)} claims supported by this run.</p><ul>")
    parts += [f"<li><a href='#{r['name']}'>{r['name']}</a>: "
              f"<span class='{'yes' if r['supported'] else 'no'}'>{r['verdict']}</span></li>" for r in records]
    parts.append("</ul>")
    for r in records:
        cls = "yes" if r["supported"] else "no"
        parts.append(
            f"<h2 id='{r['name']}'>{r['name']}</h2><p><b>Claim:</b> {html.escape(r['claim'])}</p>"
            f"<p><b>Verdict:</b> <span class='{cls}'>{r['verdict']}</span> (seed {r['seed']}"
            f"{', quick' if r['quick'] else ''}, {r['seconds']:.1f} s)</p>"
            f"<p><b>Rule:</b> {html.escape(r['rule'])}</p>{_html_table(r['table'])}"
            f"<p><img src='{html.escape(os.path.basename(r['png']))}' alt='{r['name']} plot'></p>")
    parts.append("</body></html>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    return path
