"""The web UI's drawings: `layout_graph` of the asset graph and `bar_svg` of partitions.

- layout: random layered DAGs of 1,000 and 10,000 assets (10 layers, as
  bench/planner.py's: each asset reads 1-3 assets, four in five of the layer
  before, the rest from 2-4 layers back, so some edges are long; ~1.8 edges per
  asset, fixed seed). The baseline is the floor of any layered drawing: layers by
  longest path in topological order, each column stacked in id order, straight
  edges, no crossing reduction. Both are timed interleaved in one process
  (median of REPEAT); edge crossings are counted for both, and `graph_svg` is
  timed with its output's size. Targets: 100 ms at 1,000, 1.5 s at 10,000.
- bars: 3,650 and 100,000 daily partitions, the worst case (statuses alternating:
  every partition its own range), the most rects (fresh and stale ranges 2 px
  wide each, 450 of them) and a realistic case (a few ranges: a stale quarter, a
  failed day, a running one, a missing tail). The baseline is the naive drawing, one
  rect and tooltip per partition. Targets: 20 ms at 3,650, 50 ms at 100,000.

    python bench/ui_layout.py
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from html import escape

import numpy as np

from assay.web.bars import STATUS_NAMES, bar_svg
from assay.web.layout import GraphLayout, NodeBox, box_width, graph_svg, layout_graph

REPEAT = 5
BAR_REPEAT = 21  # a bar takes milliseconds: more rounds steady the median
LAYERS = 10
LAYOUT_TARGETS_S = {1_000: 0.1, 10_000: 1.5}
BAR_TARGETS_S = {3_650: 0.02, 100_000: 0.05}


def layered_dag(count: int, seed: int = 11) -> tuple[list[str], list[tuple[str, str]]]:
    """`count` assets in LAYERS layers, named `g<layer % 7>/a<layer>_<i>`, each past the
    first reading 1-3 assets: four in five of the layer before, the rest from 2-4 back."""
    rng = random.Random(seed)
    width = count // LAYERS
    names = [[f"g{layer % 7}/a{layer}_{i}" for i in range(width)] for layer in range(LAYERS)]
    edges: set[tuple[str, str]] = set()
    for layer in range(1, LAYERS):
        for target in names[layer]:
            for _ in range(rng.randint(1, 3)):
                back = 1 if layer < 2 or rng.random() < 0.8 else rng.randint(2, min(layer, 4))
                edges.add((rng.choice(names[layer - back]), target))
    return [name for column in names for name in column], sorted(edges)


def naive_layout(
    nodes: list[str], edges: list[tuple[str, str]], *, node_height: float = 34
) -> GraphLayout:
    """The floor: longest-path layers in topological order, columns stacked in id order,
    straight edges (through boxes when long)."""
    ids = sorted(set(nodes))
    successors: dict[str, list[str]] = {key: [] for key in ids}
    waiting = dict.fromkeys(ids, 0)
    for source, target in edges:
        successors[source].append(target)
        waiting[target] += 1
    layer = dict.fromkeys(ids, 0)
    queue = [key for key in ids if not waiting[key]]
    for key in queue:
        for target in successors[key]:
            layer[target] = max(layer[target], layer[key] + 1)
            waiting[target] -= 1
            if not waiting[target]:
                queue.append(target)
    columns: dict[int, list[str]] = {}
    for key in ids:
        columns.setdefault(layer[key], []).append(key)
    boxes: dict[str, NodeBox] = {}
    x = 0.0
    for number in range(len(columns)):
        column = columns[number]
        width = max(box_width(key) for key in column)
        for row, key in enumerate(column):
            boxes[key] = NodeBox(x, row * (node_height + 14), box_width(key), node_height)
        x += width + 80
    lines = [
        (
            s,
            t,
            (
                (boxes[s].x + boxes[s].width, boxes[s].y + node_height / 2),
                (boxes[t].x, boxes[t].y + node_height / 2),
            ),
        )
        for s, t in sorted(edges)
    ]
    height = max(box.y + box.height for box in boxes.values())
    return GraphLayout(x - 80, height, boxes, lines)


def crossings(layout: GraphLayout) -> int:
    """Pairs of edge segments that cross, between columns (segments grouped by the column
    they end at; long straight edges of the naive layout are grouped with their target)."""
    gaps: dict[float, list[tuple[float, float]]] = {}
    for _, _, points in layout.edges:
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if x1 - x0 > 1e-6:
                gaps.setdefault(round(x1, 3), []).append((y0, y1))
    total = 0
    for segs in gaps.values():
        a = np.array(segs)
        for i in range(0, len(a), 1_000):
            chunk = a[i : i + 1_000]
            ahead = (chunk[:, None, 0] - a[None, :, 0]) * (chunk[:, None, 1] - a[None, :, 1])
            total += int((ahead < 0).sum())
    return total // 2


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(
    functions: dict[str, Callable[[], object]], repeat: int = REPEAT
) -> dict[str, float]:
    """The median time of each function over `repeat` rounds, run in turn within each."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            times[name].append(timed(function))
    return {name: statistics.median(values) for name, values in times.items()}


