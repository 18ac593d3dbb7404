"""The two reference models shipped with edgeseg, as PyTorch modules, with their losses and targets.

- `PartsSegNet`: a small U-Net for semantic segmentation of the factory-line scenes. It runs at frame
  resolution (input (736, 1280): a 1280×720 frame letterboxed at scale 1) and outputs logits
  (1, C, 736, 1280) at stride 1, because the scenes' scratches are 1–2 px lines that any coarser output
  grid blurs away. Only two thin layers (8 channels) run at full resolution.
- `PartsInstNet`: a YOLO-seg-style instance model. One anchor-free head at stride 8 predicts per cell a box
  (distances to its four sides), class scores (sigmoid in the graph) and `nm` mask coefficients; a
  prototype branch at stride 4 gives `nm` prototypes. Outputs are split: boxes (1, A, 4) cx, cy, w, h in
  input pixels, scores (1, A, nc), coefficients (1, A, nm), protos (1, nm, H/4, W/4).

Training targets come from an instance-id map at input resolution (0 = no part, k = instance k), from
which boxes and masks of any crop follow exactly: `targets_from_ids`. Assignment is centre sampling:
the cells within 1.5 cells of a part's centre (and inside its box) are its positives, a cell claimed by
several parts goes to the nearest centre, and every part keeps at least the cell under its centre.

Both networks take (N, 3, H, W) float32 RGB in 0..1 (normalization scale 1/255, not folded) with H and W
multiples of 32 (instance) or 16 (semantic).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.convert import source as _source

state_hash = _source.state_hash  # the spec's source_hash, defined once in edgeseg.convert.source

STRIDE = 8  # instance head; at N = 200 in 1280×720 a part's radius is ≈ 30 frame px = 15 input px ≈ 2 cells
PROTO_STRIDE = 4
CENTRE_RADIUS = 1.5  # cells around a part's centre that are its positives


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------------ semantic


class PartsSegNet(nn.Module):
    """U-Net, stride 16 at the bottom, logits at stride 1. x (N, 3, H, W) → logits (N, C, H, W)."""

    def __init__(self, num_classes: int = 3, width: tuple[int, ...] = (8, 16, 32, 64, 96)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = width
        self.e1 = ConvBN(3, c1)
        self.e2 = nn.Sequential(ConvBN(c1, c2, s=2), ConvBN(c2, c2))
        self.e3 = nn.Sequential(ConvBN(c2, c3, s=2), ConvBN(c3, c3))
        self.e4 = nn.Sequential(ConvBN(c3, c4, s=2), ConvBN(c4, c4))
        self.e5 = nn.Sequential(ConvBN(c4, c5, s=2), ConvBN(c5, c5), ConvBN(c5, c5))
        self.r5, self.d4 = ConvBN(c5, c4, 1), ConvBN(2 * c4, c4)
        self.r4, self.d3 = ConvBN(c4, c3, 1), ConvBN(2 * c3, c3)
        self.r3, self.d2 = ConvBN(c3, c2, 1), ConvBN(2 * c2, c2)
        self.r2, self.d1 = ConvBN(c2, c1, 1), ConvBN(2 * c1, c1)
        self.head = nn.Conv2d(c1, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.e1(x)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        x4 = self.e4(x3)
        x5 = self.e5(x4)
        y = self.d4(torch.cat([_up(self.r5(x5)), x4], 1))
        y = self.d3(torch.cat([_up(self.r4(y)), x3], 1))
        y = self.d2(torch.cat([_up(self.r3(y)), x2], 1))
        y = self.d1(torch.cat([_up(self.r2(y)), x1], 1))
        return self.head(y)


def semantic_loss(logits: torch.Tensor, target: torch.Tensor, class_weight: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """Cross-entropy plus soft Dice averaged over the classes present in the batch.

    logits (N, C, H, W) float32; target (N, H, W) int64 class ids. Dice pulls the small classes
    (defects: a few pixels per part) toward IoU, which plain CE under-weights.
    """
    ce = F.cross_entropy(logits, target, weight=class_weight)
    prob = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * onehot).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    present = onehot.sum((0, 2, 3)) > 0
    dice = 1 - (2 * inter + 1) / (denom + 1)
    return ce + dice[present].mean() if present.any() else ce


# ------------------------------------------------------------------------------------------------ instance


class PartsInstNet(nn.Module):
    """Backbone to stride 32, top-down neck to stride 8 (head) and 4 (prototypes).

    x (N, 3, H, W) → boxes (N, A, 4) cx, cy, w, h input px; scores (N, A, nc) 0..1; coefficients (N, A, nm);
    protos (N, nm, H/4, W/4), with A = (H/8)·(W/8) in row-major cell order.
    """

    def __init__(self, num_classes: int = 3, nm: int = 16) -> None:
        super().__init__()
        self.nc, self.nm = num_classes, nm
        self.stem = ConvBN(3, 16, s=2)
        self.c2 = nn.Sequential(ConvBN(16, 32, s=2), ConvBN(32, 32))
        self.c3 = nn.Sequential(ConvBN(32, 64, s=2), ConvBN(64, 64), ConvBN(64, 64))
        self.c4 = nn.Sequential(ConvBN(64, 128, s=2), ConvBN(128, 128), ConvBN(128, 128))
        self.c5 = nn.Sequential(ConvBN(128, 160, s=2), ConvBN(160, 160), ConvBN(160, 160))
        self.r5, self.p4 = ConvBN(160, 128, 1), nn.Sequential(ConvBN(256, 128), ConvBN(128, 128))
        self.r4, self.p3 = ConvBN(128, 64, 1), nn.Sequential(ConvBN(128, 64), ConvBN(64, 64))
        self.r3, self.p2 = ConvBN(64, 32, 1), nn.Sequential(ConvBN(64, 48), ConvBN(48, 48))
        self.proto = nn.Conv2d(48, nm, 1)
        self.cls_branch = nn.Sequential(ConvBN(64, 64), ConvBN(64, 64))
        self.reg_branch = nn.Sequential(ConvBN(64, 64), ConvBN(64, 64))
        self.cls_out = nn.Conv2d(64, num_classes, 1)
        self.box_out = nn.Conv2d(64, 4, 1)
        self.coef_out = nn.Conv2d(64, nm, 1)
        nn.init.constant_(self.cls_out.bias, -4.6)  # prior 0.01: the loss starts from "no parts"
        nn.init.constant_(self.box_out.bias, 0.5)

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ltrb distances (N, 4, h, w) in input px, class logits (N, nc, h, w), coeffs (N, nm, h, w),
        protos (N, nm, 2h, 2w))."""
        s2 = self.stem(x)
        s4 = self.c2(s2)
        s8 = self.c3(s4)
        s16 = self.c4(s8)
        s32 = self.c5(s16)
        p4 = self.p4(torch.cat([_up(self.r5(s32)), s16], 1))
        p3 = self.p3(torch.cat([_up(self.r4(p4)), s8], 1))
        p2 = self.p2(torch.cat([_up(self.r3(p3)), s4], 1))
        reg = self.reg_branch(p3)
        ltrb = F.softplus(self.box_out(reg)) * STRIDE
        return ltrb, self.cls_out(self.cls_branch(p3)), self.coef_out(reg), self.proto(p2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        ltrb, cls, coef, protos = self.raw(x)
        n, _, h, w = ltrb.shape
        ax, ay = cell_centres(h, w, x.device)
        ltrb = ltrb.flatten(2)  # (N, 4, A)
        x1, y1 = ax - ltrb[:, 0], ay - ltrb[:, 1]
        x2, y2 = ax + ltrb[:, 2], ay + ltrb[:, 3]
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 2)
        scores = cls.flatten(2).transpose(1, 2).sigmoid()
        return boxes, scores, coef.flatten(2).transpose(1, 2), protos


