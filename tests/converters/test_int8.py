"""Calibration frames: which files of a folder are frames."""

import numpy as np
import pytest

from edgeseg.bench.scenes import SceneOptions, make_scene, write_dataset
from edgeseg.convert.int8 import calibration_frames
from edgeseg.errors import InputError


def test_a_scenes_data_set_gives_its_images_not_its_label_maps(tmp_path):
    scenes = [make_scene(SceneOptions(size_wh=(160, 96), objects=3), seed=s) for s in (1, 2, 3)]
    write_dataset(tmp_path, scenes)
    frames = calibration_frames(tmp_path, warn=False)
    # labels/ holds one single-channel map per frame: read as frames they would double the set and, sorted
    # last, become the held-out frames of the parity report.
    assert len(frames) == 3
    for frame, scene in zip(frames, scenes):
        np.testing.assert_array_equal(frame, scene.image)


def test_a_plain_folder_is_read_whole_and_an_empty_one_refused(tmp_path):
    write_dataset(tmp_path / "set", [make_scene(SceneOptions(size_wh=(160, 96), objects=2), seed=4)])
    assert len(calibration_frames(tmp_path / "set" / "images", warn=False)) == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        calibration_frames(tmp_path / "empty")
