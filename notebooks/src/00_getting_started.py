# %% [markdown]
# # 00 · Getting started: environment, tensors and automatic differentiation
#
# **What you will learn**
# - how to check your environment (TensorFlow, Keras, GPU), and what seeding does and does not make reproducible;
# - how this collection runs (two profiles, datasets with recorded checksums, the `dlutils` helpers), in one short section;
# - what a tensor is in TensorFlow: shape, dtype, indexing and slicing, broadcasting, and how it relates to NumPy;
#   and how a `tf.Variable` differs from a tensor;
# - how `tf.GradientTape` computes gradients, checked against a derivative worked out by hand, and how
#   `tf.function` turns a Python step into a TensorFlow graph;
# - a first Keras model: what `fit` returns and how to read its learning curves.
#
# **Prerequisites:** Python and NumPy; for §4, derivatives and the chain rule. **Data:** MNIST (from a local mirror
# or a checksum-checked download, see §2).
# **Run time (full profile, 2-core CPU):** see the table in the README (measured by `make notebooks`).

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %% [markdown]
# The line above is printed by `du.setup`: library versions, the Keras backend, the device (a GPU's name, or
# "CPU, N threads"), the run profile and the seed. The comment `# NBVAL_IGNORE_OUTPUT` on the first line of the cell
# is for the tests: they re-run every notebook and compare each cell's output with the stored one, except in cells
# marked this way, whose output depends on the machine, the timing or the profile.
#
# `setup` also seeds Python, NumPy and Keras (and through Keras, TensorFlow); §1 ends with what that buys.
#
# ## 1. The environment and the GPU
#
# TensorFlow places every operation on a *device*. With an NVIDIA GPU and `pip install "tensorflow[and-cuda]"`
# on Linux, TensorFlow lists it below and uses it automatically; on Windows (native) it runs on the CPU (use WSL2
# for the GPU), and on macOS too unless Apple's `tensorflow-metal` plugin is installed. Everything in this collection also runs on a laptop CPU: the
# notebooks are sized for it.

# %%
# NBVAL_IGNORE_OUTPUT
import keras
import numpy as np
import tensorflow as tf

print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "| backend:", keras.backend.backend())
print("physical devices:", [d.device_type + ":" + d.name.split(":")[-1] for d in tf.config.list_physical_devices()])
print("GPU available:", bool(tf.config.list_physical_devices("GPU")))

# %% [markdown]
# Where did an operation run? Each tensor knows its device. On a machine with a GPU you would see
# `.../device:GPU:0`; here, wherever you are:

# %%
# NBVAL_IGNORE_OUTPUT
x = tf.random.normal((1000, 1000))
y = x @ x
print(y.device)

# %% [markdown]
# ### Seeds and reproducibility
#
# A seed fixes the *random draws*: initial weights, shuffling, dropout masks. After
# `keras.utils.set_random_seed(s)` (which `du.setup` calls) the same program draws the same numbers, as the two
# layers below show: re-seeding gives the same initial kernel, and a second layer built without re-seeding gets a
# fresh draw.

# %%
keras.utils.set_random_seed(42)
first = keras.layers.Dense(3)
first.build((None, 4))
second = keras.layers.Dense(3)  # a second draw from the same stream: different
second.build((None, 4))
keras.utils.set_random_seed(42)
again = keras.layers.Dense(3)  # the stream restarted: the same as `first`
again.build((None, 4))
print("first == again: ", np.array_equal(first.kernel.numpy(), again.kernel.numpy()))
print("first == second:", np.array_equal(first.kernel.numpy(), second.kernel.numpy()))

# %% [markdown]
# Equal draws are not yet equal results. Some operations add up floating-point numbers in an order that changes
# from run to run (threads finishing in a different order); floating-point addition is not associative, so the last
# digits change, and training can amplify them. Most such operations are GPU kernels. The recipe for a
# deterministic TensorFlow program is both lines:
#
# ```python
# keras.utils.set_random_seed(42)
# tf.config.experimental.enable_op_determinism()  # deterministic kernels: slower; ops without one raise an error
# ```
#
# Even then, TensorFlow promises the same results only on the same hardware and software: another machine, another
# GPU or CPU, another number of threads, or another library version can change the order of the sums, and the
# numbers differ a little. On the 2-core CPU machines used for this collection, the authors measured (outside this
# notebook, not shown) that `keras.utils.set_random_seed` alone, with seed 42 as here, gave training losses identical
# to 8 decimals in two separate processes training the model of §6 (3 epochs on 6,000 images).
# The notebooks do not enable op determinism (it can slow training down), so expect small differences from the
# stored outputs when you re-run a notebook on another machine.

