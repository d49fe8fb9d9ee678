"""Geometry: intrinsics, undistortion, root fitting, reprojection, bone lengths (hand values)."""

import numpy as np
import pytest

from d3prefiner.data.cameras import H36M_INTRINSICS, Camera, normalize_screen, project
from d3prefiner.errors import D3PRError
from d3prefiner.geometry import (
    DEFAULT_FOCAL,
    DEFAULT_INTRINSICS,
    Intrinsics,
    bone_lengths,
    distort,
    fit_root,
    focal_sensitivity,
    median_bones,
    normalised_intrinsics,
    on_rays,
    project_normalised,
    reproject,
    set_bone_lengths,
    undistort,
)
from d3prefiner.skeleton import H36M17


def _pinhole(f=2.0):
    # normalised f = 2 f_px / w; principal point at the centre → c_n = 0
    return Intrinsics(f=(f * 500, f * 500), c=(500, 500), width=1000, height=1000)


def test_normalised_intrinsics_by_hand():
    fn, cn = normalised_intrinsics(1145.0, (512.0, 515.0), 1000, 1002)
    np.testing.assert_allclose(fn, [2.29, 2.29])
    np.testing.assert_allclose(cn, [0.024, 1.030 - 1.002])
    intr = Intrinsics(f=(1000, 900), c=(500, 501), width=1000, height=1002)
    np.testing.assert_allclose(intr.f_norm, [2.0, 1.8])
    np.testing.assert_allclose(intr.c_norm, [0.0, 0.0], atol=1e-12)


def test_default_focal():
    assert pytest.approx(2.29) == DEFAULT_FOCAL
    np.testing.assert_allclose(DEFAULT_INTRINSICS.f_norm, [2.29, 2.29])
    np.testing.assert_allclose(DEFAULT_INTRINSICS.c_norm, [0.0, 0.0])
    assert not DEFAULT_INTRINSICS.distorted


def test_intrinsics_from_camera_matches_projection():
    cam = Camera(name="c", R=np.eye(3), t=np.zeros(3), **H36M_INTRINSICS["54138969"])
    intr = Intrinsics.from_camera(cam)
    X = np.array([[0.3, -0.2, 4.0], [-0.5, 0.6, 5.5]])
    want = normalize_screen(project(X, cam, distort=False), cam.width, cam.height)
    np.testing.assert_allclose(project_normalised(X, intr), want, atol=1e-12)


@pytest.mark.parametrize("cam_id", sorted(H36M_INTRINSICS))
def test_undistort_inverts_the_h36m_model(cam_id):
    cam = Camera(name="c", R=np.eye(3), t=np.zeros(3), **H36M_INTRINSICS[cam_id])
    intr = Intrinsics.from_camera(cam)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.uniform(-1.5, 1.5, (200, 2)), rng.uniform(3.5, 7, (200, 1))], -1)
    distorted = normalize_screen(project(X, cam), cam.width, cam.height)
    plain = normalize_screen(project(X, cam, distort=False), cam.width, cam.height)
    assert np.abs(distorted - plain).max() > 1e-3  # the distortion is there
    # 1e-8 normalised = 5e-6 px
    np.testing.assert_allclose(undistort(distorted, intr), plain, atol=1e-8)
    np.testing.assert_allclose(distort(plain, intr), distorted, atol=1e-12)
    # stopping once converged: what 60 plain fixed-point steps give, out to the image's corners
    corners = np.array([[[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.99, -0.98]]])
    for y in (distorted, corners):
        xy_d = (y - intr.c_norm) / intr.f_norm
        xy = xy_d.copy()
        for _ in range(60):
            r2 = (xy**2).sum(-1, keepdims=True)
            radial = 1 + intr.k[0] * r2 + intr.k[1] * r2**2 + intr.k[2] * r2**3
            tan = intr.p[0] * xy[..., 1:2] + intr.p[1] * xy[..., 0:1]
            xy = (xy_d - intr.p[::-1] * r2) / (radial + tan)
        np.testing.assert_allclose(undistort(y, intr), xy * intr.f_norm + intr.c_norm, atol=1e-11)


def test_undistort_without_distortion_is_identity():
    y = np.array([[0.1, -0.2]])
    np.testing.assert_array_equal(undistort(y, _pinhole()), y)


