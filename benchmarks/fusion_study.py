"""What else the 2D could add to the per-joint shares: each fusion fitted on every training subject
but one and scored on that one (leave one subject out, the bone prior the others' bodies), its
root-relative MPJPE as a ratio to the estimate's, per subject and the mean.

Rows (each a variant of :mod:`d3prefiner.refiner.shares`, fitted on the subjects cut into pieces as
the calibration does, applied whole):

* ``per-joint``: the library's shares (:func:`~d3prefiner.refiner.shares.crossfit`), the reference;
* ``more spans``: the moves smoothed over 0.06, 0.2, 0.6 and 1.2 s besides the library's spans;
* ``per axis``: each joint's weights fitted for x, y and z apart (camera axes);
* ``neighbours``: a joint's weights over its parent's and children's moves too;
* ``outliers cleaned``: the 2D first cleaned where it leaves its own running median (a Hampel
  filter on the 2D's residual to the estimate's projection, its root fitted without the joints
  far off the others in their frame: a joint-frame further than
  ``--hampel`` robust deviations (at least 1 px) from the median over ``--hampel-window`` s takes the estimate's
  projection plus that median), then the library's shares;
* ``bias removed``: each sequence's constant 2D offset per joint estimated from the bones
  (the offsets that keep each bone's length constant over the sequence, linearised, Huber
  weights, a ridge toward no offset, the 2D smoothed over 0.3 s for the estimate only) and
  subtracted, then the library's shares;
* ``MLP``: a two-layer network (512 wide) from every joint's moves and the pose of a frame to the
  correction of all joints (``--mlp-steps``; 0 skips it), trained on the other subjects.

    python benchmarks/fusion_study.py RUN/predictions/train_crossfit.npz [--every 4]
        [--rows per-joint,more-spans,...] [--mlp-steps 3000] [--threads 1]

Training predictions with ``gt3d`` (never the test subjects); nothing but ``pose2d``, ``pred3d``
and the camera is read to make a fusion's output.
"""

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d, median_filter

from d3prefiner.baselines import sequence_camera
from d3prefiner.geometry import distort, fit_root, undistort
from d3prefiner.metrics import frame_errors
from d3prefiner.predictions import Predictions
from d3prefiner.refiner.calibration import BonePrior
from d3prefiner.refiner.shares import (
    SEQUENCE,
    SHARES_SPANS_S,
    SHARES_STEPS,
    crossfit,
    lengths,
    moves,
    pieces,
)
from d3prefiner.skeleton import H36M17

ROWS = ("per-joint", "more-spans", "per-axis", "neighbours", "outliers", "bias", "mlp")
#: The least robust deviation of a joint's 2D from its running median (normalised units: 1 px at
#: 1000 px wide), so that exact 2D has no outliers.
MIN_DEVIATION = 0.002
MORE_SPANS = (0.0, 0.06, 0.12, 0.2, 0.32, 0.6, 1.2, SEQUENCE)


# ------------------------------------------------------------------ the 2D before the shares
def _projection(rel, y, cam):
    """The root-relative estimate ``rel`` placed so that it projects onto ``y`` (undistorted):
    its projection and its depths."""
    X = rel + fit_root(rel, y, cam)[:, None]
    return X[..., :2] / X[..., 2:3] * cam.f_norm + cam.c_norm, X[..., 2]


def _residual(seq):
    """The camera, the undistorted 2D, the root-relative estimate and its projection."""
    cam = sequence_camera(seq)
    y = undistort(seq.pose2d.astype(np.float64), cam)
    rel = seq.pred3d.astype(np.float64)
    rel = rel - rel[:, :1]
    return cam, y, rel, _projection(rel, y, cam)[0]


def _with_2d(seq, cam, y):
    y = distort(y, cam) if cam.distorted else y
    return replace(seq, pose2d=y.astype(np.float32))