# %% [markdown]
# ## 2. How this collection runs: profiles, data, `dlutils`
#
# **Profiles.** Every notebook runs in one of two profiles, set by the environment variable `DLUTILS_PROFILE`:
# `full` (the default: what you run, and what produced the stored outputs) or `quick` (what the tests run: the same
# code on a small budget, typically a few thousand samples and an epoch or two). A notebook asks `dlutils` instead of reading the variable:
# `EPOCHS = du.pick(full=12, quick=1)`, `x, y = du.take(x, y, quick=4000)`. Each notebook ends with a *Check* cell
# that asserts the headline numbers, with a lower bar in the quick profile.
#
# **Data.** Datasets come through `du.data`, which records every file's origin URL and SHA-256 checksum. It looks
# for a file in a local mirror first (the folder named by `DLUTILS_DATA_DIR`: the way to work offline or where the
# origin is blocked), then in the cache (the folder named by `DLUTILS_CACHE_DIR`, by default the project's `data/`),
# then downloads it (unless `DLUTILS_OFFLINE=1`). A cached or downloaded file must match its checksum, or you get a
# `DataError`; a mirror copy that does not match is used anyway, with a `UserWarning` (run Python with
# `-W error::UserWarning` to make that an error too). If no place has the file, one `DataError` names the file,
# every place looked and the fix.
# `data/README.md` has the details, and Exercise 4 lets you try what happens to a damaged file.
#
# **Helpers.** The model code always stays in the notebooks; `dlutils` hides only plumbing that is not the lesson:
#
# | module | what it gives you | example |
# |---|---|---|
# | `du.config` | the profile, seeding | `du.pick(full=12, quick=1)`, `du.take(x, y, quick=4000)` |
# | `du.data` | datasets with recorded checksums | `du.data.load_mnist()`, `du.data.load_titanic()` |
# | `du.plot` | figures that return a `Figure` | `learning_curves`, `image_grid`, `confusion_matrix` |
# | `du.metrics` | scores on `sklearn.metrics`, a timer | `classifier_report(y, y_pred, names)`, `with du.Timer() as t:` |
# | `du.report` | the Results cell | `du.report("00_getting_started", metric=value)` |
#
# Now a real dataset. `load_mnist()` returns NumPy arrays in the same layout as `keras.datasets.mnist.load_data()`:

# %%
(x_train, y_train), (x_test, y_test) = du.data.load_mnist()
print("train:", x_train.shape, x_train.dtype, "| labels:", y_train.shape, y_train.dtype)
print("test: ", x_test.shape, "| pixel range:", x_train.min(), "to", x_train.max())
print("images per digit in train:", np.bincount(y_train).tolist())

# %%
import matplotlib.pyplot as plt

du.plot.image_grid(x_train[:20], labels=y_train[:20], ncols=10, title="The first 20 MNIST training images")
plt.show()

# %% [markdown]
# ## 3. Tensors
#
# A tensor is an $n$-dimensional array with a **shape** and a **dtype**, like a NumPy array, that can live on a GPU
# and take part in automatic differentiation. The **rank** of a tensor is its number of axes, `ndim`
# (not the rank of a matrix in linear algebra): a batch of 32 MNIST images is a rank-3 tensor of shape $(32, 28, 28)$; a batch of colour images has shape $(\text{batch}, \text{height}, \text{width}, \text{channels})$.

# %%
images = tf.constant(x_train[:32])  # a tensor from a NumPy array
print("shape:", images.shape, "| rank:", images.ndim, "| dtype:", images.dtype.name)
scaled = tf.cast(images, tf.float32) / 255.0  # networks want floats in a small range
print("scaled:", scaled.dtype.name, "min", float(tf.reduce_min(scaled)), "max", float(tf.reduce_max(scaled)))
flat = tf.reshape(scaled, (32, -1))  # -1: "whatever makes the size fit" -> 784
print("flattened:", flat.shape)
print("back to NumPy:", type(flat.numpy()).__name__, flat.numpy().shape)

# %% [markdown]
# ### Indexing and slicing
#
# Tensors are indexed like NumPy arrays: an integer picks one position and drops that axis, a slice `start:stop`
# keeps the axis (the stop is excluded), `...` stands for "all the remaining axes". `tf.boolean_mask` selects rows
# by a condition and `tf.gather` by a list of indices. A tensor cannot be changed in place; the last lines show the
# error.

# %%
print("images[0]:            ", images[0].shape, "  one image")
print("images[:4]:           ", images[:4].shape, "  the first four")
print("images[:, 14]:        ", images[:, 14].shape, "  row 14 of every image")
print("images[..., ::2]:     ", images[..., ::2].shape, "  every other column")
print("images[0, 8:12, 10:16]: a 4 x 6 patch of the first image (a 5)\n", images[0, 8:12, 10:16].numpy())
labels = tf.constant(y_train[:32])
print("tf.boolean_mask(images, labels == 1):", tf.boolean_mask(images, labels == 1).shape, " the 1s in the batch")
print("tf.gather(images, [3, 0]):           ", tf.gather(images, [3, 0]).shape)
try:
    images[0, 0, 0] = 255