def cell_centres(h: int, w: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) input-pixel centres of the stride-8 cells, each (h·w,) float32 in row-major order."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return (xs.reshape(-1) + 0.5) * STRIDE, (ys.reshape(-1) + 0.5) * STRIDE


def targets_from_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ids (H, W) integer instance map (0 = none) → (instance ids (K,) int64, xyxy (K, 4) float32 input px),
    the tight pixel bounds [x0, y0, x1, y1) of each instance present."""
    from scipy import ndimage

    slices = ndimage.find_objects(ids)
    keep, boxes = [], []
    for k, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        keep.append(k)
        boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    return np.asarray(keep, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)


def assign(gt_xyxy: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Centre sampling. gt_xyxy (K, 4) input px → (h·w,) int64: the index of the part each cell predicts,
    or -1 for background."""
    a = h * w
    if len(gt_xyxy) == 0:
        return torch.full((a,), -1, dtype=torch.long)
    ax, ay = cell_centres(h, w)
    cx = (gt_xyxy[:, 0] + gt_xyxy[:, 2]) / 2
    cy = (gt_xyxy[:, 1] + gt_xyxy[:, 3]) / 2
    dx = (ax[None] - cx[:, None]) / STRIDE  # (K, A) in cells
    dy = (ay[None] - cy[:, None]) / STRIDE
    dist = torch.maximum(dx.abs(), dy.abs())
    inside = ((ax[None] > gt_xyxy[:, 0:1]) & (ax[None] < gt_xyxy[:, 2:3]) &
              (ay[None] > gt_xyxy[:, 1:2]) & (ay[None] < gt_xyxy[:, 3:4]))
    cand = (dist <= CENTRE_RADIUS) & inside
    # The cell under each centre always counts, even when the box is thinner than a cell.
    gx = (cx / STRIDE).long().clamp(0, w - 1)
    gy = (cy / STRIDE).long().clamp(0, h - 1)
    k = torch.arange(len(gt_xyxy))
    cand[k, gy * w + gx] = True
    cost = torch.where(cand, torch.hypot(dx, dy), torch.full_like(dx, float("inf")))
    best, who = cost.min(0)
    return torch.where(torch.isfinite(best), who, torch.full_like(who, -1))


