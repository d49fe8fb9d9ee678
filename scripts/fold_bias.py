"""Does what one cross-fitting lifter gets wrong carry over to another? (BENCHMARKS.md, "Why the
refiner does not help the MixSTE detected bench: the folds disagree").

    python scripts/fold_bias.py bench_qk/mixste-detected --threads 1

For a finished ``d3pr bench`` run, fits the closed-form CND (``x − μ_{a|b}``, ridge chosen on the
validation subject as the bench does) on each possible training source, all without the
validation subject:

* each cross-fitting fold's predictions (made by a lifter that did not see those subjects);
* all folds together;
* the full lifter's in-sample predictions of the training subjects;

and prints, per source, the validation subject's closed-form MPJPE, the test set's (the full
lifter; a diagnosis, nothing is chosen on it), and how the source's mean error (its bias per joint
and axis) points against the validation subject's and the test set's (cosine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def mean_error(preds) -> np.ndarray:
    """The frame-averaged ``pred3d − gt3d`` of ``preds``, ``(17, 3)`` metres."""
    total, n = 0.0, 0
    for s in preds:
        total = total + (s.pred3d - s.gt3d).astype(np.float64).sum(0)
        n += s.num_frames
    return total / max(n, 1)


def base_mm(preds) -> float:
    err = np.concatenate([np.linalg.norm(s.pred3d - s.gt3d, axis=-1).mean(-1) for s in preds])
    return float(err.mean() * 1000)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def compare_sources(sources: dict, held, test=None) -> list[dict]:
    """One row per ``{name: Predictions}`` source: the closed-form CND fitted on it, its ridge
    chosen on ``held`` (:func:`~d3prefiner.noise.summary.choose_ridge`), scored on ``held`` and on
    ``test``; and the cosines of the source's mean error with theirs."""
    from d3prefiner.noise import PoseNoiseModel
    from d3prefiner.noise.summary import choose_ridge, closed_form_mpjpe

    b_held = mean_error(held)
    b_test = mean_error(test) if test is not None else None
    rows = []
    for name, preds in sources.items():
        ridge, scores = choose_ridge(preds, held)
        bias = mean_error(preds)
        row = {
            "source": name,
            "frames": preds.num_frames,
            "source_base_mm": base_mm(preds),
            "ridge": ridge,
            "held_closed_form_mm": 1000 * scores[ridge],
            "held_closed_form_smallest_ridge_mm": 1000 * scores[min(scores)],
            "bias_mm": float(np.linalg.norm(bias, axis=-1).mean() * 1000),
            "cos_bias_held": cosine(bias, b_held),
        }
        if test is not None:
            model = PoseNoiseModel(ridge=ridge).fit(preds, temporal=False)
            row["test_closed_form_mm"] = 1000 * closed_form_mpjpe(model, test)
            row["cos_bias_test"] = cosine(bias, b_test)
        rows.append(row)
    return rows


def run_sources(run: Path, val: str | None = None) -> tuple[dict, object, object]:
    """``(sources, held, test)`` of a bench run (held: the validation subject's cross-fitted
    predictions; the sources never contain it)."""
    from d3prefiner.errors import D3PRError
    from d3prefiner.predictions import Predictions

    if not (run / "experiment.json").is_file():
        raise D3PRError(f"{run}: not a `d3pr bench` run (no experiment.json)")
    exp = json.loads((run / "experiment.json").read_text())
    val = val or exp.get("val_subject") or exp["train_subjects"][-1]
    crossfit = Predictions.load(run / "predictions" / "train_crossfit.npz", need_gt="fold_bias")
    rest = [s for s in exp["train_subjects"] if s != val]
    held = crossfit.filter(subjects=[val])
    sources = {}
    for f in sorted({s.fold for s in crossfit}):
        part = crossfit.filter(subjects=rest, fold=f)
        subjects = sorted({s.subject for s in part})
        if len(part):
            own = " (the validation subject's lifter)" if held.filter(fold=f).num_frames else ""
            sources[f"fold {f}: {','.join(subjects)}{own}"] = part
    sources["all folds"] = crossfit.filter(subjects=rest)
    insample = run / "predictions" / "train_insample.npz"
    if insample.exists():
        sources["full lifter, in-sample"] = Predictions.load(insample).filter(subjects=rest)
    test = Predictions.load(run / "predictions" / "test.npz", need_gt="fold_bias")
    return sources, held, test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="a finished `d3pr bench` run directory")
    ap.add_argument("--val", default=None, help="validation subject (default: the bench's)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from d3prefiner.errors import D3PRError

    try:
        report(*run_sources(args.run, args.val))
    except D3PRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def report(sources: dict, held, test) -> None:
    """Print the comparison table of :func:`compare_sources` (markdown)."""
    print(
        f"validation: base {base_mm(held):.1f} mm; test (full lifter): base {base_mm(test):.1f} mm"
    )
    print(f"mean-error size: validation {np.linalg.norm(mean_error(held), axis=-1).mean() * 1000:.1f}"
          f" mm, test {np.linalg.norm(mean_error(test), axis=-1).mean() * 1000:.1f} mm, "
          f"cosine {cosine(mean_error(held), mean_error(test)):.2f}")  # fmt: skip
    print(
        "| CND fitted on | frames | its base | val closed form (ridge) | val, smallest ridge "
        "| test closed form | mean error | cos with val's | cos with test's |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in compare_sources(sources, held, test):
        print(f"| {r['source']} | {r['frames']} | {r['source_base_mm']:.1f} | "
              f"{r['held_closed_form_mm']:.1f} ({r['ridge']:g}) | "
              f"{r['held_closed_form_smallest_ridge_mm']:.1f} | {r['test_closed_form_mm']:.1f} | "
              f"{r['bias_mm']:.1f} | {r['cos_bias_held']:+.2f} | {r['cos_bias_test']:+.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
