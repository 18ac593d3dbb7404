"""Train, export and check edgeseg's two reference models on synthetic factory-line scenes (CPU only).

    python examples/train_reference_models.py parts-inst --recipe --out sdk/assets \
        --checkpoint converters/weights/parts-inst.pt     # the instance model, nine stages
    python examples/train_reference_models.py parts-seg --recipe --out sdk/assets \
        --checkpoint converters/weights/parts-seg.pt      # the shipped semantic model
    python examples/train_reference_models.py parts-inst --eval-only --out sdk/assets   # held-out figures

The recipe is the argparse defaults below plus each stage's options in RECIPES, seeded end to end: training
frames come from edgeseg.bench.scenes (seed 1, part counts 0..250, mostly 1280×720), held-out frames from
seed 9999. Each model trains on random crops of the letterboxed input (flips as the only augmentation) with
AdamW and a cosine schedule, then is exported to one ONNX file (opset 17) with its spec embedded.

The shipped models are trained in stages (RECIPES; `--recipe` runs them all, keeping each stage's weights in
--work so a stopped run resumes): stage 1 is the defaults from scratch; each later stage fine-tunes the
previous state dict with a fresh cosine schedule on fresh frames (each stage's --seed in its options).
- parts-inst: stage 1 (1000 steps), stage 2 (900 steps, IoU-aware score target, radius 1 cell), stage 3
  (3200 steps, more frames with few and overlapping parts), stages 4 and 5 (whole 384×640 frames instead of
  crops, the best-placed cell of each part aiming at 1: --peak), stage 6 (2000 steps like stage 5, each part's
  positives regressing the whole part's box, hidden and cut-off pixels included, instead of its visible box:
  --amodal-box, so the pieces of a part seen in pieces box alike and NMS merges them; the runtime's boxes are then
  whole-part boxes; on frames with twice as many parts lying on others as stages 4-5, --overlap-rate 0.4), all in
  bfloat16 autocast with channels-last tensors (--bf16) on 2 threads, and all weighing the score and box losses of
  parts whose box centre shows another part (a capsule under a washer's middle) 3 times (--hidden-weight 3);
  then stages 7, 8 and 9 (1200 steps each like stage 6 at lr 2e-4, on 330 fresh frames plus the frames that the
  weights so far count wrong among 3000 more drawn like them, those with at most 60 parts, decoded at the shipped
  operating point: --mine 3000 --mine-seed 4141, 4242, 4343; in the shipped run 370 of 1439, 274 of 1454 and 220 of
  1421 frames mined), so that training dwells on the stacks and parts in pieces the model still miscounts.
  The shipped weights are this recipe's own output: stages 1-8 run by `--recipe` at commit d33a615 and stage 9 with
  the same options from the command line (2026-12-04). Measured on that run (2 cores of an AMD EPYC with AVX-512
  BF16, otherwise idle): stages 1-8 took **35.4 min** end to end, frames and mining included (2.2 / 1.9 / 6.8 / 4.7
  / 3.9 / 6.3 / 4.8 / 4.7 min; 0.12 s per crop step, 0.17-0.18 s per whole-input step), stage 9 4.8 min; a second
  run of all nine stages end to end took 38.1 min (2.4 / 1.9 / 6.3 / 4.6 / 3.5 / 5.8 / 4.5 / 4.6 / 4.5). Earlier
  sessions' boxes of the same kind ran the same steps about twice as slowly (0.24 and 0.37 s; the eight stages
  about 73 min there): the time is the box's as much as the recipe's.
  Exact-count rate on fresh frames (`edgeseg scenes --count 1000 --objects 0-50 --seed S`, 11 sets): after stage 8
  94.9 %, after stage 9 95.3 % (10481 of 11000), the same as the weights shipped before, which had a stage more
  and were the best of several runs (10484); the second run 95.2 % (10469). docs/parts-inst-experiments.md has
  the figures.
  On a CPU without AVX-512 BF16 or AMX, bfloat16 is emulated: on an AVX2-only 2-core EPYC a stage-1 step took 4.95 s
  in bfloat16 against 0.47 in float32. `train` warns there; --fp32 overrides --bf16 in every stage.
- parts-seg: stage 1 (1500 steps), stage 2 (1100 steps, defect rate 0.8), stage 3 (600 steps, lr 7e-4),
  stage 4 (400 steps, lr 3.5e-4), in float32. The shipped weights were trained on 1 thread: 0.44 s per step,
  about 28 minutes for the four stages. Re-run by `--recipe` on 2 threads: 0.31-0.36 s per step, 21.9 min
  with the frames, held-out mIoU 0.916 (N 0-50) and 0.896 (N = 200); in bfloat16 (`--recipe --bf16`)
  11.6 min, 0.913 and 0.897. The shipped weights have 0.920 and 0.903: reruns land within about 0.007 of
  each other whatever the precision, and the shipped run is the best of the three, so it stays.
Where the speed came from (parts-inst, per step of stage-1 crops): float32 0.34 s on 2 threads (0.63 s on 1),
0.07 s of it in the loss, mostly building mask targets from full-size indicator maps (then one bincount, equal
to the old targets bit for bit; at 384×640 the loss went 0.22 → 0.13 s); bfloat16 with channels-last halves
forward and backward (0.26 → 0.13 s). Since 2026-12-03 the mask loss is computed only in a window around each
part's box (`reference_models.box_mask_bce`, the same values): in bfloat16, loss 0.088 → 0.036 s per 384×640
step and 0.058 → 0.032 s per crop step.
(--checkpoint also saves the final state dict, whose state_hash is the exported spec's source_hash.)
The instance model's decoding operating point is stored in the spec (decode_defaults), so the runtime uses it by
default: conf 0.4, class-agnostic NMS at IoU 0.3 in which boxes overlapping by IoU 0.3-0.65 suppress each other
only if their masks overlap by IoU > 0.5 too (boxes overlapping more suppress outright), then the claim test with
its rescue (claim share 0.2, rescue conf 0.03); --conf / --iou / --agnostic / --mask-iou / --sure-iou /
--claim-share / --rescue-conf change it.
How each stage, option and operating point was chosen, and the changes tried and not kept with the figures that
judged them, are in docs/parts-inst-experiments.md.

- parts-seg: `PartsSegNet`, input 736×1280 (a 1280×720 frame at scale 1), classes background / part /
  defect (scratch and spot merged: both are a few pixels per part), logits at stride 1.
- parts-inst: `PartsInstNet`, input 384×640 (a 1280×720 frame at scale 1/2), classes hex_nut / washer /
  capsule, 16 mask coefficients, split outputs boxes / scores / coefficients / protos.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch

from edgeseg.bench.scenes import CLASS_NAMES, SceneOptions, make_scene
from edgeseg.cli.commands import whole_number
from edgeseg.convert import reference_models as rm
from edgeseg.preprocess import preprocess
from edgeseg.convert.reference import INST_DECODE, INST_HW, NM, SEG_CLASSES, SEG_HW
from edgeseg.spec import DecodeDefaults, InputSpec

DEFAULT_RADIUS = rm.CENTRE_RADIUS
SEG_LUT = np.array([0, 1, 2, 2], np.uint8)  # scene semantic ids belt, part, scratch, spot → ours
# Frame sizes (W, H) and how often training draws them: mostly the 1280×720 line camera.
SIZES = ((1280, 720), (1600, 900), (800, 600), (720, 720))
SIZE_P = (0.75, 0.1, 0.08, 0.07)


def frame_options(seed: int, k: int, max_objects: int, defect_rate: float, overlap_rate: float = 0.15,
                  objects_power: float = 1.0, min_visible: float | None = None) -> tuple[SceneOptions, int]:
    """Scene options and seed of training frame k: part count max_objects · u^objects_power (u uniform in
    0..1; power 1 is uniform, 2 puts 45 % of frames at ≤ 20 % of the maximum); min_visible: the least share of a
    part that shows (None: the scenes' own floor, SceneOptions.min_visible_fraction)."""
    rng = np.random.default_rng([seed, k])
    size = SIZES[int(rng.choice(len(SIZES), p=SIZE_P))]
    # Power 1 keeps the integer draw of the first stages, so their recipes still make the same frames.
    objects = int(rng.integers(0, max_objects + 1)) if objects_power == 1.0 else \
        int(round(max_objects * rng.random() ** objects_power))
    opts = SceneOptions(size_wh=size, objects=objects, defect_rate=defect_rate, overlap_rate=overlap_rate,
                        **({} if min_visible is None else {"min_visible_fraction": min_visible}))
    return opts, int(rng.integers(2**62))


def letterbox_labels(labels: np.ndarray, t, fill: int = 0) -> np.ndarray:
    """(H, W) integer map of a frame → the model input grid, nearest neighbour, padding = `fill`."""
    ch, cw = t.content_hw
    ih, iw = t.input_hw
    out = cv2.resize(labels, (cw, ch), interpolation=cv2.INTER_NEAREST)
    px, py = t.pad_xy
    return cv2.copyMakeBorder(out, py, ih - ch - py, px, iw - cw - px, cv2.BORDER_CONSTANT, value=fill)


def instance_ids(truth) -> np.ndarray:
    """(H, W) int16 map: 0 none, i + 1 instance i (visible masks never overlap)."""
    ids = np.zeros(truth.semantic.shape, np.int16)
    for i, (crop, (x0, y0, x1, y1)) in enumerate(zip(truth.masks.crops, truth.masks.origins_xyxy)):
        ids[y0:y1, x0:x1][crop] = i + 1
    return ids


def _seg_frame(job: tuple):
    opts, s = frame_options(*job)
    scene = make_scene(opts, seed=s)
    x, t = preprocess(scene.image, InputSpec(name="images", size_hw=SEG_HW, normalization=None))
    return x[0], letterbox_labels(SEG_LUT[scene.truth.semantic], t)


def _inst_frame(job: tuple):
    opts, s = frame_options(*job)
    scene = make_scene(opts, seed=s)
    x, t = preprocess(scene.image, InputSpec(name="images", size_hw=INST_HW, normalization=None))
    ids = letterbox_labels(instance_ids(scene.truth), t)
    whole = t.to_model_xyxy(scene.truth.amodal_xyxy).astype(np.float32)  # row i: instance id i + 1
    return x[0], ids, np.concatenate([[0], scene.truth.class_id]).astype(np.int64), whole


def make_frames(kind: str, count: int, seed: int, most: int, defect_rate: float, workers: int,
                overlap_rate: float = 0.15, objects_power: float = 1.0, min_visible: float | None = None) -> list:
    jobs = [(seed, k, most, defect_rate, overlap_rate, objects_power, min_visible) for k in range(count)]
    fn = _seg_frame if kind == "parts-seg" else _inst_frame
    with Pool(workers) as pool:
        return pool.map(fn, jobs, chunksize=4)


def random_crop(rng: np.random.Generator, arrays: list[np.ndarray], crop_hw: tuple[int, int],
                boxes: np.ndarray | None = None) -> list[np.ndarray]:
    """The same random crop and flips of each array (..., H, W); with `boxes` (N, 4) xyxy in the arrays' pixels,
    those boxes carried into the crop's pixels as a last item (they may reach past it)."""
    h, w = arrays[0].shape[-2:]
    ch, cw = crop_hw
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    out = [a[..., y:y + ch, x:x + cw] for a in arrays]
    b = None if boxes is None else boxes - np.array([x, y, x, y], boxes.dtype)
    if rng.random() < 0.5:
        out = [a[..., ::-1] for a in out]
        b = None if b is None else np.stack([cw - b[:, 2], b[:, 1], cw - b[:, 0], b[:, 3]], 1)
    if rng.random() < 0.5:
        out = [a[..., ::-1, :] for a in out]
        b = None if b is None else np.stack([b[:, 0], ch - b[:, 3], b[:, 2], ch - b[:, 1]], 1)
    return [np.ascontiguousarray(a) for a in out] + ([] if b is None else [b])


_MINER = None  # the model a mining worker counts with


def _open_miner(path: str) -> None:
    global _MINER
    import edgeseg

    _MINER = edgeseg.load(path, threads=1)


def _miscounted(job: tuple) -> bool:
    """Does the mining model count training frame `job` wrong? Right is anywhere from the parts showing at least
    min_visible_fraction of themselves to all parts (`edgeseg eval`'s rule)."""
    from edgeseg.bench.metrics import count_errors

    opts, s = frame_options(*job)
    scene = make_scene(opts, seed=s)
    shown = scene.truth.visible_fraction
    sure = int(np.sum(shown >= opts.min_visible_fraction))
    return count_errors([len(_MINER(scene.image))], [sure], [len(shown)])["count_exact_rate"] == 0


def mine_frames(args: argparse.Namespace) -> list:
    """--mine: the training frames the --init weights count wrong, among --mine frames drawn like the stage's own
    (seed --mine-seed) that hold at most --mine-most parts, decoded at the command line's operating point."""
    import tempfile

    if args.model != "parts-inst" or args.init is None or args.mine_seed is None:
        raise SystemExit("--mine: parts-inst only, with --init (the weights that count) and --mine-seed")
    jobs = [(args.mine_seed, k, args.max_objects, args.defect_rate, args.overlap_rate, args.objects_power,
             args.min_visible) for k in range(args.mine)]
    jobs = [j for j in jobs if frame_options(*j)[0].objects <= args.mine_most]
    with tempfile.TemporaryDirectory() as tmp:
        path = export(load_weights(args.model, args.init), args.model, Path(tmp), decode_defaults(args))
        with Pool(args.workers, initializer=_open_miner, initargs=(str(path),)) as pool:
            wrong = pool.map(_miscounted, jobs, chunksize=8)
    picked = [j for j, w in zip(jobs, wrong) if w]
    print(f"mining: {args.init} counts {len(picked)} of {len(jobs)} frames with at most {args.mine_most} parts "
          "wrong; they join the training frames", flush=True)
    with Pool(args.workers) as pool:
        return pool.map(_inst_frame, picked, chunksize=4)


def train(args: argparse.Namespace) -> torch.nn.Module:
    t0 = time.perf_counter()
    mined = mine_frames(args) if args.mine else []  # before seeding: mining builds a model from the init weights
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    frames = mined + make_frames(args.model, args.frames, args.seed, args.max_objects, args.defect_rate,
                                 args.workers, args.overlap_rate, args.objects_power, args.min_visible)
    print(f"{len(frames)} training frames in {time.perf_counter() - t0:.0f} s", flush=True)
    seg = args.model == "parts-seg"
    model = rm.PartsSegNet(len(SEG_CLASSES)) if seg else rm.PartsInstNet(len(CLASS_NAMES), NM)
    if args.init:
        model.load_state_dict(torch.load(args.init))
        print(f"fine-tuning from {args.init}", flush=True)
    rm.CENTRE_RADIUS = args.radius if args.radius is not None else DEFAULT_RADIUS
    inst_loss = functools.partial(rm.instance_loss, iou_aware=args.iou_aware, peak=args.peak,
                                  hidden_weight=args.hidden_weight, hidden_mask_weight=args.hidden_mask_weight,
                                  mask_samples=args.mask_samples)
    print(f"{args.model}: {rm.param_count(model):,} parameters", flush=True)
    trained = freeze_all_but(model, args.train_only)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4)
    warm = args.warmup if args.warmup is not None else max(1, min(200, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    class_weight = torch.tensor([1.0, 1.0, args.defect_weight])
    gen = torch.Generator().manual_seed(args.seed)
    crop_hw = tuple(args.crop)
    t1 = time.perf_counter()
    model.eval()  # frozen modules keep their BatchNorm statistics
    for m in trained:
        m.train()
    if args.bf16:  # NHWC convolutions in bfloat16 (AVX-512 BF16 / AMX): about 2x faster steps here
        model = model.to(memory_format=torch.channels_last)
        if not native_bf16():
            print("warning: --bf16 on a CPU without AVX-512 BF16 or AMX: bfloat16 is emulated there (measured 10x "
                  "slower than float32 on an AVX2 CPU, 4.95 against 0.47 s per step); add --fp32", flush=True)
    whole = not seg and args.amodal_box  # carry each part's whole box through the crops
    for step in range(args.steps):
        idx = rng.integers(len(frames), size=args.batch)
        batch = [random_crop(rng, list(frames[int(i)][:2]), crop_hw, frames[int(i)][3] if whole else None)
                 for i in idx]
        x = torch.from_numpy(np.stack([b[0] for b in batch])).float() / 255
        if args.bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            out = model(x) if seg else model.raw(x)
        if seg:  # losses in float32 either way
            y = torch.from_numpy(np.stack([b[1] for b in batch])).long()
            loss, parts = rm.semantic_loss(out.float(), y, class_weight), {}
        else:
            ids = torch.from_numpy(np.stack([b[1] for b in batch]).astype(np.int64))
            classes = [torch.from_numpy(frames[int(i)][2]) for i in idx]
            loss, parts = inst_loss(tuple(o.float() for o in out), ids, classes, generator=gen,
                                    amodal=[torch.from_numpy(b[2]) for b in batch] if whole else None)
        opt.zero_grad(set_to_none=True)
        if loss.requires_grad:  # with --train-only, a batch without parts gives the trained modules no loss
            loss.backward()
            opt.step()
        sched.step()
        if step % 50 == 0 or step == args.steps - 1:
            el = time.perf_counter() - t1
            print(f"step {step:5d} loss {loss.item():.4f} {parts} {el / (step + 1):.2f} s/step, {el / 60:.1f} min",
                  flush=True)
        if args.checkpoint and (step + 1) % 250 == 0:
            torch.save(model.state_dict(), args.checkpoint)
    print(f"trained {args.steps} steps in {(time.perf_counter() - t1) / 60:.1f} min "
          f"(+{(t1 - t0) / 60:.1f} min making frames)", flush=True)
    return model.to(memory_format=torch.contiguous_format)


def native_bf16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX-512 BF16 or AMX)? True where torch cannot tell."""
    cpu = torch.cpu
    checks = [getattr(cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(c is None for c in checks):
        return True
    return any(c() for c in checks)


def freeze_all_but(model: torch.nn.Module, names: str | None) -> list[torch.nn.Module]:
    """`names`: comma-separated top-level modules to train (None: all). The others get requires_grad False;
    returns the modules to put in training mode."""
    if not names:
        return [model]
    wanted = set(names.split(","))
    children = dict(model.named_children())
    if unknown := wanted - set(children):
        raise SystemExit(f"--train-only: no module {sorted(unknown)} in {type(model).__name__} ({sorted(children)})")
    for n, p in model.named_parameters():
        p.requires_grad = n.split(".")[0] in wanted
    print(f"training only {sorted(wanted)}: {sum(p.numel() for p in model.parameters() if p.requires_grad):,} "
          f"parameters", flush=True)
    return [children[n] for n in sorted(wanted)]


def export(model: torch.nn.Module, name: str, out_dir: Path, decode: DecodeDefaults | None = None) -> Path:
    """One ONNX file with its spec embedded, through the same converter as any user model
    (`edgeseg.convert`); `decode`: the instance model's validated operating point (spec.decode_defaults)."""
    from edgeseg.convert.formats import export_onnx
    from edgeseg.convert.reference import build

    src = build(name).with_(module=model.eval())
    if decode is not None and name == "parts-inst":
        src = src.with_(decode_defaults=decode)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.onnx"
    export_onnx(src, path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return path


def decode_defaults(args: argparse.Namespace) -> DecodeDefaults:
    """The command line's instance decoding operating point, as the exported spec stores it."""
    return DecodeDefaults(conf=args.conf, iou=args.iou, class_agnostic=args.agnostic,
                          cross_class_mask_iou=args.cross_class_mask_iou, mask_iou=args.mask_iou,
                          sure_iou=args.sure_iou, sure_same_class=args.sure_same_class,
                          claim_share=args.claim_share, rescue_conf=args.rescue_conf)


def evaluate(args: argparse.Namespace, path: Path) -> None:
    """Held-out figures of the exported model, scored by `edgeseg eval`'s code on 1280×720 frames made here
    (seed --eval-seed): parts-seg on --eval-frames frames with N 0..250; parts-inst on --eval-frames with
    N 0..50, then --eval-crowded at N = 100 and as many at N = 200, decoded at the command line's operating point."""
    import edgeseg
    from edgeseg.bench.evaluate import SceneSet, evaluate as score, print_report
    from edgeseg.decode.options import InstanceOptions

    rng = np.random.default_rng(args.eval_seed)
    seg = args.model == "parts-seg"
    counts = [int(n) for n in rng.integers(0, 251 if seg else 51, size=args.eval_frames)]
    counts += [] if seg else [100] * args.eval_crowded + [200] * args.eval_crowded
    if not counts:
        print("no held-out check: --eval-frames and --eval-crowded are 0", flush=True)
        return
    frames = [(SceneOptions(objects=n), np.random.SeedSequence([args.eval_seed, k])) for k, n in enumerate(counts)]
    opts = None if seg else InstanceOptions(
        conf=args.conf, iou=args.iou, max_det=300, class_agnostic=args.agnostic,
        cross_class_mask_iou=args.cross_class_mask_iou, mask_iou=args.mask_iou, sure_iou=args.sure_iou,
        sure_same_class=args.sure_same_class, claim_share=args.claim_share, rescue_conf=args.rescue_conf)
    with edgeseg.load(path, threads=args.threads, instance=opts) as model:
        fig = score(model, SceneSet(frames))
    print_report(fig, f"{path} on held-out frames (seed {args.eval_seed})")


# The shipped models' recipes: each stage's options; every stage after the first fine-tunes the one before
# (--init) with a fresh cosine schedule on fresh frames. `--recipe` runs them all.
RECIPES = {
    "parts-inst": (  # every stage weighs the score and box losses of parts under another's middle 3x
        "--bf16 --hidden-weight 3",  # 1000 steps from scratch, 256×256 crops
        "--bf16 --seed 2 --frames 320 --steps 900 --lr 1.5e-3 --warmup 30 --iou-aware --radius 1.0 --hidden-weight 3",
        "--bf16 --seed 5 --frames 720 --steps 3200 --lr 1.5e-3 --warmup 50 --iou-aware --radius 1.0 "
        "--overlap-rate 0.3 --objects-power 2 --hidden-weight 3",  # more frames with few, overlapping parts
        "--bf16 --seed 6 --frames 600 --steps 1500 --batch 4 --crop 384 640 --lr 6e-4 --warmup 30 --iou-aware "
        "--peak --radius 1.0 --overlap-rate 0.2 --objects-power 2 --hidden-weight 3",  # whole 384×640 inputs
        "--bf16 --seed 7 --frames 500 --steps 1200 --batch 4 --crop 384 640 --lr 4e-4 --warmup 20 --iou-aware "
        "--peak --radius 1.0 --overlap-rate 0.2 --objects-power 2 --hidden-weight 3",
        "--bf16 --seed 9 --frames 600 --steps 2000 --batch 4 --crop 384 640 --lr 4e-4 --warmup 20 --iou-aware "
        "--peak --radius 1.0 --overlap-rate 0.4 --objects-power 2 --hidden-weight 3 --amodal-box",  # whole-part boxes
        # Three times: the frames the weights so far count wrong, mined among 3000 more, beside 330 fresh ones.
        *(f"--bf16 --seed {seed} --frames 330 --mine 3000 --mine-seed {mine_seed} --steps 1200 --batch 4 "
          "--crop 384 640 --lr 2e-4 --warmup 20 --iou-aware --peak --radius 1.0 --overlap-rate 0.4 --objects-power 2 "
          "--hidden-weight 3 --amodal-box" for seed, mine_seed in ((10, 4141), (11, 4242), (12, 4343))),
    ),
    "parts-seg": (  # float32, as the shipped weights were trained (21.9 min on 2 threads; --bf16: 11.6)
        "",  # 1500 steps from scratch, 192×256 crops
        "--seed 2 --frames 160 --steps 1100 --lr 1.5e-3 --warmup 30 --defect-rate 0.8",
        "--seed 3 --frames 160 --steps 600 --lr 7e-4 --warmup 20 --defect-rate 0.8",
        "--seed 4 --frames 160 --steps 400 --lr 3.5e-4 --warmup 20 --defect-rate 0.8",
    ),
}


def run_recipe(args: argparse.Namespace, parser: argparse.ArgumentParser) -> torch.nn.Module:
    """Every stage of RECIPES[args.model] in turn (with --bf16, every stage in bfloat16); each stage's weights
    go to --work (a stage whose weights are already there is skipped, so a stopped run resumes there)."""
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix=f"{args.model}-"))
    work.mkdir(parents=True, exist_ok=True)
    t0, prev = time.perf_counter(), None
    stages = RECIPES[args.model]
    for k, opts in enumerate(stages, start=1):
        weights = work / f"{args.model}-stage{k}.pt"
        if weights.exists():
            print(f"stage {k}/{len(stages)}: {weights} exists, skipped", flush=True)
        else:
            print(f"stage {k}/{len(stages)}: {opts}", flush=True)
            stage = finish_args(parser.parse_args([args.model, *opts.split(), "--threads", str(args.threads),
                                                   "--workers", str(args.workers),
                                                   *(["--bf16"] if args.bf16 else []),
                                                   *(["--fp32"] if args.fp32 else []),
                                                   *(["--init", str(prev)] if prev else [])]))
            model = train(stage)
            torch.save(model.state_dict(), weights.with_suffix(".part"))
            weights.with_suffix(".part").replace(weights)
        prev = weights
    print(f"{args.model}: {len(stages)} stages in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return load_weights(args.model, prev)


def load_weights(name: str, path: Path) -> torch.nn.Module:
    model = rm.PartsSegNet(len(SEG_CLASSES)) if name == "parts-seg" else rm.PartsInstNet(len(CLASS_NAMES), NM)
    model.load_state_dict(torch.load(path))
    return model


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that differ between the two models."""
    seg = args.model == "parts-seg"
    args.frames = args.frames or (240 if seg else 480)
    args.defect_rate = args.defect_rate if args.defect_rate is not None else (0.5 if seg else 0.15)
    args.steps = args.steps or (1500 if seg else 1000)
    args.crop = args.crop or ([192, 256] if seg else [256, 256])
    if args.fp32:
        args.bf16 = False
    return args


def _share_or_off(text: str) -> float | None:
    return None if text == "off" else float(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=["parts-seg", "parts-inst"])
    p.add_argument("--out", type=Path, default=Path("sdk/assets"), help="folder for <model>.onnx")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--frames", type=int, default=None, help="training frames (seg 240, inst 480)")
    p.add_argument("--max-objects", type=int, default=250)
    p.add_argument("--objects-power", type=float, default=1.0,
                   help="part count per frame = max-objects · u^power (1: uniform; 2: more frames with few parts)")
    p.add_argument("--overlap-rate", type=float, default=0.15, help="share of parts laid on top of another")
    p.add_argument("--min-visible", type=float, default=None,
                   help="least share of a part that shows in training frames (default: the scenes' 0.4)")
    p.add_argument("--defect-rate", type=float, default=None, help="share of parts with a defect (seg 0.5)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (seg 1500, inst 1000)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, nargs=2, default=None, help="training crop H W (seg 192 256, inst 256 256)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads")
    p.add_argument("--bf16", action="store_true",
                   help="train in bfloat16 autocast with channels-last tensors (about 2x faster on CPUs with BF16; "
                        "with --recipe, every stage)")
    p.add_argument("--fp32", action="store_true",
                   help="train in float32 even where --bf16 or a recipe stage asks for bfloat16: for CPUs without "
                        "AVX-512 BF16 or AMX, which emulate it (10x slower than float32 on an AVX2 CPU)")
    p.add_argument("--workers", type=int, default=2, help="processes making training frames")
    p.add_argument("--init", type=Path, default=None, help="start from this state dict (fine-tuning)")
    p.add_argument("--mine", type=int, default=0, metavar="K",
                   help="parts-inst fine-tuning: train also on the frames the --init weights count wrong (at the "
                        "command line's operating point) among K more drawn like the stage's own, seed --mine-seed")
    p.add_argument("--mine-seed", type=int, default=None, help="seed of the frames --mine draws")
    p.add_argument("--mine-most", type=int, default=60,
                   help="--mine counts only frames with at most this many parts (default 60)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default min(200, steps/10))")
    p.add_argument("--defect-weight", type=float, default=3.0, help="parts-seg cross-entropy weight of defect")
    p.add_argument("--radius", type=float, default=None,
                   help="parts-inst centre-sampling radius in cells (default reference_models.CENTRE_RADIUS 1.5)")
    p.add_argument("--iou-aware", action="store_true",
                   help="parts-inst: positives' score target = IoU of the predicted box with its part's box")
    p.add_argument("--peak", action="store_true",
                   help="parts-inst with --iou-aware: each part's best-placed cell aims at score 1")
    p.add_argument("--hidden-weight", type=float, default=1.0,
                   help="parts-inst: weight of the score and box losses of parts whose box centre shows another part")
    p.add_argument("--amodal-box", action="store_true",
                   help="parts-inst: positives regress the whole part's box (hidden and cut-off pixels included) "
                        "instead of its visible box, so the pieces of a part seen in pieces box alike and NMS "
                        "merges them; the runtime then reports whole-part boxes, masks stay visible pixels")
    p.add_argument("--hidden-mask-weight", type=float, default=1.0,
                   help="parts-inst: weight of the mask loss of parts whose box centre shows another part (their "
                        "positives always in the sampled subset)")
    p.add_argument("--mask-samples", type=int, default=64,
                   help="parts-inst: positives per image whose masks the loss trains (a random subset)")
    p.add_argument("--train-only", default=None, metavar="MODULES",
                   help="comma-separated top-level modules to train, the rest frozen (e.g. the mask path "
                        "p2,r3,proto,coef_out of parts-inst)")
    p.add_argument("--checkpoint", type=Path, default=None, help="save the state dict here every 250 steps")
    p.add_argument("--from-checkpoint", action="store_true", help="export --checkpoint instead of training")
    p.add_argument("--eval-only", action="store_true", help="only evaluate <out>/<model>.onnx")
    p.add_argument("--eval-seed", type=int, default=9999)
    p.add_argument("--eval-frames", type=whole_number, default=100, help="held-out frames (parts-inst: with N 0..50)")
    p.add_argument("--eval-crowded", type=whole_number, default=20,
                   help="parts-inst: held-out frames at N = 100, and as many at N = 200")
    p.add_argument("--conf", type=float, default=INST_DECODE.conf)
    p.add_argument("--iou", type=float, default=INST_DECODE.iou)
    p.add_argument("--agnostic", action=argparse.BooleanOptionalAction, default=True,
                   help="class-agnostic NMS in the evaluation (neighbouring cells may disagree on the class)")
    p.add_argument("--cross-class-mask-iou", type=float, default=INST_DECODE.cross_class_mask_iou, metavar="M",
                   help="with --agnostic: boxes of two classes suppress only if their masks overlap above M too")
    p.add_argument("--mask-iou", type=float, default=INST_DECODE.mask_iou, metavar="M",
                   help="boxes of any classes suppress only if their masks overlap above M too")
    p.add_argument("--sure-iou", type=float, default=INST_DECODE.sure_iou, metavar="S",
                   help="with a mask test: boxes overlapping above S suppress whatever their masks")
    p.add_argument("--sure-same-class", action=argparse.BooleanOptionalAction, default=INST_DECODE.sure_same_class,
                   help="with --sure-iou: only boxes of one class suppress outright")
    p.add_argument("--claim-share", type=_share_or_off, default=INST_DECODE.claim_share, metavar="F|off",
                   help="keep a detection only if at least F of its mask is pixels no better one took")
    p.add_argument("--rescue-conf", type=_share_or_off, default=INST_DECODE.rescue_conf, metavar="C|off",
                   help="with --claim-share: candidates scoring C up to --conf count too if they pass the claim test")
    p.add_argument("--recipe", action="store_true",
                   help="run every stage of the shipped model's recipe (RECIPES), then export and evaluate")
    p.add_argument("--work", type=Path, default=None, help="--recipe: folder for each stage's weights (resumable)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = finish_args(p.parse_args(argv))
    torch.set_num_threads(args.threads)
    path = args.out / f"{args.model}.onnx"
    if not args.eval_only:
        if args.recipe:
            model = run_recipe(args, p)
            if args.checkpoint:
                torch.save(model.state_dict(), args.checkpoint)
        elif args.from_checkpoint:
            model = load_weights(args.model, args.checkpoint)
        else:
            model = train(args)
            if args.checkpoint:
                torch.save(model.state_dict(), args.checkpoint)
        path = export(model, args.model, args.out, decode_defaults(args))
    evaluate(args, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
