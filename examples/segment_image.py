"""Segment one image with a shipped model and print what was found.

    python examples/segment_image.py belt.png
"""

import sys

import cv2

import edgeseg

frame = cv2.imread(sys.argv[1]) if len(sys.argv) > 1 else None
if frame is None:
    from edgeseg.bench.scenes import SceneOptions, make_scene

    frame = make_scene(SceneOptions(objects=40), seed=3).image  # no image given: a synthetic belt

with edgeseg.load("parts-inst", threads=2) as seg:
    result = seg(frame)

print(f"{len(result)} parts: {result.counts()}")
print(f"largest part: {result.areas.max(initial=0)} px; timings: {result.timings.to_dict()}")
cv2.imwrite("parts-overlay.png", result.overlay(frame))
