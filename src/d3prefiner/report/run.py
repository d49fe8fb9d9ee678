"""What was run, in words (the report's first section), and the appendix of settings and the run
record."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import D3PRError
from .methods import CND, METHOD_LABELS, _baseline_set, _lifter_name
from .tables import _check

#: Readable names of the experiment's settings, in the appendix's order.
CONFIG_LABELS = {
    "source": "motion source",
    "path": "source path",
    "setting": "2D input",
    "detector_scale": "detector-noise scale",
    "fps": "frame rate (Hz)",
    "n_cameras": "virtual cameras per sequence",
    "train_subjects": "training subjects",
    "test_subjects": "test subjects",
    "protocol": "protocol",
    "val_subject": "validation subject",
    "model": "base lifter",
    "lifter_preset": "lifter preset",
    "lifter_overrides": "lifter training overrides",
    "lifter_minutes": "lifter budget per run (min)",
    "folds": "cross-fitting folds",
    "noise": "CND options",
    "refiner_preset": "refiner preset",
    "refiner_overrides": "refiner overrides",
    "refiner_minutes": "refiner budget (min)",
    "baselines": "baselines",
    "gif": "animated GIF",
    "seed": "seed",
}

#: The refiner's switches in words, as they differ from the paper's method.
_SWITCH_WORDS = {
    ("mode", "residual"): "starts from the closed-form CND estimate and diffuses only the "
    "zero-mean residual",
    ("noise_temporal", "ar1"): "training noise correlated in time (AR(1))",
    ("noise_temporal", "window"): "training noise drawn per window plus a white part",
    ("input_noisy", True): "the network also sees the pose it started from",
    ("loss_x0", True): "trained on the x̂0 error",
    ("use_cnd", False): "trained on the lifter's own errors instead of CND samples (w/o CND)",
    ("use_diffusion", False): "one direct step without diffusion (w/o diff.)",
    ("correct", "in-plane"): "only the image-plane part of each correction applied (depth kept)",
    ("geometry", "fuse"): "the network also sees the estimate's bones+reproject pose, its "
    "reprojection residual and the 2D's jitter",
}

_PROTOCOL_WORDS = {
    "leak_free": "the CND and the refiner never see the validation subject nor the data its fold "
    "lifter was trained on; the CND's ridge and the refiner's kept weights are chosen on it",
    "pooled": "the CND sees every training subject and the refiner all but the validation "
    "subject (more data, optimistic validation)",
}

# meta entries the report writes in its own words (others go to the run record as they are)
_META_DONE = {
    "base", "averages", "units", "figures", "experiment", "methods_given", "baselines",
    "sequences", "frames", "subjects", "fps", "files", "cnd", "cnd_ridge", "filter_settings",
    "timings_s", "verdict", "in_sample_train_mpjpe_mm", "cross_fitted_train_mpjpe_mm",
    "test_frames", "refiner_validation", "split",
}  # fmt: skip

#: How an unset (None) setting reads in the appendix.
_UNSET = {
    "path": "the source's default location",
    "val_subject": "the last training subject",
    "lifter_minutes": "none (the preset's steps)",
    "refiner_minutes": "none (the configured steps)",
    "fps": "the source's own",
}


def _plain(v) -> str:
    """A setting's value in words: lists joined, mappings as ``key = value``, never a repr."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, Mapping):
        items = [f"{k} = {_plain(x)}" for k, x in _flatten(v)]
        return "; ".join(items) if items else "none (defaults)"
    if isinstance(v, list | tuple):
        return ", ".join(_plain(x) for x in v) if v else "none"
    return str(v)