def test_fit_root_recovers_translation_by_hand():
    # root (0, 0, 0), joint (0.5, 0, 0) at t = (0, 0, 4), f_n = 2: 2D (0, 0), (0.25, 0)
    pose = np.array([[[0.0, 0, 0], [0.5, 0, 0]]])
    y = np.array([[[0.0, 0], [0.25, 0]]])
    np.testing.assert_allclose(fit_root(pose, y, _pinhole()), [[0.0, 0.0, 4.0]], atol=1e-12)


def test_fit_root_exact_on_random_poses():
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.3, (5, 17, 3))
    pose -= pose[:, :1]
    t = np.stack([rng.uniform(-1, 1, 5), rng.uniform(-0.5, 0.5, 5), rng.uniform(4, 6, 5)], -1)
    intr = Intrinsics(f=(1145, 1140), c=(512, 515), width=1000, height=1002)
    y = project_normalised(pose + t[:, None], intr)
    np.testing.assert_allclose(fit_root(pose, y, intr), t, atol=1e-9)


def test_reproject_by_hand():
    # true: root 0, a (0.5, 0, 0), b (0, 0, 1) at t = (0, 0, 4): 2D (0, 0), (0.25, 0), (0, 0).
    # estimate: a (0.4, 0, 0), b (0.1, 0, 1). Least squares: tx = -0.05 (2tx = 0 and 2tx = -0.2),
    # ty = 0, tz = (0.8 + 2 tx) / 0.25 = 2.8. Then X_a = 0.25 / 2 · 2.8 = 0.35, X_b = 0.
    pose = np.array([[[0.0, 0, 0], [0.4, 0, 0], [0.1, 0, 1]]])
    y = np.array([[[0.0, 0], [0.25, 0], [0.0, 0]]])
    out, t = reproject(pose, y, _pinhole(), return_root=True)
    np.testing.assert_allclose(t, [[-0.05, 0.0, 2.8]], atol=1e-12)
    np.testing.assert_allclose(out, [[[0, 0, 0], [0.35, 0, 0], [0, 0, 1]]], atol=1e-12)


def test_reproject_exact_2d_and_depth_gives_the_truth():
    rng = np.random.default_rng(2)
    gt = rng.normal(0, 0.3, (4, 17, 3))
    gt -= gt[:, :1]
    intr = _pinhole(2.29)
    y = project_normalised(gt + [0.2, 0.1, 5.0], intr)
    est = gt.copy()
    est[..., :2] += rng.normal(0, 0.03, (4, 17, 2))  # in-plane error only
    est -= est[:, :1]
    np.testing.assert_allclose(reproject(est, y, intr), gt, atol=0.02)
    assert np.abs(reproject(est, y, intr) - gt).mean() < 0.3 * np.abs(est - gt).mean()


def _body(rng, frames=6):
    """Random H36M-17 poses, root-relative, with bone lengths 0.1-0.45 m (fixed over frames) and
    every bone's depth step at least half its length."""
    from d3prefiner.geometry import _tree_order

    lengths = rng.uniform(0.1, 0.45, 16)
    pose = np.zeros((frames, 17, 3))
    for j in _tree_order(H36M17):
        p = H36M17.parents[j]
        if p >= 0:
            u = rng.normal(0, 1, (frames, 3))
            u[:, 2] = np.sign(u[:, 2]) * rng.uniform(0.6, 1.2, frames)
            pose[:, j] = pose[:, p] + u
    return set_bone_lengths(pose, lengths), lengths


def test_on_rays_with_exact_2d_and_lengths_recovers_the_depths():
    """The estimate's depths wrong by up to 2 cm per joint (its depth order along each bone
    right): with exact 2D and bone lengths the bones come out at exactly their lengths and the
    error halves (what remains is the fitted root's depth); the truth as the estimate stays the
    truth."""
    rng = np.random.default_rng(3)
    gt, lengths = _body(rng, frames=50)
    intr = _pinhole(2.29)
    y = project_normalised(gt + [0.2, 0.1, 5.0], intr)
    np.testing.assert_allclose(on_rays(gt, y, intr, lengths, sigma=0), gt, atol=1e-9)
    est = gt.copy()
    est[..., 2] += rng.uniform(-0.02, 0.02, est.shape[:2])
    est -= est[:, :1]
    out = on_rays(est, y, intr, lengths, sigma=0)
    # a bone at its length, or, where the root's depth error makes its ray miss the sphere, the
    # ray's nearest point (further than the length)
    bl = bone_lengths(out)
    assert (bl >= lengths - 1e-9).all() and np.isclose(bl, lengths, atol=1e-9).mean() > 0.98
    err = lambda p: np.linalg.norm(p - gt, axis=-1).mean()  # noqa: E731
    assert err(out) < 0.6 * err(est)