except TypeError as err:
    print("TypeError:", err)

# %% [markdown]
# ### Variables: tensors that can change
#
# Weights must change during training, so they live in a `tf.Variable`: it holds a tensor and changes it in place
# with `assign`, `assign_add` and `assign_sub` (a slice too: `v[0].assign(…)`). The tape of §4 watches trainable
# variables automatically, and Keras layers keep their weights in variables. Arithmetic on a variable gives an ordinary,
# new tensor: `v = v + 1` would replace the variable by a tensor instead of updating it.

# %%
v = tf.Variable([1.0, 2.0, 3.0])
print(f"variable:   {v.numpy()} {v.dtype.name} | trainable: {v.trainable}")
v.assign([4.0, 5.0, 6.0])
print("assign:    ", v.numpy())
v.assign_sub([0.5, 0.5, 0.5])
print("assign_sub:", v.numpy(), " (a gradient-descent step is w.assign_sub(learning_rate * gradient))")
v[0].assign(-1.0)
print("v[0].assign(-1.0):", v.numpy())
print("type of v + 1:", type(v + 1).__name__, "(a new tensor; v itself is unchanged:", v.numpy(), ")")

# %% [markdown]
# ### Broadcasting
#
# **Broadcasting** lets an operation combine tensors of different shapes, exactly as in NumPy: shapes are compared
# from the right, and a dimension of size 1 (or a missing leading dimension) is stretched to match the other.
# The picture shows the rule on a small case, $(3, 1) + (1, 4) \to (3, 4)$: the column is repeated across, the row
# down (the dotted grey cells are the repeated values).

# %%
col = tf.constant([[0], [10], [20]])  # shape (3, 1)
row = tf.constant([[1, 2, 3, 4]])  # shape (1, 4)
total = col + row  # (3, 1) + (1, 4) -> (3, 4)
print("shape:", total.shape)
print(total.numpy())

fig, axes = plt.subplots(1, 3, figsize=(9, 2.3))
panels = [(col, "col: shape (3, 1)"), (row, "+  row: shape (1, 4)"), (total, "=  col + row: shape (3, 4)")]
for ax, (t, title) in zip(axes, panels, strict=True):
    stretched = np.broadcast_to(t.numpy(), (3, 4))
    for i in range(3):
        for j in range(4):
            stored = i < t.shape[0] and j < t.shape[1]
            ax.add_patch(plt.Rectangle((j, 2 - i), 1, 1, facecolor="#9ecae1" if stored else "white",
                                       edgecolor="black" if stored else "grey", linestyle="-" if stored else ":"))
            ax.text(j + 0.5, 2.5 - i, str(stretched[i, j]), ha="center", va="center",
                    color="black" if stored else "grey", fontsize=11)
    ax.set(xlim=(-0.05, 4.05), ylim=(-0.05, 3.05), aspect="equal")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# The same rule does real work. Subtracting the per-pixel mean of the batch, shape $(784,)$, from a batch of shape
# $(32, 784)$ centres every pixel without a loop. And a dense layer computes `x @ W + b`: the matrix product
# $(32, 784) \times (784, 10) \to (32, 10)$ is not broadcasting, but adding the bias `b` of shape $(10,)$ is:
# $(32, 10) + (10,) \to (32, 10)$ adds the same ten biases to every row.

# %%
centered = flat - tf.reduce_mean(flat, axis=0)  # (32, 784) - (784,) -> (32, 784)
print("centered:", centered.shape)
print("column means after centering ~ 0:", bool(tf.reduce_all(tf.abs(tf.reduce_mean(centered, axis=0)) < 1e-6)))
W = tf.zeros((784, 10))  # zeros, so that the result shows the bias alone
bias = tf.range(10, dtype=tf.float32)  # shape (10,)
logits = flat @ W + bias  # matrix product (32, 10), then the broadcast (32, 10) + (10,) -> (32, 10)
print("flat @ W:", (flat @ W).shape, "| + bias", bias.shape, "->", logits.shape)
print("every row got the same ten biases:", bool(tf.reduce_all(logits == bias)), "| row 0:", logits[0].numpy())

# %% [markdown]
# TensorFlow does not convert dtypes between two tensors: adding an `int32` tensor to a `float32` tensor is an error
# (NumPy and `keras.ops` would promote both to a float). This is not a full safety net: a Python number is converted
# to the tensor's dtype, so `uint8` pixels plus 10 silently wrap around past 255, the classic raw-pixel bug; and `/`
# between integer tensors returns floats. Cast pixels to `float32` before any arithmetic. The error is caught on
# purpose below to show its message:

# %%
try:
    tf.constant([1, 2, 3]) + tf.constant([0.5, 0.5, 0.5])
