"""`heinit-rs demo`: why He initialization works, shown rather than told.

propagate() pushes standard-normal inputs through a deep fully-connected network initialized
by each scheme and backpropagates a random output gradient, recording the standard deviation
of every layer's output and of the gradient at every layer's input. train() repeats the depth
experiment of He et al. (2015, Figure 3) with a plain-SGD ReLU MLP on scikit-learn's digits.
Weights come from heinit_rs; the network itself is plain NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import heinit_rs as h
from heinit_rs._checks import check_choice
from heinit_rs._gains import erf as exact_erf

DEMO_EXTRA_HINT = "pip install matplotlib scikit-learn"
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf
    except ImportError:
        return exact_erf(x)
    values: np.ndarray = erf(x)
    return values


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _gelu_derivative(z: np.ndarray) -> np.ndarray:
    slope: np.ndarray = (0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
                         + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return slope


def _elu(z: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _elu_derivative(z: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity, its derivative, and what He initialization passes to
    calculate_gain for it (the name and the `a` argument of kaiming_normal_)."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    gain_param: float = 0.0


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("relu", lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    Activation("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z),
               lambda z: np.where(z > 0, 1.0, 0.01).astype(z.dtype), 0.01),
    Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    Activation("gelu", lambda z: 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0))), _gelu_derivative),
    Activation("silu", lambda z: z * _sigmoid(z),
               lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z)))),
    Activation("elu", lambda z: _elu(z, 1.0), lambda z: _elu_derivative(z, 1.0), 1.0),
    Activation("selu", lambda z: SELU_SCALE * _elu(z, SELU_ALPHA),
               lambda z: SELU_SCALE * _elu_derivative(z, SELU_ALPHA)),
    Activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    Activation("linear", lambda z: z, np.ones_like),
)}

SCHEMES = ("He", "Xavier", "LeCun", "naive")
SCHEME_LABELS = {
    "He": "He: kaiming_normal_, gain / sqrt(fan_in)",
    "Xavier": "Xavier: xavier_normal_, sqrt(2 / (fan_in + fan_out))",
    "LeCun": "LeCun: lecun_normal, truncated, 1 / sqrt(fan_in)",
    "naive": "naive: N(0, 0.01^2)",
}


def init_weight(scheme: str, out_features: int, in_features: int, activation: Activation,
                generator: h.Generator, dtype: type = np.float64) -> np.ndarray:
    """A (out_features, in_features) weight, torch's layout, initialized by one scheme."""
    weight: np.ndarray = np.empty((out_features, in_features), dtype)
    if scheme == "He":
        return h.kaiming_normal_(weight, a=activation.gain_param, nonlinearity=activation.name,
                                 seed=generator)
    if scheme == "Xavier":
        return h.xavier_normal_(weight, seed=generator)
    if scheme == "LeCun":
        return h.lecun_normal(weight.shape, layout="torch", dtype=dtype, seed=generator)
    if scheme == "naive":
        return h.normal_(weight, 0.0, 0.01, seed=generator)
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")


@dataclass
class Propagation:
    """Per-layer standard deviations for one scheme; index l - 1 holds layer l."""

    scheme: str
    activation_std: np.ndarray  # of each layer's output h_l = f(h_{l-1} W_l^T)
    gradient_std: np.ndarray  # of dL/dh_{l-1}, the gradient reaching each layer's input