def _windows(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
    """Per row, `width` consecutive cell indices in 0..size-1 covering lo..hi (inclusive, clipped to the map):
    (M,) lo and hi → (M, width), width the widest span (at most size); no index repeats or leaves the map."""
    width = int(min((hi - lo + 1).max().item(), size)) if len(lo) else 1
    start = lo.clamp(min=0).minimum(torch.full_like(lo, size - width))
    return start[:, None] + torch.arange(width)


def box_mask_bce(coef: torch.Tensor, protos: torch.Tensor, ids: torch.Tensor, wanted: torch.Tensor,
                 xyxy: torch.Tensor) -> torch.Tensor:
    """The mask loss of M parts of one image → (M,): per part, the mean BCE of its mask logits (coef (M, nm) ·
    protos (nm, H/4, W/4)) against the share of each prototype cell's pixels that are the part's (its id
    wanted[m] in the instance map ids (H, W)), over the cells whose centres lie inside its box xyxy (M, 4) input
    px grown by one prototype cell.

    Only a window around each box is computed (the widest box's size: 10-40 times fewer cells than the whole map
    at 384×640, and no full-size id comparisons), which took the loss of a 384×640 step from 0.088 to 0.036 s;
    a test holds it to the whole-map computation, values and gradients."""
    nm, ph, pw = protos.shape
    bx = xyxy / PROTO_STRIDE
    # Cell c is inside when c + 0.5 lies strictly within (b0 - 1, b1 + 1): then floor(b0) - 1 ≤ c ≤ ceil(b1).
    xs = _windows(torch.floor(bx[:, 0]).long() - 1, torch.ceil(bx[:, 2]).long(), pw)  # (M, Sw)
    ys = _windows(torch.floor(bx[:, 1]).long() - 1, torch.ceil(bx[:, 3]).long(), ph)  # (M, Sh)
    logits = torch.einsum("mk,kmhw->mhw", coef, protos[:, ys[:, :, None], xs[:, None, :]])
    # Each window cell's share of the part: its PROTO_STRIDE² pixels of the id map, compared and averaged.
    sub = torch.arange(PROTO_STRIDE)
    py = (ys[:, :, None] * PROTO_STRIDE + sub).flatten(1)  # (M, Sh·4) pixel rows
    px = (xs[:, :, None] * PROTO_STRIDE + sub).flatten(1)
    hit = ids[py[:, :, None], px[:, None, :]] == wanted[:, None, None]
    soft = hit.view(len(wanted), ys.shape[1], PROTO_STRIDE, xs.shape[1], PROTO_STRIDE).sum((2, 4)).float()
    soft = soft / PROTO_STRIDE ** 2  # (M, Sh, Sw)
    gx, gy = xs.float() + 0.5, ys.float() + 0.5
    inbox = (((gx > bx[:, 0:1] - 1) & (gx < bx[:, 2:3] + 1))[:, None, :] &
             ((gy > bx[:, 1:2] - 1) & (gy < bx[:, 3:4] + 1))[:, :, None]).float()
    bce = F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
    return (bce * inbox).sum((1, 2)) / inbox.sum((1, 2)).clamp(min=1)


def centre_covered(ids: torch.Tensor, inst: torch.Tensor, xyxy: torch.Tensor) -> torch.Tensor:
    """ids (H, W) instance map; inst (K,) ids with their boxes xyxy (K, 4) → (K,) bool: does the pixel at the
    box centre belong to another part? The training-side twin of `edgeseg.bench.errors.centre_covered` (which
    reads crop masks, not an id map); a test holds the two to the same answer."""
    h, w = ids.shape
    cx = ((xyxy[:, 0] + xyxy[:, 2]) / 2).long().clamp(0, w - 1)
    cy = ((xyxy[:, 1] + xyxy[:, 3]) / 2).long().clamp(0, h - 1)
    at = ids[cy, cx]
    return (at != 0) & (at != inst)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise IoU of xyxy boxes a (P, 4) and b (P, 4), in 0..1."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = (a[:, 2:] - a[:, :2]).prod(1) + (b[:, 2:] - b[:, :2]).prod(1) - inter
    return (inter / union.clamp(min=1e-7)).clamp(0, 1)


def _giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise GIoU of xyxy boxes (M, 4)."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    clt = torch.minimum(a[:, :2], b[:, :2])
    crb = torch.maximum(a[:, 2:], b[:, 2:])
    hull = (crb - clt).prod(1) + 1e-7
    return iou - (hull - union) / hull


def instance_loss(model_out: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
                  ids: torch.Tensor, id_class: list[torch.Tensor], *, mask_samples: int = 64,
                  generator: torch.Generator | None = None, iou_aware: bool = False,
                  peak: bool = False, hidden_weight: float = 1.0, hidden_mask_weight: float = 1.0,
                  amodal: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of `PartsInstNet.raw` outputs against instance-id maps.

    ids (N, H, W) int64 instance map at input resolution (0 = none); id_class[i] (max id + 1,) int64 the
    class of each id in image i. Scores: BCE over all cells (positives target 1 for their class), summed
    and divided by the number of positives. Boxes: GIoU on positives. Masks: for up to `mask_samples`
    positives per image, BCE of coeffs·protos against the part's share of each prototype cell, inside
    the part's box (grown by one prototype cell), averaged per part.
    iou_aware: a positive cell's score target is the IoU of its predicted box with its part's box (detached)
    instead of 1, so the best-placed box of a part scores highest and looser duplicates score low
    (quality / varifocal-style BCE; the second training stage of parts-inst).
    peak (with iou_aware): the best-placed positive of each part aims at 1 instead of its IoU, so a part
    that is hard to box (heavily hidden) still has one confident cell; the others keep the IoU target.
    hidden_weight: the score and box losses of the positives of a part whose box centre shows another part
    (a capsule under a washer's middle) count this many times, since such parts are rare and the most missed.
    amodal: per image, (max id, 4) float32 xyxy input-pixel box of each whole part (row k: id k + 1), hidden and
    cut-off pixels included. Positives are still assigned by the visible box, but regress (and, with iou_aware,
    score against) the whole part's box, and the mask loss covers it: the pieces of a part seen in pieces then
    box alike, so NMS merges them. The visible box is the fallback and the floor (the union of the two is used).
    """
    ltrb, cls, coef, protos = model_out
    n, nc, h, w = cls.shape
    ax, ay = cell_centres(h, w, cls.device)
    cls_target = torch.zeros_like(cls).flatten(2).transpose(1, 2)  # (N, A, nc)
    cls_weight = torch.ones(n, h * w, 1)
    box_losses, mask_losses = [], []
    num_pos = 0
    for i in range(n):
        inst, boxes = targets_from_ids(ids[i].numpy())
        if len(inst) == 0:
            continue
        vis = torch.from_numpy(boxes)
        owner = assign(vis, h, w)
        gt = vis
        if amodal is not None:  # the whole part's box, never smaller than what shows (resize rounding aside)
            whole = amodal[i][torch.from_numpy(inst) - 1].float()
            gt = torch.cat([torch.minimum(whole[:, :2], vis[:, :2]), torch.maximum(whole[:, 2:], vis[:, 2:])], 1)
        pos = torch.nonzero(owner >= 0).squeeze(1)
        g = owner[pos]
        num_pos += len(pos)
        d = ltrb[i].flatten(1)[:, pos].T  # (P, 4)
        pred = torch.stack([ax[pos] - d[:, 0], ay[pos] - d[:, 1], ax[pos] + d[:, 2], ay[pos] + d[:, 3]], 1)
        target = _iou(pred.detach(), gt[g]) if iou_aware else 1.0
        if iou_aware and peak:  # each part's best-placed cell aims at 1: every part keeps one sure cell
            best = torch.full((len(gt),), -1.0).scatter_reduce(0, g, target, "amax")
            target = torch.where(target >= best[g], torch.ones_like(target), target)
        cls_target[i, pos, id_class[i][torch.from_numpy(inst)[g]]] = target
        weight = torch.ones(len(pos))
        hidden = centre_covered(ids[i], torch.from_numpy(inst), vis)[g]
        if hidden_weight != 1.0:
            weight = torch.where(hidden, hidden_weight, 1.0)
            cls_weight[i, pos, 0] = weight
        box_losses.append(((1 - _giou(pred, gt[g])) * weight).sum())
        # Masks: a random subset of positives, each against its own part.
        sel = torch.randperm(len(pos), generator=generator)
        if hidden_mask_weight != 1.0:  # hidden parts' positives first, so they are always in the subset
            sel = sel[torch.argsort((~hidden[sel]).long(), stable=True)]
        sel = sel[:mask_samples]
        p_sel, g_sel = pos[sel], g[sel]
        mask_w = torch.where(hidden[sel], hidden_mask_weight, 1.0)
        c = coef[i].flatten(1)[:, p_sel].T  # (M, nm)
        per_part = box_mask_bce(c, protos[i], ids[i], torch.from_numpy(inst)[g_sel], gt[g_sel])
        mask_losses.append((per_part * mask_w).sum() * len(pos) / len(sel))
    norm = max(num_pos, 1)
    cls_flat = cls.flatten(2).transpose(1, 2)
    loss_cls = (F.binary_cross_entropy_with_logits(cls_flat, cls_target, reduction="none") * cls_weight).sum() / norm
    zero = cls.sum() * 0
    loss_box = sum(box_losses, zero) / norm
    loss_mask = sum(mask_losses, zero) / norm
    total = loss_cls + 2.0 * loss_box + 2.0 * loss_mask
    return total, {"cls": round(loss_cls.item(), 3), "box": round(loss_box.item(), 3),
                   "mask": round(loss_mask.item(), 3), "pos": num_pos}