except tf.errors.InvalidArgumentError as err:
    print(type(err).__name__, "->", err.message.split("\n")[0][:120])
print("fixed with tf.cast:", (tf.cast(tf.constant([1, 2, 3]), tf.float32) + 0.5).numpy())
print("keras.ops.add(int32, float32) ->", keras.ops.add(tf.constant([1, 2, 3]), tf.constant([0.5, 0.5, 0.5])).dtype.name)
print("uint8 pixels 250 + 10 ->", (tf.constant([250], tf.uint8) + 10).numpy(), "(260 - 256: no error, no warning)")
print("int32 / int32 ->", (tf.constant([1, 2]) / tf.constant([2, 2])).dtype.name)

# %% [markdown]
# ## 4. Automatic differentiation with `tf.GradientTape`
#
# Training a network means following the gradient of a loss with respect to its weights. TensorFlow computes
# gradients by **recording** the operations run inside a `tf.GradientTape` block and then applying the chain rule
# backwards through the record (reverse-mode automatic differentiation).
#
# First a function we can differentiate by hand: $f(x) = x^3 + 2x$, so $f'(x) = 3x^2 + 2$.

# %%
xs = tf.Variable([-2.0, 0.0, 0.5, 3.0])
with tf.GradientTape() as tape:
    f = xs**3 + 2 * xs
grad_tape = tape.gradient(f, xs)  # d(sum f)/dx_i = f'(x_i): the tape differentiates a scalar (the sum) by default
grad_hand = 3 * xs.numpy() ** 2 + 2
print("tape:", grad_tape.numpy())
print("hand:", grad_hand)
assert np.allclose(grad_tape.numpy(), grad_hand)

# %% [markdown]
# ### A real gradient: logistic regression on MNIST, 0 versus 1
#
# A more useful check: the loss of a logistic-regression classifier separating the digit 0 from the digit 1. In two
# lines: it scores an image by a weighted sum of its pixels plus a bias, the sigmoid $\sigma$ squashes the score into
# a probability that the digit is a 1, and training adjusts the weights to make the loss below small.
# With inputs $x_i \in \mathbb{R}^{784}$, labels $y_i \in \{0, 1\}$, weights $w$ and bias $b$,
#
# $$p_i = \sigma(w^\top x_i + b), \qquad \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad
# L(w, b) = -\frac{1}{n} \sum_{i=1}^{n} \big[ y_i \log p_i + (1 - y_i) \log (1 - p_i) \big].$$
#
# Using $\sigma'(z) = \sigma(z)(1 - \sigma(z))$, the chain rule gives $\partial L / \partial z_i = (p_i - y_i)/n$, hence
#
# $$\frac{\partial L}{\partial w} = \frac{1}{n} X^\top (p - y), \qquad \frac{\partial L}{\partial b} = \frac{1}{n} \sum_i (p_i - y_i),$$
#
# where $X$ is the $n \times 784$ matrix of inputs. We compute the same gradient with the tape (in float64, so that
# rounding does not blur the comparison) at random weights, and compare. The code writes the loss exactly as the formula; that form breaks for a large
# score $z$, where $\sigma(z)$ rounds to exactly 1 and $\log(1 - p) = \log 0 = -\infty$ (the last line printed below).
# Keras's losses compute the same value from $z$ directly in a stable form; that is what `from_logits=True` in §6 is
# for. Here the scores stay small, and every loss printed below is finite.

# %%
def zeros_and_ones(x, y):
    keep = y <= 1
    return (x[keep].reshape(-1, 784) / 255.0), y[keep].astype(np.float64)


X01, y01 = zeros_and_ones(x_train, y_train)
X01_test, y01_test = zeros_and_ones(x_test, y_test)
print("0-vs-1 training set:", X01.shape, "| test set:", X01_test.shape)

rng = np.random.default_rng(0)
w_init = rng.normal(0, 0.01, 784)  # kept for the tf.function comparison below
w = tf.Variable(w_init, dtype=tf.float64)
b = tf.Variable(0.0, dtype=tf.float64)
X, y = tf.constant(X01), tf.constant(y01)


def bce_loss(w, b, X, y):
    p = tf.sigmoid(tf.linalg.matvec(X, w) + b)
    return -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))


with tf.GradientTape() as tape:
    loss = bce_loss(w, b, X, y)
dw_tape, db_tape = tape.gradient(loss, [w, b])

p = 1 / (1 + np.exp(-(X01 @ w.numpy() + b.numpy())))
dw_hand = X01.T @ (p - y01) / len(y01)
db_hand = np.mean(p - y01)

gradient_error = max(np.max(np.abs(dw_tape.numpy() - dw_hand)), abs(db_tape.numpy() - db_hand))
print(f"loss at random weights: {loss.numpy():.4f}")
print("largest |tape - hand| over all 785 partial derivatives below 1e-12:", gradient_error < 1e-12,
      "(its value is in the Results table)")
