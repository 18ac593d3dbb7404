"""Train, export and check edgeseg's two reference models on synthetic factory-line scenes (CPU only).

    python examples/train_reference_models.py parts-inst --recipe --out sdk/assets \
        --checkpoint converters/weights/parts-inst.pt     # the shipped instance model, 44 min
    python examples/train_reference_models.py parts-seg --recipe --out sdk/assets \
        --checkpoint converters/weights/parts-seg.pt      # the shipped semantic model
    python examples/train_reference_models.py parts-inst --eval-only --out sdk/assets   # held-out figures

The recipe is the argparse defaults below plus each stage's options in RECIPES, seeded end to end: training
frames come from edgeseg.bench.scenes (seed 1, part counts 0..250, mostly 1280×720), held-out frames from
seed 9999. Each model trains on random crops of the letterboxed input (flips as the only augmentation) with
AdamW and a cosine schedule, then is exported to one ONNX file (opset 17) with its spec embedded.

The shipped models are trained in stages (RECIPES; `--recipe` runs them all, keeping each stage's weights in
--work so a stopped run resumes): stage 1 is the defaults from scratch; each later stage fine-tunes the
previous state dict with a fresh cosine schedule on fresh frames (seeds 2 to 8).
- parts-inst: stage 1 (1000 steps), stage 2 (900 steps, IoU-aware score target, radius 1 cell), stage 3
  (3200 steps, more frames with few and overlapping parts), stages 4 and 5 (whole 384×640 frames instead of
  crops, the best-placed cell of each part aiming at 1: --peak), stage 6 (1200 steps like stage 5, but only the
  mask path trains: --train-only p2,r3,proto,coef_out, 52 k of the 1.9 M parameters; boxes and scores stay as
  stage 5 left them), all in bfloat16 autocast with channels-last
  tensors (--bf16) on 2 threads, and all weighing the score and box losses of parts whose box centre shows
  another part (a capsule under a washer's middle) 3 times (--hidden-weight 3). Measured here (2 cores with
  AVX-512 BF16): 0.21-0.25 s per step in stages 1-3, 0.34-0.39 in stages 4-5, 38.7 min for the five stages
  with their frames (other work ran beside stages 1 and 3; on an idle box the same stages without the
  weighting took 34.7); stage 6: 0.24 s per step, 5.3 min with its frames.
  On a CPU without AVX-512 BF16 or AMX, bfloat16 is emulated: on an AVX2-only 2-core EPYC a stage-1 step took 4.95 s
  in bfloat16 against 0.47 in float32. `train` warns there; --fp32 overrides --bf16 in every stage.
- parts-seg: stage 1 (1500 steps), stage 2 (1100 steps, defect rate 0.8), stage 3 (600 steps, lr 7e-4),
  stage 4 (400 steps, lr 3.5e-4), in float32. The shipped weights were trained on 1 thread: 0.44 s per step,
  about 28 minutes for the four stages. Re-run by `--recipe` on 2 threads: 0.31-0.36 s per step, 21.9 min
  with the frames, held-out mIoU 0.916 (N 0-50) and 0.896 (N = 200); in bfloat16 (`--recipe --bf16`)
  11.6 min, 0.913 and 0.897. The shipped weights have 0.920 and 0.903: reruns land within about 0.007 of
  each other whatever the precision, and the shipped run is the best of the three, so it stays.
Where the speed came from (parts-inst, per step of stage-1 crops): float32 0.34 s on 2 threads (0.63 s on 1),
0.07 s of it in the loss, mostly building mask targets from full-size indicator maps (now one bincount,
`cell_shares`, equal to the old targets bit for bit; at 384×640 the loss went 0.22 → 0.13 s); bfloat16 with
channels-last halves forward and backward (0.26 → 0.13 s).
The shipped parts-inst against the one shipped before it (the same five stages without --hidden-weight), each at
its own operating point (conf 0.4 and 0.3, both with the cross-class mask test at IoU 0.5): on the held-out
sets of `edgeseg eval` (100 frames N 0-50, 50 at N = 100, 50 at N = 200) exact count 0.87 / 0.56 / 0.24
against 0.84 / 0.52 / 0.20, count MAE 0.14 / 0.56 / 1.48 against 0.16 / 0.62 / 1.48, mask AP50
0.980 / 0.973 / 0.949 against 0.980 / 0.972 / 0.946, mask AP50-95
0.873 / 0.815 / 0.708 against 0.883 / 0.817 / 0.715; on the 200 validation frames 0.91 against 0.885, and a
mean relative count error of 0.50 % / 0.68 % against 0.60 % / 0.88 % on the 30 validation frames at N = 100 /
200. Judged after stage 3 alone the weighting looked no better (validation 0.85-0.895 against 0.865-0.885,
held-out 0.76-0.80 against 0.80); the gain shows after stages 4 and 5. Stages 4 and 5 re-run from the same
stage 3 with other seeds (16 and 17) count exactly on 0.895 of the validation frames and 0.84 of the held-out
ones (the --eval-only check above: 85 %): the shipped run is the better of two, and on held-out frames the
gain over the unweighted model is within the spread between runs; on validation both runs are ahead
(0.91 and 0.895 against 0.885). A heavier weight, 6 in stages 4 and 5 from the same stage 3,
counts worse: 0.905 on validation (its best conf, 0.4), 0.83 on the held-out frames (0.85 at conf 0.45).
Before those, parts-inst came from the same five stages in float32 on 1 thread (stage 5 on 2; 0.62-0.63 s per
step, 1 h 45 min). Against it the unweighted bfloat16 model had the same held-out mask AP (0.980 / 0.882 at
N ≤ 50, 0.972 / 0.815 at N = 100, 0.946 / 0.714 at N = 200) and counted a little worse at N ≤ 50: exact on
0.82 of the held-out frames against 0.86, 0.865 of the validation frames against 0.89 (each at its own
operating point with box NMS; with the cross-class mask test below, 0.82 became 0.84). A sixth bfloat16
stage (seed 8, 1200 steps) did not close that gap (0.865 on validation). Is the gap bfloat16's or the spread
between runs? For parts-seg the spread between reruns is as large as the difference bfloat16 makes. For
parts-inst, stages 1-3 re-run in float32 on 2 threads (33.9 min for those three alone, 0.37-0.44 s per step)
count exactly on 0.885 of the validation frames with box NMS and 0.89 with the cross-class mask test,
against 0.865 and 0.885 for the unweighted bfloat16 stages 1-3 and five stages alike: bfloat16 may cost a
point or two, about the spread between runs; at N = 100 and 200 that float32 model counts no better (mean
relative error 0.77 % and 0.75 % on 30 validation frames each, the unweighted bfloat16 one 0.60 % and 0.88 %).

(--checkpoint also saves the final state dict, whose state_hash is the exported spec's source_hash.)
The instance model's decoding operating point is stored in the spec (decode_defaults), so the runtime uses it by
default: conf 0.4 and mask-gated class-agnostic NMS (--conf/--iou/--agnostic/--mask-iou/--sure-iou): boxes
overlapping by IoU 0.3-0.65 suppress each other only if their masks overlap by IoU > 0.5 too, boxes overlapping
more suppress outright. The confidence was picked on 200 validation frames (seeds 4242 and 4343, N ≤ 50) under
the previous rule (conf 0.3 / 0.35 / 0.4 / 0.45: 0.885 / 0.90 / 0.91 / 0.88 exact) and re-checked under this one
(0.35 / 0.4 / 0.45: 0.905 / 0.915 / 0.895 on validation, 0.873 / 0.893 / 0.883 on the 300 fitting frames below,
0.90 held-out at all three). The suppression rule came from 300 frames of their own (`edgeseg scenes --count 300
--objects 0-50 --seed 5151`): a decision tree fitted to their overlapping candidate pairs at conf 0.4 (box
IoU > 0.3; features box and mask IoU, the share of each mask inside the other, same class, both scores, size
ratios, centre distance; target "the lower one duplicates the same true part or none") split at depth 2 on box
IoU 0.63 and mask IoU 0.43 alone (deeper trees, used as the pair test themselves, did no better: 0.88-0.915 on
validation, 0.88-0.90 held-out), and a sweep of that form (low box IoU 0.3 / 0.4 / 0.5, sure box IoU 0.6-0.75 or
none, mask IoU 0.3-0.5, same class always suppressing or not) on the same frames picked 0.3 / 0.65 / 0.5,
class-blind (tied there with 0.3 / 0.7 / 0.5 and 0.5 / 0.65 / 0.5): exact 0.893 there against 0.880 for the rule
before it (box NMS at IoU 0.5 with only two classes' pairs gated by masks at 0.5, --cross-class-mask-iou), 0.915
against 0.91 on validation, 0.90 against 0.87 on the held-out frames of `edgeseg eval`; count errors at
N = 100 / 200 0.58 % / 0.72 % against 0.56 % / 0.74 % held-out. The figures below up to the 3/4-resolution run
are the unweighted model's, at its operating point (conf 0.3, IoU 0.5, cross-class mask test).
The cross-class mask test (cross-class mask IoU
0.3 / 0.5 / 0.7) counts exactly on 0.88 / 0.885 / 0.88 of the validation frames against 0.865 with box NMS
alone, and finds no extra duplicates there: a second, wrongly classed detection of one part covers its
pixels, while a capsule in a nut's hole or across a washer does not cover the part under it. Applied to all
pairs, not only to two classes', the same test adds duplicates (0.85 at 0.5): duplicates with ragged masks,
which the sure box IoU of the rule now shipped (0.65) suppresses. Box NMS alone has a ceiling
here: 16 of those 200 frames hold two parts whose visible boxes overlap by IoU > 0.5 (4 by > 0.6, 1 by
> 0.7), so even perfect predictions would lose a part in 8 % of them.
Since then the decoder also applies a claim test and a rescue (decode_defaults claim_share 0.2, rescue_conf 0.03;
--claim-share / --rescue-conf): after NMS the masks are laid down best score first, a detection keeps its place only
if at least 20 % of its mask is pixels no better kept detection took (a second detection of one part adds few), and
candidates scoring 0.03-0.4 go through NMS too and count only where they pass that test and the free pixels they
take are at least 20 % of the median mask of the detections scoring 0.4 or more (a part hidden under others,
which the model scores low, shows pixels nothing else explains; the misses above had such candidates at 0.13-0.38).
Picked on the 500 frames of validation and NMS fitting (confident share 0-0.3, rescue threshold 0.03-0.15, the
rescue's shares of its own and of the median mask 0-0.6, conf 0.4 / 0.45), the shares tied at 0.2-0.3 and the
lowest rescue threshold was best: exact counts 0.93 / 0.97 on the validation seeds and 0.94 on the fitting
frames against 0.89 / 0.94 / 0.893, then on the held-out frames of `edgeseg eval` 0.92 against 0.90 (mask AP50
0.983 against 0.980) and mean relative count errors at N = 100 / 200 of 0.42 % / 0.66 % against 0.58 % / 0.72 %.
The claim test alone is no better than NMS alone (0.92 / 0.92 / 0.897, held-out 0.88): the gain is the rescue, which
needs it to keep duplicates out. Relaxing NMS under both (sure IoU off or 0.8, mask IoU 0.6) did no better (0.93-0.936). It costs decode time: at N = 200, 6.5 → 8.3 ms for the claim test and
11.7 ms with the rescue (more candidates through NMS); at N ≤ 50 about 1 ms. Re-judged under it, the earlier
fine-tunes keep their order (seed rerun of stages 4-5 0.918, --hidden-weight 6 0.936, extra positives for hidden
parts 0.856, their mask loss weighted 3x 0.906, the per-class head 0.922-0.946; the shipped model 0.944, each the
weighted mean of the two validation seeds and three times the fitting frames). What it leaves (17 parts lost and
8 frames over-counted on those 500 frames): parts whose own candidate (box IoU >= 0.5) survives NMS but whose mask
lies mostly on the part on top, so the claim test drops it (10), or whose mask overlaps that part's so that NMS
suppresses it (6): the masks of hidden parts, not their scores, are now the limit.
Hence stage 6, which fine-tunes only the mask path (p2, r3, proto, coef_out: 52 k parameters; the other modules
frozen with their BatchNorm statistics, so boxes and scores are stage 5's to the bit). 1200 steps on 500 fresh frames
(seed 8): held-out mask AP50-95 0.8745 → 0.8816 (N ≤ 50), 0.815 → 0.818 (N = 100), 0.709 → 0.710 (N = 200); exact
counts 0.92 → 0.93 held-out, 0.93 / 0.97 / 0.94 → 0.93 / 0.98 / 0.947 on the tuning frames; count errors at N = 100 /
200 0.42 % / 0.66 % → 0.40 % / 0.69 %; INT8 exact 0.93. A second run (800 frames, seed 9, 3000 steps) landed at
AP50-95 0.8821 and 0.93 held-out (0.91 / 0.98 / 0.937 on the tuning frames), so more steps add nothing; weighting
the hidden parts' mask loss 3x (--hidden-mask-weight 3, their positives always sampled) landed at 0.93 held-out and
0.93 / 0.96 / 0.933 on the tuning frames, no better; nor did 32 prototypes instead of 16 (widened from stage 6 without
changing its function, the new coefficients starting at zero, then the mask path trained 1200 more steps on other
frames): AP50-95 0.8807, 0.93 held-out, 0.94 / 0.98 / 0.933. The mask path is saturated. After it, 15 parts are lost on the 500 tuning frames (9 dropped
by the claim test, 5 by NMS, 1 with no candidate) and 6 frames over-counted.
Measured on 2000 fresh frames (`edgeseg scenes --count 1000 --objects 0-50`, seeds 20261202 and 20261203, each
measured with the shipped model before any other use) the shipped model counts exactly on 0.912 and 0.921 of them
(0.917, interval 0.904-0.928): the 100 held-out frames (0.93) and the tuning frames (0.950) were optimistic. Tried
against those 1500 frames of seed 20261202 and tuning (0.950 / 0.912 for the shipped model), none kept: sure_iou
for pairs of one class only, leaving two classes to the mask test (0.956 / 0.917, then 0.916 against 0.921 on seed
20261203: noise); with that rule on (0.930 over the 1500 frames), conf, iou, mask_iou, sure_iou, claim share and
rescue threshold one at a time: none better by more than 0.002 (conf 0.45: 0.931), several worse (claim share 0.3:
0.914); pixels claimed by the larger mask logit instead of the better score (margins 0-5: 0.882-0.952 on the tuning
frames); an ellipse prior inscribed in each box added to the mask logits, its weight learnt with the mask path
(0.936, the NMS mask test left without it); a Dice term beside the mask BCE in stage 6 (0.944 / 0.915);
the whole model fine-tuned 1200 steps with parts seen in pieces weighted like hidden ones (0.946; held-out 0.89).
Of that seed's 88 wrong frames, 32 are over-counted, nearly all by a capsule found twice (33 of 37 extras): one
seen in two pieces found once per piece (22), or a two-tone capsule split at its colour seam (11).
A CondInst-style dynamic mask head in place of the prototypes, on stage 5 with everything but the mask path frozen:
mask features from p2 (ConvBN 48→32, 1×1 → 8), a 1×1 controller on the box branch giving each cell 185 parameters
of a per-detection network [8 features, dx/32, dy/32 and dx, dy over the half box, offsets from its predicted box
centre] → 8 → 8 → 1 with ReLUs, trained like stage 6 (1200 steps, lr 1e-3, p2 and r3 too; 0.53 s per step, 10.6
min; the mask loss ended about 8 % below stage 6's on the same batches) and decoded through the same NMS and claim
test: 0.944 on the tuning frames and 0.918 on seed 20261202 (39 under-counted frames against 56, 43 over-counted
against 32), 0.925 there with claim share 0.25 or mask IoU 0.4 (the shipped head with the same changes: 0.915 /
0.914). Better masks for hidden parts recover some of them, but the detector finds capsules twice more often: about
a point, where 3-4 are missing, for a new output layout and decoder; not built. Nor did horizontal-flip test-time
augmentation help (both passes' candidates through the same decoder, their prototypes stacked): 0.90 on validation
seed 4242 (0.93 with claim share 0.3) against 0.93 with one pass, for twice the inference.
Nor, on seed 20261202 (0.912: 32 frames over-counted, 56 under), did the score branch alone (cls_branch, cls_out: 74 k
parameters; boxes and masks stay the shipped ones) fine-tuned 1200 steps like stage 5 (seed 9, float32) with the cells
on a part that are none of its positives weighted 3 times in the score loss, as hard negatives against a capsule's
pieces firing on their own: 0.911 (26 over, 63 under; conf 0.3 / 0.35 0.911, claim share 0.15 0.914). Nor did
decoding the shipped weights exported at 544×960 instead of 384×640: 0.185, 805 frames over-counted (parts at N <= 50
then look larger than any the model trained on). A depth 2-4 decision tree on the kept pairs of those frames (box
and mask IoU, each mask's share inside the other's box and mask, scores, sizes, mask elongation and axis angle)
marks 28-30 of their 33 duplicate pairs but also 35-52 pairs of two true parts, in-sample (on the 500 tuning frames
7-9 of 12 against 27-38): no pair rule after the claim test removes the capsules found twice. Nor could the mask path
make those duplicates' masks whole, so that NMS and the claim test would drop them: stage 6 re-run from the shipped
weights (seed 10, float32, 0.47 s per step, 9.4 min) with every cell on a part that is no part's positive also learning
that part's mask (SOLO-style: any cell on a part predicts all of it) counts exactly on 0.912 of seed 20261202 again
(32 over, 56 under; 29 frames changed, as many fixed as broken), and its capsules found twice stay (34 pairs against 33).
Nor do centre votes tell them apart (a feasibility test, not built): a head on the frozen p2 features (ConvBN 48→32,
32→32, 1×1 → 2; 1200 steps, 0.3 s each, on 500 frames with N <= 60, seed 11) trained so that every prototype cell on a
part points at the centre of that part's box; a detection's vote is the median of its mask pixels' pointed-at places.
On seed 20261202's kept pairs the votes of a duplicate pair lie closer than the box centres do (median 0.26 of the box
size against 0.48), but pairs of two true parts reach as close: below 0.1, 7 of the 33 duplicate pairs and 20 true ones.
Nor does a learned pair verifier (a feasibility test, not built): a CNN of 173 k parameters on a 48×48 crop around two
candidates' boxes (grown by a quarter), with the image, both boxes and both masks as channels and both scores, classes,
their box IoU and size ratio beside them, answering "the lower-scored one adds no part"; trained 8 epochs (13 min,
float32) on 64 k pairs of candidates (score >= 0.05, after box NMS at IoU 0.8, pairs overlapping by IoU > 0.15) from
3000 fresh frames (seeds 31 and 32, N 0-60), labelled by the true part each candidate's box matches at IoU >= 0.3. It
answers 0.88 of held-out pairs rightly. Decoding with it in place of NMS and the claim test (best score first, a
candidate kept unless a kept one it overlaps is judged the same part; below conf, where it overlaps a kept one, only if
judged new, and alone only if it scores 0.2 or more) counts exactly on 0.918 of seed 20261202 at its best setting,
picked on those frames (the shipped rules 0.912); after the shipped rules instead, dropping the lower of two kept
detections it judges one part counts 0.917 (judging above 0.8 it marks 10 of the 62 overlapping kept pairs that share
one part, and 5 pairs of two parts); deciding in place of the mask test the pairs of NMS's middle zone (box IoU
0.3-0.65, both scores >= 0.1), or beside it, 0.901 against 0.894 on frames 300-999 of that seed. With every pair
answered rightly the same candidates would count exactly on 0.961-0.969 (by how pairs are labelled and lone low-scored
candidates treated). The confident candidates are often not good enough: at conf 0.4, 0.947 of those frames have for
every part a candidate of some class boxing it at IoU >= 0.5 (0.887 of the right class; 0.98 at IoU >= 0.3).
Nor does decoding the shipped weights exported at a smaller input help: on the first 300 frames of seed 20261202 (0.953
exact at 384×640), 288×512 0.927, 320×576 0.937, 352×576 0.947 (mask AP50-95 0.884-0.895 against 0.886).
Nor a larger one (same frames): 416×704 0.910, 416×736 0.880, 448×768 0.840; the trained scale is the best.
Nor test-time tricks on those 300 frames (0.953 shipped): horizontal-flip averaging inside the graph, per cell
(score probabilities and box distances averaged, the two passes' prototypes stacked with coefficients halved,
so each mask is the mean of both mask logits): mask AP50-95 0.886 → 0.899 but count exact 0.940 (conf 0.3 / 0.35 /
0.45, rescue kept: 0.937 / 0.937 / 0.943); averaging the score maps of the shipped model and its score-branch
fine-tune above: 0.950 (that fine-tune alone 0.947); a second pass over the frame with the first pass's parts painted out (their
masks dilated by 2 px) recovers almost nothing: painted pad grey (114), 1 new detection in the 300 frames matches a
part the first pass missed, and no frame is fixed; painted the belt's median colour, the blobs themselves are found
as parts (76-143 false ones). Of the 17 parts missed (mask IoU < 0.5) in the 10 under-counted frames, 4 keep more
than half of their pixels unpainted and are still not found; the others are mostly covered by
the first pass's masks (a poor mask of their own or a neighbour's).
Nor a capsule shape prior after the shipped rules (capsules are 2.2-2.8 times as long as wide, so two capsule
detections whose masks lie in one strip at most 1.1-1.3 times as wide as the more elongated one and 2.8-3.3 widths
long would be one capsule): on seed 20261202 it marks 7-16 of the 25 capsules found twice near each other and
48-195 pairs of two capsules (such as two touching end to end at a small angle, or one lying along another).
Task-aligned assignment (TAL, as in TOOD and YOLOv8) in place of centre sampling, as a seventh stage from the shipped
weights (like stage 5: seed 12, 500 frames, 1200 steps, lr 4e-4, --hidden-weight 3, float32, 1.3 s per step, 26 min).
A part's positives are the 6 cells inside its box with the largest s^0.5 · IoU^6 (its class score, its predicted box
against the part's), a cell wanted by two parts going to the one its box fits best; the score target is that product
over the part's largest, times the part's best IoU, its best cell aiming at 1 as with --peak; each positive's box
loss is weighted by 0.5 + its target. Exact 0.921 / 0.925 on seeds 20261202 / 20261203 (shipped 0.912 / 0.921), mask
AP50-95 0.881 / 0.880. The same stage with the shipped assignment (the control): 0.908 / 0.922. TAL again with seed 13:
0.914 / 0.923. Over the 2000 frames: TAL 0.923 and 0.9185, the control 0.915, the shipped model 0.9165; half a point
to a point, about the spread between runs, and far from 95 %: not shipped. A third TAL run (seed 14) reads 0.913 /
0.909: the three runs span 0.911-0.923. Nor does averaging help (2026-12-02, same frames): the weights of that run
kept as an exponential moving average (decay 0.998, ramped over the first 100 steps) 0.912 / 0.908; the mean of its
weights at steps 600, 900 and 1200 0.914 / 0.911; the mean of the weights of the TAL runs 12 and 13 (a model soup)
0.922 / 0.920; of those two and the control 0.927 / 0.926 (then on two fresh seeds, 20261204 / 20261205, 0.924 / 0.911
against 0.919 / 0.907 for the shipped model); of those three and TAL seed 14 0.918 / 0.920. Which runs go into the
mean moves it as much as the mean gains, and three more runs would take the recipe well past an hour: not shipped.

Tried on top of stage 5 of the previous float32 model and not kept (exact count on 200 validation frames with
N ≤ 50, seeds 4242 and 4343; that model 0.89, noise ±0.02): a sixth stage with N ≤ 120 (0.89), N ≤ 60 and overlap 0.35
(0.89), 2000 fresh frames (0.90); positives within a quarter of the box size of its centre, not 1 cell
(0.85 at its best operating point: more off-centre duplicates); a quality-focal score loss, power 1 or 2
(0.83 / 0.86); a second prediction slot per cell, for parts sharing a centre (0.905; 0.92 with mask-IoU
NMS, where the shipped model gets 0.91); averaging the weights of the sixth stages (0.89-0.90); decoding
variants (conf 0.25-0.45, NMS IoU 0.5-0.7, separate cross-class NMS IoU, mask-IoU NMS, dropping parts
mostly covered by better ones) 0.87-0.91.
Where the misses are (same frames): a part whose visible-box centre lies on another part's pixels (a capsule
across a washer's middle, a capsule in a nut's hole) is 4 % of the parts (219 of 5282) and 30 of the 54 missed
at mask IoU 0.5 (14 % missed, against 0.5 % of the others). 31 of the 54 have a candidate of their class with
the right box (IoU > 0.5) scoring ≥ 0.7, but only 13 have one with the right mask (IoU ≥ 0.5): the model boxes
and classes them but cannot mask them, so suppression cannot tell them from duplicates (NMS that suppresses
only where masks overlap too, checked against a slow reference: 0.885; only for cross-class pairs: 0.90).
Assigning such parts to cells on their own visible pixels (the own pixel nearest the box centre, or at least
half as deep as the deepest, and no positives on cells showing another part) as a sixth stage of 1500 / 2000
steps: 0.74 / 0.66, the miss rate of those parts rising to 30 % / 48 % (the fine-tune does not learn it).
More capacity, widened from the shipped weights without changing their function (new channels feed zero
weights) and fine-tuned like stage 5 (seed 8, 1500 steps): head branches 64 → 128 channels (2.2 M
parameters, inference 30 → 41 ms) 0.90-0.905; backbone stride 16 / 32 and neck wider (c4 192, c5 224, p4 160:
2.8 M parameters) 0.87-0.88. A plain sixth stage gets 0.89-0.90, so the plateau is not the head's or the
backbone's width.
Its 22 miscounted validation frames, part by part (matched by box IoU ≥ 0.3): 18 parts not found, 8 found
twice or spurious. 12 of the 18 lie under the middle of another part, and 11 of those have a candidate with
the right box scoring 0.82-0.92, suppressed by the detection of the part on top, whose box overlaps theirs by
IoU 0.46-0.84 (half of them the same class, so class-aware NMS cannot help: it finds 3 more parts and adds 13
duplicates); the other 6 score below 0.35. And duplicates overlap their part's kept box by IoU 0.6-0.8 often
enough that NMS IoU 0.7 finds 4 more parts but adds 19 duplicates. Nor does box nesting tell them apart:
keeping a box that lies inside a kept one and is clearly smaller (area ratio below 0.6 / 0.7 / 0.8) gives,
on the unweighted bf16 model at its operating point, 0.865 / 0.86 / 0.805 against 0.865 (duplicates nest too).
Retrained from scratch by the whole recipe with one change each, and judged after stage 3 (where the unweighted
recipe already counts as at its end: 0.865 with box NMS, 0.885 with the cross-class mask test): parts whose box
centre another part covers assigned around their own visible pixels (the idea of the fine-tune above) 0.70,
those parts missed 36 % of the time against 16 %; two prediction slots per cell (slot s predicts the s-th
nearest part) 0.855-0.865; a mask loss weighted 1 + 4 × the share of each prototype cell showing another
part 0.855-0.86 (the masks of hidden parts leave out the part on top better, 2 % of its pixels against 8 %,
but cover less of their own part, recall 0.77 against 0.86).
A one-to-one head (as in YOLOv10: a second head, starting as a copy of the first and trained beside it, one
positive cell per part, the one inside its box whose prediction fits best by score^0.5 · IoU^6, so that the
decoder would need no box suppression that also drops a part under another), 1500 steps from that model:
0.875 at best (conf 0.08, NMS IoU 0.5), 0.665 at NMS IoU 0.9 and 0.16-0.42 without NMS. Its scores do not learn
one sharp peak per part in a fine-tune; from scratch it would need far longer training than this budget.
Input resolution is not the limit either: stages 1-3 trained from scratch at 544×960 (the frame at scale 3/4,
same crops, 0.22-0.23 s per step, 21 min) count exactly on 0.84 of the validation frames (0.845 at its best
operating point) against 0.885 for stage 3 at 384×640, and on 0.80 of the held-out frames (mask AP50 0.970,
AP 0.833), with inference at 69 ms instead of 34.
Nor can decoding alone reach 95 % with the unweighted model's candidates. An oracle that suppresses a box only when it
and a kept box (IoU > 0.3) are matched to the same true part counts exactly on 0.955-0.96 of the validation
frames (conf 0.1-0.15) but only 0.91 of the held-out ones, where 5 of 100 frames still lack a part at conf 0.05:
beyond that, the gap is parts that no candidate finds. A learned version of that test
(an 8-channel identity embedding on that model's frozen head features, trained 1200 steps with a
pull/push loss on the cells within 2 cells of each part's centre; boxes suppress only if their embeddings lie
closer than 1.5-1.9) gets 0.90 on validation and 0.83-0.85 held-out, against 0.865 and 0.82 for box NMS alone
in the same simulation: no better than the cross-class mask test (0.84 held-out).
With the shipped (weighted) model the same oracle reaches 0.89-0.92 held-out (conf 0.05-0.3), the decoder 0.87
(cross-class mask test) and 0.90 (mask-gated NMS, above).
Three more changes to stages 4 and 5 of the weighted recipe, each from its stage 3 and judged like the seed
rerun above (the first two with the cross-class mask test, the third with the mask-gated NMS now shipped):
giving each part under another's middle up to 4 more positives on the unclaimed cells that show the part itself,
nearest its box centre, while it keeps its centre cells (so the cells that see a hidden washer's ring also
predict it, with its own class): 0.865 on validation at its best conf (0.45), 0.80 held-out, more duplicates; a
sharper IoU-aware score target (IoU cubed for all but each part's best-placed cell, so that looser duplicates
score lower and NMS could keep more overlapping boxes): 0.875 on validation (conf 0.3-0.4; NMS IoU 0.6 / 0.7:
0.87 / 0.83), 0.81 held-out, count error 1.23 % at N = 200 in the script's own evaluation; the mask loss of
those parts weighted 3 times too, like their score and box losses: 0.85 on validation (conf 0.4), 0.77 held-out, and
over-counting in crowds (2.62 % at N = 200 in the script's own evaluation, found 201-210).
With the mask-gated NMS the misses are nearly all parts that no candidate scores 0.4 for, so stages 4 and 5 with
more overlapping parts (overlap rate 0.35 instead of 0.2) were tried for recall: 0.89 on validation (conf 0.4),
0.88 held-out, against 0.915 and 0.90.
Parts whose box centres share cells with a part of another class (a capsule in a nut's hole) compete for those
cells' one box and mask prediction, so a per-class head was tried: every cell predicts a box and coefficients for
each class, each class's parts are assigned among themselves (so two classes may share a cell), and the graph lists
nc candidates per cell with one-hot scores (the same output layout, 3x the candidates). Stages 4 and 5 from the
shipped stage 3, its box and coefficient outputs copied per class: 0.925 on validation (0.89 / 0.96 on seeds
4242 / 4343), 0.89 held-out, 0.87 in the script's own evaluation (the shipped model: 0.915, 0.90, 0.85). The same
with parts seen in two or more pieces (`edgeseg eval --errors`'s `in_pieces`: a capsule seen through a nut's
hole and beside it) weighted 3 times like those under another's middle: 0.905, 0.88, 0.84; the miss rate (mask
IoU 0.5) of those showing less than 60 % of themselves stayed at 20-27 % per class in both runs. The whole recipe
from scratch with the per-class head (43.6 min): 0.905, 0.85, 0.88, mask AP50-95 0.865 held-out against 0.874.
Not kept: all within the spread of reruns, and the exact-count rate of 100 frames is itself uncertain by about
±6 points (`edgeseg eval` prints its 95 % interval: 0.826-0.945 for 90 of 100).

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
                  objects_power: float = 1.0) -> tuple[SceneOptions, int]:
    """Scene options and seed of training frame k: part count max_objects · u^objects_power (u uniform in
    0..1; power 1 is uniform, 2 puts 45 % of frames at ≤ 20 % of the maximum)."""
    rng = np.random.default_rng([seed, k])
    size = SIZES[int(rng.choice(len(SIZES), p=SIZE_P))]
    # Power 1 keeps the integer draw of the first stages, so their recipes still make the same frames.
    objects = int(rng.integers(0, max_objects + 1)) if objects_power == 1.0 else \
        int(round(max_objects * rng.random() ** objects_power))
    opts = SceneOptions(size_wh=size, objects=objects, defect_rate=defect_rate, overlap_rate=overlap_rate)
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
    return x[0], ids, np.concatenate([[0], scene.truth.class_id]).astype(np.int64)


def make_frames(kind: str, count: int, seed: int, most: int, defect_rate: float, workers: int,
                overlap_rate: float = 0.15, objects_power: float = 1.0) -> list:
    jobs = [(seed, k, most, defect_rate, overlap_rate, objects_power) for k in range(count)]
    fn = _seg_frame if kind == "parts-seg" else _inst_frame
    with Pool(workers) as pool:
        return pool.map(fn, jobs, chunksize=4)


def random_crop(rng: np.random.Generator, arrays: list[np.ndarray], crop_hw: tuple[int, int]) -> list[np.ndarray]:
    """The same random crop and flips of each array (..., H, W)."""
    h, w = arrays[0].shape[-2:]
    y = int(rng.integers(0, h - crop_hw[0] + 1))
    x = int(rng.integers(0, w - crop_hw[1] + 1))
    out = [a[..., y:y + crop_hw[0], x:x + crop_hw[1]] for a in arrays]
    if rng.random() < 0.5:
        out = [a[..., ::-1] for a in out]
    if rng.random() < 0.5:
        out = [a[..., ::-1, :] for a in out]
    return [np.ascontiguousarray(a) for a in out]


def train(args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    frames = make_frames(args.model, args.frames, args.seed, args.max_objects, args.defect_rate, args.workers,
                         args.overlap_rate, args.objects_power)
    print(f"{len(frames)} training frames in {time.perf_counter() - t0:.0f} s", flush=True)
    seg = args.model == "parts-seg"
    model = rm.PartsSegNet(len(SEG_CLASSES)) if seg else rm.PartsInstNet(len(CLASS_NAMES), NM)
    if args.init:
        model.load_state_dict(torch.load(args.init))
        print(f"fine-tuning from {args.init}", flush=True)
    rm.CENTRE_RADIUS = args.radius if args.radius is not None else DEFAULT_RADIUS
    inst_loss = functools.partial(rm.instance_loss, iou_aware=args.iou_aware, peak=args.peak,
                                  hidden_weight=args.hidden_weight, hidden_mask_weight=args.hidden_mask_weight)
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
    for step in range(args.steps):
        idx = rng.integers(len(frames), size=args.batch)
        batch = [random_crop(rng, list(frames[int(i)][:2]), crop_hw) for i in idx]
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
            loss, parts = inst_loss(tuple(o.float() for o in out), ids, classes, generator=gen)
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


def held_out(args: argparse.Namespace, counts: list[int]):
    """Held-out 1280×720 frames (seed `args.eval_seed`), default scene options, one per entry of `counts`."""
    for k, n in enumerate(counts):
        yield make_scene(SceneOptions(objects=n), seed=np.random.SeedSequence([args.eval_seed, k]))


def evaluate_seg(args: argparse.Namespace, path: Path) -> None:
    import edgeseg

    rng = np.random.default_rng(args.eval_seed)
    counts = [int(n) for n in rng.integers(0, 251, size=args.eval_frames)]
    conf = np.zeros((len(SEG_CLASSES),) * 2, np.int64)
    ms = []
    with edgeseg.load(path, threads=args.threads) as model:
        for scene in held_out(args, counts):
            res = model(scene.image)
            ms.append(res.timings.to_dict())
            truth = SEG_LUT[scene.truth.semantic].astype(np.int64)
            conf += np.bincount(truth.ravel() * len(SEG_CLASSES) + res.class_map.ravel(),
                                minlength=len(SEG_CLASSES) ** 2).reshape(conf.shape)
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf))
    print(f"{args.eval_frames} held-out 1280x720 frames, N 0..250: "
          + ", ".join(f"IoU {c} {v:.4f}" for c, v in zip(SEG_CLASSES, iou)) + f"; mIoU {iou.mean():.4f}")
    _print_timings(ms)


def _print_timings(ms: list[dict]) -> None:
    keys = ms[0].keys()
    print("median ms per 1280x720 frame (onnxruntime, %d threads): " % torch.get_num_threads()
          + ", ".join(f"{k} {np.median([m[k] for m in ms]):.1f}" for k in keys))


def evaluate_inst(args: argparse.Namespace, path: Path) -> None:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    import edgeseg
    from edgeseg.decode.options import InstanceOptions

    rng = np.random.default_rng(args.eval_seed)
    few = [int(n) for n in rng.integers(0, 51, size=args.eval_frames)]
    counts = few + [100] * 20 + [200] * 20
    opts = InstanceOptions(conf=args.conf, iou=args.iou, max_det=300, class_agnostic=args.agnostic,
                           cross_class_mask_iou=args.cross_class_mask_iou, mask_iou=args.mask_iou,
                           sure_iou=args.sure_iou, claim_share=args.claim_share, rescue_conf=args.rescue_conf)
    images, gts, dets, found, ms = [], [], [], [], {}
    with edgeseg.load(path, threads=args.threads, instance=opts) as model:
        for k, (n, scene) in enumerate(zip(counts, held_out(args, counts))):
            res = model(scene.image)
            ms.setdefault(n if n >= 100 else 50, []).append(res.timings.to_dict())
            found.append(len(res))
            h, w = scene.truth.semantic.shape
            images.append({"id": k, "height": h, "width": w})
            m = scene.truth.masks
            for i in range(len(m)):
                x0, y0, x1, y1 = (float(v) for v in scene.truth.xyxy[i])
                gts.append({"id": len(gts) + 1, "image_id": k, "category_id": int(scene.truth.class_id[i]),
                            "segmentation": m.rle(i), "area": float(m.areas[i]), "iscrowd": 0,
                            "bbox": [x0, y0, x1 - x0, y1 - y0]})
            dets.extend(res.to_coco(k))
    counts_a, found_a = np.array(counts), np.array(found)
    small = counts_a <= 50
    print(f"count exactly right on {np.mean(found_a[small] == counts_a[small]):.1%} of {small.sum()} frames "
          f"with N <= 50 (mean |error| {np.mean(np.abs(found_a[small] - counts_a[small])):.2f})")
    for n in (100, 200):
        sel = counts_a == n
        print(f"N = {n}: mean absolute count error {np.mean(np.abs(found_a[sel] - n)) / n:.2%} "
              f"(found {found_a[sel].min()}..{found_a[sel].max()} over {sel.sum()} frames)")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": gts,
                        "categories": [{"id": i, "name": c} for i, c in enumerate(CLASS_NAMES)]}
        coco.createIndex()
        from pycocotools import mask as mask_util

        for d in dets:  # uncompressed RLE → compressed, as loadRes expects for masks
            d["segmentation"] = mask_util.frPyObjects(d["segmentation"], *d["segmentation"]["size"])
        for g in gts:
            g["segmentation"] = mask_util.frPyObjects(g["segmentation"], *g["segmentation"]["size"])
        res_coco = coco.loadRes(dets) if dets else COCO()
        stats = {}
        for iou_type in ("segm", "bbox"):
            ev = COCOeval(coco, res_coco, iou_type)
            ev.params.maxDets = [10, 100, 300]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats[iou_type] = ev.stats
    print(f"{len(counts)} held-out 1280x720 frames (N 0..50 x{len(few)}, 100 x20, 200 x20), conf {args.conf}, "
          f"iou {args.iou}, agnostic NMS {args.agnostic}, cross-class mask IoU {args.cross_class_mask_iou}, "
          f"mask IoU {args.mask_iou}, sure IoU {args.sure_iou}, claim share {args.claim_share}, "
          f"rescue conf {args.rescue_conf}: "
          f"mask mAP50 {stats['segm'][1]:.4f}, mask mAP50-95 {stats['segm'][0]:.4f}, box mAP50 {stats['bbox'][1]:.4f}")
    for n, rows in sorted(ms.items()):
        print(f"N {'<= 50' if n == 50 else n}: ", end="")
        _print_timings(rows)


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
        "--bf16 --seed 8 --frames 500 --steps 1200 --batch 4 --crop 384 640 --lr 5e-4 --warmup 30 --iou-aware "
        "--peak --radius 1.0 --overlap-rate 0.2 --objects-power 2 --hidden-weight 3 "
        "--train-only p2,r3,proto,coef_out",  # the mask path alone: boxes and scores stay as stage 5 left them
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
    p.add_argument("--hidden-mask-weight", type=float, default=1.0,
                   help="parts-inst: weight of the mask loss of parts whose box centre shows another part (their "
                        "positives always in the sampled subset)")
    p.add_argument("--train-only", default=None, metavar="MODULES",
                   help="comma-separated top-level modules to train, the rest frozen (e.g. the mask path "
                        "p2,r3,proto,coef_out of parts-inst)")
    p.add_argument("--checkpoint", type=Path, default=None, help="save the state dict here every 250 steps")
    p.add_argument("--from-checkpoint", action="store_true", help="export --checkpoint instead of training")
    p.add_argument("--eval-only", action="store_true", help="only evaluate <out>/<model>.onnx")
    p.add_argument("--eval-seed", type=int, default=9999)
    p.add_argument("--eval-frames", type=int, default=100)
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
    seg = args.model == "parts-seg"
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
        path = export(model, args.model, args.out,
                      DecodeDefaults(conf=args.conf, iou=args.iou, class_agnostic=args.agnostic,
                                     cross_class_mask_iou=args.cross_class_mask_iou, mask_iou=args.mask_iou,
                                     sure_iou=args.sure_iou, claim_share=args.claim_share,
                                     rescue_conf=args.rescue_conf))
    (evaluate_seg if seg else evaluate_inst)(args, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