def test_on_rays_default_lengths_and_bad_frames():
    """Without lengths it takes the reprojected estimate's medians; a ray that misses its sphere
    gives the ray's nearest point; a frame behind the camera passes through unchanged."""
    rng = np.random.default_rng(4)
    gt, lengths = _body(rng, frames=20)
    intr = _pinhole(2.29)
    y = project_normalised(gt + [0.0, 0.0, 4.0], intr)
    out = on_rays(gt, y, intr, sigma=0)  # the truth as the estimate: it stays (nearly) the truth
    np.testing.assert_allclose(out, gt, atol=1e-6)
    # too short to reach most rays: nearest points
    short = on_rays(gt, y, intr, lengths * 0.5, sigma=0)
    assert np.isfinite(short).all() and (bone_lengths(short) >= 0.5 * lengths - 1e-9).all()
    # 2D that puts the body behind the camera (as in reproject's test): passed through
    pose = gt[:1] + [0.3, 0.0, 0.0]
    behind = -project_normalised(gt[:1] + [0.0, 0.0, 4.0], intr)
    np.testing.assert_allclose(on_rays(pose, behind, intr, lengths), pose)


def test_on_rays_weighs_the_two_depths_by_the_estimates_spread():
    """Bones in every direction, the estimate's depths off by 5 cm per joint: weighing the two
    roots by a Gaussian of that spread errs less than taking the nearer one, most where a bone
    lies across its ray (the roots close together); far-apart roots give the nearer one, equally
    distant ones their mean; a spread of 0 is the nearer root; a negative one is refused."""
    from d3prefiner.geometry import RAYS_SIGMA, _weigh_roots

    near, far, want = (
        np.array([1.0, 1.0, 1.0]),
        np.array([2.0, 1.1, 1.2]),
        np.array([1.0, 1.05, 1.08]),
    )
    out = _weigh_roots(near, far, want, 0.05)
    np.testing.assert_allclose(out[:2], [1.0, 1.05], atol=1e-6)  # nearer root; the mean on a tie
    assert 1.0 < out[2] < 1.1  # between, leaning to near (0.08 away; far 0.12): 1.034
    np.testing.assert_allclose(_weigh_roots(near, far, want + 0.001, 0.0), [1.0, 1.1, 1.0])

    rng = np.random.default_rng(7)
    lengths = rng.uniform(0.1, 0.45, 16)
    pose = np.zeros((400, 17, 3))
    from d3prefiner.geometry import _tree_order

    for j in _tree_order(H36M17):
        p = H36M17.parents[j]
        if p >= 0:
            pose[:, j] = pose[:, p] + rng.normal(0, 1, (400, 3))  # any direction
    gt = set_bone_lengths(pose, lengths)
    intr = _pinhole(2.29)
    y = project_normalised(gt + [0.1, 0.0, 5.0], intr)
    est = gt + np.concatenate([np.zeros((400, 17, 2)), rng.normal(0, 0.05, (400, 17, 1))], -1)
    est -= est[:, :1]
    err = lambda p: np.linalg.norm(p - gt, axis=-1).mean()  # noqa: E731
    hard, soft = on_rays(est, y, intr, lengths, sigma=0), on_rays(est, y, intr, lengths)
    assert err(soft) < 0.95 * err(hard) and err(hard) < err(est)  # 0.90 here
    np.testing.assert_allclose(on_rays(est, y, intr, lengths, sigma=1e-9), hard, atol=1e-9)
    assert RAYS_SIGMA == 0.05
    with pytest.raises(D3PRError, match="sigma"):
        on_rays(est, y, intr, lengths, sigma=-0.1)


def test_reproject_keeps_a_non_relative_root_and_skips_bad_frames():
    pose = np.array([[[1.0, 2, 3], [1.5, 2, 3]]])
    y = np.array([[[0.0, 0], [0.25, 0]]])
    out = reproject(pose, y, _pinhole())
    np.testing.assert_allclose(out[:, 0], pose[:, 0])
    # 2D that puts the person behind the camera: the frame passes through
    y_bad = np.array([[[0.0, 0], [-0.25, 0]]])
    np.testing.assert_allclose(reproject(pose, y_bad, _pinhole()), pose)


