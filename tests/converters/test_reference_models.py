"""Shapes, target assignment and losses of the reference architectures, on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

from edgeseg.convert import reference_models as rm  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_seg_net_shapes_and_budget():
    net = rm.PartsSegNet(3).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 48))
    assert out.shape == (1, 3, 32, 48)  # logits at stride 1
    assert rm.param_count(net) <= 3_000_000


def test_inst_net_shapes_and_box_geometry():
    net = rm.PartsInstNet(3, nm=8).eval()
    with torch.no_grad():
        boxes, scores, coeffs, protos = net(torch.rand(2, 3, 64, 96))
    a = (64 // 8) * (96 // 8)
    assert boxes.shape == (2, a, 4) and scores.shape == (2, a, 3) and coeffs.shape == (2, a, 8)
    assert protos.shape == (2, 8, 16, 24)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (boxes[..., 2:] > 0).all()
    # Every cell's box contains its own cell centre (distances to the sides are positive).
    ax, ay = rm.cell_centres(8, 12)
    assert (boxes[0, :, 0] - boxes[0, :, 2] / 2 < ax).all() and (boxes[0, :, 1] + boxes[0, :, 3] / 2 > ay).all()
    assert rm.param_count(net) <= 3_000_000


def test_targets_from_ids_zero_one_many():
    ids = np.zeros((16, 16), np.int16)
    inst, boxes = rm.targets_from_ids(ids)
    assert inst.shape == (0,) and boxes.shape == (0, 4)
    ids[2:5, 3:9] = 1
    ids[10:16, 12:16] = 3  # touching the border; id 2 absent (cropped away)
    inst, boxes = rm.targets_from_ids(ids)
    assert inst.tolist() == [1, 3]
    assert boxes.tolist() == [[3, 2, 9, 5], [12, 10, 16, 16]]


def test_assign_centre_cells_and_conflicts():
    gt = torch.tensor([[0.0, 0.0, 32.0, 32.0], [30.0, 30.0, 34.0, 34.0]])  # a big part and a tiny one
    owner = rm.assign(gt, 8, 8)
    assert owner.shape == (64,)
    # The tiny part keeps the cell under its centre (32, 32) → cell (4, 4), though no cell centre is inside.
    assert owner[4 * 8 + 4] == 1
    # The big part owns cells around its centre (16, 16), inside its box.
    assert owner[1 * 8 + 1] == 0 and owner[2 * 8 + 2] == 0
    assert owner[7 * 8 + 7] == -1
    assert (rm.assign(torch.zeros(0, 4), 4, 4) == -1).all()


def _pooled_shares(ids: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """The slow, obvious mask target: average-pooled indicator maps, (M, H/4, W/4)."""
    onehot = (ids[None] == wanted[:, None, None]).float()[:, None]
    return torch.nn.functional.avg_pool2d(onehot, rm.PROTO_STRIDE)[:, 0]


def _whole_map_bce(coef, protos, ids, wanted, xyxy):
    """The mask loss over the whole prototype map, cells outside each grown box weighted 0 (the slow reference)."""
    nm, ph, pw = protos.shape
    logits = torch.einsum("mk,khw->mhw", coef, protos)
    bx = xyxy / rm.PROTO_STRIDE
    gx = torch.arange(pw, dtype=torch.float32) + 0.5
    gy = torch.arange(ph, dtype=torch.float32) + 0.5
    inbox = (((gx[None] > bx[:, 0:1] - 1) & (gx[None] < bx[:, 2:3] + 1))[:, None, :] &
             ((gy[None] > bx[:, 1:2] - 1) & (gy[None] < bx[:, 3:4] + 1))[:, :, None]).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, _pooled_shares(ids, wanted), reduction="none")
    return (bce * inbox).sum((1, 2)) / inbox.sum((1, 2)).clamp(min=1)


@pytest.mark.parametrize("seed", range(4))
def test_box_mask_bce_equals_the_whole_map(seed):
    g = torch.Generator().manual_seed(seed)
    h, w = 64, 96
    ids = torch.randint(0, 6, (8, 12), generator=g).repeat_interleave(8, 0).repeat_interleave(8, 1)
    ids[torch.rand(ids.shape, generator=g) < 0.2] = 9
    wanted = torch.tensor([1, 9, 3, 1, 5, 0])
    # Fractional boxes, boxes past every edge (whole parts cut off), a one-pixel box, one covering the map.
    xyxy = torch.tensor([[3.3, 5.0, 20.0, 17.9], [-12.0, -7.5, 10.2, 6.0], [70.1, 40.0, 110.0, 90.0],
                         [48.0, 30.0, 49.0, 31.0], [-5.0, -5.0, 101.0, 69.0], [0.0, 0.0, 96.0, 64.0]])
    protos = torch.randn(8, h // 4, w // 4, generator=g, requires_grad=True)
    coef = torch.randn(len(wanted), 8, generator=g, requires_grad=True)
    got = rm.box_mask_bce(coef, protos, ids, wanted, xyxy)
    ref = _whole_map_bce(coef, protos, ids, wanted, xyxy)
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-6)
    weights = torch.rand(len(wanted), generator=g)
    g_got = torch.autograd.grad((got * weights).sum(), (coef, protos))
    g_ref = torch.autograd.grad((ref * weights).sum(), (coef, protos))
    for a, b in zip(g_got, g_ref):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    # Without the map-wide boxes the windows are smaller than the map and start inside it.
    small = [0, 3, 2]
    part = rm.box_mask_bce(coef[small], protos, ids, wanted[small], xyxy[small])
    assert torch.allclose(part, ref[small], rtol=1e-5, atol=1e-6)
    one = rm.box_mask_bce(coef[3:4], protos, ids, wanted[3:4], xyxy[3:4])
    assert torch.allclose(one, ref[3:4], rtol=1e-5, atol=1e-6)


def test_losses_finite_and_backprop():
    seg = rm.PartsSegNet(3)
    y = torch.randint(0, 3, (2, 32, 32))
    loss = rm.semantic_loss(seg(torch.rand(2, 3, 32, 32)), y)
    loss.backward()
    assert torch.isfinite(loss)

    net = rm.PartsInstNet(3, nm=8)
    ids = torch.zeros(2, 64, 64, dtype=torch.long)
    ids[0, 8:24, 8:30] = 1
    ids[0, 40:60, 30:44] = 2  # image 1 has no parts: zero is a normal count
    classes = [torch.tensor([0, 2, 1]), torch.tensor([0])]
    total, parts = rm.instance_loss(net.raw(torch.rand(2, 3, 64, 64)), ids, classes)
    total.backward()
    assert torch.isfinite(total) and parts["pos"] > 0 and parts["mask"] > 0
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    empty, parts = rm.instance_loss(net.raw(torch.rand(1, 3, 64, 64)), torch.zeros(1, 64, 64, dtype=torch.long),
                                    [torch.tensor([0])])
    assert torch.isfinite(empty) and parts["pos"] == 0
    # IoU-aware scores: positives aim below 1 (their box's IoU), so the score loss differs, the rest not.
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = net.raw(x)
        plain = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0))[1]
        aware = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0), iou_aware=True)[1]
    assert aware["cls"] != plain["cls"] and aware["box"] == plain["box"] and aware["mask"] == plain["mask"]
    with torch.no_grad():
        peak = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0), iou_aware=True,
                                peak=True)[1]
    # Scores start near the 0.01 prior, so a higher target costs more: peak lifts one cell per part to the
    # plain target 1 and leaves the rest at their IoU, landing strictly between the two.
    assert aware["cls"] < peak["cls"] < plain["cls"]
    assert peak["box"] == aware["box"] and peak["mask"] == aware["mask"]


def test_hidden_parts_weigh_more():
    # Part 1 is a square whose middle part 2 (a bar across it) covers; part 3 lies alone.
    ids = torch.zeros(1, 64, 64, dtype=torch.long)
    ids[0, 4:36, 4:36] = 1
    ids[0, 16:24, 0:40] = 2
    ids[0, 44:60, 44:60] = 3
    inst, boxes = rm.targets_from_ids(ids[0].numpy())
    covered = rm.centre_covered(ids[0], torch.from_numpy(inst), torch.from_numpy(boxes))
    assert covered.tolist() == [True, False, False]
    net = rm.PartsInstNet(3, nm=8)
    classes = [torch.tensor([0, 1, 2, 0])]
    with torch.no_grad():
        out = net.raw(torch.rand(1, 3, 64, 64))
        plain = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0))[1]
        heavy = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0), hidden_weight=3.0)[1]
        alone = rm.instance_loss(out, ids.where(ids != 1, 0), classes,
                                 generator=torch.Generator().manual_seed(0))[1]
        alone_heavy = rm.instance_loss(out, ids.where(ids != 1, 0), classes,
                                       generator=torch.Generator().manual_seed(0), hidden_weight=3.0)[1]
    # Only part 1's positives weigh more: its score and box losses grow, the masks' do not; without it, nothing.
    assert heavy["cls"] > plain["cls"] and heavy["box"] > plain["box"] and heavy["mask"] == plain["mask"]
    assert alone_heavy == alone
    with torch.no_grad():
        masked = rm.instance_loss(out, ids, classes, generator=torch.Generator().manual_seed(0),
                                  hidden_mask_weight=3.0)[1]
        alone_masked = rm.instance_loss(out, ids.where(ids != 1, 0), classes,
                                        generator=torch.Generator().manual_seed(0), hidden_mask_weight=3.0)[1]
    # hidden_mask_weight: part 1's mask loss alone grows.
    assert masked["mask"] > plain["mask"] and masked["cls"] == plain["cls"] and masked["box"] == plain["box"]
    assert alone_masked == alone


def test_amodal_boxes_replace_the_visible_targets():
    # Part 1 shows its left half (x 4..20); the whole part reaches x 36, under part 2.
    ids = torch.zeros(1, 64, 64, dtype=torch.long)
    ids[0, 4:36, 4:20] = 1
    ids[0, 4:36, 20:40] = 2
    classes = [torch.tensor([0, 1, 2])]
    visible = torch.tensor([[4.0, 4, 20, 36], [20, 4, 40, 36]])
    whole = torch.tensor([[4.0, 4, 36, 36], [20, 4, 40, 36]])
    net = rm.PartsInstNet(3, nm=8)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        out = net.raw(torch.rand(1, 3, 64, 64))
        plain = rm.instance_loss(out, ids, classes, generator=g(), iou_aware=True)[1]
        same = rm.instance_loss(out, ids, classes, generator=g(), iou_aware=True, amodal=[visible])[1]
        amodal = rm.instance_loss(out, ids, classes, generator=g(), iou_aware=True, amodal=[whole])[1]
        # A whole box smaller than what shows (resize rounding) never shrinks the target below the visible box.
        inside = visible + torch.tensor([1.0, 1, -1, -1])
        small = rm.instance_loss(out, ids, classes, generator=g(), iou_aware=True, amodal=[inside])[1]
    assert same == plain and small == plain
    assert amodal["box"] != plain["box"] and amodal["cls"] != plain["cls"] and amodal["mask"] != plain["mask"]
    assert amodal["pos"] == plain["pos"]  # positives still come from the visible box


def test_state_hash_follows_weights():
    net = rm.PartsSegNet(3)
    h = rm.state_hash(net)
    assert h == rm.state_hash(net) and len(h) == 64
    with torch.no_grad():
        net.head.bias.add_(1)
    assert rm.state_hash(net) != h


def test_centre_covered_agrees_with_the_error_report():
    # One definition of "a part under another's middle" for training and for `edgeseg eval --errors`.
    from edgeseg.bench.errors import centre_covered
    from edgeseg.bench.scenes import SceneOptions, make_scene

    truth = make_scene(SceneOptions(size_wh=(480, 320), objects=40, overlap_rate=0.5), seed=11).truth
    ids = np.zeros(truth.semantic.shape, np.int64)
    for i, (crop, (x0, y0, x1, y1)) in enumerate(zip(truth.masks.crops, truth.masks.origins_xyxy)):
        ids[y0:y1, x0:x1][crop] = i + 1
    inst, boxes = rm.targets_from_ids(ids)
    assert inst.tolist() == list(range(1, len(truth.masks) + 1))
    ours = rm.centre_covered(torch.from_numpy(ids), torch.from_numpy(inst), torch.from_numpy(boxes)).numpy()
    theirs = centre_covered(truth.masks)
    assert ours.any() and not ours.all()
    np.testing.assert_array_equal(ours, theirs)
