"""Every experiment-level preset, refiner recipe and named variant, in one place.

Network sizes stay beside their networks (``d3prefiner.denoiser.PRESETS`` for the refiner's
denoiser, ``d3prefiner.lifters.config`` for the lifters): a preset *here* names which of those an
experiment uses, with which steps, data and split.

* :data:`DEMO_PRESETS` — ``d3pr demo --mode``: the embedded DeepMimic clips.
* :data:`BENCH_PRESETS` — ``d3pr bench --preset``: the h36m-fk17 / videopose3d protocol; the
  ``*81`` / ``*243`` presets set the paper's temporal sizes (:func:`temporal_overrides`).
* :data:`VARIANTS` — the refiner variants of the grid and of the ablations (``d3pr grid``,
  ``d3pr ablate``): switches on top of the ``paper`` recipe (``RefinerConfig`` field overrides).
* :data:`TABLES` — which variants make the paper's Table III and Table IV.
* Recipes (named switch sets) live in :data:`d3prefiner.refiner.config.RECIPES`; :func:`with_recipe`
  puts one into a preset.
"""

from __future__ import annotations

from ..errors import ArgumentError, D3PRError
from ..refiner.config import RECIPES

DEMO_PRESETS: dict[str, dict] = {
    # the default demo: about 5 minutes on 2 CPU cores. 15 cameras per sequence in 5 view groups
    # of 3 (camera i -> view{i mod 5}, so each group's cameras are ~120 degrees apart): train
    # view0-3, test view4; 2-fold cross-fitting (each fold lifter trains on two groups and predicts
    # the other two). Every lifter, fold or full, gets the same number of optimiser steps, so the
    # fold lifters' held-out errors are of the same size as the full lifter's test errors: the
    # refiner learns noise of the right scale. The split is "pooled": the view groups are one
    # performer seen from other cameras, so there is no held-out person to keep leak-free.
    "default": dict(
        n_cameras=15,
        train_subjects=("view0", "view1", "view2", "view3"),
        test_subjects=("view4",),
        folds=2,
        protocol="pooled",
        lifter_preset="cpu",
        lifter_overrides=dict(
            steps=432,
            batch_size=16,
            lr=2e-3,
            warmup_steps=20,
            lifter=dict(dim=32, depth=3),
        ),
        refiner_preset="cpu",
        refiner_overrides=dict(steps=240, dim=64, depth=2, batch_size=32, train_stride=18),
    ),
    # CI: well under a minute end to end (numbers are meaningless, the plumbing is real)
    "tiny": dict(
        n_cameras=8,
        protocol="pooled",
        lifter_preset="tiny",
        lifter_overrides=dict(steps=4, batch_size=64),
        refiner_preset="tiny",
        refiner_overrides=dict(steps=2, batch_size=64),
        gif=False,
    ),
}

#: The ``paper`` bench preset: the paper's network sizes, for a GPU.
_PAPER_BENCH = dict(
    lifter_preset="paper",
    refiner_preset="paper",
    refiner_overrides=dict(steps=20000),
)