def cleaned(seq, k: float, window_s: float):
    """``seq`` with its 2D's outliers replaced (module doc); and the fraction replaced. The root
    is fitted without the joints far off the others in their frame (three times: those beyond 3
    times the frame's median residual take the projection), so that one joint thrown off does
    not move the others."""
    cam, y, rel, proj = _residual(seq)
    for _ in range(3):
        off = np.linalg.norm(y - proj, axis=-1)  # (F, J)
        far = off > 3 * np.median(off, axis=1, keepdims=True) + MIN_DEVIATION
        proj = _projection(rel, np.where(far[..., None], proj, y), cam)[0]
    r = y - proj
    w = max(3, int(round(window_s * seq.fps)) | 1)
    med = median_filter(r, size=(w, 1, 1), mode="nearest")
    dev = np.linalg.norm(r - med, axis=-1)  # (F, J)
    bad = dev > k * np.maximum(1.4826 * np.median(dev, axis=0, keepdims=True), MIN_DEVIATION)
    return _with_2d(seq, cam, np.where(bad[..., None], proj + med, y)), float(bad.mean())


def bias(seq, ridge: float = 0.3, iters: int = 3, huber: float = 3.0, smooth_s: float = 0.3):
    """The constant 2D offset of each joint of ``seq`` ``(J, 2)`` (normalised units) that keeps
    its bones' lengths constant over the sequence (module doc)."""
    cam, y, rel, _ = _residual(seq)
    if smooth_s > 0:
        y, rel = (
            gaussian_filter1d(v, smooth_s * seq.fps, axis=0, mode="nearest") for v in (y, rel)
        )
    rel = rel - rel[:, :1]
    F, J = rel.shape[:2]
    bones = H36M17.bones
    K, f = len(bones), cam.f_norm
    b = np.zeros((J, 2))
    for _ in range(iters):
        yy = y - b
        Z = rel[..., 2] + fit_root(rel, yy, cam)[:, None, 2]  # (F, J)
        P = (yy - cam.c_norm) / f * Z[..., None]  # (F, J, 2) in-plane, metres
        A = np.zeros((F, K, 2 * J + K))  # unknowns: the offsets' change, each bone's length²
        r = np.zeros((F, K))
        for i, (j, p) in enumerate(bones):
            v = np.concatenate([P[:, j] - P[:, p], (Z[:, j] - Z[:, p])[:, None]], -1)
            n2 = (v * v).sum(-1)
            norm = 2 * np.sqrt(np.median(n2)) + 1e-9
            A[:, i, 2 * j : 2 * j + 2] -= 2 * v[:, :2] * Z[:, j, None] / f / norm
            A[:, i, 2 * p : 2 * p + 2] += 2 * v[:, :2] * Z[:, p, None] / f / norm
            A[:, i, 2 * J + i] = -1.0 / norm
            r[:, i] = -n2 / norm
        A, r = A.reshape(-1, 2 * J + K), r.reshape(-1)
        reg = np.zeros(2 * J + K)
        reg[: 2 * J] = ridge * F * (Z.mean() / np.tile(f, J)) ** 2  # toward no offset, metres²
        prior = np.concatenate([b.reshape(-1), np.zeros(K)])
        w = np.ones(len(r))
        for _ in range(3):  # Huber weights
            sol = np.linalg.solve((A * w[:, None]).T @ A + np.diag(reg),
                                  (A * w[:, None]).T @ r - reg * prior)  # fmt: skip
            res = np.abs(A @ sol - r)
            w = np.minimum(1.0, huber * 1.4826 * np.median(res) / (res + 1e-12))
        b = b + sol[: 2 * J].reshape(J, 2)
    return b


def unbiased(seq):
    cam, y, _, _ = _residual(seq)
    return _with_2d(seq, cam, y - bias(seq))


# ------------------------------------------------------------------ linear fusions
NEIGHBOURS = {
    j: [p for p in [H36M17.parents[j]] if p >= 0]
    + [c for c, p in enumerate(H36M17.parents) if p == j]
    for j in range(H36M17.num_joints)
}


