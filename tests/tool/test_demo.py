"""`heinit-rs demo`: the numbers behind the figures, the figures themselves, the CLI."""

import math
import struct
import sys
import tempfile

import numpy as np
import pytest

import heinit_rs._cli as cli
from heinit_rs import _demo


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def relu_propagation():
    return {r.scheme: r for r in _demo.propagate("relu", depth=50, width=512, batch=256, seed=0)}


def test_he_keeps_the_relu_signal_and_gradient_within_a_factor_of_2(relu_propagation):
    he = relu_propagation["He"]
    assert 0.5 < he.activation_std[49] / he.activation_std[0] < 2
    assert 0.5 < he.gradient_std[0] / he.gradient_std[49] < 2
    assert np.all((he.activation_std > 0.25) & (he.activation_std < 4))


def test_naive_initialization_vanishes(relu_propagation):
    naive = relu_propagation["naive"]
    assert naive.activation_std[49] / naive.activation_std[0] < 1e-10
    assert naive.gradient_std[0] / naive.gradient_std[49] < 1e-10


def test_xavier_shrinks_by_about_2_to_the_minus_half_per_relu_layer(relu_propagation):
    he, xavier = relu_propagation["He"], relu_propagation["Xavier"]
    ratio = xavier.activation_std[49] / xavier.activation_std[0]
    assert abs(math.log2(ratio) - (-49 / 2)) < 1.5
    # Same draws, scale 1/sqrt(2) per layer, relu positively homogeneous: exactly 2^(-l/2).
    layers = np.arange(1, 51)
    np.testing.assert_allclose(xavier.activation_std / he.activation_std, 2.0 ** (-layers / 2),
                               rtol=1e-5)
    lecun = relu_propagation["LeCun"]
    assert abs(math.log2(lecun.activation_std[49] / lecun.activation_std[0]) + 49 / 2) < 2


def test_he_uses_the_activation_gain():
    # tanh's torch gain 5/3 keeps the forward signal; a linear network with gain 1 does too.
    for activation in ("tanh", "linear", "leaky_relu"):
        he = _demo.propagate(activation, depth=20, width=256, batch=128, schemes=("He",))[0]
        assert 0.5 < he.activation_std[-1] / he.activation_std[0] < 2, activation


@pytest.mark.parametrize("activation", sorted(_demo.ACTIVATIONS))
def test_activation_derivatives_match_finite_differences(activation):
    act = _demo.ACTIVATIONS[activation]
    z = np.linspace(-4, 4, 801) + 1e-3  # away from relu's kink at 0
    step = 1e-6
    numeric = (act.forward(z + step) - act.forward(z - step)) / (2 * step)
    np.testing.assert_allclose(act.derivative(z), numeric, atol=1e-6)


def test_propagate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        _demo.propagate("softmax")
    with pytest.raises(ValueError, match="depth must be a positive int"):
        _demo.propagate(depth=0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        _demo.propagate(depth=2, width=4, batch=2, schemes=("orthogonal",))


def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "demo.png"
    assert cli.main(["demo", "--output", str(figure)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:5].strip().isdigit()]
    assert [int(row.split()[0]) for row in rows] == list(range(1, 51))
    assert len(rows[0].split()) == 1 + 2 * 4
    assert "He fwd" in out and "naive bwd" in out and f"wrote {figure}" in out
    assert png_size(figure) == _demo.PROPAGATION_FIGURE_SIZE
    import matplotlib.image

    pixels = matplotlib.image.imread(figure)
    assert pixels.shape[:2] == (480, 1200) and pixels.std() > 0.05  # not a blank canvas


def test_demo_without_matplotlib_still_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    figure = tmp_path / "demo.png"
    assert cli.main(["demo", "--depth", "4", "--width", "16", "--output", str(figure)]) == 0
    captured = capsys.readouterr()
    assert "layer 4 / layer 1, forward" in captured.out
    assert "pip install matplotlib scikit-learn" in captured.err
    assert not figure.exists()


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return _demo.load_digits(0)


def test_he_trains_a_30_layer_relu_mlp_where_xavier_stalls(digits):
    he = _demo.train("He", depth=30, epochs=10, data=digits)
    xavier = _demo.train("Xavier", depth=30, epochs=10, data=digits)
    assert len(he.loss) == len(he.accuracy) == 11
    assert min(he.loss[1:]) < 0.8 and max(he.accuracy) > 0.7
    # Xavier's 30-layer relu net starts with a signal of about 2^-15: its logits are ~0.
    assert abs(xavier.loss[0] - math.log(10)) < 1e-3
    assert min(xavier.loss) > 2.29 and max(xavier.accuracy) < 0.3


def test_demo_train_cli(tmp_path, capsys, digits):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "train.png"
    assert cli.main(["demo", "--train", "--epochs", "2", "--depth", "4", "--width", "32",
                     "--output", str(figure)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:5].strip().isdigit()]
    assert [int(row.split()[0]) for row in rows] == [0, 1, 2]
    assert "He loss" in out and "Xavier acc" in out
    assert png_size(figure) == _demo.TRAINING_FIGURE_SIZE


def test_demo_train_without_scikit_learn_says_how_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert cli.main(["demo", "--train", "--epochs", "1", "--no-plot"]) == 1
    assert "pip install matplotlib scikit-learn" in capsys.readouterr().err


def test_demo_rejects_a_bad_learning_rate(capsys):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--train", "--lr", "-1"])
    assert "--lr" in capsys.readouterr().err


def test_the_figure_goes_to_the_temporary_directory_not_the_working_one(tmp_path, capsys,
                                                                       monkeypatch):
    pytest.importorskip("matplotlib")
    work, temporary = tmp_path / "work", tmp_path / "temporary"
    work.mkdir()
    temporary.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    assert cli.main(["demo", "--depth", "3", "--width", "8", "--batch", "4"]) == 0
    assert f"wrote {temporary / 'heinit-demo.png'}" in capsys.readouterr().out
    assert list(work.iterdir()) == [] and (temporary / "heinit-demo.png").exists()


def test_training_runs_on_one_blas_thread(digits):
    """A multithreaded BLAS spins its threads against each other on these small products,
    several times slower on a busy machine: training holds BLAS to one thread, and gives it
    back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                if pool["user_api"] == "blas"}

    assert blas_threads(), "numpy's BLAS is not visible to threadpoolctl"
    before = blas_threads()
    seen = []
    _demo.train("He", depth=3, width=8, epochs=1, data=digits,
                on_epoch=lambda scheme, epoch, loss: seen.append(blas_threads()))
    assert seen == [{1}, {1}] and blas_threads() == before