def test_degenerate_2d_passes_the_frame_through():
    pose = np.random.default_rng(6).normal(0, 0.3, (2, 17, 3))
    pose -= pose[:, :1]
    y = np.zeros((2, 17, 2))  # every joint at the principal point: no depth information
    np.testing.assert_allclose(fit_root(pose, y, _pinhole())[:, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(reproject(pose, y, _pinhole()), pose)


def test_reproject_rejects_bad_input():
    with pytest.raises(D3PRError, match="frames"):
        reproject(np.zeros((3, 17, 3)), np.zeros((2, 17, 2)), _pinhole())
    with pytest.raises(D3PRError, match="NaN"):
        reproject(np.full((1, 17, 3), np.nan), np.zeros((1, 17, 2)), _pinhole())


def test_bone_lengths_by_hand():
    pose = np.zeros((1, 17, 3))
    pose[0, 1] = (3.0, 4.0, 0.0)  # RHip: bone 0 (1 → 0) has length 5
    pose[0, 2] = (3.0, 4.0, 2.0)  # RKnee: bone 1 (2 → 1) has length 2
    lengths = bone_lengths(pose)
    assert lengths.shape == (1, 16)
    assert lengths[0, 0] == pytest.approx(5.0) and lengths[0, 1] == pytest.approx(2.0)


def test_median_bones_by_hand():
    rng = np.random.default_rng(3)
    pose = rng.normal(0, 0.3, (1, 17, 3))
    unit = set_bone_lengths(pose - pose[:, :1], np.ones(16))  # root at 0: scaling keeps it
    np.testing.assert_allclose(bone_lengths(unit), 1.0)
    seq = np.concatenate([unit, 3 * unit, 2 * unit])  # lengths 1, 3, 2: median 2
    out = median_bones(seq)
    np.testing.assert_allclose(bone_lengths(out), 2.0)
    np.testing.assert_allclose(out, np.concatenate([2 * unit] * 3), atol=1e-12)
    np.testing.assert_allclose(out[:, 0], seq[:, 0])  # the root stays


def test_set_bone_lengths_keeps_directions():
    rng = np.random.default_rng(4)
    pose = rng.normal(0, 0.3, (3, 17, 3))
    out = set_bone_lengths(pose, rng.uniform(0.1, 0.5, 16))
    for child, parent in H36M17.bones:
        a = pose[:, child] - pose[:, parent]
        b = out[:, child] - out[:, parent]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        np.testing.assert_allclose(cos, 1.0)


def test_focal_sensitivity_zero_at_the_true_focal():
    rng = np.random.default_rng(5)
    gt = rng.normal(0, 0.3, (6, 17, 3))
    gt -= gt[:, :1]
    intr = _pinhole(2.29)
    y = project_normalised(gt + [0.0, 0.0, 5.0], intr)
    est = gt.copy()
    est[..., :2] += 0.02
    est -= est[:, :1]
    res = focal_sensitivity([est], [y], [gt], [intr])
    assert set(res) == {"base", 0.85, 1.0, 1.15}
    assert res[1.0] == pytest.approx(0.0, abs=1e-6)
    assert res[0.85] > 0 and res["base"] > 0
    assert set(focal_sensitivity([est], [y], [gt], [None], factors=(1.0,))) == {"base", 1.0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(f=(0, 1), c=(0, 0), width=10, height=10), "focal"),
        (dict(f=(1, 1, 1), c=(0, 0), width=10, height=10), "f must be 2"),
        (dict(f=(1, 1), c=(0, np.nan), width=10, height=10), "c must be"),
        (dict(f=(1, 1), c=(0, 0), width=0, height=10), "image size"),
        (dict(f=(1, 1), c=(0, 0), width=10.5, height=10), "image size"),
        (dict(f=(1, 1), c=(0, 0), width=10, height=10, k=(0, 11, 0)), "distortion k"),
        (dict(f=(1, 1), c=(0, 0), width=10, height=10, p=(-1.5, 0)), "distortion p"),
    ],
)
def test_intrinsics_validation(kwargs, match):
    with pytest.raises(D3PRError, match=match):
        Intrinsics(**kwargs)


def test_intrinsics_equality_and_scaling():
    a = _pinhole()
    assert a == _pinhole() and a != _pinhole(3.0)
    np.testing.assert_allclose(a.scaled(1.15).f_norm, 2.3)