def features(preds, prior, spans):
    """Per sequence: the estimate ``x``, the moves ``(K, F, J, 3)`` and what they should add."""
    out = []
    for seq, n in zip(preds, lengths(preds, prior, SHARES_STEPS)):
        x, m = moves(seq, n, SHARES_STEPS, spans)
        g = seq.gt3d.astype(np.float64)
        out.append((x - x[:, :1], m, (g - g[:, :1]) - (x - x[:, :1])))
    return out


def designs(m, j, mode):
    """``[(design, axes)]`` of joint ``j``: its columns and the coordinates they predict."""
    K = m.shape[0]
    if mode == "per-axis":
        return [(m[:, :, j, a].T, [a]) for a in range(3)]
    cols = [m[:, :, j]] + ([m[:, :, i] for i in NEIGHBOURS[j]] if mode == "neighbours" else [])
    return [(np.concatenate(cols, 0).reshape(len(cols) * K, -1).T, [0, 1, 2])]


def linear_fit(feats, mode):
    systems = {}
    for _, m, r in feats:
        for j in range(1, m.shape[2]):
            for i, (D, axes) in enumerate(designs(m, j, mode)):
                t = r[:, j, axes].reshape(-1)
                A, c = D.T @ D, D.T @ t
                old = systems.get((j, i))
                systems[(j, i)] = (A, c) if old is None else (old[0] + A, old[1] + c)
    weights = {}
    for key, (A, c) in systems.items():
        scale = np.trace(A) / len(A) + 1e-30
        weights[key] = np.clip(np.linalg.solve(A + 1e-6 * scale * np.eye(len(A)), c), -5, 5)
    return weights


def linear_error(feats, weights, mode):
    total = frames = 0.0
    for x, m, r in feats:
        add = np.zeros_like(x)
        for j in range(1, m.shape[2]):
            for i, (D, axes) in enumerate(designs(m, j, mode)):
                add[:, j, axes] += (D @ weights[(j, i)]).reshape(len(x), len(axes))
        total += np.linalg.norm(add - r, axis=-1).mean(1).sum()
        frames += len(x)
    return total / frames


def base_error(feats):
    return sum(np.linalg.norm(r, axis=-1).mean(1).sum() for *_, r in feats) / sum(
        len(x) for x, *_ in feats
    )


# ------------------------------------------------------------------ a network
def _tensors(feats):
    X = [np.concatenate([m.transpose(1, 0, 2, 3).reshape(len(x), -1), x.reshape(len(x), -1)], 1)
         for x, m, _ in feats]  # fmt: skip
    Y = [r.reshape(len(x), -1) for x, _, r in feats]
    return (torch.tensor(np.concatenate(v), dtype=torch.float32) for v in (X, Y))


