"""Calibrate the detector-noise profile: lifter MPJPE with detected 2D / with GT 2D.

The paper's Tables I/II put a lifter's MPJPE with CPN detections at about 1.5–1.8× its MPJPE with GT
2D. Neural lifters trained for minutes on a CPU are too far from convergence for that ratio to show
(their error is dominated by under-fitting), so the ratio is measured with lifters that converge in
seconds: closed-form ridge regressions from a window of 2D frames to the centre frame's 3D (a linear
temporal lifter, like a one-layer VideoPose3D), trained and tested on the same kind of 2D (GT, or
detected at each profile scale). Train S1 S5 S6 S7 S8, test S9 S11, h36m-fk17, 2 virtual cameras,
25 fps. Nothing here is fitted on the test subjects except the reported errors.

usage: python scripts/calibrate_detector.py [--scales 0.5,1,1.5,2] [--window 9]
"""

from __future__ import annotations

import argparse

import numpy as np

from d3prefiner.data.detector import DEFAULT_PROFILE
from d3prefiner.data.pipeline import load_source, make_clips

TRAIN, TEST = ["S1", "S5", "S6", "S7", "S8"], ["S9", "S11"]


def features(clips, window: int):
    """Stack ``window`` frames of 2D around each frame (edge-padded) → (N, window*34), (N, 48)."""
    X, Y = [], []
    h = window // 2
    for c in clips:
        p = np.pad(c.pose2d.reshape(len(c.pose2d), -1), ((h, h), (0, 0)), mode="edge")  # (F+2h, 34)
        idx = np.arange(len(c.pose2d))[:, None] + np.arange(window)[None, :]  # (F, w)
        X.append(p[idx].reshape(len(c.pose2d), -1))  # (F, w*34)
        Y.append(c.pose3d[:, 1:].reshape(len(c.pose3d), -1))  # (F, 48) root-relative
    return np.concatenate(X), np.concatenate(Y)


def quad(X):
    """Linear + centred squares of the centre frame's coordinates (a mildly non-linear lifter)."""
    return np.concatenate([X, X**2], axis=1)


def ridge_mpjpe(train, test, window: int, lam: float = 1e-3, nonlinear: bool = False) -> float:
    Xtr, Ytr = features(train, window)
    Xte, Yte = features(test, window)
    if nonlinear:
        Xtr, Xte = quad(Xtr), quad(Xte)
    mu_x, mu_y = Xtr.mean(0), Ytr.mean(0)
    A = (Xtr - mu_x).astype(np.float64)
    G = A.T @ A + lam * len(A) * np.eye(A.shape[1])
    W = np.linalg.solve(G, A.T @ (Ytr - mu_y))
    pred = (Xte - mu_x) @ W + mu_y
    err = np.linalg.norm((pred - Yte).reshape(len(Yte), 16, 3), axis=-1)  # (N, 16)
    return float(np.concatenate([err, np.zeros((len(err), 1))], 1).mean()) * 1000  # 17 joints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scales", default="0.5,1,1.5,2")
    ap.add_argument("--window", type=int, default=9)
    ap.add_argument("--cameras", type=int, default=2)
    args = ap.parse_args()
    seqs = {s: load_source("h36m-fk17", subjects=s) for s in (TRAIN, TEST) for s in [tuple(s)]}
    tr_seqs, te_seqs = seqs[tuple(TRAIN)], seqs[tuple(TEST)]

    def clips(seqs, profile):
        return make_clips(seqs, n_cameras=args.cameras, detector=profile, target_fps=25)

    gt_tr, gt_te = clips(tr_seqs, None), clips(te_seqs, None)
    print(f"{'lifter':28s} {'2D':>14s} {'MPJPE mm':>9s} {'ratio':>6s}")
    for nonlinear in (False, True):
        name = f"ridge{'+squares' if nonlinear else ''}, {args.window}-frame window"
        base = ridge_mpjpe(gt_tr, gt_te, args.window, nonlinear=nonlinear)
        print(f"{name:28s} {'GT':>14s} {base:9.1f} {1.0:6.2f}")
        for s in [float(x) for x in args.scales.split(",")]:
            prof = DEFAULT_PROFILE.scaled(s)
            e = ridge_mpjpe(
                clips(tr_seqs, prof), clips(te_seqs, prof), args.window, nonlinear=nonlinear
            )
            print(f"{name:28s} {f'detected x{s:g}':>14s} {e:9.1f} {e / base:6.2f}")


if __name__ == "__main__":
    main()
