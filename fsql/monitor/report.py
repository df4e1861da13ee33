"""The skew report as one HTML file: per feature, its figures and a histogram of training
beside serving values, drawn as inline SVG, so that any browser shows it from disk with
no server, script or network."""

from __future__ import annotations

from pathlib import Path

import jinja2

from fsql.monitor.skew import FeatureSkew, SkewReport

TRAINING_COLOUR = "#1f77b4"
SERVING_COLOUR = "#ff7f0e"
WIDTH, HEIGHT, PAD = 640, 220, 30

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fsql skew: {{ r.service }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
section { margin-bottom: 2.5em; }
h2 { font-size: 1.1em; margin-bottom: .3em; }
.flag { color: #b00020; font-weight: bold; }
.figures { font-size: .9em; color: #444; }
.legend span { display: inline-block; width: 1em; height: 1em; vertical-align: middle; }
</style></head><body>
<h1>Training/serving skew: {{ r.service }}</h1>
<p>Training set <code>{{ r.training_file }}</code>; served values
{{ r.start or "from the first" }} to {{ r.end or "the last" }};
flagged when p &lt; {{ r.threshold }}: {{ flagged }} of {{ r.features | length }} features.</p>
<p class="legend"><span style="background: {{ train }}"></span> training
&nbsp; <span style="background: {{ serve }}"></span> serving</p>
{% for f in r.features %}
<section id="feature-{{ loop.index }}">
<h2>{{ f.feature }} <small>({{ f.type.value }})</small>
{% if f.flagged %}<span class="flag">SKEW</span>{% endif %}</h2>
<p class="figures">{% if f.test %}{{ f.test }} statistic {{ "%.4g" | format(f.statistic) }},
p = {{ "%.4g" | format(f.p_value) }}, PSI {{ "%.4g" | format(f.psi) }};{% endif %}
NULL {{ pct(f.training_null_rate) }} training, {{ pct(f.serving_null_rate) }} serving;
{{ f.training_rows }} / {{ f.serving_rows }} rows{% if f.note %}; {{ f.note }}{% endif %}</p>
{% if f.bins %}{{ chart(f) | safe }}{% endif %}
</section>
{% endfor %}
</body></html>
"""
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _chart(feature: FeatureSkew) -> str:
    """Side-by-side bars per bin: each side's share of its rows."""
    bins = len(feature.bins)
    top = max([*feature.training_shares, *feature.serving_shares, 1e-9])
    slot = (WIDTH - 2 * PAD) / bins
    bar = slot * 0.4
    parts = [
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="histogram of {jinja2.utils.markupsafe.escape(feature.feature)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>',
    ]
    for i, (label, train, serve) in enumerate(
        zip(feature.bins, feature.training_shares, feature.serving_shares, strict=True)
    ):
        x = PAD + i * slot + slot * 0.1
        for offset, share, colour in ((0.0, train, TRAINING_COLOUR), (bar, serve, SERVING_COLOUR)):
            h = (HEIGHT - 2 * PAD) * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{share:.1%}</title></rect>'
            )
        if bins <= 20 and i % max(1, bins // 10) == 0:
            text = jinja2.utils.markupsafe.escape(str(label)[:12])
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="10">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_report(report: SkewReport, path: str | Path) -> Path:
    """Write the report to `path` (replaced whole: written beside it, then renamed)."""
    path = Path(path)
    html = _TEMPLATE.render(
        r=report,
        flagged=len(report.flagged),
        train=TRAINING_COLOUR,
        serve=SERVING_COLOUR,
        pct=_pct,
        chart=_chart,
    )
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    return path
