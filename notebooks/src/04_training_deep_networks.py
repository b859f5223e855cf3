# %% [markdown]
# # 04 · Training deep networks: optimizers, initialization, normalization, regularization, schedules
#
# **What you will learn**
# - what SGD, momentum, Nesterov, Adagrad, RMSProp, Adam and AdamW actually compute, and how they compare on one task;
# - why the scale of the initial weights decides whether a deep network can learn at all (vanishing and exploding
#   signals, the symmetry problem), how Glorot and He initialization fix it, and how batch normalization helps;
# - how to make overfitting visible and how L1/L2 penalties, dropout, batch normalization, decoupled weight decay
#   (AdamW) and early stopping change it;
# - learning-rate schedules (step, exponential, cosine with warm-up, reduce-on-plateau) and the learning-rate
#   range test;
# - how to pick a configuration on validation data and touch the test set exactly once.
#
# **Prerequisites:** [02](02_neural_network_from_scratch.ipynb) (gradient descent, backpropagation) and
# [03](03_mlp_with_keras.ipynb) (Keras models, losses, training curves).
# **Data:** Fashion-MNIST (Zalando, MIT licence): 70,000 grayscale 28×28 images of clothing in 10 classes.
# **Run time (full profile, 2-core CPU):** see the table in the README (measured by `make notebooks`); about
# 30 small training runs, sized so that the whole notebook stays within a few minutes on a laptop CPU.

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.model_selection import train_test_split

pd.set_option("display.precision", 4)

# %% [markdown]
# ## 1. Data and a fair experimental protocol
#
# This notebook is a series of controlled experiments: in each comparison **one** thing changes (the optimizer, the
# initializer, the regularizer, the schedule) and everything else — model, data, number of epochs, random seed — stays
# the same. Three rules make the comparisons honest:
#
# 1. **Three disjoint sets.** We split Fashion-MNIST's 60,000 training images into a *training split* (50,000) and a
#    *validation split* (10,000, stratified by class). Every decision in this notebook is made on the validation
#    split. The 10,000 test images are used once, at the very end, to report the chosen configuration's accuracy.
# 2. **The same seed before every run.** `keras.utils.set_random_seed` resets Python, NumPy and TensorFlow, so runs
#    of the same architecture start from the same initial weights and see the batches in the same order. Differences between runs are
#    then caused by what we changed, not by luck. (A single seed is still a single sample: a difference of a few
#    tenths of a percent could flip with another seed. Exercise 1 asks you to check.)
# 3. **Budgets we can afford.** Most comparisons train on the first 20,000 images of the training split for 10
#    epochs; the 12-layer networks of §3 on 10,000 images for 5 epochs; the overfitting experiment uses 1,000 images
#    on purpose; the chosen configuration is retrained on all 50,000. (In the quick profile used by CI, every budget shrinks; the code is the same.)

# %%
(x_train_all, y_train_all), (x_test, y_test) = du.data.load_fashion_mnist()
print("train:", x_train_all.shape, x_train_all.dtype, "| test:", x_test.shape)

# Flatten to vectors of 784 pixels and scale to [0, 1]: the models here are MLPs (CNNs come in notebook 06).
x_train_all = x_train_all.reshape(len(x_train_all), -1).astype("float32") / 255.0
x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255.0

x_pool, x_val, y_pool, y_val = train_test_split(
    x_train_all, y_train_all, test_size=10_000, stratify=y_train_all, random_state=42
)
print("training split:", x_pool.shape, "| validation split:", x_val.shape, "| test:", x_test.shape)
print("validation images per class:", np.bincount(y_val).tolist())

# %%
# NBVAL_IGNORE_OUTPUT
# The quick profile (CI) uses small random subsets; the full profile keeps everything.
x_pool, y_pool = du.take(x_pool, y_pool, quick=4000)
x_val, y_val = du.take(x_val, y_val, quick=2000)
N_SUB = du.pick(full=20_000, quick=2000)  # training images for the comparisons
EPOCHS = du.pick(full=10, quick=2)
x_sub, y_sub = x_pool[:N_SUB], y_pool[:N_SUB]  # the split is already shuffled: the first N are a random subset
print(f"comparison subset: {len(x_sub):,} images, {EPOCHS} epochs | validation: {len(x_val):,} images")

# %% [markdown]
# Every run goes through one small function, so that the protocol cannot drift between experiments: reset the seed,
# build a fresh model, compile it with the same loss, train with the same batch size and validation data, and time
# it. The model for the comparisons is a plain MLP, 784-256-128-10 with ReLU. Its last layer outputs **logits**
# (no softmax) and the loss is built with `from_logits=True`, which is the numerically stable combination
# (notebook 03).

# %%
SEED = 42
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
# The cross-entropy again, as a metric: Keras's `loss` includes weight penalties (L1/L2, §4), this never does.
XENT = lambda: keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="xent")  # noqa: E731
L = keras.layers


def make_mlp(kernel_initializer="he_normal"):
    """The comparison model: 784-256-128-10, ReLU, logits out."""
    return keras.Sequential(
        [
            keras.Input((784,), name="pixels"),
            L.Dense(256, activation="relu", kernel_initializer=kernel_initializer, name="hidden_1"),
            L.Dense(128, activation="relu", kernel_initializer=kernel_initializer, name="hidden_2"),
            L.Dense(10, name="logits"),
        ],
        name="mlp",
    )


def train(build, optimizer, x, y, epochs, batch_size=128, callbacks=()):
    """Reset the seed, build a fresh model, train it; return (model, history dict, seconds)."""
    keras.utils.set_random_seed(SEED)
    model = build()
    model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy", XENT()])
    with du.Timer() as timer:
        history = model.fit(
            x, y, batch_size=batch_size, epochs=epochs, validation_data=(x_val, y_val),
            validation_batch_size=1024, callbacks=list(callbacks), verbose=0,
        )  # fmt: skip
    return model, history.history, timer.seconds


