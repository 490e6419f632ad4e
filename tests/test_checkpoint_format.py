# tests/test_checkpoint_format.py: the checkpoint file format (minigan/utils/checkpoint.py):
# bit-exact round trips of every supported value type, minigan.save/load of module and
# optimizer state, a malicious pickle refused by every loader (library and example scripts,
# nothing executed), every flipped bit and every truncation refused with the file named,
# and a minigan generator's weights loading into the equivalent PyTorch module (oracle).
"""Tests of the safetensors + JSON checkpoint format and of its loaders."""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from helpers import assert_close, load_example, tolerance

import minigan
from minigan import optim
from minigan.models import MLPGenerator
from minigan.training import read_checkpoint
from minigan.utils import (
    CheckpointError,
    CheckpointTypeError,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)
from minigan.utils.checkpoint import _content_hash

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PICKLE_MESSAGE = "this looks like a pickle; minigan never unpickles files"


def assert_identical(a, b, where="state"):
    """Same structure, same Python/NumPy types, bit-identical arrays and floats."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape}"
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), where
    elif isinstance(a, float):
        assert a.hex() == b.hex() or (math.isnan(a) and math.isnan(b)), f"{where}: {a} {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def every_value_type() -> dict:
    rng = np.random.default_rng(0)
    return {
        "arrays": {
            "float32": rng.standard_normal((3, 4)).astype(np.float32),
            "float64": rng.standard_normal(5),
            "float16": rng.standard_normal(3).astype(np.float16),
            "int64": rng.integers(-(2**62), 2**62, size=4),
            "int8": np.array([-128, 0, 127], np.int8),
            "uint64": np.array([0, 2**64 - 1], np.uint64),
            "bool": np.array([True, False, True]),
            "uint8": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
            "complex64": np.array([1 + 2j, -0.5j], np.complex64),
            "zero_d": np.array(7, np.int64),
            "zero_d_float": np.array(-0.0, np.float32),
            "empty": np.zeros((0, 3), np.float32),
            "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
            "strided": np.arange(12.0).reshape(3, 4)[:, ::2],  # non-contiguous view
            "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
            "big_endian": np.arange(3, dtype=">f4"),
        },
        "scalars": [np.float32(0.1), np.float64(2.5), np.int64(-3), np.uint8(200), np.bool_(True)],
        "ints": [0, -1, 2**53 - 1, 2**53, -(2**53), 2**64 + 1, -(2**200), 10**30],
        "floats": [0.1, -0.0, 1e-310, 1.7976931348623157e308, math.nan, math.inf, -math.inf],
        "misc": [None, True, False, "", 'héllo / ~ \n "quoted"', "\U0001f600"],
        "tuple": (1, (2.0, [3, (None,)]), "x"),
        "list": [[], (), {}, [[]]],
        "rng": np.random.default_rng(12345).bit_generator.state,  # 128-bit ints
        "keys": {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, "~1": np.full(1, 2.0), "": 3},
        "betas": (0.5, 0.999),
    }


# ----- round trips -------------------------------------------------------------------------


def test_round_trip_of_every_supported_value_type(tmp_path):
    state = every_value_type()
    path = save(state, tmp_path / "all.safetensors")
    loaded = load(path)
    expected = every_value_type()
    expected["arrays"]["big_endian"] = expected["arrays"]["big_endian"].astype("<f4")
    assert_identical(loaded, expected)
    assert loaded["arrays"]["strided"].flags.c_contiguous
    assert np.float64(loaded["floats"][1]).tobytes() == np.float64(-0.0).tobytes()
    # the same through the checkpoint API
    save_checkpoint(state, tmp_path / "ckpt.safetensors")
    assert_identical(load_checkpoint(tmp_path / "ckpt.safetensors"), expected)


def test_minigan_save_load_is_the_public_api(tmp_path):
    assert minigan.save is save and minigan.load is load
    assert minigan.CheckpointError is CheckpointError
    for obj in ([1, (2, np.ones(2))], np.arange(3), "just a string", 5, None):
        assert_identical(minigan.load(minigan.save(obj, tmp_path / "x.safetensors")), obj)


def test_tensors_are_named_by_their_path(tmp_path):
    G = MLPGenerator(latent_dim=8, hidden=(16,), out_dim=4)
    path = minigan.save(G.state_dict(), tmp_path / "g.safetensors")
    plain = safetensors.numpy.load_file(path)
    assert list(plain) != [] and set(plain) == set(G.state_dict())  # net.0.weight, ...
    nested = minigan.save({"G": G.state_dict(), "x": [np.ones(1)]}, tmp_path / "n.safetensors")
    names = set(safetensors.numpy.load_file(nested))
    assert "G/net.0.weight" in names and "x/0" in names
    escaped = minigan.save({"a/b": {"~": np.ones(1)}}, tmp_path / "e.safetensors")
    assert set(safetensors.numpy.load_file(escaped)) == {"a~1b/~0"}


def _trained_adam(params, steps=2):
    opt = optim.Adam(params, lr=0.01, betas=(0.8, 0.95), weight_decay=0.01)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        for p in params:
            p.grad = minigan.tensor(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
    return opt


def test_module_and_optimizer_state_dicts_round_trip(tmp_path):
    G = MLPGenerator(latent_dim=8, hidden=(16, 32), out_dim=12)
    opt = _trained_adam(list(G.parameters()))
    path = minigan.save(G.state_dict(), tmp_path / "g.safetensors")
    opt_path = minigan.save(opt.state_dict(), tmp_path / "opt.safetensors")
    assert_identical(minigan.load(path), G.state_dict())
    assert_identical(minigan.load(opt_path), opt.state_dict())

    G2 = MLPGenerator(latent_dim=8, hidden=(16, 32), out_dim=12)
    G2.load_state_dict(minigan.load(path))
    opt2 = optim.Adam(list(G2.parameters()))
    opt2.load_state_dict(minigan.load(opt_path))
    assert opt2.lr == opt.lr and opt2.betas == opt.betas == (0.8, 0.95)
    # one more identical step on both: bit-identical parameters (an exact resume)
    for a, b in zip(G.parameters(), G2.parameters(), strict=True):
        g = np.random.default_rng(a.size).standard_normal(a.shape).astype(np.float32)
        a.grad, b.grad = minigan.tensor(g), minigan.tensor(g.copy())
    opt.step()
    opt2.step()
    for a, b in zip(G.parameters(), G2.parameters(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


# ----- what cannot be saved ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown, what",
    [
        ({"opt": {"m": [np.ones(1), object()]}}, "state['opt']['m'][1]", "builtins.object"),
        ({"s": {1, 2}}, "state['s']", "builtins.set"),
        ({"b": b"bytes"}, "state['b']", "builtins.bytes"),
        ({"w": np.ones(2, np.complex128)}, "state['w']", "complex128"),
        ({"w": np.array(["a"])}, "state['w']", "<U1"),
        ({"w": np.array([None], dtype=object)}, "state['w']", "object"),
        ({"d": {3: np.ones(1)}}, "state['d']", "dict keys must be str"),
        ({"t": minigan.ones(2)}, "state['t']", "t.numpy()"),
        ({"__metadata__": np.ones(1)}, "state['__metadata__']", "reserved"),
    ],
)
def test_unsupported_values_are_refused_naming_the_key_path(tmp_path, value, shown, what):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(CheckpointTypeError) as info:
        minigan.save(value, path)
    message = str(info.value)
    assert str(path) in message and shown in message and what in message
    assert isinstance(info.value, TypeError) and isinstance(info.value, CheckpointError)
    assert os.listdir(tmp_path) == []  # nothing written, no temp file left


def test_a_state_that_contains_itself_is_refused(tmp_path):
    loop: list = [1]
    loop.append({"again": loop})
    shown = r"state\['x'\]\[1\]\['again'\]: it contains itself"
    with pytest.raises(CheckpointTypeError, match=shown):
        save_checkpoint({"x": loop}, tmp_path / "loop.safetensors")


# ----- malicious and foreign files -----------------------------------------------------------


class _Payload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious_pickle(path: Path, marker: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    """A file that runs code when unpickled: a checkpoint-like dict around the payload."""
    payload = {"format": "minigan-checkpoint", "config": {"kind": "gan"}, "x": _Payload(marker)}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_the_malicious_pickle_is_live(tmp_path, protocol):
    """The control: unpickling the crafted file does run its code (so the tests below
    would see it if a loader unpickled)."""
    control = tmp_path / "control-marker"
    data = malicious_pickle(tmp_path / "evil.pkl", control, protocol).read_bytes()
    pickle.loads(data)  # noqa: S301 - deliberately, to prove the payload works
    assert control.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name", ["checkpoint.pkl", "checkpoint.safetensors"])
def test_library_loaders_refuse_a_malicious_pickle(tmp_path, capsys, protocol, name):
    marker = tmp_path / "marker"
    evil = malicious_pickle(tmp_path / name, marker, protocol)
    for loader in (load_checkpoint, minigan.load, load):
        with pytest.raises(CheckpointError, match=PICKLE_MESSAGE) as info:
            loader(evil)
        assert str(evil) in str(info.value)
    with pytest.raises(SystemExit) as exc:
        read_checkpoint(evil, "gan")  # what the example scripts call
    assert exc.value.code == 2
    assert PICKLE_MESSAGE in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate.py", "--n", "8", "--checkpoint"],
        ["mnist_gan.py", "--device", "cpu", "--no-progress", "--resume"],
        ["mnist_gan.py", "--device", "cpu", "--sample", "4", "--resume"],
        ["mnist_vae.py", "--device", "cpu", "--no-progress", "--resume"],
        ["mnist_vae.py", "--device", "cpu", "--sample", "4", "--resume"],
    ],
    ids=["evaluate", "gan-resume", "gan-sample", "vae-resume", "vae-sample"],
)
def test_example_scripts_refuse_a_malicious_pickle(tmp_path, argv):
    marker = tmp_path / "marker"
    evil = malicious_pickle(tmp_path / "checkpoint.pkl", marker)
    script, *args = argv
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLES)])}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args, str(evil)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0, proc.stdout
    assert PICKLE_MESSAGE in proc.stderr and str(evil) in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pkl"]  # nothing written


def _zip_bytes() -> bytes:
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    return buf.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x00\x01", "only 2 bytes"),
        (b"hello, this is a text file\n", "not a safetensors file"),
        (json.dumps({"epoch": 3}).encode(), "not a safetensors file"),
        (_zip_bytes(), "zip archive"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", ".npy"),
        (safetensors.numpy.save({"w": np.ones(2)}), "not a minigan checkpoint"),
        (safetensors.numpy.save({}, metadata={"format": "other"}), "not a minigan checkpoint"),
    ],
    ids=["empty", "tiny", "text", "json", "zip", "npy", "plain-safetensors", "other-format"],
)
def test_foreign_files_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(content)
    for loader in (load_checkpoint, minigan.load):
        with pytest.raises(CheckpointError, match=message) as info:
            loader(path)
        assert str(path) in str(info.value)


def test_load_checkpoint_wants_a_dict(tmp_path):
    path = minigan.save([1, 2], tmp_path / "list.safetensors")
    with pytest.raises(CheckpointError, match="minigan.load"):
        load_checkpoint(path)


def _forge(path: Path, tree: object, tensors: dict) -> Path:
    """A file with a valid hash around an arbitrary state tree (what an attacker can make)."""
    meta = {"format": "minigan-checkpoint", "version": "2", "state": json.dumps(tree)}
    meta["sha256"] = _content_hash(meta, tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    return path


@pytest.mark.parametrize(
    "tree, tensors, why",
    [
        ({"dict": {"x": {"tensor": "missing"}}}, {}, "no tensor named 'missing'"),
        ({"list": [{"tensor": "a"}, {"tensor": "a"}]}, {"a": np.ones(1)}, "used twice"),
        ({"dict": {}}, {"a": np.ones(1)}, "not referenced"),
        ({"pickle": "cos\nsystem\n"}, {}, "unexpected node"),
        ({"dict": {}, "list": []}, {}, "unexpected node"),
        ({"int": "1_000"}, {}, "unexpected node"),
        ({"float": "1e5"}, {}, "unexpected node"),
        ({"scalar": "a"}, {"a": np.ones(2)}, "shape"),
    ],
)
def test_a_forged_state_is_refused_even_with_a_valid_hash(tmp_path, tree, tensors, why):
    path = _forge(tmp_path / "forged.safetensors", tree, tensors)
    with pytest.raises(CheckpointError, match=why) as info:
        minigan.load(path)
    assert str(path) in str(info.value) and "malformed" in str(info.value)


def test_forged_json_constants_are_refused(tmp_path):
    meta = {"format": "minigan-checkpoint", "version": "2", "state": '{"list": [NaN]}'}
    meta["sha256"] = _content_hash(meta, {})
    path = tmp_path / "nan.safetensors"
    path.write_bytes(safetensors.numpy.save({}, metadata=meta))
    with pytest.raises(CheckpointError, match="NaN"):
        minigan.load(path)


# ----- corruption and truncation ---------------------------------------------------------


def small_checkpoint(path: Path) -> Path:
    state = {
        "note": "hello",
        "epoch": 7,
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "rng": np.random.default_rng(0).bit_generator.state,
    }
    return save_checkpoint(state, path)


def test_a_flipped_byte_in_tensor_data_is_a_hash_error(tmp_path):
    path = small_checkpoint(tmp_path / "c.safetensors")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="the file is corrupted: content hash") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_flipped_byte_in_the_metadata_is_a_hash_error(tmp_path):
    path = small_checkpoint(tmp_path / "c.safetensors")
    data = path.read_bytes()
    assert data.count(b"hello") == 1
    path.write_bytes(data.replace(b"hello", b"hellp"))  # still valid JSON, still a str
    with pytest.raises(CheckpointError, match="the file is corrupted: content hash") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_every_single_bit_flip_is_refused(tmp_path):
    path = small_checkpoint(tmp_path / "c.safetensors")
    data = path.read_bytes()
    bad = tmp_path / "flipped.safetensors"
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            bad.write_bytes(bytes(flipped))
            with pytest.raises(CheckpointError) as info:
                load_checkpoint(bad)
            assert str(bad) in str(info.value), (i, bit)


def test_every_truncation_is_refused(tmp_path):
    path = small_checkpoint(tmp_path / "c.safetensors")
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="truncated") as info:
            load_checkpoint(cut)
        assert str(cut) in str(info.value), n
    cut.write_bytes(data + b"\x00")
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        load_checkpoint(cut)


def test_the_example_loaders_refuse_a_corrupted_checkpoint(tmp_path, capsys):
    path = small_checkpoint(tmp_path / "checkpoint.safetensors")
    path.write_bytes(path.read_bytes().replace(b"hello", b"jello"))
    with pytest.raises(SystemExit) as exc:
        read_checkpoint(path, "gan")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "corrupted: content hash" in err and str(path) in err


# ----- no unpickling anywhere ----------------------------------------------------------------


def test_no_pickle_on_any_load_path():
    """No module of the package or the examples imports pickle-like loaders, calls
    torch.load, or np.load without allow_pickle=False."""
    files = sorted((ROOT / "minigan").rglob("*.py")) + sorted(EXAMPLES.glob("*.py"))
    banned_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
    problems = []
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{file.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.append(node.module)
                if any(n.split(".")[0] in banned_modules for n in names):
                    problems.append(f"{where}: imports {names}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                base = owner.id if isinstance(owner, ast.Name) else None
                if node.func.attr == "load" and base == "torch":
                    problems.append(f"{where}: torch.load")
                if node.func.attr == "load" and base in ("np", "numpy"):
                    ok = any(
                        k.arg == "allow_pickle"
                        and isinstance(k.value, ast.Constant)
                        and k.value.value is False
                        for k in node.keywords
                    )
                    if not ok:
                        problems.append(f"{where}: np.load without allow_pickle=False")
    assert not problems, "\n".join(problems)


# ----- PyTorch as the oracle -----------------------------------------------------------------


def test_generator_weights_load_into_pytorch_and_draw_the_same_images(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")

    G = MLPGenerator()  # the MLP GAN's generator: 100 -> 256 -> 512 -> 1024 -> 784
    rng = np.random.default_rng(0)
    # non-default weights everywhere (BatchNorm's affine too) and trained running statistics
    G.load_state_dict(
        {
            k: (v + 0.1 * rng.standard_normal(v.shape)).astype(v.dtype)
            if v.dtype.kind == "f"
            else v
            for k, v in G.state_dict().items()
        }
    )
    G.train()
    with minigan.no_grad():
        for _ in range(3):
            G(minigan.tensor(rng.standard_normal((32, 100)).astype(np.float32)))
    assert int(G.state_dict()["net.1.num_batches_tracked"]) == 3
    path = minigan.save(G.state_dict(), tmp_path / "generator.safetensors")

    class TorchGenerator(torch.nn.Module):
        """The same layers written in PyTorch."""

        def __init__(self, latent=100, hidden=(256, 512, 1024), out=784):
            super().__init__()
            layers, width = [], latent
            for h in hidden:
                layers += [
                    torch.nn.Linear(width, h),
                    torch.nn.BatchNorm1d(h),
                    torch.nn.LeakyReLU(0.2),
                ]
                width = h
            layers += [torch.nn.Linear(width, out), torch.nn.Tanh()]
            self.net = torch.nn.Sequential(*layers)

        def forward(self, z):
            return self.net(z)

    z = rng.standard_normal((64, 100)).astype(np.float32)
    G.eval()
    with minigan.no_grad():
        ours = G(minigan.tensor(z)).numpy()
    from_numpy = {k: torch.from_numpy(v) for k, v in safetensors.numpy.load_file(path).items()}
    for weights in (safetensors_torch.load_file(path), from_numpy):
        T = TorchGenerator()
        T.load_state_dict(weights, strict=True)
        T.eval()
        with torch.no_grad():
            theirs = T(torch.from_numpy(z)).numpy()
        assert theirs.dtype == np.float32 and theirs.shape == (64, 784)
        # docs/testing.md's float32 policy for a composition: the largest K, 1024 (the
        # last Linear reads 1024 features); measured error ~0.3 of the bound
        assert_close(ours, theirs, tolerance(np.float32, 1024), "generated images")
        assert np.abs(theirs).max() > 0.1  # not a trivially zero output


# ----- the examples' checkpoint ---------------------------------------------------------------


def test_an_example_checkpoint_is_plain_safetensors(tmp_path):
    """A real training checkpoint (GAN): tensors by path, everything else in JSON metadata."""
    gan = load_example("mnist_gan", module_name="_test_ckpt_mnist_gan")
    out = tmp_path / "run"
    argv = ["--device", "cpu", "--subset", "64", "--batch-size", "32", "--no-progress"]
    assert gan.main([*argv, "--epochs", "1", "--out", str(out)]) == 0
    path = out / "run-001" / "checkpoint.safetensors"  # each run: its own OUT/run-NNN
    tensors = safetensors.numpy.load_file(path)
    assert "state/G/net.0.weight" in tensors and "state/opt_g/state/0/exp_avg" in tensors
    ckpt = load_checkpoint(path)
    assert ckpt["config"]["kind"] == "gan" and ckpt["epoch"] == 1
    assert isinstance(ckpt["rng"]["cpu"]["state"]["state"], int)  # a 128-bit int, exact
    assert isinstance(ckpt["state"]["opt_g"]["hyperparameters"]["betas"], tuple)