def _flatten(d: Mapping, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


# ------------------------------------------------------------------- what was run, in words


def _subjects(v) -> str:
    """Subject ids in natural order (S9 before S11), comma-separated."""
    if not isinstance(v, list | tuple):
        return str(v)
    key = [(re.sub(r"\d+", "", str(x)), int(re.sub(r"\D", "", str(x)) or 0), str(x)) for x in v]
    return ", ".join(k[2] for k in sorted(key))


def _fps(meta: Mapping) -> str | None:
    fps = meta.get("fps")
    if isinstance(fps, list | tuple):
        return ", ".join(f"{f:g}" for f in fps) if fps else None
    return f"{fps:g}" if isinstance(fps, int | float) else None


def _source_words(name: str) -> tuple[str, bool]:
    from ..data.sources import get_source

    try:
        s = get_source(name)
    except D3PRError:
        return f"`{name}`", False
    return f"`{name}`" + (f" — {s.description}" if s.description else ""), s.single_performer


def _refiner_config(e: Mapping):
    from ..refiner.config import RefinerConfig

    try:
        return RefinerConfig.from_preset(
            e.get("refiner_preset", "cpu"), **(e.get("refiner_overrides") or {})
        )
    except (D3PRError, TypeError, ValueError):
        return None


def _refiner_words(e: Mapping) -> str:
    over = e.get("refiner_overrides") or {}
    recipe = over.get("recipe", "default")
    cfg = _refiner_config(e)
    if cfg is None:
        return f"recipe `{recipe}`, preset `{e.get('refiner_preset')}`, overrides {_plain(over)}"
    from ..refiner.config import RECIPES

    paper = RECIPES["paper"]
    diffs = [w for (k, v), w in _SWITCH_WORDS.items() if getattr(cfg, k) == v != paper.get(k)]
    how = "; ".join(diffs) if diffs else "the method as published"
    return (
        f"recipe `{recipe}` ({how}); network preset `{cfg.preset}` (C = {cfg.dim}, "
        f"L = {cfg.depth} blocks), {cfg.loop.steps} training steps, K = {cfg.K} DDIM steps at "
        "inference"
    )


def describe_run(results: Mapping) -> list[str]:
    """What was run, on what, as paragraphs of Markdown."""
    methods, base = _check(results)
    meta = results.get("meta", {})
    e = meta.get("experiment") or {}
    n_seq, n_frames, fps = meta.get("sequences"), meta.get("frames"), _fps(meta)
    scored = ", ".join(
        x
        for x in (
            f"{n_seq} sequences" if n_seq else "",
            f"{n_frames} frames" if n_frames else "",
            f"{fps} fps" if fps else "",
        )
        if x
    )
    if not e:
        given = [n for n in meta.get("methods_given") or methods if n in methods]
        files = meta.get("files") or {}
        names = ", ".join(f"`{n}`" + (f" (`{files[n]}`)" if n in files else "") for n in given)
        text = f"**Evaluated.** {names}; the first, `{base}`, is the base estimate."
        if meta.get("subjects"):
            text += f" Test subjects {_subjects(meta['subjects'])}"
            text += f" ({scored})." if scored else "."
        bl = [n for n in meta.get("baselines") or () if n in methods]
        if bl:
            text += f" Baselines applied to the base: {', '.join(f'`{n}`' for n in bl)}."
        return [text]
    src, views = _source_words(e.get("source", "?"))
    who = "camera-view groups" if views else "subjects"
    setting = e.get("setting")
    if setting == "gt":
        two_d = "ground-truth 2D: the 3D poses projected into the cameras (setting `gt`)"
    else:
        two_d = (
            "detector-like 2D: the projected keypoints with synthetic detector noise "
            f"(setting `{setting}`, noise scale ×{_plain(e.get('detector_scale', 1.0))})"
        )
    data = (
        f"**Data.** {src}, {e.get('n_cameras', '?')} virtual cameras per sequence, "
        f"{two_d}. Training {who} {_subjects(e.get('train_subjects', ()))}; test {who} "
        f"{_subjects(e.get('test_subjects', ()))}" + (f" ({scored})." if scored else ".")
    )
    if views:
        data += " One performer: the test group is seen from cameras no training group has."
    model = _lifter_name(e.get("model")) or "?"
    lifter = (
        f"**Base lifter.** {model} (`{e.get('model')}`, preset `{e.get('lifter_preset')}`), "
        f"with {e.get('folds', '?')}-fold cross-fitting: each training {who[:-1]} is predicted "
        "by a lifter that did not see it, as the test data are."
    )
    ins, cross = meta.get("in_sample_train_mpjpe_mm"), meta.get("cross_fitted_train_mpjpe_mm")
    if ins is not None and cross is not None:
        lifter += f" Training MPJPE: {ins:.1f} mm in-sample, {cross:.1f} mm cross-fitted."
    split = meta.get("split") or {}  # the study layer's Split (subjects per stage)
    seen = f" of {', '.join(split['cnd'])}" if split.get("cnd") else ""
    cnd = (
        "**Conditional noise model (CND).** A Gaussian of the lifter's error "
        f"e = x_noisy − x0 given [y, x_noisy], fitted on the cross-fitted predictions{seen}. "
        "Its conditional mean alone gives the closed-form refiner x_noisy − μ_e|b, "
        f"reported as the baseline `{CND}`."
    )
    refiner = f"**Refiner.** D3PRefiner, {_refiner_words(e)}"
    if split.get("refiner") and split.get("val"):
        protocol = split.get("protocol", "")
        refiner += (
            f"; trained on {', '.join(split['refiner'])}, validated on {', '.join(split['val'])}. "
            f"Protocol `{protocol}`: {_PROTOCOL_WORDS.get(protocol, '')}."
        )
    else:
        refiner += "."
    bl = [n for n in meta.get("baselines") or () if n in methods]
    paras = [data, lifter, cnd, refiner]
    if bl:
        names = ", ".join(METHOD_LABELS.get(n, n) for n in bl)
        paras.append(
            f"**Baselines**, applied to the base lifter's test predictions: {names} "
            "(settings in Appendix A)."
        )
    return paras


# -------------------------------------------------------------------------------- appendix


def _seconds(frames: float, meta: Mapping) -> str:
    fps = meta.get("fps")
    fps = fps[0] if isinstance(fps, list | tuple) and len(fps) == 1 else fps
    return f", {frames / fps:.2f} s at {fps:g} fps" if isinstance(fps, int | float) else ""


def filter_settings(name: str, meta: Mapping) -> str:
    """One baseline's settings in words: from ``meta.filter_settings`` if the results hold
    them, else the defaults :mod:`d3prefiner.baselines` applies (its :class:`Filter` entry)."""
    given = (meta.get("filter_settings") or {}).get(name)
    if given:
        return _plain(given)
    from ..baselines import FILTERS, GEOMETRIC

    if name in FILTERS:  # the registry entry says it, with each length in frames as a duration
        return FILTERS[name].describe(seconds=lambda frames: _seconds(frames, meta))
    if name in GEOMETRIC:  # and which cameras it used, when the results record it
        cams = meta.get("intrinsics") or {}
        return GEOMETRIC[name].describe(cams.get("with_camera"), cams.get("sequences"))
    if name == CND:
        cnd = dict(meta.get("cnd") or {})
        e = meta.get("experiment") or {}
        ridge = meta.get("cnd_ridge", cnd.pop("ridge", None))
        if ridge is None and isinstance((e.get("noise") or {}).get("ridge"), int | float):
            ridge = e["noise"]["ridge"]
        text = "x_noisy − μ_e|[y, x_noisy], the CND's conditional mean; ridge " + (
            f"{_plain(ridge)}" if ridge is not None else "not recorded in these results"
        )
        opts = {**(e.get("noise") or {}), **cnd}
        opts.pop("ridge", None)
        return text + (f"; options: {_plain(opts)}" if opts else "")
    return "its registered defaults (d3prefiner.baselines)"


def appendix(results: Mapping) -> list[str]:
    """Appendix A (settings) and B (run record) as Markdown lines."""
    methods, _ = _check(results)
    meta = results.get("meta", {})
    e = meta.get("experiment") or {}
    lines = ["## Appendix A: settings", ""]
    if e:
        lines += ["### Experiment configuration", ""]
        keys = [k for k in CONFIG_LABELS if k in e] + [k for k in e if k not in CONFIG_LABELS]
        lines += [
            f"- {CONFIG_LABELS.get(k, k.replace('_', ' '))}: "
            + (_UNSET.get(k, "none") if e[k] is None else _plain(e[k]))
            for k in keys
        ]
        lines.append("")
    bl = [n for n in methods if n in _baseline_set(results)]
    if bl:
        lines += ["### Baselines", ""]
        lines += [f"- {METHOD_LABELS.get(n, n)} (`{n}`): {filter_settings(n, meta)}" for n in bl]
        lines.append("")
        if any(n != CND for n in bl):
            lines += [
                "The filters smooth every joint coordinate along time relative to the root and "
                "leave the root trajectory unchanged.",
                "",
            ]
    record = []
    t = meta.get("timings_s") or {}
    if t:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in t.items())
        record.append(f"- stage times: {parts} (total {sum(t.values()) / 60:.1f} min)")
    if meta.get("files"):
        record.append(f"- files: {_plain(meta['files'])}")
    if meta.get("verdict"):
        record.append(f"- the run's own summary: {meta['verdict']}")
    for k, v in meta.items():
        if k not in _META_DONE:
            record.append(f"- {k.replace('_', ' ')}: {_plain(v)}")
    if record:
        lines += ["## Appendix B: run record", "", *record, ""]
    return lines