def plot_runs(histories, metrics=("val_loss", "val_accuracy"), title=None, logy=()):
    """One panel per metric, one line per run: {name: history dict}."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics) + 2.2, 3.8), squeeze=False,
                             layout="constrained")  # fmt: skip
    styles = [("o", "-"), ("s", "--"), ("^", "-."), ("v", ":"), ("D", "-"), ("x", "--"), ("P", "-.")]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for (name, h), (marker, ls) in zip(histories.items(), styles, strict=False):  # distinct styles: lines may coincide
            ax.plot(np.arange(1, len(h[metric]) + 1), h[metric], marker=marker, ls=ls, ms=4, mfc="none", label=name)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        if metric in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)  # outside the axes
    if title:
        fig.suptitle(title)
    return fig


make_mlp().summary()

# %% [markdown]
# ## 2. Optimizers
#
# **Idea.** Training minimizes the average loss $L(\theta)$ over the training set. Every optimizer below uses the
# gradient of the loss on a **mini-batch** of $B$ examples (here $B = 128$),
# $g_t = \nabla_\theta \frac{1}{B}\sum_{i \in \text{batch}_t} \ell(x_i, y_i; \theta_t)$, a noisy but unbiased estimate
# of $\nabla L(\theta_t)$. ("Stochastic" gradient descent means *a random mini-batch*, not one sample.) They differ
# in what they do with $g_t$. All operations on vectors are element-wise; $\eta$ is the learning rate.
#
# | optimizer | update rule | in Keras |
# |---|---|---|
# | SGD | $\theta_{t+1} = \theta_t - \eta\, g_t$ | `SGD(learning_rate)` |
# | SGD + momentum | $v_{t+1} = \mu v_t - \eta\, g_t,\quad \theta_{t+1} = \theta_t + v_{t+1}$ | `SGD(lr, momentum=μ)` |
# | Nesterov | $v_{t+1} = \mu v_t - \eta\,\nabla L(\theta_t + \mu v_t),\quad \theta_{t+1} = \theta_t + v_{t+1}$ | `SGD(lr, momentum=μ, nesterov=True)` |
# | Adagrad | $r_{t+1} = r_t + g_t^2,\quad \theta_{t+1} = \theta_t - \dfrac{\eta}{\sqrt{r_{t+1}} + \epsilon}\, g_t$ | `Adagrad(lr)` |
# | RMSProp | $s_{t+1} = \rho\, s_t + (1-\rho)\, g_t^2,\quad \theta_{t+1} = \theta_t - \dfrac{\eta}{\sqrt{s_{t+1}} + \epsilon}\, g_t$ | `RMSprop(lr, rho=ρ)` |
# | Adam | see below | `Adam(lr)` |
# | AdamW | Adam plus decoupled weight decay, see below | `AdamW(lr, weight_decay=λ)` |
#
# - **Momentum** keeps a running velocity $v$, an exponentially weighted sum of past gradients. Along directions where
#   the gradient keeps its sign, steps add up (up to $1/(1-\mu)$ times larger, $10\times$ for $\mu = 0.9$); along
#   directions where it oscillates, they cancel.
# - **Nesterov** evaluates the gradient at the point the velocity is about to carry us to, $\theta_t + \mu v_t$, so it
#   corrects an overshoot one step earlier. Keras implements the usual equivalent rewriting in terms of the
#   look-ahead weights, which needs only the gradient at the weights it stores: $\theta_{t+1} = \theta_t + \mu v_{t+1} - \eta\, g_t$.
# - **Adagrad** divides each coordinate's step by the root of its *accumulated* squared gradients: rarely updated
#   weights get large steps, frequently updated ones small steps. Since $r_t$ only grows, the effective learning
#   rate decays forever, which is why Adagrad often stalls in long training runs. (Keras starts the sum at
#   `initial_accumulator_value=0.1`, not at 0, which keeps the very first steps below $\eta$.)
# - **RMSProp** replaces the sum by an exponential moving average ($\rho = 0.9$), so the step size adapts to the
#   *recent* gradient scale instead of shrinking forever. It is not simply Adam without momentum: Keras's `RMSprop`
#   has no bias correction, so with $s_0 = 0$ its first step is $\eta/\sqrt{1-\rho} \approx 3.2\,\eta$ per coordinate.
# - **Adam** combines a moving average of gradients (momentum, $\beta_1$) with RMSProp's average of squared gradients
#   ($\beta_2$), and corrects both for their initialization at zero:
#
# $$
# m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t,\qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2,
# $$
# $$
# \hat m_t = \frac{m_t}{1-\beta_1^{\,t}},\qquad \hat v_t = \frac{v_t}{1-\beta_2^{\,t}},\qquad
# \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},
# $$
#
#   with $m_0 = v_0 = 0$, $t = 1, 2, \dots$ and Keras's defaults $\beta_1 = 0.9$, $\beta_2 = 0.999$,
#   $\epsilon = 10^{-7}$. Both averages start at 0 and are biased towards 0 in the first steps, $v$ more than $m$
#   ($m_1 = 0.1\, g_1$, $v_1 = 0.001\, g_1^2$): without the correction the first step would be
#   $\eta \cdot 0.1/\sqrt{0.001} \approx 3.2\,\eta$ per coordinate, about 3× too large; with it, the first step is
#   $\eta\,\operatorname{sign}(g_1)$ (up to $\epsilon$).
# - **AdamW** (Loshchilov & Hutter, 2019) adds *decoupled* weight decay: the gradient $g_t$ is the gradient of the
#   loss alone, and the weights are shrunk directly, outside Adam's normalization:
#
# $$
# \theta_t = \theta_{t-1} - \eta \left( \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, \theta_{t-1} \right).
# $$
#
#   This is *not* the same as adding an L2 penalty $\frac{\lambda}{2}\lVert\theta\rVert^2$ to the loss and using Adam:
#   then $\lambda\theta$ becomes part of $g_t$ and gets divided by $\sqrt{\hat v_t}$, so the decay a weight
#   gets depends on its gradient history: weights with large gradients are hardly decayed at all, unused weights
#   are decayed at full speed (demonstrated in Pitfall 4). For plain SGD the two are equivalent. Keras's `AdamW`
#   decays *every* trainable variable, biases included, unless you call
#   `optimizer.exclude_from_weight_decay(var_names=["bias"])`; this notebook keeps the default.
#
# Each optimizer gets a commonly used learning rate for it (a fair comparison would tune each one's learning rate
# separately: Exercise 2).

# %%
OPTIMIZERS = {
    "SGD": lambda: keras.optimizers.SGD(learning_rate=0.05),
    "SGD+momentum": lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "Nesterov": lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda: keras.optimizers.Adagrad(learning_rate=0.05),
    "RMSProp": lambda: keras.optimizers.RMSprop(learning_rate=1e-3),
    "Adam": lambda: keras.optimizers.Adam(learning_rate=1e-3),
    "AdamW": lambda: keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.05),
}

# %%
# NBVAL_IGNORE_OUTPUT
opt_runs = {}
for name, make_optimizer in OPTIMIZERS.items():
    optimizer = make_optimizer()
    model, history, seconds = train(make_mlp, optimizer, x_sub, y_sub, EPOCHS)
    opt_runs[name] = dict(history=history, seconds=seconds, lr=float(optimizer.learning_rate), model=model)

opt_table = pd.DataFrame(
    {
        "learning rate": [r["lr"] for r in opt_runs.values()],
        "final val accuracy": [r["history"]["val_accuracy"][-1] for r in opt_runs.values()],
        "best val accuracy": [max(r["history"]["val_accuracy"]) for r in opt_runs.values()],
        "final val loss": [r["history"]["val_loss"][-1] for r in opt_runs.values()],
        "train seconds": [r["seconds"] for r in opt_runs.values()],
    },
    index=list(opt_runs),
).sort_values("final val accuracy", ascending=False)
opt_table

# %%
plot_runs({k: r["history"] for k, r in opt_runs.items()}, title="Same MLP, same data, same seed: optimizers")
plt.show()


# %% [markdown]
# **Reading the curves** (full-profile run stored here). Plain SGD with a fixed learning rate ends lowest; after a
# fast first few epochs its validation accuracy moves little. It has no memory, so in narrow valleys of the loss it
# zig-zags across instead of moving along them (drawn below on a 2-D valley). Momentum and Nesterov, at the same
# learning rate, are several points ahead after two epochs and stay ahead. Adam and AdamW start fastest and finish on
# top: momentum plus per-coordinate step sizes make $\eta = 10^{-3}$ work for every layer without tuning. RMSProp at
# Adam's rate ends below both; its validation loss, like Nesterov's and Adagrad's, does not fall smoothly (one seed:
# we do not try to explain the bumps). Adagrad, whose steps only shrink, ends second lowest. The "train seconds"
# column is not a measure of the optimizers' cost: it was measured once per run on a shared machine, without repeats
# (the extra state of the adaptive methods is one or two moving averages per weight; whether that shows up in the
# time needs step-level timing with repeats, which we did not do). Do not over-read the ranking: one seed, one learning
# rate per optimizer, ten epochs. Adam/AdamW are good defaults; SGD with momentum and a schedule is still common for
# large vision models, where it has been reported to generalize slightly better (Wilson et al., 2017, "The marginal
# value of adaptive gradient methods in machine learning"; not measured here).

# %% [markdown]
# ### Optimizer paths on a narrow valley
#
# A loss surface with millions of weights cannot be drawn, but its typical trouble can: a valley much steeper across
# than along. Take $f(x, y) = 0.1\,x^2 + 2\,y^2$ (curvature 0.2 along the valley, in $x$, and 4 across it, in $y$: 20× steeper across),
# start at $(-7, 2)$, and let each Keras optimizer take 30 steps on the exact gradient. For plain gradient descent the
# $y$ coordinate is multiplied by $1 - 4\eta$ per step and $x$ by $1 - 0.2\eta$: with $\eta = 0.4$ that is $-0.6$
# (the sign flips every step: a zig-zag across the valley) and $0.92$ (a crawl along it). The rates are picked for
# this toy surface, not the ones of the table above.

# %%
def valley(w):
    """f(x, y) = 0.1 x² + 2 y²: 20 times more curved across the valley (y) than along it (x)."""
    return 0.1 * w[0] ** 2 + 2.0 * w[1] ** 2


PATH_OPTIMIZERS = {
    "SGD, η=0.4": lambda: keras.optimizers.SGD(0.4),
    "SGD+momentum, η=0.4, μ=0.5": lambda: keras.optimizers.SGD(0.4, momentum=0.5),
    "SGD+momentum, η=0.4, μ=0.9": lambda: keras.optimizers.SGD(0.4, momentum=0.9),
    "Adagrad, η=1": lambda: keras.optimizers.Adagrad(1.0),
    "RMSProp, η=0.3": lambda: keras.optimizers.RMSprop(0.3),
    "Adam, η=0.3": lambda: keras.optimizers.Adam(0.3),
}
paths = {}
for name, make_optimizer in PATH_OPTIMIZERS.items():
    w, optimizer = keras.Variable([-7.0, 2.0], name="w"), make_optimizer()
    points = [w.numpy().copy()]
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = valley(w)
        optimizer.apply_gradients([(tape.gradient(loss, w), w)])
        points.append(w.numpy().copy())
    paths[name] = p = np.array(points)
    steps = np.linalg.norm(np.diff(p, axis=0), axis=1)
    print(f"{name:28s} loss after 30 steps: {float(valley(p[-1])):.1e} | first step (dx, dy) = "
          f"({p[1, 0] - p[0, 0]:+.2f}, {p[1, 1] - p[0, 1]:+.2f}), last step length {steps[-1]:.2f}, "
          f"y changes sign {int(np.sum(np.diff(np.sign(p[:, 1])) != 0))}×, ends at ({p[-1, 0]:.2f}, {p[-1, 1]:.2f})")

x_max = max(2.0, max(p[:, 0].max() for p in paths.values()) + 0.5)  # μ = 0.9 swings far past the minimum
fig, axes = plt.subplots(2, 3, figsize=(13, 5.8), sharex=True, sharey=True)
gx, gy = np.meshgrid(np.linspace(-8, x_max, 220), np.linspace(-3, 3, 120))
for ax, (name, p) in zip(axes.flat, paths.items(), strict=True):
    ax.contour(gx, gy, valley([gx, gy]), levels=np.geomspace(0.01, 20, 12), colors="0.75", linewidths=0.7)
    ax.plot(p[:, 0], p[:, 1], "o-", ms=3, lw=1, color="C3")
    ax.plot(0, 0, "k*", ms=10)
    ax.set(title=f"{name}\nloss after 30 steps {float(valley(p[-1])):.1e}", xlim=(-8, x_max), ylim=(-3, 3),
           aspect="equal")  # fmt: skip
    ax.title.set_fontsize(9)
fig.suptitle("30 steps on f(x, y) = 0.1x² + 2y² from (−7, 2); ★ = minimum")
fig.tight_layout()
plt.show()

# %% [markdown]
# What the six panels show (loss after 30 steps in each title; first and last steps printed above):
#
# - **SGD** jumps from one wall of the valley to the other for the first steps (the zig-zag, damped here because
#   $|1-4\eta| = 0.6 < 1$), then crawls along the valley floor in ever shorter steps: after 30 steps it is still short
#   of the minimum. A rate large enough to move fast along $x$ would make $|1-4\eta| > 1$ and the zig-zag would grow.
# - **Momentum with μ = 0.5** adds up the steps along the floor (the gradient keeps its sign there) and lets the
#   across-valley steps partly cancel: it is the only SGD variant that reaches the minimum in 30 steps.
# - **Momentum with μ = 0.9** at the same rate carries too much velocity: it overshoots far past the minimum (the
#   panels are widened to show it), swings back and is still circling after 30 steps. The momentum and the rate have
#   to be chosen together.
# - **Adagrad, RMSProp, Adam** divide each coordinate's step by its own gradient scale, so their first step is about
#   the same size in the steep and the flat direction (printed: about $\eta$ per coordinate for Adagrad and Adam,
#   about $3\eta$ for RMSProp, which has no bias correction) and they head diagonally down the valley with no visible
#   zig-zag. Then all three slow down: Adagrad because its sum of squared gradients only grows, RMSProp because
#   its moving average lags behind the shrinking gradient (its dots bunch up near the minimum just like Adagrad's).
#   Adam's momentum carries it across the valley floor twice ($y$ changes sign twice, printed): it dips below the
#   floor, comes back over it, and after 30 steps it is above the floor and past the minimum in $x$.
#
# The scoreboard is mixed: only momentum with μ = 0.5 and RMSProp end below plain SGD's loss; Adagrad, Adam and
# momentum with μ = 0.9 end above it. Each optimizer also runs at its own $\eta$, so the method and the rate change
# together. Read the panels for the *shape* of the paths (zig-zag, overshoot, per-coordinate scaling), not as a
# ranking of speed: on the real network above, at their usual rates, all the other methods beat plain SGD, and this
# toy shows one reason such differences can arise (ill-conditioning), not that they always go one way.
#
# ### Are networks "easily trapped in local minima"?
#
# A common claim in older posts is that gradient descent in a neural network easily gets stuck in a bad local
# minimum. For networks of the size used here, the evidence says otherwise:
#
# - In high dimensions, a critical point with a high loss is almost never a minimum: for a point to be a minimum the
#   loss must curve upwards in *every* one of millions of directions, and Dauphin et al. (2014, "Identifying and
#   attacking the saddle point problem in high-dimensional non-convex optimization") showed, in theory and on real
#   networks, that high-loss critical points are overwhelmingly **saddle points**, with some direction still going
#   down. What slows training is plateaus near such saddles and ill-conditioned valleys like the one above, not walls.
#   (§4 adds one more observation: a big network trained on 1,000 images reaches almost zero training error.)
# - A direct look, as in Goodfellow, Vinyals & Saxe (2015, "Qualitatively characterizing neural network optimization
#   problems"): evaluate the training loss on the straight line $\theta(\alpha) = (1-\alpha)\,\theta_A + \alpha\,\theta_B$
#   between two weight vectors. Below, line 1 runs from the initial weights ($\alpha = 0$) to the weights Adam found in
#   §2 ($\alpha = 1$); line 2 from the weights SGD + momentum found ($\alpha = 0$) to Adam's ($\alpha = 1$), both
#   started from the same initial weights (same seed). The loss is measured on 5,000 training images.

# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(SEED)
line_model = make_mlp()  # same seed, same architecture: the initial weights of every §2 run
w_init = line_model.get_weights()
w_adam = opt_runs["Adam"]["model"].get_weights()
w_momentum = opt_runs["SGD+momentum"]["model"].get_weights()
x_line, y_line = x_sub[:5000], y_sub[:5000]
alphas = np.linspace(-0.25, 1.25, 31)


def loss_along_line(start, end):
    """Training loss at (1 - α)·start + α·end, for every α in `alphas`."""
    losses = []
    for a in alphas:
        line_model.set_weights([(1 - a) * s + a * e for s, e in zip(start, end, strict=True)])
        losses.append(float(LOSS(y_line, line_model(x_line, training=False))))
    return np.array(losses)


line_init = loss_along_line(w_init, w_adam)
line_between = loss_along_line(w_momentum, w_adam)
inside = (alphas >= 0) & (alphas <= 1)
rises = np.diff(line_init[inside]) > 0
print(f"line 1 (init -> Adam): loss {line_init[inside][0]:.3f} at α=0 -> {line_init[inside][-1]:.3f} at α=1; "
      f"steps along the line where the loss goes up: {rises.sum()} of {rises.size}")
barrier = line_between[inside].max() - max(line_between[inside][0], line_between[inside][-1])
print(f"line 2 (SGD+momentum -> Adam): ends {line_between[inside][0]:.3f} and {line_between[inside][-1]:.3f}; "
      f"highest point in between exceeds the higher end by {barrier:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, losses, title, ends in [
    (axes[0], line_init, "line 1: initial weights → Adam's solution", ("init", "Adam")),
    (axes[1], line_between, "line 2: SGD+momentum's solution → Adam's", ("SGD+mom.", "Adam")),
]:
    ax.plot(alphas, losses, "o-", ms=3)
    for a, label in zip((0, 1), ends, strict=True):
        ax.axvline(a, color="0.6", ls=":")
        ax.annotate(label, (a, losses.max()), ha="center", va="top", fontsize=8)
    ax.set(xlabel="α", ylabel="training loss (5,000 images)", title=title)
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# Line 1 goes downhill all the way from the initial weights to Adam's solution (the loss rises at 0 of the
# 20 steps along it, printed above): the straight line between start and end has no barrier. Training did not
# follow this line, so this says nothing about the path the optimizer took (Goodfellow et al. make the same caveat),
# only that a barrier-free route between the two points exists. Line 2, between two different solutions, has a small bump: from 0.281 at SGD + momentum's end the loss rises to about 0.31 near the middle and falls to 0.234 at Adam's end, so the highest point is 0.031 above the higher end (printed above). The two runs ended in different places, each at the bottom of its own shallow dip along this line, separated by a low ridge, and both at a low loss compared with the 2.48 they started from. This does not prove that no bad minimum exists
# anywhere (a line is one direction out of 235,146), but it is the typical picture measured for networks of this kind,
# and it agrees with the saddle-point view above. The practical lesson: when training stalls, suspect the learning
# rate, the initialization (§3) or the conditioning (momentum, Adam, batch normalization), not a local minimum.

# %% [markdown]
# ## 3. Initialization, vanishing and exploding signals, and batch normalization
#
# **Idea.** A deep network multiplies its input by one weight matrix per layer. If each layer scales the signal by
# a factor $a$, after $L$ layers it is scaled by $a^L$: for $L = 12$, $a = 0.5$ gives $2.4\times10^{-4}$ and $a = 2$
# gives $4096$. The backward pass multiplies the error signal by the same matrices (transposed), so the signal
# flowing back, $\partial L/\partial h^{(l)}$ for the output $h^{(l)}$ of layer $l$, vanishes or explodes the same
# way, towards the input. Initialization chooses the weights' scale so that $a \approx 1$.
#
# Keep two things apart. The *backward signal* shrinks or grows with depth. The *weight gradient*, what the optimizer
# uses, is $\partial L/\partial W^{(l)} = \delta^{(l)} h^{(l-1)\top}$ with $\delta^{(l)} = \partial L/\partial z^{(l)}$, the
# signal at layer $l$'s pre-activation $z^{(l)}$ ($= \partial L/\partial h^{(l)}$ with the entries of inactive ReLUs set
# to 0, so of the same order). It is a product of a backward factor that shrinks towards the input and a forward factor
# $h^{(l-1)}$ that shrinks towards the output; in a network scaled the same way at every layer the two trends largely
# cancel, and the weight gradients come out uniformly tiny (scale too small) or uniformly huge (scale too large) in
# every layer. That is what "vanishing" and "exploding" gradients mean for the networks below; the picture "early
# layers get smaller gradients than late ones" does not show up in them.
#
# **Math.** Take one dense layer $z_j = \sum_{i=1}^{n_\text{in}} w_{ji} h_i$ with independent zero-mean weights of
# variance $\sigma_w^2$, independent of the inputs $h_i$. Then
#
# $$
# \operatorname{Var}(z_j) = n_\text{in}\, \sigma_w^2\, \mathbb{E}[h_i^2].
# $$
#
# With $h = \operatorname{ReLU}(z)$ of the previous layer, and $z$ symmetric around zero,
# $\mathbb{E}[h^2] = \tfrac12 \operatorname{Var}(z)$ (ReLU zeroes half of the distribution). So each layer multiplies
# the variance by $\tfrac12 n_\text{in}\sigma_w^2$, and the standard deviation by $a = \sqrt{n_\text{in}\sigma_w^2/2}$:
#
# - **zeros**, $\sigma_w = 0$: every activation is $0$, every gradient of a hidden weight is $0$ — nothing can learn.
#   More generally, any *constant* initialization makes all units of a layer compute the same function and receive
#   the same gradient, so they stay identical forever (**the symmetry problem**). Random initialization breaks it.
# - **small normal**, $\sigma_w = 0.01$, width $n_\text{in} = 128$: $a = \sqrt{128 \cdot 10^{-4}/2} = 0.08$ — the signal
#   shrinks by about $12\times$ per layer: **vanishing**.
# - **large normal**, $\sigma_w = 0.2$: $a = \sqrt{128 \cdot 0.04/2} = 1.6$ — the signal grows by $1.6\times$ per
#   layer: **exploding**.
# - **Glorot/Xavier** (Keras's default, `glorot_uniform`): $\sigma_w^2 = \frac{2}{n_\text{in} + n_\text{out}}$, a compromise
#   that keeps the variance constant in the forward *and* backward pass for activations that are linear around zero
#   (tanh). With ReLU, $a = 1/\sqrt2$ for square layers: a slow vanishing, $2^{-11/2} \approx 1/45$ from layer 1 to layer 12
#   (11 layer-to-layer steps).
# - **He/Kaiming** (`he_normal`): $\sigma_w^2 = \frac{2}{n_\text{in}}$, exactly $a = 1$ for ReLU.
#
# **Batch normalization** (Ioffe & Szegedy, 2015) normalizes each unit's pre-activation over the mini-batch, then lets
# the network choose the scale and offset it wants:
#
# $$
# \mu_B = \frac1B\sum_{i=1}^B z_i,\qquad \sigma_B^2 = \frac1B\sum_{i=1}^B (z_i - \mu_B)^2,\qquad
# \hat z_i = \frac{z_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}},\qquad y_i = \gamma\, \hat z_i + \beta,
# $$
#
# with learned $\gamma, \beta$ per unit. Whatever the scale of $W$, the next layer sees inputs of a controlled scale,
# so the $a^L$ compounding cannot happen. During training the batch statistics are used; for inference Keras uses
# moving averages of them, updated with `momentum=0.99` (so they need a few hundred steps to settle: a BN model
# evaluated after very few steps can look much worse than it is). BN also adds a little noise (each example's
# normalization depends on the other examples in its batch), which acts as a mild regularizer. In the networks below, the BN versions also drop the Dense
# biases (`use_bias=False`: BN's $\beta$ does their job), so they differ from the plain ones in that too.
#
# **Code.** A deep net: 12 hidden layers of 128 ReLU units, each layer with its own freshly drawn weight matrix
# (see Pitfall 3 for what happens when layers share one initializer object). To look inside, we build a second Keras model that returns
# every hidden activation, run one batch of 512 training images through it under a `tf.GradientTape`, and ask the
# tape for two kinds of gradients per layer: the gradient with respect to the layer's weight matrix (what the
# optimizer uses) and the gradient with respect to the layer's ReLU output $h^{(l)}$ (the error signal flowing
# backwards). Each network is built twice more with batch normalization between Dense and ReLU ("+ BN").

# %%
DEPTH, WIDTH = 12, 128
# Each entry is a function that returns a NEW initializer object. Every layer must get its own: in Keras 3 one
# unseeded initializer object passed to several layers gives them all the SAME matrix (Pitfall 3).
INITIALIZERS = {
    "zeros": keras.initializers.Zeros,
    "small normal (σ=0.01)": lambda: keras.initializers.RandomNormal(stddev=0.01),
    "large normal (σ=0.2)": lambda: keras.initializers.RandomNormal(stddev=0.2),
    "Glorot uniform": keras.initializers.GlorotUniform,
    "He normal": keras.initializers.HeNormal,
}


def make_deep(new_initializer, batch_norm=False):
    """784 -> 12 x Dense(128, ReLU) -> 10 logits; optionally BatchNorm between each Dense and its ReLU.

    `new_initializer()` is called once per layer, so that every layer draws its own random matrix."""
    layers = [keras.Input((784,), name="pixels")]
    for i in range(1, DEPTH + 1):
        # With BatchNorm right after it, a Dense bias is redundant (BN subtracts the mean and adds its own beta).
        layers.append(L.Dense(WIDTH, kernel_initializer=new_initializer(), use_bias=not batch_norm, name=f"dense_{i}"))
        if batch_norm:
            layers.append(L.BatchNormalization(name=f"bn_{i}"))
        layers.append(L.Activation("relu", name=f"relu_{i}"))
    layers.append(L.Dense(10, kernel_initializer=new_initializer(), name="logits"))
    return keras.Sequential(layers, name="deep_bn" if batch_norm else "deep")


x_probe, y_probe = x_sub[:512], y_sub[:512]


def layer_statistics(model):
    """Per hidden layer: std of activations, std of dLoss/dKernel, std of dLoss/dActivation (one batch)."""
    hidden = [model.get_layer(f"relu_{i}").output for i in range(1, DEPTH + 1)]
    probe = keras.Model(model.inputs[0], [*hidden, model.outputs[0]])
    kernels = [model.get_layer(f"dense_{i}").kernel for i in range(1, DEPTH + 1)]
    with tf.GradientTape() as tape:
        *activations, logits = probe(x_probe, training=True)
        loss = LOSS(y_probe, logits)
    grad_kernels, grad_activations = tape.gradient(loss, [kernels, activations])
    std = lambda tensors: [float(tf.math.reduce_std(t)) for t in tensors]  # noqa: E731
    return {
        "activation std": std(activations),
        "weight-gradient std": std(grad_kernels),
        "backward-signal std": std(grad_activations),
        "loss": float(loss),
    }


stats = {}
for name, initializer in INITIALIZERS.items():
    keras.utils.set_random_seed(SEED)
    stats[name] = layer_statistics(make_deep(initializer))
for name in ("small normal (σ=0.01)", "large normal (σ=0.2)"):
    keras.utils.set_random_seed(SEED)
    stats[name + " + BN"] = layer_statistics(make_deep(INITIALIZERS[name], batch_norm=True))

# %%
# NBVAL_IGNORE_OUTPUT
pd.DataFrame(
    {
        "loss at init": [s["loss"] for s in stats.values()],
        "act. std, layer 1": [s["activation std"][0] for s in stats.values()],
        f"act. std, layer {DEPTH}": [s["activation std"][-1] for s in stats.values()],
        f"act. std, layer 1 / layer {DEPTH}": [s["activation std"][0] / max(s["activation std"][-1], 1e-30)
                                         for s in stats.values()],
        "grad std, layer 1": [s["weight-gradient std"][0] for s in stats.values()],
        f"grad std, layer {DEPTH}": [s["weight-gradient std"][-1] for s in stats.values()],
        "grad std max/min": [max(g) / max(min(g), 1e-30) for g in (s["weight-gradient std"] for s in stats.values())],
    },
    index=list(stats),
).map("{:.2e}".format)  # scientific notation: the values span 30 orders of magnitude

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
layers_axis = np.arange(1, DEPTH + 1)
for name, s in stats.items():
    if name == "zeros":  # all exactly 0: nothing to draw on a log scale (see the table)
        continue
    style = "--" if name.endswith("+ BN") else "-"
    for ax, key in zip(axes, ["activation std", "backward-signal std", "weight-gradient std"], strict=True):
        ax.plot(layers_axis, s[key], style, marker="o", ms=3, label=name)
titles = [
    "forward: std of activations",
    "backward: std of ∂loss/∂h (h = ReLU output)",
    "what the optimizer sees: std of ∂loss/∂W",
]
for ax, title in zip(axes, titles, strict=True):
    ax.set(yscale="log", xlabel="hidden layer (1 = next to the input)", title=title)
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.suptitle(f"A {DEPTH}-layer ReLU network at initialization, one batch of {len(x_probe)} images")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reading the picture** (log scales: each grid line is a factor of 10):
#
# - **Small normal** — the forward signal shrinks by roughly $12\times$ per layer, as predicted, to about $10^{-14}$
#   at layer 12; the output is essentially constant, so the loss is $\ln 10 \approx 2.303$ (a uniform guess). The
#   backward signal vanishes in the other direction, towards the input. A weight gradient is the product of the two
#   ($\partial L/\partial W^{(l)} = \delta^{(l)} h^{(l-1)\top}$), so it is astronomically small (about $10^{-16}$) in
#   *every* layer: no optimizer can make progress from there.
# - **Large normal** — the signal grows $\approx 1.6\times$ per layer and the backward signal grows towards the
#   input; the logits are in the hundreds and the loss at initialization is huge. The weight gradients are huge in
#   every layer, and if anything larger near the *output* (about 4 in layer 1, 20 in layer 12, table), not near the
#   input: "exploding" here means uniformly huge steps, and the first SGD steps throw the weights far away (in the
#   training check below the first-epoch loss overflows to `inf`).
# - **Glorot** — a steady decline forward, by $52\times$ from layer 1 to layer 12 (table; the math above says
#   $2^{11/2} \approx 45\times$), and a matching decline of the backward signal towards the input; its weight gradients
#   are flat across layers but about 175–280× smaller than He's ($6.1\times10^{-5}$ against $1.1\times10^{-2}$ in
#   layer 1, $7.0\times10^{-5}$ against $2.0\times10^{-2}$ in layer 12): trainable, but slower.
# - **He** — nearly flat: activations and weight gradients stay within a factor of about 2 over all 12 layers (the
#   activations grow a little, from 0.39 to 0.83), against factors of $10^{12}$ for small normal.
# - **Zeros** — not drawn: every activation and every gradient of a hidden weight is exactly $0$ (the table), so
#   the hidden layers never change.
# - **+ BN (dashed)** — with batch normalization, even the two bad initializations give flat activation profiles.
# - **In no network** do the weight gradients change much from layer to layer (column "grad std max/min": at most
#   about 6): what vanishes or explodes with depth is the backward signal, while the weight gradients are uniformly
#   too small, right, or too large.
#
# **Check by training.** The same deep net, trained for a few epochs with SGD + momentum on 10,000 images:

# %%
# NBVAL_IGNORE_OUTPUT
N_INIT, INIT_EPOCHS = du.pick(full=10_000, quick=1000), du.pick(full=5, quick=1)
INIT_RUNS = {
    "small normal (σ=0.01)": ("small normal (σ=0.01)", False),
    "small normal (σ=0.01) + BN": ("small normal (σ=0.01)", True),
    "large normal (σ=0.2)": ("large normal (σ=0.2)", False),
    "Glorot uniform": ("Glorot uniform", False),
    "He normal": ("He normal", False),
}
init_runs = {}
for run_name, (init_name, bn) in INIT_RUNS.items():
    _, history, seconds = train(
        lambda init_name=init_name, bn=bn: make_deep(INITIALIZERS[init_name], batch_norm=bn),
        keras.optimizers.SGD(learning_rate=0.02, momentum=0.9),
        x_sub[:N_INIT], y_sub[:N_INIT], INIT_EPOCHS,
    )  # fmt: skip
    init_runs[run_name] = dict(history=history, seconds=seconds)
pd.DataFrame(
    {
        "first-epoch train loss": [r["history"]["loss"][0] for r in init_runs.values()],
        "final train loss": [r["history"]["loss"][-1] for r in init_runs.values()],
        "final val accuracy": [r["history"]["val_accuracy"][-1] for r in init_runs.values()],
        "train seconds": [r["seconds"] for r in init_runs.values()],
    },
    index=list(init_runs),
)

# %%
fig = plot_runs({k: r["history"] for k, r in init_runs.items()}, metrics=("loss", "val_accuracy"),
                title=f"The {DEPTH}-layer net: initialization and batch normalization")  # fmt: skip
fig.axes[1].set_title("val_accuracy\n(small normal and large normal coincide at 0.10)", fontsize=10)
plt.show()

# %% [markdown]
# The small-normal network never leaves chance level: its loss stays at $\ln 10$ because its weight gradients are
# around $10^{-16}$. The large-normal network's first-epoch loss overflows to `inf` (not drawn), and from then on it
# sits at $\ln 10 \approx 2.303$ with chance accuracy; in the plot its line lies exactly on the small-normal one (table:
# both end at 2.3025 and 0.100). The huge first steps threw the weights to a place where the ReLUs are *dead*: a dead
# ReLU unit gets a negative input for every example, so it outputs 0 and passes no gradient back, and it never
# recovers (Pitfall 1 in §6 shows the same symptom). With batch normalization added, the *same* tiny initial weights train: its
# validation accuracy stays at chance for two epochs while its training loss is already the lowest of all, then
# jumps to about 0.75 in epoch 4 — at inference BN uses its moving averages, which start at mean 0 and variance 1 and need a few hundred
# steps (here 79 per epoch) to reach the real statistics. (Does the large-normal net with BN, whose statistics are
# flat in the plot above, train as well? Try it.) He initialization trains without BN and ends highest here (0.781);
# Glorot trains too but starts slower (first-epoch loss 2.17 against He's 1.42), because its signal shrinks by about
# $50\times$ over the 12 layers and its weight gradients are about 175–280× smaller; after five epochs Glorot (0.733)
# and the BN network (0.729) are level. (The "train seconds" are totals for five epochs on a shared machine, and the
# four runs without BN, which do the same computation, range from about 8 to 12 s: they do not measure what BN costs.) In practice:
# use He initialization for ReLU networks (Glorot for tanh/sigmoid), and add batch normalization when a network is
# deep or hard to train.
#
# ## 4. Overfitting and regularization
#
# **Idea.** A network with many more parameters than training examples can memorize its training set: training
# accuracy goes to (nearly) 100 % while validation accuracy stops improving and the validation loss rises again — the
# model becomes confidently wrong on new data. Regularization restricts what the network can fit, trading a little
# training accuracy for better generalization. To make overfitting plain, we train a big network (two hidden layers
# of 512 units, about 670,000 parameters) on only **1,000** training images for 40 epochs (batch size 32), and measure
# each model's accuracy on its training images and on the validation split (both in inference mode, i.e. without
# dropout). All runs use Adam with its learning rate decayed from $10^{-3}$ to 0 by a **cosine schedule**,
# $\eta_t = \tfrac12\,\eta_0\,\bigl(1 + \cos(\pi t/T)\bigr)$ at step $t$ of $T$: the rate starts at $\eta_0$, falls
# slowly, then fast in the middle, then slowly again to 0 at the last step (§5 plots it and compares it with other
# schedules). Why a schedule here: we expect that with a constant
# rate the last noisy steps on such a small training set would move the final accuracies from one epoch to the next
# and blur the differences we want to see. This notebook does not measure that; Exercise 3 asks you to check it.
#
# | technique | what it does | in Keras |
# |---|---|---|
# | L2 penalty | adds $\lambda \sum_w w^2$ to the loss: gradient $2\lambda w$ pulls every weight towards 0 | `kernel_regularizer=keras.regularizers.L2(λ)` |
# | L1 penalty | adds $\lambda \sum_w \lvert w\rvert$: gradient $\lambda\, \operatorname{sign}(w)$, pushes weights towards 0; exact zeros would need a proximal (soft-thresholding) update, which Keras's gradient-based optimizers do not do (the table counts kernel weights with $\lvert w\rvert < 10^{-3}$) | `keras.regularizers.L1(λ)` |
# | dropout | during training, $\tilde h = \frac{m \odot h}{1-p}$ with $m_j \sim \text{Bernoulli}(1-p)$: each unit is dropped with probability $p$; at inference $\tilde h = h$ (the $1/(1-p)$ keeps the expected value equal) | `L.Dropout(p)` |
# | batch normalization | §3; the batch noise regularizes a little | `L.BatchNormalization()` |
# | decoupled weight decay | $\theta \leftarrow \theta - \eta_t\lambda\theta$ each step, outside Adam's normalization (§2) | `keras.optimizers.AdamW(weight_decay=λ)` |
# | early stopping | stop when the validation loss has not improved for `patience` epochs and go back to the weights of the best epoch seen so far | `keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)` |
#
# Keras's reported `loss` and `val_loss` *include* the L1/L2 penalty terms, so they are not comparable across runs;
# the `xent` metric we log (the cross-entropy alone) is. The strengths ($\lambda$, $p$) below come from an informal search on the
# validation split that is not part of this notebook (too little does nothing, too much underfits: Exercise 3). Its
# criterion is not recorded, but it cannot have been validation accuracy alone: L2 at $10^{-2}$ turns out
# significantly *worse* than the baseline below. The
# same validation split then judges the runs, so any comparison that favours a regularizer is slightly optimistic.
# Two side differences: Keras's `AdamW` decays every variable, biases included, while the L1/L2 regularizers act on
# kernels only; and the batch-norm model has no Dense biases but a learned $\gamma, \beta$ per unit. The AdamW $\lambda$
# looks large next to the usual $10^{-2}$–$10^{-1}$ because the decay per step is $\eta_t\lambda$: with
# $\eta \le 10^{-3}$ and only 1,280 steps, a small $\lambda$ barely shrinks anything.

# %%
N_SMALL, OVERFIT_EPOCHS = du.pick(full=1000, quick=300), du.pick(full=40, quick=3)
x_small, y_small = x_sub[:N_SMALL], y_sub[:N_SMALL]


def make_big(regularizer=None, dropout=0.0, batch_norm=False):
    """784-512-512-10, He init; optional weight penalty, dropout or batch normalization."""
    layers = [keras.Input((784,), name="pixels")]
    for i in (1, 2):
        layers.append(L.Dense(512, kernel_initializer="he_normal", kernel_regularizer=regularizer,
                              use_bias=not batch_norm, name=f"hidden_{i}"))  # fmt: skip
        if batch_norm:
            layers.append(L.BatchNormalization(name=f"bn_{i}"))
        layers.append(L.Activation("relu", name=f"relu_{i}"))
        if dropout:
            layers.append(L.Dropout(dropout, name=f"dropout_{i}"))
    layers.append(L.Dense(10, kernel_regularizer=regularizer, name="logits"))
    return keras.Sequential(layers, name="big_mlp")


# Learning rate 1e-3, decayed to 0 over the run by a cosine (§5); the same for every run.
overfit_lr = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=OVERFIT_EPOCHS * int(np.ceil(N_SMALL / 32)))
adam = lambda: keras.optimizers.Adam(learning_rate=overfit_lr)  # noqa: E731
REGULARIZATION = {  # name: (model builder, optimizer factory, callbacks factory)
    "none (baseline)": (lambda: make_big(), adam, list),
    "L1 (λ=3e-4)": (lambda: make_big(regularizer=keras.regularizers.L1(3e-4)), adam, list),
    "L2 (λ=1e-2)": (lambda: make_big(regularizer=keras.regularizers.L2(1e-2)), adam, list),
    "dropout (p=0.5)": (lambda: make_big(dropout=0.5), adam, list),
    "batch norm": (lambda: make_big(batch_norm=True), adam, list),
    "AdamW (λ=5)": (lambda: make_big(), lambda: keras.optimizers.AdamW(overfit_lr, weight_decay=5.0), list),
    "early stopping": (lambda: make_big(), adam,
                       lambda: [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]),
}  # fmt: skip
make_big().summary()


# %%
# NBVAL_IGNORE_OUTPUT
def run_regularized(name, build, optimizer, epochs, callbacks=()):
    model, history, seconds = train(build, optimizer, x_small, y_small, epochs, batch_size=32, callbacks=callbacks)
    train_acc = model.evaluate(x_small, y_small, batch_size=1024, verbose=0, return_dict=True)["accuracy"]
    val_pred = np.argmax(model(x_val, training=False), axis=1)  # kept for a paired test below
    kernels = np.concatenate([layer.kernel.numpy().ravel() for layer in model.layers if hasattr(layer, "kernel")])
    reg_runs[name] = dict(history=history, seconds=seconds, train_acc=train_acc, val_acc=float(np.mean(val_pred == y_val)),
                          val_correct=val_pred == y_val, lr_at_end=float(model.optimizer.learning_rate),
                          small_weights=float(np.mean(np.abs(kernels) < 1e-3)))  # fmt: skip


reg_runs = {}
for name, (build, make_optimizer, make_callbacks) in REGULARIZATION.items():
    callbacks = make_callbacks()
    run_regularized(name, build, make_optimizer(), OVERFIT_EPOCHS, callbacks)
stopper = callbacks[0]  # the EarlyStopping callback of the last run
restored_epoch = stopper.best_epoch + 1  # Keras counts epochs from 0
print(f"early stopping: ran {len(reg_runs['early stopping']['history']['loss'])} of {OVERFIT_EPOCHS} epochs, "
      f"restored the weights of epoch {restored_epoch} (lowest val_loss, {stopper.best:.4f}); "
      f"learning rate when it stopped: {reg_runs['early stopping']['lr_at_end']:.1e} of 1e-03")  # fmt: skip

# The early-stopping run shares the baseline's schedule, sized for 40 epochs, so it stopped before the rate decayed.
# Use the epoch count it found as the budget, with the cosine sized for that budget (no callback):
steps_small = int(np.ceil(N_SMALL / 32))
resized_name = f"cosine sized to {restored_epoch} epochs"
run_regularized(resized_name, lambda: make_big(), keras.optimizers.Adam(
    keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=restored_epoch * steps_small)), restored_epoch)

reg_table = pd.DataFrame(
    {
        "epochs run": [len(r["history"]["loss"]) for r in reg_runs.values()],
        "train accuracy": [r["train_acc"] for r in reg_runs.values()],
        "val accuracy": [r["val_acc"] for r in reg_runs.values()],
        "gap (train − val)": [r["train_acc"] - r["val_acc"] for r in reg_runs.values()],
        "kernel |w| < 1e-3": [r["small_weights"] for r in reg_runs.values()],
        "train seconds": [r["seconds"] for r in reg_runs.values()],
    },
    index=list(reg_runs),
)
reg_table

# %% [markdown]
# First, what overfitting looks like, in the baseline's own learning curves:

# %%
du.plot.learning_curves(reg_runs["none (baseline)"]["history"], metrics=["loss", "accuracy"],
                        title=f"Baseline: a 670k-parameter MLP on {N_SMALL:,} images")  # fmt: skip
plt.show()

# %% [markdown]
# The training loss keeps falling towards zero and the training accuracy reaches 100 % (0.998 in the table): the
# network has memorized its 1,000 images. The validation loss falls for the first six epochs, wanders between about
# 0.6 and 0.85 up to epoch 14, where it is lowest (0.598), and then settles near 0.70, above that minimum — the network
# grows ever more confident on the images it memorized, and on new images that confidence is partly misplaced — while
# the validation accuracy levels off near 0.83, far below the training accuracy.
#
# **What early stopping did with this curve.** Its run is the baseline's, step for step, until it stops (same seed,
# same schedule; only the callback is added). With `patience=10` it ran 24 epochs and restored the weights of
# epoch 14, the lowest validation loss it had seen (printed above the table). Two things to know:
#
# - It can only go back to the best epoch *seen before it stopped*. With `patience=5` it would have stopped at epoch 11,
#   five epochs after the dip at epoch 6, and gone back to epoch 6, missing the lower minimum at epoch 14.
# - It cuts the learning-rate schedule short. The cosine was sized for 40 epochs, so when it stopped the rate was still
#   $3.5\times10^{-4}$ (printed), and the restored weights of epoch 14 come from a rate of about $7.5\times10^{-4}$:
#   this run never got the small final steps. The last row, "cosine sized to 14 epochs", takes the budget early
#   stopping found and gives it a schedule that decays to 0 over those 14 epochs (no callback).
#
# Now all eight runs, one column each. The cross-entropy row is on a log scale so that batch norm's early spikes
# fit; the dotted line in the early-stopping column marks the epoch whose weights it restored (the curves after it
# belong to weights it threw away). Differences of a point in validation accuracy are too small to see in the bottom
# row: for those, use the table.

# %%
names = list(reg_runs)
rows = [("accuracy", "training accuracy\n(training mode)"), ("val_xent", "validation\ncross-entropy"),
        ("val_accuracy", "validation accuracy")]  # fmt: skip
fig, axes = plt.subplots(len(rows), len(names), figsize=(2.1 * len(names), 6.2), sharex=True, sharey="row")
base = reg_runs["none (baseline)"]["history"]
for col, name in enumerate(names):
    h = reg_runs[name]["history"]
    for row, (metric, label) in enumerate(rows):
        ax = axes[row, col]
        ax.plot(np.arange(1, len(base[metric]) + 1), base[metric], color="0.7", lw=1.5, label="baseline")
        ax.plot(np.arange(1, len(h[metric]) + 1), h[metric], color="C3", lw=1.2, label=name)
        ax.grid(alpha=0.3)
        if col == 0:
            ax.set_ylabel(label, fontsize=8)
        if row == len(rows) - 1:
            ax.set_xlabel("epoch", fontsize=8)
    axes[0, col].set_title(name, fontsize=8)
axes[1, 0].set_yscale("log")  # cross-entropy: log scale, nothing clipped (batch norm's early spikes are large)
for row in range(len(rows)):
    axes[row, names.index("early stopping")].axvline(restored_epoch, color="k", ls=":", lw=1)
axes[0, names.index("early stopping")].annotate(f"restored:\nepoch {restored_epoch}", (restored_epoch, 0.55), fontsize=7)
axes[0, 0].legend(["baseline (grey, in every panel)", "this run (red)"], fontsize=7, loc="lower right")
fig.suptitle("One column per run; the baseline in grey for reference", fontsize=10)
fig.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
candidates_reg = [k for k in reg_runs if k != "none (baseline)"]
best_regularizer = max(candidates_reg, key=lambda k: reg_runs[k]["val_acc"])
# Paired comparison on the same 10,000 validation images (McNemar's exact test): only the images that one model
# gets right and the other wrong carry information about which is better.
from scipy.stats import binomtest  # noqa: E402

mcnemar_p = {}
for name in candidates_reg:
    a, b = reg_runs[name]["val_correct"], reg_runs["none (baseline)"]["val_correct"]
    only_run, only_base = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = binomtest(only_run, only_run + only_base).pvalue if only_run + only_base else 1.0  # identical predictions
    mcnemar_p[name] = p
    print(f"{name:28s} val acc {reg_runs[name]['val_acc']:.4f} vs baseline {reg_runs['none (baseline)']['val_acc']:.4f}"
          f" | right only here {only_run:4d}, only baseline {only_base:4d} | McNemar p = "
          f"{f'{p:.3f}' if p >= 0.001 else '< 0.001'}")  # fmt: skip
print(f"{len(candidates_reg)} tests against the same baseline: Bonferroni threshold 0.05 / {len(candidates_reg)} = "
      f"{0.05 / len(candidates_reg):.4f}")  # fmt: skip
print(f"highest validation accuracy with 1,000 images: {best_regularizer} ({reg_runs[best_regularizer]['val_acc']:.4f},"
      f" McNemar p = {mcnemar_p[best_regularizer]:.3f} against the baseline)")  # fmt: skip
sec2 = {k: r["history"]["val_accuracy"][-1] for k, r in opt_runs.items()}
print(f"§2 runs with {len(x_sub):,} images, no regularizer: val accuracy {min(sec2.values()):.4f} ({min(sec2, key=sec2.get)})"
      f" to {max(sec2.values()):.4f} ({max(sec2, key=sec2.get)})")  # fmt: skip

# %% [markdown]
# **Reading the table and curves** (full-profile run stored here).
#
# *The paired test.* Two models are compared on the same 10,000 validation images. Images both get right, or both get
# wrong, say nothing about which model is better; McNemar's test looks only at the images exactly one of them gets
# right ("right only here" and "only baseline" above). If the two models were equally good, each such image would fall
# on either side with probability ½, like a fair coin; the p-value is the probability of a split at least as lopsided
# as the one observed if that were so. A small p (conventionally below 0.05) says the difference is unlikely to be
# luck of this validation set; a large p means a tie. It says nothing about other seeds or other training sets.
#
# - The baseline memorizes its 1,000 images (training accuracy 0.998) while its validation cross-entropy stalls near
#   0.70. This also answers §2's local-minima question for this network: with 670,000 parameters the optimizer found a
#   point with almost zero training error.
# - L1, L2, dropout and AdamW's weight decay narrow the train/validation gap (0.095–0.124 against the baseline's
#   0.167); batch normalization does not (0.166): it mainly helps *optimization* — it reaches 100 % training accuracy
#   within a few epochs — and its validation cross-entropy jumps for the first dozen epochs while the moving averages
#   settle. The same four end with a lower validation cross-entropy than the baseline (about 0.51–0.55 against 0.70 in
#   the middle row): smaller weights, or for dropout an implicit average over many thinned networks, make the
#   predictions less over-confident (calibration itself is not measured here). L1 leaves most of its kernel weights near 0: 85 % are
#   below $10^{-3}$ in magnitude, against about 1 % for the baseline (column "kernel |w| < 1e-3"; exact zeros are not
#   counted).
# - But judge a regularizer by validation accuracy, not by the gap. In the paired test printed above, no run beats the
#   baseline: batch norm (0.834, the highest, but a tie), dropout (0.832), AdamW (0.829) and the 14-epoch cosine
#   (0.830) are ties with it (0.831; p ≥ 0.24). L2 (0.817, p < 0.001) is significantly *worse*. So is L1 (0.825,
#   p = 0.006) on its own, but seven tests are run against the same baseline, and with a Bonferroni correction
#   (threshold 0.05/7 ≈ 0.007, printed) it only just counts. Most of their narrowing comes from lower training
#   accuracy. At these strengths, regularization gave a lower validation cross-entropy, not a higher accuracy.
# - Early stopping has a smaller gap than the baseline (0.130) and the **worst** validation accuracy (0.809, p < 0.001
#   against the baseline): it kept epoch-14 weights trained at a still-high rate, and it monitored the validation
#   *loss*, whose minimum comes before the validation *accuracy* has finished improving (the over-confidence that
#   raises the loss does not yet flip many predictions). Its real contribution is the budget: with a schedule sized
#   for its 14 epochs, the same network ties the 40-epoch baseline (0.830) in about a third of the epochs. Monitor the
#   quantity you care about (`EarlyStopping(monitor="val_accuracy", mode="max")`), and do not count on the stopping
#   epoch being optimal.
#
# With 1,000 images, a large gap is the honest state of affairs, and more data does what no regularizer here did: the
# best 20,000-image run of §2 (Adam, 0.880) is 4.6 points above the highest run here (batch norm, 0.834), with no
# regularizer at all. (Not a controlled comparison: the §2 runs also differ in the model, 784-256-128-10, the batch
# size, 128, the number of epochs, 10, and the schedule, a constant rate; and §2's plain SGD, 0.822, is below most
# runs here.) Note also that the "accuracy" logged *during* training is measured with dropout active, so it
# understates the dropout model's real training accuracy; the table evaluates in inference mode.
#
# ## 5. Learning-rate schedules
#
# **Idea.** A large learning rate makes fast progress early but keeps bouncing around a minimum; a small one
# settles but is slow. Schedules start large and end small. With $t$ the step, $T$ the total number of steps and
# $\eta_0$ the initial (peak) learning rate:
#
# - **step decay**: multiply by $\gamma$ at fixed milestones, here $\eta_t = \eta_0 \cdot 0.1^{k(t)}$ with $k$ the
#   number of milestones passed (at 50 % and 80 % of training) — `keras.optimizers.schedules.PiecewiseConstantDecay`;
# - **exponential decay**: $\eta_t = \eta_0\, \gamma^{t/T}$, a smooth version; here $\gamma = 0.01$, so the rate
#   ends 100× lower — `ExponentialDecay(η0, decay_steps=T, decay_rate=0.01)`;
# - **cosine annealing with linear warm-up** over $T_w$ steps:
#
# $$
# \eta_t = \begin{cases} \eta_0\, \dfrac{t}{T_w}, & t < T_w,\\[2ex]
# \eta_\text{min} + \tfrac12 (\eta_0 - \eta_\text{min}) \left(1 + \cos\!\left(\pi\, \dfrac{t - T_w}{T - T_w}\right)\right), & T_w \le t \le T,
# \end{cases}
# $$
#
#   here with $\eta_\text{min} = 0$ and $T_w$ = one epoch — `CosineDecay(0.0, decay_steps=T − T_w, warmup_target=η0,
#   warmup_steps=T_w)`. The warm-up protects the first steps, when Adam's second-moment estimates are still noisy and
#   the weights random, from a full-size learning rate;
# - **reduce on plateau**: not a function of $t$ but of progress — halve the rate whenever the validation loss has
#   not improved for one epoch (`keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1)`).
#
# All four use Adam with $\eta_0 = 2\times10^{-3}$ (decaying schedules tolerate a larger start). There are two
# constant-rate baselines: the Adam run of §2 ($10^{-3}$), and Adam at the schedules' peak rate $2\times10^{-3}$, so
# that the effect of the schedule can be told apart from the effect of the higher rate. A small callback records the learning rate the optimizer uses at every
# step, so the plot shows what really happened, including the plateau reductions.

# %%
PEAK_LR = 2e-3
S = keras.optimizers.schedules


def schedule_setups(steps_per_epoch, epochs):
    """{name: function() -> (optimizer, callbacks)}, for a run of `epochs` epochs of `steps_per_epoch` steps."""
    total = steps_per_epoch * epochs
    milestones = [int(0.5 * total), int(0.8 * total)]
    return {
        "constant 2e-3": lambda: (keras.optimizers.Adam(PEAK_LR), []),  # control: the peak rate, no schedule
        "step decay": lambda: (keras.optimizers.Adam(S.PiecewiseConstantDecay(
            milestones, [PEAK_LR, PEAK_LR * 0.1, PEAK_LR * 0.01])), []),
        "exponential decay": lambda: (keras.optimizers.Adam(S.ExponentialDecay(PEAK_LR, total, 0.01)), []),
        "cosine + warm-up": lambda: (keras.optimizers.Adam(S.CosineDecay(
            0.0, total - steps_per_epoch, warmup_target=PEAK_LR, warmup_steps=steps_per_epoch)), []),
        "reduce on plateau": lambda: (keras.optimizers.Adam(PEAK_LR),
                                      [keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=1e-5)]),
    }  # fmt: skip


class LearningRateLog(keras.callbacks.Callback):
    """Records the learning rate the optimizer will use for each training step."""

    def on_train_begin(self, logs=None):
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))

# %%
# NBVAL_IGNORE_OUTPUT
steps_per_epoch = int(np.ceil(len(x_sub) / 128))
sched_runs = {}
for name, setup in schedule_setups(steps_per_epoch, EPOCHS).items():
    optimizer, callbacks = setup()
    lr_log = LearningRateLog()
    _, history, seconds = train(make_mlp, optimizer, x_sub, y_sub, EPOCHS, callbacks=[*callbacks, lr_log])
    sched_runs[name] = dict(history=history, seconds=seconds, rates=lr_log.rates)
sched_runs = {"constant (Adam, §2)": dict(opt_runs["Adam"], rates=[1e-3] * steps_per_epoch * EPOCHS), **sched_runs}
sched_table = pd.DataFrame(
    {
        "final val accuracy": [r["history"]["val_accuracy"][-1] for r in sched_runs.values()],
        "final val loss": [r["history"]["val_loss"][-1] for r in sched_runs.values()],
        "final train loss": [r["history"]["loss"][-1] for r in sched_runs.values()],
        "final learning rate": [r["rates"][-1] for r in sched_runs.values()],
    },
    index=list(sched_runs),
)
sched_table

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
styles = {"step decay": ("-", "s", 3.0), "reduce on plateau": ("--", "o", 1.5)}  # identical up to epoch 5
for name, r in sched_runs.items():
    ls, marker, lw = styles.get(name, ("-", "^" if "constant" in name else "v", 1.5))
    axes[0].plot(r["rates"], ls=ls, lw=lw, label=name)
    val_accuracy = r["history"]["val_accuracy"]
    axes[1].plot(np.arange(1, len(val_accuracy) + 1), val_accuracy, ls=ls, lw=lw, marker=marker, ms=4, mfc="none",
                 label=name)  # fmt: skip
axes[0].set(xlabel="training step", ylabel="learning rate", title="learning rate vs step")
axes[1].set(xlabel="epoch", ylabel="val_accuracy", title="validation accuracy")
axes[1].xaxis.set_major_locator(plt.MaxNLocator(integer=True))
for ax in axes:
    ax.grid(alpha=0.3)
fig.legend(*axes[1].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
plt.show()

# %% [markdown]
# In the full-profile run stored here, cosine with warm-up (0.890) and step decay (0.889) end about one point above
# the constant $10^{-3}$ of §2 (0.880); exponential decay (0.881) and reduce-on-plateau (0.882) end level with it (table
# above). Against that baseline two things change at once, the schedule and the peak rate. The control row "constant
# 2e-3" changes only the rate, and it does *not* help: Adam at a constant $2\times10^{-3}$ ends at 0.873, below the
# constant $10^{-3}$. So the gain of cosine and step decay does not come from the higher peak; it comes with the decay.
# One seed: Exercise 1 asks whether a point survives other seeds.
#
# The cleanest view is in the right panel. Step decay (thick solid line), reduce-on-plateau (dashed) and constant
# 2e-3 are the *same* run until the end of epoch 5: same rate $2\times10^{-3}$, same seed, so their markers lie on top
# of each other. At step 785 step decay cuts the rate 10× (its first milestone) and reduce-on-plateau halves it (the
# validation loss had stalled); both jump at epoch 6 (0.862 → about 0.88), while the constant-rate run, which only
# kept its rate, drops to 0.859. The lower rate made the difference; the jump of reduce-on-plateau shows that a 2× cut
# already gives it, so it is not specific to a 10× drop. Exponential decay spends many steps at small rates (it is already 10× down at mid-training);
# reduce-on-plateau reacts only after the validation loss has stalled, and here it cut the rate just twice. Cosine with
# warm-up is among the slowest in the first two epochs (the first epoch is the warm-up) and finishes on top, level
# with step decay; it is the usual choice today because, once the training length is fixed, it has only two knobs: the
# peak rate and the warm-up length.
#
# ### The learning-rate range test
#
# Which peak learning rate? The **range test** (Smith, 2017) answers in one short run: start from a fresh model, raise
# the learning rate exponentially from $10^{-6}$ to $1$ over one epoch — step $k$ of $K$ uses
# $\eta_k = 10^{-6} \cdot (10^{6})^{k/K}$ — and record the loss of every mini-batch (batch size 128, as in the runs it
# advises: the useful rate depends on the batch size). `train_on_batch` does exactly one optimizer step and returns
# that batch's loss.

# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(SEED)
model = make_mlp()
model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
range_batch = 128  # the batch size of every run the test advises
range_steps = len(x_sub) // range_batch
range_lrs = np.geomspace(1e-6, 1.0, range_steps)
range_losses = []
for k, lr in enumerate(range_lrs):
    model.optimizer.learning_rate = lr
    batch = slice(k * range_batch, (k + 1) * range_batch)
    loss = model.train_on_batch(x_sub[batch], y_sub[batch])
    range_losses.append(float(loss))
    if not np.isfinite(loss) or loss > 4 * min(range_losses):  # diverged: the rest of the curve is noise
        break
range_losses = np.array(range_losses)
smoothed = pd.Series(range_losses).ewm(alpha=0.1).mean().to_numpy()  # batch losses are noisy
lr_at_min = range_lrs[np.argmin(smoothed)]
above = np.flatnonzero((np.arange(len(smoothed)) > np.argmin(smoothed)) & (smoothed > 1.5 * smoothed.min()))
lr_turn = range_lrs[above[0]] if above.size else range_lrs[len(smoothed) - 1]  # where the loss clearly turns up
lag = (range_lrs[1] / range_lrs[0]) ** 9  # an EMA with α = 0.1 lags about (1 − α)/α = 9 steps behind
print(f"{len(range_losses)} steps; smoothed loss lowest at lr = {lr_at_min:.1e}; suggested peak lr ≈ {lr_at_min / 10:.1e}")
print(f"smoothed loss back above 1.5× its minimum at lr = {lr_turn:.1e} ({lr_turn / lr_at_min:.0f}× the minimum); "
      f"the EMA's lag of ~9 steps is a factor {lag:.1f} in learning rate")  # fmt: skip

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(range_lrs[: len(range_losses)], range_losses, alpha=0.3, label="batch loss")
ax.plot(range_lrs[: len(range_losses)], smoothed, label="smoothed (EMA)")
ax.axvline(lr_at_min, color="k", ls=":", label=f"minimum, {lr_at_min:.1e}")
ax.axvline(lr_at_min / 10, color="g", ls="--", label=f"one tenth, {lr_at_min / 10:.1e}")
ax.axvline(lr_turn, color="r", ls="-.", label=f"turns up (1.5× min), {lr_turn:.1e}")
ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss", title=f"LR range test (Adam, MLP, batch {range_batch})",
       ylim=(0, 1.5 * np.log(10)))  # fmt: skip
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **How to read it.** From the left: a flat stretch where the rate is too small to change anything; then the loss
# falls steeply — this range of rates learns; then a broad floor; then the steps overshoot, the loss turns up and
# finally explodes (the test stops when the loss reaches 4× its best). Two common rules of thumb: one tenth of the rate
# at the minimum of the smoothed curve (printed above; a cautious choice), or the rate where the curve falls fastest.
# Three cautions. The loss at a given point is not the loss a model trained at that rate would reach (the curve mixes
# the rate's effect with the progress made so far). The smoothing lags: an exponential moving average with
# $\alpha = 0.1$ trails the batch losses by about 9 steps, which moves its minimum to a larger rate by up to the factor
# printed above. And the minimum of a noisy, broad floor is only a rough marker: read the shape, not the third digit.
# Here (batch size 128, printed above) the smoothed loss falls steeply from about $10^{-4}$ to $10^{-3}$, sits on a
# broad floor from about $2\times10^{-3}$ to $2\times10^{-2}$, is lowest at $1.2\times10^{-2}$, and turns up past
# about $5\times10^{-2}$. Adam's default $10^{-3}$ lies at the end of the steep part, the schedules' peak
# $2\times10^{-3}$ at the start of the floor. Both rates were chosen before the test; the next cell checks the one-tenth rule's own suggestion with the
# same 10-epoch run as §2.

# %%
# NBVAL_IGNORE_OUTPUT
# Does the one-tenth rule beat the rates used in this notebook? The same run as Adam in §2, only the rate changed.
tenth_lr = float(f"{lr_at_min / 10:.1e}")
_, tenth_history, _ = train(make_mlp, keras.optimizers.Adam(tenth_lr), x_sub, y_sub, EPOCHS)
print(f"Adam, constant lr {tenth_lr:.1e} (one-tenth rule): final val accuracy {tenth_history['val_accuracy'][-1]:.4f}")
print(f"Adam, constant lr 1.0e-03 (§2):               final val accuracy {opt_runs['Adam']['history']['val_accuracy'][-1]:.4f}")
print(f"cosine + warm-up, peak {PEAK_LR:.1e}:          final val accuracy "
      f"{sched_runs['cosine + warm-up']['history']['val_accuracy'][-1]:.4f}")  # fmt: skip

# %% [markdown]
# At the one-tenth rate ($1.2\times10^{-3}$), Adam ends at 0.881 after 10 epochs, the same as at the $10^{-3}$ of §2
# (0.880): the two rates are almost equal. The cosine schedule with peak $2\times10^{-3}$ does better (0.890), but that
# comparison changes two things, the schedule and the rate; the constant-2e-3 control of §5 (0.873) says the schedule,
# not the higher rate, is what helps. The rule's suggestion depends on details: the useful rate depends on the batch
# size (hence batch 128 here), and the EMA's lag alone can move the minimum by the factor printed above. Read the curve as a map of
# regions rather than as one number. What it marks clearly is where training starts to diverge: the loss turns up past
# about $5\times10^{-2}$ (printed), and Pitfall 1's Adam at 0.1 lies beyond that point. In this run the best peak rate
# sat at the start of the floor, about 6× below the minimum of the smoothed curve.

# %% [markdown]
# ## 6. Pitfalls
#
# **Pitfall 1: a learning rate that is too high.** The symptoms: a training loss that explodes (to huge values or
# `nan`), and then often a loss stuck at $\ln 10 \approx 2.30$ with chance-level accuracy — the huge steps threw the
# weights into a region where every ReLU is "dead" (outputs 0 for every input, so no gradient flows back) and the
# network predicts the same class for everything. Same MLP, same data, only the learning rate changed:

# %%
# NBVAL_IGNORE_OUTPUT
PITFALL_EPOCHS = du.pick(full=3, quick=1)
too_high = {}
for name, optimizer in {"SGD, lr=1.0": keras.optimizers.SGD(1.0), "Adam, lr=0.1": keras.optimizers.Adam(0.1)}.items():
    _, history, _ = train(make_mlp, optimizer, x_sub, y_sub, PITFALL_EPOCHS)
    too_high[name] = history
    print(f"{name:13s} train loss per epoch: {np.round(history['loss'], 3).tolist()} | "
          f"val accuracy: {np.round(history['val_accuracy'], 3).tolist()}")  # fmt: skip

# %% [markdown]
# Compare with the same optimizers at the rates of §2, which train normally (§2's table). When a
# run shows this symptom, run the range test of §5, lower the rate by 10×, or add warm-up; gradient clipping
# (`clipnorm=1.0` in any Keras optimizer) also helps against occasional exploding steps.
#
# **Pitfall 2: constant initialization (the symmetry problem).** Zeros are the obvious case (§3), but *any*
# constant fails: all hidden units start equal, receive equal gradients, and stay equal forever — a layer of 64 units
# behaves like one unit. Here a one-hidden-layer network initialized with the constant $0.01$ is trained with Adam:

# %%
# NBVAL_IGNORE_OUTPUT
def make_shallow(initializer):
    return keras.Sequential([keras.Input((784,), name="pixels"),
                             L.Dense(64, activation="relu", kernel_initializer=initializer, name="hidden"),
                             L.Dense(10, kernel_initializer=initializer, name="logits")], name="shallow")  # fmt: skip


symmetry = {}
for name, init in {"constant 0.01": keras.initializers.Constant(0.01), "He normal": "he_normal"}.items():
    model, history, _ = train(lambda init=init: make_shallow(init), keras.optimizers.Adam(1e-3), x_sub, y_sub,
                              PITFALL_EPOCHS)  # fmt: skip
    W = model.get_layer("hidden").kernel.numpy()  # (784, 64): one column per hidden unit
    distinct = np.unique(W.round(5), axis=1).shape[1]
    symmetry[name] = dict(val_acc=history["val_accuracy"][-1], distinct=distinct)
    print(f"{name:14s} val accuracy {history['val_accuracy'][-1]:.3f} | distinct hidden units after training: {distinct}/64")

# %% [markdown]
# After training, the 64 columns of the constant-initialized hidden layer are still identical: the network is
# effectively a 784-1-10 network, and its accuracy shows it. Random initialization (any of §3's, as long as the scale
# is right) breaks the symmetry.
#
# **Pitfall 3: one initializer object shared by several layers.** Code like
# `init = keras.initializers.GlorotUniform()` followed by `Dense(…, kernel_initializer=init)` in a loop looks
# harmless. In Keras 3 an initializer object created without a `seed` draws its seed once, when it is created, and
# returns the *same* values every time it is called with the same shape — so every layer of that shape starts from the
# same matrix, with no warning. Symptom: identical kernels.

# %%
shared = keras.initializers.GlorotUniform()  # ONE object ...
same = keras.Sequential([keras.Input((8,)), *[L.Dense(8, kernel_initializer=shared) for _ in range(3)]])  # ... 3 layers
fresh = keras.Sequential([keras.Input((8,)), *[L.Dense(8, kernel_initializer="glorot_uniform") for _ in range(3)]])
for name, model in {"one shared object": same, "string name (new object per layer)": fresh}.items():
    k = [layer.kernel.numpy() for layer in model.layers]
    print(f"{name:35s} kernel 2 == kernel 1: {np.array_equal(k[1], k[0])}, kernel 3 == kernel 1: {np.array_equal(k[2], k[0])}")

# The same mistake in §3's deep network: hidden layers 2-12 (all 128x128) get one matrix.
keras.utils.set_random_seed(SEED)
one_object = keras.initializers.GlorotUniform()
shared_deep = make_deep(lambda: one_object)  # make_deep asks for a new initializer per layer and gets the same one
kernels = [shared_deep.get_layer(f"dense_{i}").kernel.numpy() for i in range(2, DEPTH + 1)]
print("deep net, one shared Glorot object: layers 2-12 identical:", all(np.array_equal(kernels[0], k) for k in kernels))

# %%
# NBVAL_IGNORE_OUTPUT
shared_stats = layer_statistics(shared_deep)
ratio = lambda s: s["activation std"][0] / s["activation std"][-1]  # noqa: E731
print(f"activation std, layer 1 / layer {DEPTH}: shared object {ratio(shared_stats):.1f}× | "
      f"one object per layer (§3) {ratio(stats['Glorot uniform']):.1f}× | math: 2^(11/2) ≈ {2 ** 5.5:.0f}×")


# %% [markdown]
# All three kernels of the small example, and all eleven 128×128 matrices of the deep network, are the same matrix. In the
# deep network the signal then goes through one matrix eleven times, and its decline depends on that one matrix's
# largest singular directions rather than on the average the math of §3 assumes: 91× from layer 1 to layer 12 here
# against 52× with one matrix per layer (printed above; another shared draw would give another number). Nothing errors, so the only symptoms are numbers that do not match the theory and, when you look, identical
# kernels. Fix: pass a string (`kernel_initializer="glorot_uniform"`),
# create a new object per layer (as `make_deep` does with `new_initializer()`), or give each layer its own seed.
#
# **Pitfall 4: L2 regularization with Adam is not weight decay.** Many code bases "add weight decay" to Adam via an L2
# penalty. With SGD that is the same thing; with Adam it is not, because the penalty's gradient ($2\lambda\theta$ for the
# penalty $\lambda\lVert\theta\rVert^2$ that `L2(λ)` adds) is divided by $\sqrt{\hat v_t}$ like every other gradient. A three-weight experiment shows the symptom. All weights start
# at 1. Weight A gets an oscillating loss gradient of size 1 ($+1, -1, +1, \dots$); weight A′ the same pattern 100 times
# larger ($\pm 100$: a "busy" weight with large gradients); weight B gets no loss gradient at all (an unused weight). We run 1,000 steps of Adam with an L2 penalty $\lambda\lVert\theta\rVert^2$
# (what `kernel_regularizer=L2(λ)` adds), and of AdamW with the decoupled decay $\lambda$, for two values of $\lambda$. The penalty's gradient is $2\lambda\theta$
# while AdamW's decay is $\lambda\theta$, so the last row, AdamW with $2\lambda$, is the like-for-like decay strength:

# %%
def decay_experiment(optimizer, l2, steps=1000):
    """Three weights, all starting at 1: loss gradients ±1 (A), ±100 (A'), none (B)."""
    w = keras.Variable([1.0, 1.0, 1.0], name="w")
    optimizer.build([w])

    @tf.function  # 1,000 tiny steps: compiled once instead of run eagerly step by step
    def run():
        for t in tf.range(steps):
            sign = 1.0 - 2.0 * tf.cast(t % 2, "float32")
            grad = tf.stack([sign, 100.0 * sign, 0.0])  # the loss gradient: A, A' (100x larger), B unused
            grad += 2.0 * l2 * w  # gradient of the penalty l2 * ||w||^2 (0 for AdamW), through Adam's normalization
            optimizer.apply_gradients([(grad, w)])

    run()
    return w.numpy()


tf_log_level = tf.get_logger().level
tf.get_logger().setLevel("ERROR")  # each run compiles its own small tf.function on purpose: no "retracing" warning
rows = {}
for lam in (1e-3, 1e-2):
    rows[f"Adam + L2 penalty, λ={lam:g}"] = decay_experiment(keras.optimizers.Adam(1e-2), l2=lam)
    rows[f"AdamW, weight_decay={lam:g}"] = decay_experiment(keras.optimizers.AdamW(1e-2, weight_decay=lam), l2=0.0)
rows["AdamW, weight_decay=0.02 (2λ)"] = decay_experiment(keras.optimizers.AdamW(1e-2, weight_decay=2e-2), l2=0.0)
tf.get_logger().setLevel(tf_log_level)
columns = ["A: gradients ±1", "A′: gradients ±100", "B: unused"]
decay_table = pd.DataFrame(rows, index=columns).T.round(3) + 0.0  # + 0.0: no "-0.0"
decay_table

# %% [markdown]
# With AdamW all three weights shrink by about the same factor, close to $(1-\eta\lambda)^{1000}$ ($\approx 0.99$ for
# $\lambda = 10^{-3}$, $\approx 0.90$ for $10^{-2}$; A and A′ end a little lower, 0.889 against B's 0.905 at
# $\lambda = 10^{-2}$, because of their oscillating gradients: Adam's very first step alone moves a weight by $\eta = 0.01$): the decay
# does what its name says, whatever the gradients are. With Adam + L2 the decay depends on the gradients, because the
# penalty's gradient $2\lambda w$ is divided by $\sqrt{\hat v}$, the size of the weight's *total* gradient:
#
# - the unused weight B is driven to 0 for *either* $\lambda$: its only gradient is the penalty, which Adam normalizes
#   into a full-size step of about $\eta$;
# - the busy weight A′ (gradients ±100) is hardly decayed at all: 0.980 at $\lambda = 10^{-2}$, the same as at
#   $10^{-3}$ (0.982), against AdamW's 0.889 — its penalty gradient, at most 0.02, is divided by $\sqrt{\hat v} \approx 100$;
#   what it loses is the same early drift as under AdamW;
# - weight A (gradients ±1) lies in between. At $\lambda = 10^{-2}$ it ends at 0.804, below AdamW's 0.889, but that
#   comparison is not like for like: its normalizer is about 1, so its penalty gradient $2\lambda w$ passes through
#   almost unscaled, and it decays like AdamW with *twice* the $\lambda$ (last row: 0.804, the same). The factor 2 is only the
#   penalty's convention.
#
# So L2 with Adam decays weights according to their gradient history rather than their size, and $\lambda$ no longer
# sets the strength. Use `AdamW(weight_decay=…)` when you mean weight decay.
#
# ## 7. Results: choose on validation, test once
#
# The candidates are the runs of §2 and §5: same model, same 20,000 training images, same number of epochs, differing
# only in the optimizer and learning-rate schedule (twelve configurations, counting §5's constant-2e-3 control; the one-tenth-rule check of §5 is not one of
# them). We pick the one with the best **final validation accuracy**
# (the test set plays no part in the choice), retrain it from scratch on the whole training split of 50,000 images,
# and evaluate it **once** on the 10,000 test images. (The regularizers of §4 were studied on 1,000 images, a
# different regime, so they are not candidates here; with 50,000 images this small MLP overfits much less.)

# %%
# NBVAL_IGNORE_OUTPUT
candidates = {name: r["history"]["val_accuracy"][-1] for name, r in {**opt_runs, **sched_runs}.items()}
best_config = max(candidates, key=candidates.get)
print(f"best on validation: {best_config} (final val accuracy {candidates[best_config]:.4f})")

final_steps = int(np.ceil(len(x_pool) / 128))
if best_config in OPTIMIZERS:
    final_optimizer, final_callbacks = OPTIMIZERS[best_config](), []
else:
    final_optimizer, final_callbacks = schedule_setups(final_steps, EPOCHS)[best_config]()
final_model, final_history, final_seconds = train(make_mlp, final_optimizer, x_pool, y_pool, EPOCHS,
                                                  callbacks=final_callbacks)  # fmt: skip
test_accuracy = final_model.evaluate(x_test, y_test, batch_size=1024, verbose=0, return_dict=True)["accuracy"]
print(f"trained on {len(x_pool):,} images in {final_seconds:.0f} s ({EPOCHS * len(x_pool) / final_seconds:,.0f} "
      f"images/s, shared machine) | final val accuracy {final_history['val_accuracy'][-1]:.4f} | "
      f"TEST accuracy {test_accuracy:.4f}")  # fmt: skip
se = lambda acc, n: np.sqrt(acc * (1 - acc) / n)  # noqa: E731  standard error of an accuracy measured on n images
print(f"standard error of one accuracy: validation ±{se(candidates[best_config], len(x_val)):.4f}, "
      f"test ±{se(test_accuracy, len(x_test)):.4f}")  # fmt: skip

# %%
du.plot.learning_curves(final_history, metrics=["loss", "accuracy"],
                        title=f"Final model: {best_config}, {len(x_pool):,} training images")  # fmt: skip
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
reg_gaps = {name: r["train_acc"] - r["val_acc"] for name, r in reg_runs.items()}
# du.report returns the path of results/04_training_deep_networks.json (None in the quick profile)
_ = du.report(
    "04_training_deep_networks",
    best_config=best_config,
    test_accuracy=test_accuracy,
    best_config_val_accuracy=candidates[best_config],
    best_optimizer=opt_table.index[0],
    best_optimizer_val_accuracy=opt_table["final val accuracy"].iloc[0],
    sgd_val_accuracy=opt_runs["SGD"]["history"]["val_accuracy"][-1],
    glorot_act_std_decline_12_layers=ratio(stats["Glorot uniform"]),
    overfit_val_accuracy_baseline=reg_runs["none (baseline)"]["val_acc"],
    overfit_highest_val_regularizer=best_regularizer,
    overfit_val_accuracy_highest=reg_runs[best_regularizer]["val_acc"],
    overfit_highest_vs_baseline_mcnemar_p=mcnemar_p[best_regularizer],
    overfit_gap_baseline=reg_gaps["none (baseline)"],
)

# %% [markdown]
# The winner was chosen on validation: cosine + warm-up, with 0.8897 on the 10,000 validation images (printed
# above). Retrained on all 50,000 images, it scores 0.891 on the 10,000 test images, essentially the same. Each of
# these accuracies is an estimate from 10,000 images, with a standard error of about 0.3 points (printed), so they agree
# within their uncertainty. Choosing the best of twelve near-tied configurations can make the winner's validation
# score optimistic; here there is no sign of it.
#
# The retrained model's own validation accuracy is 0.900, about one point above its test accuracy. The two are
# different 10,000-image samples, and a one-point gap between them is about two standard errors of the difference:
# possible by chance, and this notebook cannot tell whether Fashion-MNIST's test file is harder than its training
# file. (Notebook 06's CNN shows a gap in the same direction, 0.925 against 0.912.) The test number is the one to
# quote; the convolutional networks of notebook 06 do better.

# %%
# Check: the headline, and the claims this notebook makes, on its own measurements
assert test_accuracy >= du.pick(full=0.87, quick=0.60), test_accuracy
# §3: He keeps weight-gradient scales within a small factor across 12 layers; small normal vanishes, large explodes,
# zeros give exactly zero gradients, and BN gives flat activation profiles even with bad initial weights.
he = stats["He normal"]
assert max(he["weight-gradient std"]) / min(he["weight-gradient std"]) < 10
assert max(he["activation std"]) / min(he["activation std"]) < 5
small = stats["small normal (σ=0.01)"]
assert small["activation std"][-1] / small["activation std"][0] < 1e-6
assert max(small["weight-gradient std"]) < 1e-6 * min(he["weight-gradient std"])
large = stats["large normal (σ=0.2)"]
assert large["activation std"][-1] / large["activation std"][0] > 50
assert max(stats["zeros"]["weight-gradient std"]) == 0.0
# Glorot (one fresh matrix per layer) declines with ReLU roughly as the math says (≈ 45× over layers 1-12);
# the shared-object mistake (Pitfall 3) gives identical kernels.
assert 15 < ratio(stats["Glorot uniform"]) < 150, ratio(stats["Glorot uniform"])
assert all(np.array_equal(kernels[0], k) for k in kernels)
for name in ("small normal (σ=0.01) + BN", "large normal (σ=0.2) + BN"):
    act = stats[name]["activation std"]
    assert max(act) / min(act) < 2, (name, act)
# Training: the small-normal net stays at chance; BN rescues it; large normal overflows, then stays at chance.
assert init_runs["small normal (σ=0.01)"]["history"]["val_accuracy"][-1] < 0.2
large_run = init_runs["large normal (σ=0.2)"]["history"]  # overflows in the first epoch, then stuck at chance
assert du.is_quick() or (not np.isfinite(large_run["loss"][0]) and large_run["val_accuracy"][-1] < 0.2), large_run
assert du.is_quick() or init_runs["small normal (σ=0.01) + BN"]["history"]["val_accuracy"][-1] > 0.6
assert du.is_quick() or init_runs["He normal"]["history"]["val_accuracy"][-1] > 0.7
# §2: plain SGD at a fixed rate ends lowest of the seven, more than a point below the best (full profile).
assert du.is_quick() or (opt_table.index[-1] == "SGD" and
                         opt_runs["SGD"]["history"]["val_accuracy"][-1] < opt_table["final val accuracy"].iloc[0] - 0.01)
# §4: the baseline overfits (memorizes its training images); dropout and L2 narrow the gap.
assert du.is_quick() or (reg_runs["none (baseline)"]["train_acc"] > 0.98 and reg_gaps["none (baseline)"] > 0.1)
for name in ("dropout (p=0.5)", "L2 (λ=1e-2)"):
    assert du.is_quick() or reg_gaps[name] < reg_gaps["none (baseline)"] - 0.02, (name, reg_gaps)
# §4: with 1,000 images, every run stays below the best §2 run on 20,000 images (more data beats regularization).
assert du.is_quick() or max(r["val_acc"] for r in reg_runs.values()) < max(sec2.values()) - 0.02
# §2: loss along the line from the initial weights to Adam's solution, and the valley paths.
assert line_init[inside][-1] < 0.5 * line_init[inside][0]
assert float(valley(paths["SGD+momentum, η=0.4, μ=0.5"][-1])) < float(valley(paths["SGD, η=0.4"][-1]))
# §5: the best decaying schedule beats both constant learning rates (1e-3 of §2 and the 2e-3 peak rate).
decaying = sched_table.drop(["constant (Adam, §2)", "constant 2e-3"])["final val accuracy"]
assert du.is_quick() or decaying.max() > sched_table.loc[["constant (Adam, §2)", "constant 2e-3"], "final val accuracy"].max()
# §6: pitfalls show their symptoms.
for history in too_high.values():  # nan, or a loss far above ln(10) = 2.3 (sane runs start below it)
    assert not np.all(np.isfinite(history["loss"])) or max(history["loss"]) > 5, history
assert symmetry["constant 0.01"]["distinct"] == 1 and symmetry["He normal"]["distinct"] == 64
assert decay_table.loc["Adam + L2 penalty, λ=0.001", "B: unused"] < 0.1
assert decay_table.loc["AdamW, weight_decay=0.001", "B: unused"] > 0.9
# Adam + L2 hardly decays the weight with large gradients; AdamW decays it like the others.
assert decay_table.loc["Adam + L2 penalty, λ=0.01", "A′: gradients ±100"] > 0.95
assert decay_table.loc["AdamW, weight_decay=0.01", "A′: gradients ±100"] < 0.93
# Weight A under Adam + L2(λ) decays like AdamW with 2λ (its normalizer is about 1).
assert abs(decay_table.loc["Adam + L2 penalty, λ=0.01", "A: gradients ±1"]
           - decay_table.loc["AdamW, weight_decay=0.02 (2λ)", "A: gradients ±1"]) < 0.03
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Seeds.** Re-run the optimizer comparison of §2 with three different values of `SEED` and report the mean and
#    standard deviation of each optimizer's final validation accuracy. Which differences in the table survive?
# 2. **A fair optimizer comparison.** For SGD+momentum and Adam, run the LR range test of §5 and train at three rates read off
#    its curve (one tenth of the minimum, the steepest descent, the minimum itself), and redo the comparison. Does the ranking change?
# 3. **Regularization strength.** In §4, sweep the dropout rate $p \in \{0.1, 0.3, 0.5, 0.7\}$ and the L2 factor
#    $\lambda \in \{10^{-4}, 10^{-3}, 10^{-2}\}$; plot validation accuracy against the strength. Where does
#    underfitting start? Then replace the cosine schedule by a constant learning rate of $10^{-3}$: what happens to
#    the baseline's validation loss, and to the epoch-to-epoch stability of the final accuracies?
# 4. **Depth without BN.** Make the §3 network 30 layers deep. Does He initialization alone still train it with SGD +
#    momentum? Does BN? Add residual (skip) connections with the Functional API (`L.Add()`) and compare.
#
# **Next:** [05 · Evaluation and tuning](05_evaluation_and_tuning.ipynb) — metrics beyond accuracy, cross-validation,
# and systematic hyperparameter search (instead of the hand-picked values used here).