z_big = tf.constant(40.0, tf.float64)
print("at z = 40: log(1 - sigmoid(z)) =", tf.math.log(1 - tf.sigmoid(z_big)).numpy(),
      "| the stable form -softplus(z) =", (-tf.math.softplus(z_big)).numpy())
assert gradient_error < 1e-12

# %% [markdown]
# The two agree to within float64 rounding (the exact largest difference is in the Results table). With a gradient we trust, **gradient descent** is three lines:
# $w \leftarrow w - \eta\, \partial L/\partial w$, and the same for $b$, repeated. This is all that `model.fit` does
# at heart (with a smarter update rule and mini-batches, as notebooks 02 and 04 explain).

# %%
# NBVAL_IGNORE_OUTPUT
learning_rate = 0.5
steps = du.pick(full=100, quick=20)
losses = []
with du.Timer() as t:
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = bce_loss(w, b, X, y)
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
        losses.append(float(loss))
test_pred = (X01_test @ w.numpy() + b.numpy()) > 0
logreg_test_accuracy = float(np.mean(test_pred == (y01_test == 1)))
print(f"{steps} steps ({steps / t.seconds:.0f} steps/s on this machine): loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
      f"test accuracy 0 vs 1: {logreg_test_accuracy:.4f}")

# %%
blank = X01.max(axis=0) == 0  # pixels with no ink in any 0-or-1 training image
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.plot(losses)
ax1.set(xlabel="gradient-descent step", ylabel="binary cross-entropy", title="Training loss", yscale="log")
ax1.grid(alpha=0.3)
limit = np.abs(w.numpy()).max()
im = ax2.imshow(w.numpy().reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.colorbar(im, ax=ax2, label="weight")
ax2.set_title("learned weights (red: towards 1, blue: towards 0)\nblack outline: pixels blank in every image", fontsize=10)
ax2.contour(blank.reshape(28, 28), levels=[0.5], colors="black", linewidths=0.8)  # outline of the blank pixels
ax2.axis("off")
plt.tight_layout()
plt.show()
print(f"{blank.sum()} of 784 pixels are blank in every training image; "
      f"their weights still equal their random start: {np.array_equal(w.numpy()[blank], w_init[blank])}")


# %% [markdown]
# The loss falls fast in the first few steps and then slowly (note the log scale). The weight map shows what the
# classifier looks at: red weights along a slightly slanted stroke in the centre, where a handwritten *1* has its
# ink, push towards 1; blue weights on arcs to the left and right of it, where a *0* has its ring and a *1* has no
# ink, push towards 0. A pixel that is blank in every training image (167 pixels here) gets a zero gradient (each term of
# $\frac{1}{n}X^\top(p-y)$ is multiplied by its value 0), so its weight never moves from its small random start.
# These pixels lie outside the black outline, along the edges of the image. The pale area is wider than that: there
# the weights did move, but stay small next to the largest ones.

# %% [markdown]
# ### `tf.function`: from Python to a graph
#
# Everything so far ran *eagerly*: each operation executes as Python reaches it. `tf.function` wraps a Python
# function; on the first call TensorFlow runs the Python code once to **trace** it, recording the operations into a
# graph, and later calls whose tensor arguments have the same shapes and dtypes run that graph without going back to
# Python. A Python argument (a number, a string) is part of the trace: a new value traces again.
# Keras's `fit` does this for its training step. Below, the same gradient-descent step runs eagerly and as a
# graph from the same starting weights.

# %%
# NBVAL_IGNORE_OUTPUT
def gd_step(w, b, learning_rate):
    with tf.GradientTape() as tape:
        loss = bce_loss(w, b, X, y)
    dw, db = tape.gradient(loss, [w, b])
    w.assign_sub(learning_rate * dw)
    b.assign_sub(learning_rate * db)
    return loss


gd_step_graph = tf.function(gd_step)  # the same as writing @tf.function above the def

w_eager, b_eager = tf.Variable(w_init, dtype=tf.float64), tf.Variable(0.0, dtype=tf.float64)
w_graph, b_graph = tf.Variable(w_init, dtype=tf.float64), tf.Variable(0.0, dtype=tf.float64)
lr = tf.constant(0.5, dtype=tf.float64)  # a tensor argument: a new value does not trigger a new trace
for _ in range(10):
    gd_step(w_eager, b_eager, lr)
    gd_step_graph(w_graph, b_graph, lr)
graph_vs_eager = max(float(tf.reduce_max(tf.abs(w_graph - w_eager))), abs(float(b_graph - b_eager)))
print("traces of gd_step_graph in 10 calls:", gd_step_graph.experimental_get_tracing_count())
print(f"largest |graph - eager| difference in w and b after 10 steps: {graph_vs_eager:.1e}")
assert graph_vs_eager < 1e-12

# %% [markdown]
# One trace served all ten calls, and the graph computed the same weights and bias as eager execution (the largest
# difference printed above; the cell asserts it is below 1e-12, since a graph may reorder float operations). Python side effects (a `print`, appending to a list) happen only while tracing; use `tf.print` inside a
# `tf.function` to print at every call. Exercise 3 measures what the graph saves.

# %% [markdown]
# ## 5. Pitfalls with the tape
#
# Two mistakes return `None` instead of a gradient:
# - **A plain tensor is not watched.** The tape records operations on `tf.Variable`s automatically; for a constant
#   tensor, call `tape.watch(x)` first. Forgetting it gives `None` with no message at all.
# - **Integers are not differentiable.** A gradient with respect to an `int32` tensor is `None` — another reason to
#   cast inputs to `float32`. Here TensorFlow at least logs a warning when you `watch` the integer tensor (the
#   `WARNING:tensorflow:` line below), but the gradient call itself returns `None` without complaint.
#
# What follows depends on who receives the `None`. A Keras optimizer given a `None` gradient for some of the
# variables warns once (a Python `UserWarning`, "Gradients do not exist for variables …") and skips them: from then on
# those variables silently stop learning. Given `None` for all of them, it raises `ValueError: No gradients provided
# for any variable`. In a hand-written update, `w.assign_sub(learning_rate * None)` fails at the multiplication
# `learning_rate * None` (a `TypeError` when the learning rate is a Python float, a `ValueError` when it is a tensor),
# far from where the gradient was lost. Check for `None` when you write
# your own training loop.

# %%
c = tf.constant(3.0)
with tf.GradientTape() as tape:
    out = c**2
print("constant, not watched:", tape.gradient(out, c))

with tf.GradientTape() as tape:
    tape.watch(c)
    out = c**2
print("constant, watched:   ", tape.gradient(out, c).numpy(), "(= 2c)")

n = tf.constant(3)
with tf.GradientTape() as tape:
    tape.watch(n)
    out = n * n
print("int32, watched:      ", tape.gradient(out, n))

# %% [markdown]
# ## 6. A first Keras model
#
# A first Keras model, trained on all ten digits for a few epochs, shows the plotting and scoring helpers at work.
# Almost everything in it is new; notebook 03 teaches the model itself (`Sequential`, `Input`, `Rescaling`, `Flatten`,
# `Dense`, the ReLU hidden layer, `compile`, `fit`, `predict`). Four words first: an **epoch** is one pass over the
# training images; a **batch** is the group of images behind one gradient step (`batch_size=128`, so an epoch here is
# 422 steps, the `422/422` in the log); the **validation split** is a part of the training rows that `fit` holds back
# and scores after each epoch, never training on it; a **callback** is a function `fit` calls at set moments (here,
# after each epoch). `validation_split=0.1` takes the *last* 10 % of the rows as they are, before any shuffling
# (biased if the rows are sorted, by class for example: shuffle first), and works only with NumPy arrays and
# tensors (with a `tf.data.Dataset` it raises a `ValueError`). Three more things matter here:
# - The last layer has no activation: it outputs ten raw scores $z_0, \dots, z_9$, called **logits**, one per digit.
#   Softmax turns them into probabilities, $p_k = e^{z_k} / \sum_j e^{z_j}$.
# - `SparseCategoricalCrossentropy(from_logits=True)` is the loss $-\log p_{\text{true class}}$; `from_logits=True`
#   tells it that it receives logits, so it applies the softmax itself, in a numerically stable form, and *Sparse*
#   means the labels are integers 0–9 rather than one-hot vectors. (A softmax output layer combined with
#   `from_logits=True` applies softmax twice: a classic bug, shown in notebook 03.)
# - `optimizer="adam"` is Adam, a variant of gradient descent that moves each weight by a running average of its
#   gradients divided by a running root-mean-square of them, so every weight moves by steps of roughly the learning rate
#   (default 0.001), whatever the scale of its gradient; notebook 04 compares it with plain gradient descent.
#
# `model.predict` returns the logits; the predicted digit is the one with the largest logit (softmax does not change
# which score is largest).

# %%
x_small, y_small = du.take(x_train, y_train, quick=5000)

model = keras.Sequential(
    [
        keras.Input(shape=(28, 28), name="image"),
        keras.layers.Rescaling(1 / 255, name="scale"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(128, activation="relu", name="hidden"),
        keras.layers.Dense(10, name="logits"),
    ],
    name="first_mlp",
)
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.summary()

# %%
# NBVAL_IGNORE_OUTPUT
n_fit = int(np.floor(len(x_small) * 0.9))  # validation_split keeps the LAST 10 % of the rows for validation
n_val = len(x_small) - n_fit
x_check, y_check = x_small[:n_val], y_small[:n_val]  # the first training images, as many as validation has
end_of_epoch_train_accuracy = []  # filled after each epoch, for the explanation below the learning curves
record = keras.callbacks.LambdaCallback(
    on_epoch_end=lambda epoch, logs: end_of_epoch_train_accuracy.append(
        float(np.mean(model.predict(x_check, verbose=0).argmax(axis=1) == y_check))
    )
)
with du.Timer() as t:
    history = model.fit(
        x_small, y_small, validation_split=0.1, epochs=du.pick(full=5, quick=2), batch_size=128, verbose=2,
        callbacks=[record],
    )
y_pred = model.predict(x_test, verbose=0).argmax(axis=1)
mlp_test_accuracy = float(np.mean(y_pred == y_test))
epochs_run = len(history.history["loss"])
print(f"{epochs_run} epochs on {n_fit} images ({epochs_run * n_fit / t.seconds:.0f} images/s on this machine, "
      f"including validation and the extra check); test accuracy {mlp_test_accuracy:.4f}")

# %% [markdown]
# `fit` returns a `History` object; its `history` attribute is a plain dictionary with one list per metric and one
# value per epoch (`val_` marks the validation part). This is what the learning-curve plot draws:

# %%
# NBVAL_IGNORE_OUTPUT
import pandas as pd

print(list(history.history))
pd.DataFrame(history.history, index=pd.RangeIndex(1, epochs_run + 1, name="epoch")).round(4)

# %%
fig = du.plot.learning_curves(history)
acc_ax = next(ax for ax in fig.axes if ax.get_title() == "accuracy")
acc_ax.plot(range(1, epochs_run + 1), end_of_epoch_train_accuracy, "^:", ms=4, color="tab:green",
            label=f"train, end-of-epoch weights\n(first {len(y_check)} images)")
acc_ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# In both panels, "train" is `fit`'s log; the green dotted curve in the accuracy panel is explained now.
#
# **Why is the validation accuracy above the training accuracy in the first epochs?** After epoch 1 the log shows
# 0.897 for training and 0.957 for validation. Two usual causes do not apply or are small here: layers that act only
# during training, such as dropout, which make the training numbers look worse than the model is (this model has
# none), and the validation images being a different sample (the last 6,000 rows of the training file). The main
# cause is how `fit` logs the training numbers: it averages the accuracy (and the loss) over all the batches of the
# epoch, while the weights are still improving, whereas the validation numbers are measured once, with the weights
# at the end of the epoch. The callback in the training cell also measured the end-of-epoch weights on the first 6,000
# training images (the green curve). Compared with `fit`'s log, that column changes two things: *when* the weights are
# measured (at the end of the epoch, not during it) and *which* images (6,000 instead of all 54,000). To judge the
# second, and every comparison below, use the **standard error** (SE) of an accuracy $a$ measured on $n$ images,
# $\sqrt{a(1-a)/n}$: the spread that comes from the choice of images alone; differences under about 2 SE can be chance.
# The table puts the three side by side:

# %%
# NBVAL_IGNORE_OUTPUT
val_accuracy = np.array(history.history["val_accuracy"])
train_end = np.array(end_of_epoch_train_accuracy)
n_a, n_b = len(y_check), len(x_small) - n_fit
se_subset = np.sqrt(train_end[0] * (1 - train_end[0]) / n_a)
print(f"SE of the epoch-1 training accuracy on {n_a} images: {se_subset:.4f}; "
      f"gap to fit's log: {train_end[0] - history.history['accuracy'][0]:+.4f}")
se_diff = np.sqrt(train_end * (1 - train_end) / n_a + val_accuracy * (1 - val_accuracy) / n_b)
pd.DataFrame(
    {
        "train: fit's log": history.history["accuracy"],
        "train: epoch end": train_end,
        "validation: epoch end": val_accuracy,
        "(train - val) / SE": np.round((train_end - val_accuracy) / se_diff, 1),
    },
    index=pd.RangeIndex(1, epochs_run + 1, name="epoch"),
).round(4)

# %% [markdown]
# Measured with the end-of-epoch weights, the training accuracy after epoch 1 is 0.953, not 0.897: the logged number
# mostly lags behind. The change of images cannot explain a gap of 0.055, since the accuracy on 6,000 images has an
# SE of 0.003. In the last column, after epoch 1 the training images score 1.2 SE below the validation images, and
# after epochs 2 and 3 1.1 and 1.6 SE above: all within chance. Only after epochs 4 and 5 is the gap clear (3.2 and
# 4.0 SE): the training images score above the validation images, as images the model was trained on should. (`fit`
# averages the logged training loss over the epoch's batches in the same way.)

# %%
# NBVAL_IGNORE_OUTPUT
import sklearn.metrics

du.metrics.classifier_report(y_test, y_pred, class_names=[str(d) for d in range(10)])

# %%
# NBVAL_IGNORE_OUTPUT
du.plot.confusion_matrix(y_test, y_pred, class_names=[str(d) for d in range(10)])
plt.show()
counts = sklearn.metrics.confusion_matrix(y_test, y_pred)
np.fill_diagonal(counts, 0)  # keep only the mistakes
largest = np.argsort(counts, axis=None)[::-1][:3]
print("largest mistakes:", ", ".join(f"{t} read as {p}: {counts[t, p]}" for t, p in zip(*np.unravel_index(largest, counts.shape), strict=True)))

# %% [markdown]
# In the table above, for each digit: **precision** is the fraction of the images predicted as that digit that are
# right, **recall** the fraction of the images of that digit that are found, **f1-score** their harmonic mean, and
# **support** the number of test images of the digit; *macro avg* weighs every digit equally, *weighted avg* by its
# support. Notebook 05 explains when each matters.
#
# In the confusion matrix, rows are the true digits, columns the predicted ones: the diagonal counts the correct
# predictions, and each off-diagonal cell counts one kind of mistake. The colour scale is set by the diagonal
# (about 1,000 per digit), so all the mistake cells look almost white: read their numbers, or the largest ones printed
# under the figure. Notebook 03 looks at the mistakes themselves.

# %% [markdown]
# ## Results
#
# `du.report` prints the headline numbers and, in the full profile, writes them to `results/00_getting_started.json`
# together with the run time, library versions, device and date. The README's table is built from these files. The two
# accuracies are on different tasks (two classes, 0 against 1; ten digits) and cannot be compared with each other.

# %%
# NBVAL_IGNORE_OUTPUT
du.report(
    "00_getting_started",
    gradient_max_abs_error=gradient_error,
    logreg_0v1_test_accuracy=logreg_test_accuracy,
    mlp_test_accuracy=mlp_test_accuracy,
);  # the ; hides the returned file path

# %%
# Check: the hand gradient matches the tape, and both models learned
# (always predicting the most frequent test class scores 1135/2115 = 0.537 for 0 vs 1, and 1135/10000 = 0.1135)
assert gradient_error < 1e-12
assert logreg_test_accuracy >= du.pick(full=0.995, quick=0.98), logreg_test_accuracy
assert mlp_test_accuracy >= du.pick(full=0.96, quick=0.80), mlp_test_accuracy
# fit's logged training accuracy (a batch average) lags behind the end-of-epoch weights in epoch 1
assert end_of_epoch_train_accuracy[0] > history.history["accuracy"][0] + 0.02, (end_of_epoch_train_accuracy, history.history)
assert graph_vs_eager < 1e-12 and gd_step_graph.experimental_get_tracing_count() == 1
print("checks passed")

# %% [markdown]
# ## Exercises
#
# 1. Differentiate $g(x) = \sin(x)\,e^{-x^2}$ at 100 points of $[-3, 3]$ with `tf.GradientTape` and compare with the
#    derivative you work out by hand. Plot both.
# 2. Add an L2 penalty $\frac{\lambda}{2}\lVert w \rVert^2$ to the logistic-regression loss, derive the new
#    gradient by hand ($\frac{1}{n}X^\top(p-y) + \lambda w$), and check it against the tape.
# 3. Time 100 calls of `gd_step` and of `gd_step_graph` (§4), timing the first graph call separately. Why does the first
#    call take longer? Then pass the learning rate as a Python float, `0.5` and then `0.25`, instead of a tensor, and
#    watch `gd_step_graph.experimental_get_tracing_count()`: what triggers a new trace?
# 4. Make a folder `mirror/titanic/` holding a copy of `train.csv` (from your dataset mirror, or downloaded from the
#    URL in `du.data.REGISTRY["titanic"]`), point `DLUTILS_DATA_DIR` at `mirror` and load it with
#    `du.data.load_titanic()`. Then change one value in one line (an age `34` → `340`) and load again. You get no
#    error: a `UserWarning` says that the file's SHA-256 matches neither the origin nor a known mirror copy, and the
#    file is used anyway, because a mirror is trusted. The loader raises a `DataError` only when the table no longer
#    parses as expected: damage the header (rename `Age`) to see it. Also try a letter in a number (`34` → `x34`): it
#    loads, with a warning, and silently turns the whole `Age` column into text (look at `df.dtypes`). Finally put
#    the changed file in the cache instead (the folder `DLUTILS_CACHE_DIR`, by default `data/`, with `DLUTILS_DATA_DIR`
#    unset): a cached file must match the origin, so this time you get a `DataError` (checksum mismatch). To turn the
#    mirror's warning into an error as well, run Python with `-W error::UserWarning` (in a notebook:
#    `warnings.simplefilter("error", UserWarning)`).
#
# **Next:** [01 · Data preprocessing](01_data_preprocessing.ipynb).