def propagate(activation: str = "relu", depth: int = 50, width: int = 512, batch: int = 256,
              seed: int = 0, schemes: Sequence[str] = SCHEMES) -> list[Propagation]:
    """Forward a batch of N(0, 1) inputs through `depth` layers of `width` units, then
    backpropagate an N(0, 1) output gradient, once per scheme, in float64 (a naive network's
    signal falls below float32's range). Every scheme draws its layers from Generator(seed),
    so He and Xavier use the same standard-normal draws at different scales."""
    act = ACTIVATIONS[check_choice("activation", activation, tuple(ACTIVATIONS))]
    for name, value in (("depth", depth), ("width", width), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    data = np.random.default_rng(seed)
    inputs = data.standard_normal((batch, width))
    output_gradient = data.standard_normal((batch, width))
    results = []
    for scheme in schemes:
        check_choice("scheme", scheme, SCHEMES)
        generator = h.Generator(seed)
        weights = [init_weight(scheme, width, width, act, generator) for _ in range(depth)]
        pre_activations = []
        activation_std = np.empty(depth)
        signal = inputs
        for layer, weight in enumerate(weights):
            pre_activations.append(signal @ weight.T)
            signal = act.forward(pre_activations[-1])
            activation_std[layer] = signal.std()
        gradient_std = np.empty(depth)
        gradient = output_gradient
        for layer in reversed(range(depth)):
            gradient = (gradient * act.derivative(pre_activations[layer])) @ weights[layer]
            gradient_std[layer] = gradient.std()
        results.append(Propagation(scheme, activation_std, gradient_std))
    return results


def _table(title: list[str], index_name: str, index: Sequence[int],
           columns: list[tuple[str, Sequence[float] | np.ndarray, str]]) -> list[str]:
    """Title lines, a header and one row per index value; a column is (name, values, format
    spec whose width is the column's)."""
    lines = [*title, "", index_name + "".join(
        f"{name:>{int(spec.split('.')[0])}}" for name, _, spec in columns)]
    for row, label in enumerate(index):
        lines.append(f"{label:>{len(index_name)}}" + "".join(
            f"{values[row]:{spec}}" for _, values, spec in columns))
    return lines


def propagation_table(results: list[Propagation], activation: str, width: int, batch: int,
                      seed: int) -> str:
    depth = len(results[0].activation_std)
    lines = _table(
        [f"heinit-rs demo: {depth} fully-connected layers of width {width}, {activation}, "
         f"batch {batch}, seed {seed}",
         "fwd: std of layer l's output; bwd: std of the gradient reaching layer l's input"],
        "layer", range(1, depth + 1),
        [column for r in results for column in (
            (f"{r.scheme} fwd", r.activation_std, "12.3e"),
            (f"{r.scheme} bwd", r.gradient_std, "12.3e"))])
    lines += ["", f"layer {depth} / layer 1, forward:  " + ", ".join(
        f"{r.scheme} {r.activation_std[-1] / r.activation_std[0]:.3g}" for r in results),
        f"layer 1 / layer {depth}, backward: " + ", ".join(
        f"{r.scheme} {r.gradient_std[0] / r.gradient_std[-1]:.3g}" for r in results)]
    return "\n".join(lines)


def _figure(width_px: int, height_px: int, panels: int) -> Any:
    """A matplotlib Figure of exactly width_px x height_px at 100 dpi, without pyplot's global
    state; ImportError when matplotlib is missing."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100, layout="constrained")
    return fig, [fig.add_subplot(1, panels, k + 1) for k in range(panels)]


PROPAGATION_FIGURE_SIZE = (1200, 480)
TRAINING_FIGURE_SIZE = (1200, 480)


def plot_propagation(results: list[Propagation], activation: str, width: int, path: str) -> None:
    fig, (forward, backward) = _figure(*PROPAGATION_FIGURE_SIZE, panels=2)
    layers = np.arange(1, len(results[0].activation_std) + 1)
    for r in results:
        forward.plot(layers, r.activation_std, marker=".", label=SCHEME_LABELS[r.scheme])
        backward.plot(layers, r.gradient_std, marker=".", label=SCHEME_LABELS[r.scheme])
    forward.set_title(f"Forward: std of each layer's output ({activation}, width {width})")
    backward.set_title("Backward: std of the gradient at each layer's input")
    for ax in (forward, backward):
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.grid(True, which="major", alpha=0.3)
    forward.set_ylabel("standard deviation")
    forward.legend(fontsize=8)
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------------------------------------
# The depth experiment


@dataclass
class TrainingRun:
    scheme: str
    loss: list[float] = field(default_factory=list)  # training-set loss, epoch 0 = at init
    accuracy: list[float] = field(default_factory=list)  # held-out accuracy per epoch
    seconds: float = 0.0


def load_digits(seed: int = 0, test_fraction: float = 0.2
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images, no download), standardized, split."""
    from sklearn.datasets import load_digits as sklearn_digits

    features, labels = sklearn_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    features, labels = features[order], labels[order]
    n_test = int(len(labels) * test_fraction)
    train_x, test_x = features[n_test:], features[:n_test]
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std[std == 0] = 1.0
    return ((train_x - mean) / std).astype(np.float32), labels[n_test:], \
        ((test_x - mean) / std).astype(np.float32), labels[:n_test]


class MLP:
    """A ReLU MLP with softmax cross-entropy, trained by plain minibatch SGD, in float32."""

    def __init__(self, sizes: Sequence[int], scheme: str, seed: int) -> None:
        generator = h.Generator(seed)
        relu = ACTIVATIONS["relu"]
        self.weights = [init_weight(scheme, fan_out, fan_in, relu, generator, np.float32)
                        for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(fan_out, np.float32) for fan_out in sizes[1:]]

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        inputs = []
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            inputs.append(x)
            x = x @ weight.T + bias
            if k < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return x, inputs

    @staticmethod
    def _softmax_loss(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(labels))
        return float(-log_probs[rows, labels].mean()), log_probs

    def loss_and_accuracy(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        logits, _ = self._forward(x)
        loss, _ = self._softmax_loss(logits, labels)
        return loss, float((logits.argmax(axis=1) == labels).mean())

    def sgd_step(self, x: np.ndarray, labels: np.ndarray, learning_rate: float) -> None:
        logits, inputs = self._forward(x)
        _, log_probs = self._softmax_loss(logits, labels)
        grad = np.exp(log_probs)
        grad[np.arange(len(labels)), labels] -= 1.0
        grad /= len(labels)
        for k in reversed(range(len(self.weights))):
            grad_weight = grad.T @ inputs[k]
            grad_bias = grad.sum(axis=0)
            if k > 0:
                grad = (grad @ self.weights[k]) * (inputs[k] > 0)
            self.weights[k] -= learning_rate * grad_weight
            self.biases[k] -= learning_rate * grad_bias


def train(scheme: str, depth: int = 30, width: int = 128, epochs: int = 40,
          learning_rate: float = 0.01, batch: int = 32, seed: int = 0,
          on_epoch: Callable[[str, int, float], None] | None = None,
          data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
          ) -> TrainingRun:
    """Train a depth-layer ReLU MLP (depth weight layers) on the digits with plain SGD."""
    import time

    train_x, train_y, test_x, test_y = data if data is not None else load_digits(seed)
    start = time.perf_counter()
    sizes = [train_x.shape[1], *([width] * (depth - 1)), 10]
    model = MLP(sizes, check_choice("scheme", scheme, SCHEMES), seed)
    order = np.random.default_rng(seed + 1)
    run = TrainingRun(scheme)

    def record(epoch: int) -> None:
        loss, _ = model.loss_and_accuracy(train_x, train_y)
        _, accuracy = model.loss_and_accuracy(test_x, test_y)
        run.loss.append(loss)
        run.accuracy.append(accuracy)
        if on_epoch is not None:
            on_epoch(scheme, epoch, loss)

    # One BLAS thread: the products are small (batch x 128), and a multithreaded BLAS spins
    # its threads against each other on them, many times slower when the cores are busy.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        record(0)
        for epoch in range(1, epochs + 1):
            permutation = order.permutation(len(train_y))
            for begin in range(0, len(permutation), batch):
                rows = permutation[begin:begin + batch]
                model.sgd_step(train_x[rows], train_y[rows], learning_rate)
            record(epoch)
    run.seconds = time.perf_counter() - start
    return run


def training_table(runs: list[TrainingRun], depth: int, width: int, learning_rate: float,
                   batch: int) -> str:
    lines = _table(
        [f"heinit-rs demo --train: {depth}-layer ReLU MLP (width {width}) on scikit-learn "
         f"digits, plain SGD, learning rate {learning_rate}, batch {batch}",
         "training loss (cross-entropy) and held-out accuracy after each epoch"],
        "epoch", range(len(runs[0].loss)),
        [column for r in runs for column in (
            (f"{r.scheme} loss", r.loss, "14.4f"), (f"{r.scheme} acc", r.accuracy, "12.3f"))])
    lines += [""] + [f"{r.scheme}: {r.seconds:.1f} s" for r in runs]
    return "\n".join(lines)


def plot_training(runs: list[TrainingRun], depth: int, path: str) -> None:
    fig, (loss_ax, accuracy_ax) = _figure(*TRAINING_FIGURE_SIZE, panels=2)
    for r in runs:
        epochs = np.arange(len(r.loss))
        loss_ax.plot(epochs, r.loss, marker=".", label=SCHEME_LABELS[r.scheme])
        accuracy_ax.plot(epochs, r.accuracy, marker=".", label=SCHEME_LABELS[r.scheme])
    loss_ax.set_title(f"{depth}-layer ReLU MLP on digits: training loss")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("cross-entropy")
    accuracy_ax.set_title("held-out accuracy")
    accuracy_ax.set_ylim(0, 1)
    for ax in (loss_ax, accuracy_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    loss_ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