def mlp_ratio(train_feats, held_feats, steps: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    Xt, Yt = _tensors(train_feats)
    Xh, Yh = _tensors(held_feats)
    mu, sd = Xt.mean(0), Xt.std(0) + 1e-6
    Xt, Xh = (Xt - mu) / sd, (Xh - mu) / sd
    net = torch.nn.Sequential(
        torch.nn.Linear(Xt.shape[1], 512), torch.nn.GELU(),
        torch.nn.Linear(512, 512), torch.nn.GELU(), torch.nn.Linear(512, Yt.shape[1]),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps)

    def err(pred, Y):
        return (pred - Y).view(len(Y), -1, 3).norm(dim=-1).mean()

    for _ in range(steps):
        idx = torch.randint(0, len(Xt), (1024,))
        loss = err(net(Xt[idx]), Yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return float(err(net(Xh), Yh) / Yh.view(len(Yh), -1, 3).norm(dim=-1).mean())


# ------------------------------------------------------------------ the study
def study(preds: Predictions, rows, hampel=(4.0, 0.3), mlp_steps: int = 3000) -> dict:
    """``{row: [ratio per subject]}`` and the subjects, each subject held out (module doc)."""
    subjects = sorted({s.subject for s in preds})
    if len(subjects) < 2:
        raise SystemExit("error: the study holds out one subject at a time: it needs two or more")
    parts = [(preds.filter(subjects=[s]),
              BonePrior.of(preds.filter(subjects=[o for o in subjects if o != s])).at(1.0, True))
             for s in subjects]  # fmt: skip
    out: dict[str, list[float]] = {}
    extra = {}

    def library(ps, name):
        outs, _ = crossfit(ps)
        out[name] = [_ratio(o, p) for o, (p, _) in zip(outs, ps)]

    for row in rows:
        t = time.perf_counter()
        if row == "per-joint":
            library(parts, row)
        elif row == "outliers":
            fixed = []
            for p, b in parts:
                seqs = [cleaned(s, *hampel) for s in p]
                extra.setdefault("replaced", []).extend(f for _, f in seqs)
                fixed.append((Predictions([s for s, _ in seqs], p.estimator), b))
            library(fixed, row)
        elif row == "bias":
            library(
                [(Predictions([unbiased(s) for s in p], p.estimator), b) for p, b in parts], row
            )
        else:
            spans = MORE_SPANS if row == "more-spans" else SHARES_SPANS_S
            mode = row if row in ("per-axis", "neighbours") else "per-joint"
            fit = [features(pieces(p), b, spans) for p, b in parts]
            whole = [features(p, b, spans) for p, b in parts]
            out[row] = []
            for i, held in enumerate(whole):
                others = [f for k, fs in enumerate(fit) if k != i for f in fs]
                if row == "mlp":
                    out[row].append(mlp_ratio(others, held, mlp_steps))
                else:
                    w = linear_fit(others, mode)
                    out[row].append(linear_error(held, w, mode) / base_error(held))
        figures = " ".join(f"{v:.4f}" for v in out[row])
        print(f"{row}: {figures}, mean {np.mean(out[row]):.4f} ({time.perf_counter() - t:.0f} s)",
              flush=True)  # fmt: skip
    if "replaced" in extra:
        print(f"outliers: {100 * np.mean(extra['replaced']):.2f} % of joint-frames replaced")
    return {"subjects": subjects, "ratios": out}


def _ratio(out: Predictions, given: Predictions) -> float:
    """Root-relative MPJPE over every frame of ``out`` as a ratio to ``given``'s."""
    return float(frame_errors(out).mean() / frame_errors(given).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preds", help="training predictions with gt3d (e.g. train_crossfit.npz)")
    ap.add_argument("--every", type=int, default=1, help="every n-th sequence")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"of {', '.join(ROWS)}")
    ap.add_argument("--hampel", type=float, default=4.0, help="robust deviations for an outlier")
    ap.add_argument("--hampel-window", type=float, default=0.3, help="seconds")
    ap.add_argument("--mlp-steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        raise SystemExit(f"error: --rows: unknown {bad[0]!r} (of {', '.join(ROWS)})")
    if a.mlp_steps <= 0:
        rows = [r for r in rows if r != "mlp"]
    torch.set_num_threads(a.threads)
    preds = Predictions.load(a.preds, need_gt="scoring the fusions")
    preds = Predictions(preds.sequences[:: a.every], preds.estimator)
    res = study(preds, rows, (a.hampel, a.hampel_window), a.mlp_steps)
    subjects = res["subjects"]
    print("\nroot-relative MPJPE as a ratio to the estimate's, each subject held out\n")
    print("| fusion | " + " | ".join(subjects) + " | mean |")
    print("|---|" + "---:|" * (len(subjects) + 1))
    for row, r in res["ratios"].items():
        print(f"| {row} | " + " | ".join(f"{v:.4f}" for v in r) + f" | {np.mean(r):.4f} |")


if __name__ == "__main__":
    main()
