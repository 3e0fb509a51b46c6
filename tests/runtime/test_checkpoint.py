"""Checkpoint files: exact round trip, atomic replacement, and refusal of bad or unsafe files."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from netc.errors import DataError
from netc.runtime import checkpoint
from netc.runtime.checkpoint import Checkpoint, check_writable, load_checkpoint, save_checkpoint

HASH = "abc123def4567890"


def _checkpoint(seed: int = 0) -> Checkpoint:
    rng = np.random.default_rng(seed)
    params = {
        "3.affine.W": rng.standard_normal((3, 2)).astype(np.float32),
        "0.affine.W": rng.standard_normal((4, 3)),
        "0.affine.b": np.zeros(3, dtype=np.float32),
        "10.conv.W": rng.standard_normal((2, 1, 3, 3)),
    }
    buffers = {"3.batchnorm.running_mean": rng.standard_normal(2), "mask": np.array([True, False])}
    optimizer = {"m/0.affine.W": np.full((4, 3), 0.5), "step": np.array(7, dtype=np.int64)}
    meta = {
        "epoch": 3,
        "spec_hash": HASH,
        "rng_state": np.random.default_rng(5).bit_generator.state,
        "history": [{"epoch": 1, "loss": 2.5, "acc": None}, {"epoch": 2, "loss": float("nan")}],
        "optimizer": {"name": "adam", "hyper": {"lr": 0.001}},
        "dtype": "float32",
        "version": "0.1.0",
        "note": "ünïcødé ≠ ascii",
    }
    return Checkpoint(params, buffers, optimizer, meta)


def _assert_arrays_identical(actual: dict, expected: dict) -> None:
    assert list(actual) == list(expected)
    for key, array in expected.items():
        assert actual[key].dtype == array.dtype, key
        assert actual[key].shape == array.shape, key
        assert actual[key].tobytes() == array.tobytes(), key


def test_checkpoint_round_trip_is_exact(tmp_path):
    path = tmp_path / "run.ckpt"
    original = _checkpoint()
    save_checkpoint(path, original)
    assert os.listdir(tmp_path) == ["run.ckpt"]  # exactly that name: no ".npz" added
    loaded = load_checkpoint(str(path), spec_hash=HASH)
    _assert_arrays_identical(loaded.params, original.params)
    _assert_arrays_identical(loaded.buffers, original.buffers)
    _assert_arrays_identical(loaded.optimizer, original.optimizer)
    assert list(loaded.params) == ["3.affine.W", "0.affine.W", "0.affine.b", "10.conv.W"]
    assert loaded.meta["history"][1]["loss"] != loaded.meta["history"][1]["loss"]  # NaN survives
    loaded.meta["history"][1]["loss"] = original.meta["history"][1]["loss"] = 0.0
    assert loaded.meta == original.meta


def test_checkpoint_rng_state_continues_identically(tmp_path):
    rng = np.random.default_rng(5)
    rng.standard_normal(17)
    save_checkpoint(tmp_path / "c.npz", Checkpoint({}, meta={"rng_state": rng.bit_generator.state}))
    expected = rng.standard_normal(5)
    restored = np.random.default_rng()
    restored.bit_generator.state = load_checkpoint(tmp_path / "c.npz").meta["rng_state"]
    np.testing.assert_array_equal(restored.standard_normal(5), expected)


def test_checkpoint_empty_sections_round_trip(tmp_path):
    save_checkpoint(tmp_path / "c", Checkpoint({}))
    loaded = load_checkpoint(tmp_path / "c")
    assert (loaded.params, loaded.buffers, loaded.optimizer, loaded.meta) == ({}, {}, {}, {})


def test_save_checkpoint_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, _checkpoint(0))
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    with pytest.raises(DataError, match=r"run\.ckpt: cannot write checkpoint: No space left"):
        save_checkpoint(path, _checkpoint(1))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]


def test_save_checkpoint_interrupt_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "run.ckpt", _checkpoint())
    assert os.listdir(tmp_path) == []


def test_save_checkpoint_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"nope[/\\]run\.ckpt: cannot write checkpoint"):
        save_checkpoint(tmp_path / "nope" / "run.ckpt", _checkpoint())


def test_save_checkpoint_onto_directory(tmp_path):
    (tmp_path / "run.ckpt").mkdir()
    with pytest.raises(DataError, match="cannot write checkpoint"):
        save_checkpoint(tmp_path / "run.ckpt", _checkpoint())
    assert os.listdir(tmp_path) == ["run.ckpt"]


def test_save_checkpoint_rejects_unserialisable_meta(tmp_path):
    with pytest.raises(DataError, match="meta is not JSON"):
        save_checkpoint(tmp_path / "c", Checkpoint({}, meta={"when": object()}))
    assert os.listdir(tmp_path) == []


def test_load_checkpoint_truncated(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, _checkpoint())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"run\.ckpt: not a netc checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_corrupt_member(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, Checkpoint({"w": np.arange(1000.0)}))
    data = bytearray(path.read_bytes())
    data[200:400] = b"\xff" * 200  # inside the array's bytes: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"run\.ckpt: corrupt checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: not a netc checkpoint"):
        load_checkpoint(path)


def test_load_checkpoint_refuses_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array("{}"), **{"param/w": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(DataError, match=r"evil\.npz: refusing to load pickled data"):
        load_checkpoint(path)


def test_load_checkpoint_missing_meta(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, **{"param/w": np.zeros(2)})
    with pytest.raises(DataError, match=r"plain\.npz: not a netc checkpoint \(no 'meta' entry\)"):
        load_checkpoint(path)


def test_load_checkpoint_bad_meta_json(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, meta=np.array("{not json"))
    with pytest.raises(DataError, match="'meta' is not valid JSON"):
        load_checkpoint(path)
    np.savez(path, meta=np.array("[1, 2]"))
    with pytest.raises(DataError, match="'meta' is not a JSON object"):
        load_checkpoint(path)
    np.savez(path, meta=np.zeros(3))
    with pytest.raises(DataError, match="'meta' is not a JSON string"):
        load_checkpoint(path)


def test_load_checkpoint_unexpected_entry(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, meta=np.array("{}"), weights=np.zeros(2))
    with pytest.raises(DataError, match="unexpected entry 'weights'"):
        load_checkpoint(path)


def test_load_checkpoint_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match=r"gone\.ckpt: no such checkpoint file"):
        load_checkpoint(tmp_path / "gone.ckpt")
    with pytest.raises(DataError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_load_checkpoint_spec_hash_mismatch(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, _checkpoint())
    with pytest.raises(DataError) as info:
        load_checkpoint(path, spec_hash="def4567890abcdef")
    assert str(info.value) == (
        f"{path}: checkpoint was written for a different spec "
        "(hash abc123def456… ≠ def4567890ab…); "
        "resume with the spec it came from, or start without --resume"
    )
    assert load_checkpoint(path).meta["spec_hash"] == HASH  # no hash asked, no check


def test_load_checkpoint_spec_hash_missing_in_file(tmp_path):
    save_checkpoint(tmp_path / "c", Checkpoint({}))
    with pytest.raises(DataError, match=r"hash \(none\) ≠ abc"):
        load_checkpoint(tmp_path / "c", spec_hash="abc")


def test_check_writable_accepts_writable_folder(tmp_path):
    check_writable(tmp_path / "run.ckpt")
    assert os.listdir(tmp_path) == []


def test_check_writable_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        check_writable(tmp_path / "nope" / "run.ckpt")


def test_check_writable_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        check_writable(tmp_path / "file" / "run.ckpt")


def test_check_writable_target_is_directory(tmp_path):
    (tmp_path / "run.ckpt").mkdir()
    with pytest.raises(DataError, match="it is a directory"):
        check_writable(tmp_path / "run.ckpt")


def test_check_writable_permission_denied_simulated(tmp_path, monkeypatch):
    # Runs even as root: the read-only case as the OS would report it.
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(DataError, match=r"run\.ckpt: cannot write checkpoint.*Permission denied"):
        check_writable(tmp_path / "run.ckpt")
    with pytest.raises(DataError, match=r"run\.ckpt: cannot write checkpoint: Permission denied"):
        save_checkpoint(tmp_path / "run.ckpt", _checkpoint())