def _cpu_at(window: int, lifter_steps: int, refiner_steps: int) -> dict:
    """The cpu networks at the paper's ``window``, with every lifter run's and the refiner's steps
    cut to ``lifter_steps`` / ``refiner_steps`` (the refiner validating twice)."""
    return dict(
        lifter_preset="cpu",
        lifter_overrides=dict(steps=lifter_steps),
        refiner_preset="cpu",
        refiner_overrides=dict(steps=refiner_steps, val_every=refiner_steps // 2),
        window=window,
    )


BENCH_PRESETS: dict[str, dict] = {
    # fits a 2-core CPU: every lifter run (2 folds + full) takes the cpu preset's steps, the
    # refiner its steps
    "cpu": dict(
        lifter_preset="cpu",
        refiner_preset="cpu",
        refiner_overrides=dict(steps=800, val_every=400, train_stride=27),
    ),
    # the paper's sizes, for a GPU
    "paper": _PAPER_BENCH,
    # the paper's temporal sizes (Tables I, II): T = 81 / 243 frames for the lifter and the
    # refiner, STCFormer with TDS 3 / 2 (PAPER_TDS). cpu*: the cpu networks with the steps cut so
    # that every run sees about the frames of the cpu preset's T = 27 runs (a step costs 3.0-3.4x
    # at T = 81, about 17x at T = 243, measured on this 2-core machine); one cpu81 bench took 1 h 28
    # min at two threads, cpu243 is estimated near 3 h. paper*: for a GPU (gpu/bench_paper_t81.sh).
    "cpu81": _cpu_at(81, lifter_steps=1200, refiner_steps=270),
    "cpu243": _cpu_at(243, lifter_steps=450, refiner_steps=90),
    "paper81": dict(_PAPER_BENCH, window=81),
    "paper243": dict(_PAPER_BENCH, window=243),
    # seconds, for tests
    "tiny": dict(
        lifter_preset="tiny",
        lifter_overrides=dict(steps=2),
        refiner_preset="tiny",
        refiner_overrides=dict(steps=1),
        gif=False,
    ),
}

#: STCFormer's temporal downsampling (TDS) at the paper's windows: 3 at T = 81, 2 at T = 243;
#: MixSTE (and the TCN) take none. Any other T: no downsampling.
PAPER_TDS: dict[str, dict[int, int]] = {"stcformer": {81: 3, 243: 2}}


def temporal_overrides(preset: dict, model: str, window: int | None = None) -> dict:
    """``preset`` (a :data:`BENCH_PRESETS` entry) with its ``window`` key turned into the
    lifter's and the refiner's overrides: the lifter sees ``window`` frames (STCFormer every
    :data:`PAPER_TDS`-th), the refiner works on windows of ``window`` frames (training windows
    a third of it apart unless the preset's stride fits). ``window`` (``--window``) replaces the
    preset's; neither: the preset as it is (its networks' own windows)."""
    preset = dict(preset)
    window = window or preset.pop("window", None)
    preset.pop("window", None)
    if window is None:
        return preset
    lifter = dict(preset.get("lifter_overrides", {}))
    tds = PAPER_TDS.get(model, {}).get(window, 1)
    lifter["lifter"] = {**lifter.get("lifter", {}), "window": window, "tds": tds}
    refiner = dict(preset.get("refiner_overrides", {}))
    stride = refiner.get("train_stride", max(1, window // 3))
    refiner.update(window=window, refine_stride=window,
                   train_stride=stride if stride <= window else max(1, window // 3))  # fmt: skip
    return {**preset, "lifter_overrides": lifter, "refiner_overrides": refiner}


#: Refiner variants: ``RefinerConfig`` overrides on top of the ``paper`` recipe.
VARIANTS: dict[str, dict] = {
    "paper": {},
    "ar1": dict(noise_temporal="ar1"),
    "residual": dict(mode="residual"),
    "input_noisy": dict(input_noisy=True),
    "loss_x0": dict(loss_x0=True),
    "residual_ar1": dict(mode="residual", noise_temporal="ar1"),
    # = the default recipe
    "combo": dict(mode="residual", noise_temporal="ar1", input_noisy=True, loss_x0=True),
    # = the geo recipe: the default's switches and the geometric conditioning (refiner/features.py)
    "combo_fuse": dict(
        mode="residual", noise_temporal="ar1", input_noisy=True, loss_x0=True, geometry="fuse"
    ),
    "wo_diff": dict(use_diffusion=False),
    "wo_cnd": dict(use_cnd=False),
    # Table IV: more denoising blocks (the cpu preset has L = 2)
    "depth4": dict(depth=4),
    "depth6": dict(depth=6),
    "depth8": dict(depth=8),
}

#: The paper's ablation tables as variant lists (``d3pr ablate --table``).
TABLES: dict[str, tuple[str, ...]] = {
    "3": ("paper", "wo_cnd", "wo_diff"),  # Table III: w/o CND, w/o diffusion
    "4": ("paper", "depth4", "depth6", "depth8"),  # Table IV: depth L (paper = the preset's L)
}


def bench_models(name: str) -> list[str]:
    """``--model`` of ``d3pr bench``: a lifter name, ``both`` (the paper's two: STCFormer and
    MixSTE) or ``all`` (every registered lifter)."""
    from ..lifters.registry import get_lifter, lifter_names

    if name == "all":
        return list(lifter_names())
    if name == "both":
        return ["stcformer", "mixste"]
    return [get_lifter(name).name]


def check_variants(names) -> list[str]:
    """``names`` as a list, or a one-line error naming the unknown ones."""
    names = [n for n in names if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise D3PRError(
            f"unknown variant(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(VARIANTS)}"
        )
    return names


def with_recipe(preset: dict, recipe: str) -> dict:
    """``preset`` with the refiner recipe in its overrides (recorded in experiment.json unless it
    is the default, so that runs made before recipes existed still resume)."""
    if recipe not in RECIPES:
        raise ArgumentError("recipe", f"must be one of {', '.join(RECIPES)}, got {recipe!r}")
    if recipe == "default":
        return preset
    return {
        **preset,
        "refiner_overrides": {**preset.get("refiner_overrides", {}), "recipe": recipe},
    }


def named_preset(table: dict[str, dict], name: str, what: str) -> dict:
    """``table[name]`` or a one-line error listing the names (``what``: the argument's name)."""
    if name not in table:
        raise ArgumentError(what, f"must be one of {', '.join(table)}, got {name!r}")
    return table[name]