def naive_bar(codes: np.ndarray, labels: Callable[[int, int], str], width: int = 900) -> str:
    """One rect and tooltip per partition."""
    step = width / codes.size
    rects = [
        f'<rect class="seg status-{STATUS_NAMES[code]}" x="{i * step:.1f}" y="0" '
        f'width="{step:.1f}" height="22"><title>{escape(labels(i, i))} (1): '
        f"{STATUS_NAMES[code]}</title></rect>"
        for i, code in enumerate(codes.tolist())
    ]
    head = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 22">'
    return f"{head}{''.join(rects)}</svg>"


def bar_cases(count: int) -> dict[str, np.ndarray]:
    alternating = np.tile(np.array([0, 1, 2, 3, 4, 5], dtype=np.int8), count // 6 + 1)[:count]
    realistic = np.zeros(count, dtype=np.int8)
    realistic[count // 3 : count // 3 + 91] = 1  # a stale quarter
    realistic[count // 2] = 3  # a failed day
    realistic[-30:] = 2  # a missing tail
    realistic[-31] = 4  # running now
    widest = ((np.arange(count) * 450 // count) % 2).astype(np.int8)  # a range per 2 px
    return {"alternating": alternating, "450 ranges": widest, "few ranges": realistic}


def main() -> None:
    print(f"ui_layout: layout_graph (median of {REPEAT}, interleaved with the naive floor)")
    for count, target in LAYOUT_TARGETS_S.items():
        nodes, edges = layered_dag(count)
        layout = layout_graph(nodes, edges)
        floor = naive_layout(nodes, edges)
        t = interleaved(
            {
                "layout": lambda nodes=nodes, edges=edges: layout_graph(nodes, edges),
                "naive": lambda nodes=nodes, edges=edges: naive_layout(nodes, edges),
                "svg": lambda layout=layout: graph_svg(layout, status={}, href=str),
            }
        )
        svg = graph_svg(layout, status={}, href=str)
        print(
            f"  {count:>6,} nodes, {len(edges):,} edges: layout {t['layout'] * 1000:,.0f} ms "
            f"(target {target * 1000:,.0f} ms), naive floor {t['naive'] * 1000:,.0f} ms, "
            f"ratio {t['layout'] / t['naive']:.1f}x; crossings {crossings(layout):,} vs "
            f"{crossings(floor):,} naive; graph_svg {t['svg'] * 1000:,.0f} ms, "
            f"{len(svg) / 1e6:.1f} MB, {layout.width:,.0f} x {layout.height:,.0f} px"
        )
    print(f"ui_layout: bar_svg, width 900 (median of {BAR_REPEAT}, interleaved: one rect each)")
    for count, target in BAR_TARGETS_S.items():
        keys = [(date(2000, 1, 1) + timedelta(days=i)).isoformat() for i in range(count)]

        def labels(first: int, last: int, keys: list[str] = keys) -> str:
            return keys[first] if first == last else f"{keys[first]}..{keys[last]}"

        for name, codes in bar_cases(count).items():
            t = interleaved(
                {
                    "bar": lambda codes=codes, labels=labels: bar_svg(codes, labels=labels),
                    "naive": lambda codes=codes, labels=labels: naive_bar(codes, labels),
                },
                BAR_REPEAT,
            )
            shapes = bar_svg(codes, labels=labels).count("<rect")
            print(
                f"  {count:>7,} partitions, {name}: {t['bar'] * 1000:.1f} ms "
                f"(target {target * 1000:.0f} ms), {shapes} rects; one rect per partition "
                f"{t['naive'] * 1000:.1f} ms, ratio {t['bar'] / t['naive']:.3f}x"
            )


if __name__ == "__main__":
    main()
