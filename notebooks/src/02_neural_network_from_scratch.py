# %% [markdown]
# # 02 · A neural network from scratch: forward pass, backpropagation, gradient checking
#
# **What you will learn**
# - what a neuron, a layer, weights, biases and an activation are, written as matrix algebra with explicit shapes;
# - the forward pass of a two-layer network with a softmax output and the cross-entropy loss, computed stably;
# - backpropagation: every gradient derived by the chain rule, index by index, then written in NumPy, and drawn on
#   a computation graph; backpropagation *computes* the gradients, the optimizer *uses* them;
# - gradient checking: the hand-written gradients agree with central finite differences and with `tf.GradientTape`;
# - batch, stochastic (one sample) and mini-batch gradient descent, measured against epochs and against the clock;
# - that Keras, given the same architecture, initial weights, batches and optimizer, follows the same training curve.
#
# **Prerequisites:** [00 · Getting started](00_getting_started.ipynb) (tensors, `tf.GradientTape`) and
# [01 · Data preprocessing](01_data_preprocessing.ipynb) (splits, scaling). Some linear algebra: matrix products
# and transposes.
# **Data:** scikit-learn's bundled 8×8 handwritten digits (1,797 images, ships with scikit-learn, no download).
# **Run time (full profile, 2-core CPU):** one to two minutes; the README table has the measured time (machines of this
# class differ 2–3× in speed, so the notebook reports speeds as ratios, never as promises).

# %%
# NBVAL_IGNORE_OUTPUT
# (The tests re-run each notebook in a short "quick" profile and compare outputs; this marker skips cells
# whose output depends on the machine or on the profile. This copy ran in the "full" profile.)
import dlutils as du

du.setup(seed=42)

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# %% [markdown]
# ## 1. The data: 8×8 digits
#
# `load_digits` returns 1,797 grey-scale images of the digits 0–9, each 8×8 pixels with integer intensities 0–16,
# already flattened into 64 features. The pixel range is known in advance, so we scale by dividing by 16: this
# needs no statistics of the data, hence it cannot leak information from the test set (notebook 01). We keep 20% of
# the images aside as a stratified test set and never train on them. Everything is `float32`, the precision that
# Keras uses, so that the NumPy network and the Keras network of section 6 do the same arithmetic.

# %%
digits = load_digits()
X = (digits.data / 16.0).astype(np.float32)
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
n_classes = 10
Y_train = np.eye(n_classes, dtype=np.float32)[y_train]  # one-hot rows: Y[i, k] = 1 if sample i has class k
print("X_train", X_train.shape, X_train.dtype, "| X_test", X_test.shape, "| Y_train (one-hot)", Y_train.shape)
print("pixel range:", X_train.min(), "to", X_train.max())
print("training images per digit:", np.bincount(y_train).tolist())

# %%
du.plot.image_grid(X_train[:20].reshape(-1, 8, 8), labels=y_train[:20], ncols=10,
                   title="The first 20 training images (8×8 pixels)")
plt.show()

# %% [markdown]
# ## 2. Neurons, layers and the shapes convention
#
# **A neuron** takes an input vector $x \in \mathbb{R}^d$, forms a weighted sum plus a bias and passes it through a
# non-linear **activation** $\sigma$:
#
# $$z = w^\top x + b = \sum_{m=1}^{d} w_m x_m + b, \qquad a = \sigma(z).$$
#
# **A layer** is $h$ neurons side by side, reading the same input. With the input as a *column* vector this is the
# textbook form $z = W x + b$ with $W \in \mathbb{R}^{h \times d}$ (row $j$ holds neuron $j$'s weights). In code we
# process a **batch** of $n$ samples at once, stored as the *rows* of a matrix $X \in \mathbb{R}^{n \times d}$
# (that is how NumPy, TensorFlow and every data loader lay them out). Transposing the textbook form for all rows at
# once gives $Z = X W^\top + b$. We therefore store the transposed matrix, $W_1 := W^\top \in \mathbb{R}^{d \times h}$
# (so does Keras: a `Dense` layer's `kernel` has shape `(inputs, units)`), and write
#
# $$Z_1 = X W_1 + b_1, \qquad (Z_1)_{ij} = \sum_{m=1}^{d} X_{im} (W_1)_{mj} + (b_1)_j,$$
#
# where adding the bias vector $b_1 \in \mathbb{R}^h$ to every row is NumPy broadcasting. Both conventions describe
# the same network; they only move the transposes around. **Pick one and keep it**: mixing the column-vector
# formulas of a textbook with row-vector code is where most "swapped index" bugs in backpropagation come from.
#
# **Our network** has $d = 64$ inputs, one hidden layer of $h = 32$ ReLU units and $K = 10$ outputs:
#
# | quantity | formula | shape |
# |---|---|---|
# | input batch | $X$ | $n \times d$ |
# | hidden pre-activation | $Z_1 = X W_1 + b_1$ | $n \times h$ ($W_1$: $d \times h$, $b_1$: $h$) |
# | hidden activation | $A_1 = \sigma(Z_1)$, $\sigma(z) = \mathrm{ReLU}(z) = \max(0, z)$ | $n \times h$ |
# | output logits | $Z_2 = A_1 W_2 + b_2$ | $n \times K$ ($W_2$: $h \times K$, $b_2$: $K$) |
# | class probabilities | $P_{ik} = \dfrac{e^{(Z_2)_{ik}}}{\sum_{c=1}^{K} e^{(Z_2)_{ic}}}$ (softmax of each row) | $n \times K$ |
# | loss | $L = -\dfrac{1}{n} \sum_{i=1}^{n} \sum_{k=1}^{K} Y_{ik} \log P_{ik}$ (mean cross-entropy) | scalar |
#
# The **logits** $Z_2$ are the raw, unnormalised class scores that softmax turns into probabilities.
# $Y$ holds the one-hot labels, so the inner sum just picks $-\log P_{i, y_i}$, the negative log-probability the
# network gives to the correct class. Without the activation the two layers would collapse into one linear map
# ($X W_1 W_2 + \dots$); ReLU is the usual choice for hidden layers because its derivative is 1 wherever the unit is
# active, so the activation itself does not shrink gradients (the weights still can: notebook 04). (Sigmoid, $\sigma(z) = 1/(1+e^{-z})$, works too; its
# derivative is at most 1/4, a reason deep sigmoid networks train slowly: notebook 04.)
#
# ### Computing softmax and cross-entropy stably
#
# Softmax does not change if the same constant is subtracted from every logit of a row (numerator and denominator are
# both multiplied by $e^{-c}$). Subtracting the row maximum $m_i = \max_c (Z_2)_{ic}$ keeps every exponent $\le 0$, so
# `exp` cannot overflow, and computing the **log**-probabilities directly,
#
# $$\log P_{ik} = (Z_2)_{ik} - m_i - \log \sum_{c=1}^{K} e^{(Z_2)_{ic} - m_i},$$
#
# never takes the log of a probability that has underflowed to 0 (the sum is at least 1). This is what Keras does
# inside a loss built with `from_logits=True`; section 7 shows what goes wrong without it.

# %%
def init_params(rng, d=64, h=32, k=10, dtype=np.float32):
    """He initialisation: plain normal weights with variance 2 / fan-in (fan-in: a unit's number of inputs),
    suited to ReLU (notebook 04), and zero biases. Keras's `HeNormal` truncates the normal, and `Dense` defaults
    to Glorot-uniform, so a Keras model starts differently unless given these weights (section 6)."""
    return {
        "W1": rng.normal(0.0, np.sqrt(2.0 / d), size=(d, h)).astype(dtype),
        "b1": np.zeros(h, dtype=dtype),
        "W2": rng.normal(0.0, np.sqrt(2.0 / h), size=(h, k)).astype(dtype),
        "b2": np.zeros(k, dtype=dtype),
    }


def log_softmax(Z):
    """Row-wise log-softmax, stabilised by subtracting each row's maximum."""
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def forward(params, X):
    """Forward pass; returns the logits and the intermediate values that backpropagation needs."""
    Z1 = X @ params["W1"] + params["b1"]  # (n, h)
    A1 = np.maximum(Z1, 0)  # ReLU, (n, h)
    Z2 = A1 @ params["W2"] + params["b2"]  # logits, (n, K)
    return Z2, (Z1, A1)


def cross_entropy(params, X, Y):
    """Mean cross-entropy L of the network on a batch (X, one-hot Y)."""
    Z2, _ = forward(params, X)
    return -np.mean(np.sum(Y * log_softmax(Z2), axis=1))


params0 = init_params(np.random.default_rng(0))
print({name: value.shape for name, value in params0.items()})
print(f"loss at the initial weights: {cross_entropy(params0, X_train, Y_train):.4f} "
      f"(guessing uniformly gives log 10 = {np.log(10):.4f})")

# %% [markdown]
# At random initial weights the network's outputs are nearly uniform, so its loss is close to $\log 10$: a useful
# first sanity check for any classifier you write.
#
# ## 3. Backpropagation, derived with the chain rule
#
# Training needs $\partial L / \partial W_1$, $\partial L / \partial b_1$, $\partial L / \partial W_2$ and
# $\partial L / \partial b_2$. Notation: for any matrix $V$ that $L$ depends on, $\dfrac{\partial L}{\partial V}$ is
# the matrix of the same shape as $V$ whose entry $(a, b)$ is $\dfrac{\partial L}{\partial V_{ab}}$. **A gradient
# always has the shape of the variable it is taken with respect to**: the check we apply to every formula below.
# (It is $\partial L / \partial W$, the change of the loss per change of a weight; some posts write
# $\partial W / \partial L$, which is a different and meaningless quantity here.)
#
# **Backpropagation is the algorithm that computes these gradients, and nothing more.** It applies the chain rule
# from the loss backwards through the network, reusing each intermediate result, and changes no weight. What changes
# the weights is the **optimizer**, which *uses* the gradients: plain gradient descent in section 5,
# `keras.optimizers.SGD` or `Adam` in Keras. Some posts call backpropagation "an optimization algorithm"; it is not
# one: the same gradients can feed any optimizer, and `tf.GradientTape` (section 4) computes them the same way
# (reverse-mode automatic differentiation: it records the operations of the forward pass, then applies the
# chain rule to them backwards, as we do by hand below).
#
# We go backwards, from the loss to the first layer, reusing each result in the next step.
#
# **Step 1: loss → logits.** Only row $i$ of $Z_2$ affects sample $i$'s loss. With
# $\log P_{ik} = (Z_2)_{ik} - \log \sum_c e^{(Z_2)_{ic}}$ we get
# $\dfrac{\partial \log P_{ik}}{\partial (Z_2)_{im}} = \delta_{km} - P_{im}$ (with $\delta_{km} = 1$ if $k = m$,
# else 0), hence
#
# $$\frac{\partial L}{\partial (Z_2)_{im}} = -\frac{1}{n} \sum_{k} Y_{ik} (\delta_{km} - P_{im})
#   = \frac{1}{n}\Big(P_{im} \underbrace{\textstyle\sum_k Y_{ik}}_{=1} - Y_{im}\Big) = \frac{P_{im} - Y_{im}}{n},
# \qquad \text{i.e.} \qquad G_2 := \frac{\partial L}{\partial Z_2} = \frac{1}{n}(P - Y) \quad (n \times K).$$
#
# Softmax and cross-entropy together have this remarkably simple gradient: prediction minus truth. The $1/n$ comes
# from the *mean* over the batch and travels into every gradient below.
#
# **Step 2: second-layer weights and bias.** $(Z_2)_{ik} = \sum_j (A_1)_{ij} (W_2)_{jk} + (b_2)_k$, so
# $\partial (Z_2)_{ik} / \partial (W_2)_{jk} = (A_1)_{ij}$, and summing over every sample $i$ that the weight touches:
#
# $$\frac{\partial L}{\partial (W_2)_{jk}} = \sum_{i=1}^{n} (G_2)_{ik} (A_1)_{ij}
#   \quad\Longrightarrow\quad \frac{\partial L}{\partial W_2} = A_1^\top G_2 = \frac{1}{n} A_1^\top (P - Y)
#   \quad (h \times n)(n \times K) = h \times K, $$
#
# $$\frac{\partial L}{\partial (b_2)_k} = \sum_{i=1}^{n} (G_2)_{ik} \quad \text{(column sums of } G_2\text{)}.$$
#
# **Step 3: back into the hidden activations.** $(A_1)_{ij}$ feeds every logit $(Z_2)_{ik}$ of its row through
# $(W_2)_{jk}$:
#
# $$\frac{\partial L}{\partial (A_1)_{ij}} = \sum_{k=1}^{K} (G_2)_{ik} (W_2)_{jk}
#   \quad\Longrightarrow\quad \frac{\partial L}{\partial A_1} = G_2 W_2^\top
#   \quad (n \times K)(K \times h) = n \times h.$$
#
# **Step 4: through the activation.** $A_1 = \sigma(Z_1)$ acts entry by entry, so the chain rule is an entry-wise
# (Hadamard, $\odot$) product with the derivative evaluated at the **pre-activation** $Z_1$:
#
# $$G_1 := \frac{\partial L}{\partial Z_1} = \frac{\partial L}{\partial A_1} \odot \sigma'(Z_1), \qquad
#   \mathrm{ReLU}'(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}
#   \quad (n \times h).$$
#
# (ReLU has no derivative at exactly 0; any value in $[0, 1]$, between the slopes on its left and right, is a valid *subgradient*, and 0 is the usual choice.)
#
# **Step 5: first-layer weights and bias**, exactly as in step 2 with $X$ in the role of $A_1$:
#
# $$\frac{\partial L}{\partial W_1} = X^\top G_1 \quad (d \times n)(n \times h) = d \times h, \qquad
#   \frac{\partial L}{\partial b_1} = \sum_{i=1}^{n} (G_1)_{i\,\cdot} \quad \text{(column sums of } G_1\text{)}.$$
#
# Each step is one line of NumPy. Note the pattern: a weight's gradient is (input of the layer)$^\top$ × (gradient
# at the layer's output); the gradient passed further back is (gradient at the output) × (weights)$^\top$.

# %%
def backward(params, X, Y):
    """Loss and its gradients with respect to every parameter, by the formulas above."""
    n = len(X)
    Z2, (Z1, A1) = forward(params, X)
    log_P = log_softmax(Z2)
    P = np.exp(log_P)
    G2 = (P - Y) / n  # step 1: dL/dZ2, (n, K)
    dW2 = A1.T @ G2  # step 2: (h, n) @ (n, K) -> (h, K)
    db2 = G2.sum(axis=0)  # (K,)
    dA1 = G2 @ params["W2"].T  # step 3: (n, K) @ (K, h) -> (n, h)
    G1 = dA1 * (Z1 > 0)  # step 4: ReLU'(Z1), (n, h)
    dW1 = X.T @ G1  # step 5: (d, n) @ (n, h) -> (d, h)
    db1 = G1.sum(axis=0)  # (h,)
    loss = -np.mean(np.sum(Y * log_P, axis=1))
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


loss, grads = backward(params0, X_train, Y_train)
for name in params0:
    assert grads[name].shape == params0[name].shape, name  # a gradient has its variable's shape
print({name: g.shape for name, g in grads.items()})

# %% [markdown]
# ### The same steps on a computation graph
#
# The forward pass is a chain of simple operations; the backward pass walks the same graph in reverse. Each node
# receives $\partial L / \partial(\text{its output})$ from the node after it, multiplies by its own local
# derivative, and hands the result to the nodes before it; a value used several times adds up the gradients
# arriving from each use (in a batch every weight is used once per sample: the sums over $i$ in steps 2
# and 5). To show every number we shrink the network to one input, one hidden unit and $K = 2$
# classes, for one sample ($n = 1$, true class: the second). The cell computes the five steps by hand, checks them
# against `backward`, and draws the graph: forward values in black inside the boxes, gradients in red, and on each
# red arrow the local rule that produced it.

# %%
# A network small enough to show every number: one input, one hidden unit, two classes, one sample
tiny = {"W1": np.array([[1.5]]), "b1": np.array([-0.2]), "W2": np.array([[1.0, -0.5]]), "b2": np.array([0.1, 0.0])}
x_tiny, y_tiny = np.array([[0.8]]), np.array([[0.0, 1.0]])  # the true class is the second one

# Forward pass, keeping every intermediate value
z1 = x_tiny @ tiny["W1"] + tiny["b1"]
a1 = np.maximum(z1, 0)
z2 = a1 @ tiny["W2"] + tiny["b2"]
p = np.exp(log_softmax(z2))
L_tiny = -np.sum(y_tiny * np.log(p))
# Backward pass: steps 1-5 of the derivation, from the loss back to the weights
g_z2 = p - y_tiny  # step 1 (n = 1)
g_W2, g_b2 = a1.T @ g_z2, g_z2.sum(axis=0)  # step 2
g_a1 = g_z2 @ tiny["W2"].T  # step 3
g_z1 = g_a1 * (z1 > 0)  # step 4
g_W1, g_b1 = x_tiny.T @ g_z1, g_z1.sum(axis=0)  # step 5
_, g_backward = backward(tiny, x_tiny, y_tiny)  # the function of this section gives the same gradients
assert all(np.allclose(g_backward[k], v) for k, v in {"W1": g_W1, "b1": g_b1, "W2": g_W2, "b2": g_b2}.items())
print(f"forward: z1 = {z1.item():.2f}, a1 = {a1.item():.2f}, z2 = {np.round(z2, 3)}, p = {np.round(p, 3)}, "
      f"L = {L_tiny:.3f}")
print(f"backward: dL/dW1 = {g_W1.item():.3f}, dL/db1 = {g_b1.item():.3f}, dL/dW2 = {np.round(g_W2, 3)}, "
      f"dL/db2 = {np.round(g_b2, 3)}")


def fmt(v):
    v = np.ravel(v)
    return f"{v[0]:.4g}" if v.size == 1 else "[" + ", ".join(f"{t:.4g}" for t in v) + "]"


nodes = {  # name: (position, symbol, how it is computed, forward value, dL/d(node) or None)
    "x": ((0.0, 2.5), "x", "input", x_tiny, None),
    "W1": ((0.0, 1.0), "W_1", "weight", tiny["W1"], g_W1),
    "b1": ((0.0, -0.5), "b_1", "bias", tiny["b1"], g_b1),
    "z1": ((3.0, 1.0), "z_1", "x W_1 + b_1", z1, g_z1),
    "a1": ((6.0, 1.0), "a_1", r"\mathrm{ReLU}(z_1)", a1, g_a1),
    "W2": ((6.0, 2.5), "W_2", "weight", tiny["W2"], g_W2),
    "b2": ((6.0, -0.5), "b_2", "bias", tiny["b2"], g_b2),
    "z2": ((9.0, 1.0), "z_2", "a_1 W_2 + b_2", z2, g_z2),
    "y": ((9.0, 2.5), "y", "label (one-hot)", y_tiny, None),
    "L": ((12.0, 1.0), "L", r"-\log\,\mathrm{softmax}(z_2)_y", L_tiny, np.ones(1)),
}
backward_rules = {  # edge (from, to) of the forward pass: the local rule that sends the gradient back along it
    ("z2", "L"): r"$p - y$", ("a1", "z2"): r"$\cdot\,W_2^\top$", ("W2", "z2"): r"$a_1^\top\cdot$",
    ("b2", "z2"): "sum", ("z1", "a1"): r"$\odot\,\mathrm{ReLU}'(z_1)$", ("W1", "z1"): r"$x^\top\cdot$",
    ("b1", "z1"): "sum",
}
label_shift = {("W2", "z2"): (-0.3, 0.0), ("W1", "z1"): (0.0, 0.15), ("b1", "z1"): (-0.6, 0.0),
               ("b2", "z2"): (-0.6, 0.0)}  # nudges that keep the labels off the black arrows
forward_edges = list(backward_rules) + [("x", "z1"), ("y", "L")]

fig, ax = plt.subplots(figsize=(12, 4.6))
boxes = {}
for name, ((px, py), symbol, how, value, grad) in nodes.items():
    op = how not in ("input", "weight", "bias", "label (one-hot)")
    head = f"${symbol} = {how}$" if op else f"{how} ${symbol}$"
    boxes[name] = ax.text(px, py, f"{head}\n= {fmt(value)}", ha="center", va="center", fontsize=9,
                          bbox=dict(boxstyle="round,pad=0.4", fc="#eef3fb" if op else "white", ec="0.3"))
    if grad is not None:
        above = py >= 1.0  # gradient above the box in the top and middle rows, below it in the bottom row
        ax.text(px, py + (0.38 if above else -0.38), rf"$\partial L/\partial {symbol}$ = {fmt(grad)}",
                ha="center", va="bottom" if above else "top", fontsize=9, color="C3")
for src, dst in forward_edges:
    ax.annotate("", xy=(0, 0.5), xycoords=boxes[dst], xytext=(1, 0.5), textcoords=boxes[src],
                arrowprops=dict(arrowstyle="-|>", color="0.2", lw=1.2))
for (src, dst), rule in backward_rules.items():
    ax.annotate("", xy=(1, 0.15), xycoords=boxes[src], xytext=(0, 0.15), textcoords=boxes[dst],
                arrowprops=dict(arrowstyle="-|>", color="C3", lw=1.2, ls="--", connectionstyle="arc3,rad=-0.25"))
    (x0, y0), (x1, y1) = nodes[src][0], nodes[dst][0]
    dx, dy = label_shift.get((src, dst), (0.0, 0.0))
    ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 - 0.45 + dy, rule, color="C3", fontsize=10, ha="center",
            va="center", zorder=10, bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="C3", lw=0.5))
ax.set(xlim=(-1.0, 13.3), ylim=(-1.2, 3.2))
ax.axis("off")
ax.set_title("Forward pass (black: values, left to right) and backward pass (red: gradients, right to left)")
plt.show()


# %% [markdown]
# Read it from right to left: $\partial L/\partial L = 1$; through the softmax and cross-entropy the gradient is
# $p - y = [0.832, -0.832]$ (step 1); the weight $W_2$ gets $a_1^\top (p - y)$ and the hidden unit gets
# $(p - y) W_2^\top = 0.832 \cdot 1 + (-0.832)(-0.5) = 1.248$ (steps 2–3); ReLU passes it unchanged because
# $z_1 = 1 > 0$ (step 4; with $z_1 < 0$ every gradient to its left would be 0); and $W_1$ gets $x \cdot 1.248 = 0.8 \cdot 1.248 = 0.998$
# (step 5). Only the red numbers at the **weights and biases** are what training needs; the others are intermediate
# results that backpropagation reuses instead of recomputing. That reuse is why one backward pass gives all the
# gradients for the price of a few matrix products (three in `backward`, against two in `forward`), where finite
# differences (section 4) need two forward passes per weight. Nothing in the picture has changed a weight yet: that is the
# optimizer's job, one line in section 5.

# %% [markdown]
# ## 4. Gradient checking: are the formulas right?
#
# A wrong gradient does not crash: training just goes worse, or subtly nowhere. So we check the hand-written
# gradients against two independent references, on the **same** weights:
#
# 1. **Central finite differences.** For each of the 2,410 parameters $\theta_j$,
#    $$\frac{\partial L}{\partial \theta_j} \approx \frac{L(\theta + \varepsilon e_j) - L(\theta - \varepsilon e_j)}{2\varepsilon},$$
#    whose error shrinks like $\varepsilon^2$ (the one-sided $(L(\theta + \varepsilon e_j) - L(\theta))/\varepsilon$
#    only like $\varepsilon$). Too small an $\varepsilon$ and the subtraction of two nearly equal losses loses
#    digits to rounding, so we work in **float64** (16 significant digits) with $\varepsilon = 10^{-5}$; in
#    float32 (7 significant digits) rounding limits the check to far coarser errors (exercise 4 measures how coarse).
# 2. **`tf.GradientTape`** (notebook 00): TensorFlow's automatic differentiation of the same loss, also in float64.
#
# We compare whole gradients with the **relative error**
# $\dfrac{\lVert g_\text{hand} - g_\text{ref} \rVert}{\lVert g_\text{hand} \rVert + \lVert g_\text{ref} \rVert}$ over all
# parameters: it is scale-free (0: identical; about 0.7: unrelated, i.e. perpendicular vectors of equal length; 1: opposite
# sign, or one of them zero), unlike an absolute difference, which depends
# on how big the gradients happen to be. Correct formulas give errors far below $10^{-6}$; a wrong transpose or a
# missing factor gives errors of order 0.1–1. The check uses a fixed set of 20 training images and the fixed initial
# weights, so it computes exactly the same thing in every run and profile.
#
# One caution specific to ReLU: finite differences are wrong where a perturbation of $\pm\varepsilon$ pushes a
# pre-activation across the kink at 0. We print the smallest $|Z_1|$ on the check images to show that no
# pre-activation is that close to 0 (a perturbation of one weight by $\varepsilon$ changes a pre-activation by at most
# $\varepsilon$, since the inputs lie in $[0, 1]$).

# %%
def numerical_gradient(params, X, Y, eps=1e-5):
    """Central finite differences of cross_entropy, one parameter at a time (changes params in place, then restores)."""
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            original = value[index]
            value[index] = original + eps
            loss_plus = cross_entropy(params, X, Y)
            value[index] = original - eps
            loss_minus = cross_entropy(params, X, Y)
            value[index] = original
            g[index] = (loss_plus - loss_minus) / (2 * eps)
        grads[name] = g
    return grads


def relative_error(grads_a, grads_b):
    """||a - b|| / (||a|| + ||b||) over all parameters together."""
    a = np.concatenate([grads_a[name].ravel() for name in grads_a])
    b = np.concatenate([grads_b[name].ravel() for name in grads_a])
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


X_check = X_train[:20].astype(np.float64)
Y_check = Y_train[:20].astype(np.float64)
params64 = {name: value.astype(np.float64) for name, value in params0.items()}

_, grads_hand = backward(params64, X_check, Y_check)
grads_fd = numerical_gradient(params64, X_check, Y_check)

# The same loss in TensorFlow, differentiated by the tape
variables = {name: tf.Variable(value) for name, value in params64.items()}
with tf.GradientTape() as tape:
    hidden = tf.nn.relu(X_check @ variables["W1"] + variables["b1"])
    logits = hidden @ variables["W2"] + variables["b2"]
    loss_tf = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=Y_check, logits=logits))
grads_tape = dict(zip(variables, (g.numpy() for g in tape.gradient(loss_tf, list(variables.values()))), strict=True))

grad_rel_error_fd = relative_error(grads_hand, grads_fd)
grad_rel_error_tape = relative_error(grads_hand, grads_tape)
print(f"loss on the 20 check images: NumPy {cross_entropy(params64, X_check, Y_check):.10f}, "
      f"TensorFlow {loss_tf.numpy():.10f}")
smallest_z1 = np.abs(X_check @ params64["W1"] + params64["b1"]).min()
print(f"smallest |Z1| on the check images: {smallest_z1:.1e}, more than 10 * eps = 1e-04 (no ReLU kink crossed)")
assert smallest_z1 > 10 * 1e-5

# %%
# NBVAL_IGNORE_OUTPUT
# The last digits of these errors are rounding noise and differ between CPUs and BLAS libraries, so nbval does not
# compare this output; the Check cell asserts that both stay below 1e-6.
print(f"relative error, hand vs central differences: {grad_rel_error_fd:.1e} (the error of the finite differences themselves)")
print(f"relative error, hand vs tf.GradientTape:     {grad_rel_error_tape:.1e} (float64 rounding level)")
pd.DataFrame(
    {
        "rel. error vs finite differences": [relative_error({k: grads_hand[k]}, {k: grads_fd[k]}) for k in params64],
        "rel. error vs GradientTape": [relative_error({k: grads_hand[k]}, {k: grads_tape[k]}) for k in params64],
    },
    index=list(params64),
).map(lambda v: f"{v:.1e}")

# %% [markdown]
# Both errors are far below the $10^{-6}$ bar: the finite differences agree to about ten digits (what remains is
# the error of the differences themselves: truncation, which shrinks like $\varepsilon^2$, plus rounding, which grows
# like $1/\varepsilon$; exercise 4 separates the two), and the tape agrees to the rounding of float64 arithmetic,
# because it applies the same chain rule to the same operations. Per parameter block, the largest partial derivative computed three ways:

# %%
largest = {name: np.unravel_index(np.abs(grads_hand[name]).argmax(), grads_hand[name].shape) for name in params64}
pd.DataFrame(
    {
        "shape": [str(params64[name].shape) for name in params64],
        "largest entry at": [str(tuple(int(i) for i in largest[name])) for name in params64],
        "backprop": [f"{grads_hand[name][largest[name]]:+.6f}" for name in params64],
        "finite diff.": [f"{grads_fd[name][largest[name]]:+.6f}" for name in params64],
        "GradientTape": [f"{grads_tape[name][largest[name]]:+.6f}" for name in params64],
    },
    index=list(params64),
)

# %%
flat_hand = np.concatenate([grads_hand[name].ravel() for name in params64])
flat_fd = np.concatenate([grads_fd[name].ravel() for name in params64])
fig, ax = plt.subplots(figsize=(4.2, 4))
ax.scatter(flat_hand, flat_fd, s=6, alpha=0.5)
lim = np.abs(flat_hand).max() * 1.05
ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="y = x")
ax.set(xlabel="backpropagation (hand-written)", ylabel="central finite differences",
       title=f"All {flat_hand.size:,} partial derivatives")
ax.legend()
plt.show()

# %% [markdown]
# Every point lies on the diagonal, consistent with the relative error of 2.5e-10 printed above (a scatter at this
# scale could not show errors below about $10^{-3}$ of the range; the printed error is the evidence). It is a check
# at one point, the initial weights on 20 images: standard practice, not a proof for all weights. Keep this check in your toolbox
# whenever you write a gradient by hand (a custom layer, a custom loss); it is slow (two forward passes per
# parameter) so run it once on a small batch, never during training.
#
# ## 5. Training: gradient descent, three ways
#
# Gradient descent repeats $\theta \leftarrow \theta - \eta\, \partial L_{\mathcal{B}} / \partial \theta$, where $L_{\mathcal{B}}$ is the mean
# loss over a batch $\mathcal{B}$ of $B$ training samples ($B$ is the $n$ of sections 2–3) and $\eta$ is the learning rate. The three classic variants differ only
# in which samples go into $\mathcal{B}$:
#
# | variant | samples per update | updates per epoch ($N$ = 1,437 training images) | gradient |
# |---|---|---|---|
# | **batch** gradient descent | all $N$ | 1 | exact gradient of the training loss |
# | **stochastic** gradient descent, one sample | 1 | $N$ | unbiased (right on average over random picks) but very noisy estimate |
# | **mini-batch** gradient descent | $B$, here 32 | $\lceil N/B \rceil = 45$ | unbiased, noise variance shrinks like $1/B$ |
#
# An **epoch** is one pass over the training set. Each epoch we visit the samples in a fresh random order
# (pre-drawn here, so that every method, and Keras in section 6, sees exactly the same order), cut it into
# consecutive batches, and take one step per batch; the last batch of an epoch may be smaller (1,437 = 44 × 32 + 29).
#
# **Learning rates.** A step on a mean over $B$ samples moves the weights about as far as $B$ single-sample steps of a
# $B$ times smaller size (when steps are small), so a fair comparison scales $\eta$ with the batch size (the "linear
# scaling rule"): we use $\eta = 0.1$ for mini-batches of 32 and $\eta = 0.1/32$ for single samples. Batch gradient
# descent would then need $\eta = 0.1 \cdot 1437 / 32 \approx 4.5$, far beyond what it can take: a step larger than
# about $2/\lambda_\text{max}$ (with $\lambda_\text{max}$ the largest curvature of the loss) overshoots, and the loss
# grows instead of falling. (For a one-weight loss $\frac{\lambda}{2}\theta^2$ a step multiplies $\theta$ by $1 - \eta\lambda$,
# which grows in size once $\eta > 2/\lambda$; in a network $\lambda_\text{max}$ plays the role of $\lambda$, and it changes as
# the weights move.) We give it $\eta = 1.0$; a short experiment after the comparison shows that this is the best of
# four rates tried, and already overshoots at some steps.
#
# In `train` below, the two halves of a training step are separate lines: `backward` (backpropagation) computes the
# gradients, and the update `params[name] -= lr * grads[name]` is the optimizer. We record the training loss on the
# *whole* training set after every epoch, and time only the updates (`du.Timer`), not these evaluations. Each run is preceded by one untimed warm-up epoch,
# and NumPy's matrix library (BLAS) is limited to one thread while timing: with its default two threads, on our
# shared 2-core machine, a matrix product had to wait whenever the other core was busy, which made the larger
# batches' updates many times slower and very uneven (the benchmark after the table prints this).

# %%
from threadpoolctl import threadpool_limits  # installed with scikit-learn; sets NumPy's BLAS thread count


def train(params0, X, Y, orders, batch_size, lr):
    """Mini-batch gradient descent; batch_size=1 is one-sample SGD, batch_size=len(X) is batch gradient descent.

    Returns the final parameters, the training loss after each epoch (index 0: before training)
    and the cumulative seconds spent in updates after each epoch.
    """
    params = {name: value.copy() for name, value in params0.items()}
    losses, seconds = [cross_entropy(params, X, Y)], [0.0]
    for order in orders:  # one epoch per pre-drawn permutation
        with du.Timer() as t:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                _, grads = backward(params, X[batch], Y[batch])  # backpropagation: the gradients
                for name in params:
                    params[name] -= lr * grads[name]  # the optimizer: a gradient-descent step
        losses.append(cross_entropy(params, X, Y))
        seconds.append(seconds[-1] + t.seconds)
    return params, np.array(losses), np.array(seconds)


def accuracy(params, X, y):
    logits, _ = forward(params, X)
    return float(np.mean(logits.argmax(axis=1) == y))


EPOCHS = du.pick(full=60, quick=6)
order_rng = np.random.default_rng(1)
orders = [order_rng.permutation(len(X_train)) for _ in range(EPOCHS)]
methods = {  # name: (batch size, learning rate)
    "batch GD (B = 1437)": (len(X_train), 1.0),
    "SGD, one sample (B = 1)": (1, 0.1 / 32),
    "mini-batch (B = 32)": (32, 0.1),
}

# %%
# NBVAL_IGNORE_OUTPUT
runs = {}
with threadpool_limits(limits=1, user_api="blas"):  # one BLAS thread: see the paragraph above
    for name, (batch_size, lr) in methods.items():
        train(params0, X_train, Y_train, orders[:1], batch_size, lr)  # warm-up epoch, not timed
        params, losses, seconds = train(params0, X_train, Y_train, orders, batch_size, lr)
        runs[name] = {"params": params, "losses": losses, "seconds": seconds}
        per_update = seconds[-1] / (EPOCHS * np.ceil(len(X_train) / batch_size))
        print(f"{name:<24} {EPOCHS} epochs in {seconds[-1]:5.2f} s ({1e6 * per_update:5.0f} µs per update): "
              f"training loss {losses[0]:.3f} -> {losses[-1]:.4f}")
epoch_time_ratio_runs = runs["SGD, one sample (B = 1)"]["seconds"][-1] / runs["mini-batch (B = 32)"]["seconds"][-1]
print(f"an epoch of one-sample updates took {epoch_time_ratio_runs:.0f}x an epoch of mini-batches of 32")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
styles = {  # one-sample SGD as a thick pale line, so that the mini-batch curve drawn on top of it stays visible
    "batch GD (B = 1437)": dict(color="C0", lw=1.5),
    "SGD, one sample (B = 1)": dict(color="C1", lw=5, alpha=0.45),
    "mini-batch (B = 32)": dict(color="C2", lw=1.2, ls="--"),
}
for name, run in runs.items():
    ax1.plot(np.arange(EPOCHS + 1), run["losses"], label=name, **styles[name])
    ax2.plot(run["seconds"], run["losses"], label=name, **styles[name])
ax1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log", title="Loss against epochs")
ax2.set(xlabel="seconds spent in updates", title="Loss against wall time")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
ax1.legend()
plt.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
comparison = pd.DataFrame(
    {
        "batch size": [methods[name][0] for name in runs],
        "learning rate": [methods[name][1] for name in runs],
        "updates": [EPOCHS * int(np.ceil(len(X_train) / methods[name][0])) for name in runs],
        "final training loss": [run["losses"][-1] for run in runs.values()],
        "test accuracy": [accuracy(run["params"], X_test, y_test) for run in runs.values()],
        "ms per epoch": [1000 * run["seconds"][-1] / EPOCHS for run in runs.values()],
    },
    index=list(runs),
).round(4)
comparison


# %% [markdown]
# The "ms per epoch" column comes from single training runs on a machine that others were using too. As a second,
# independent measurement we time the three batch sizes in turn on one fixed batch, seven rounds each, and keep
# each one's fastest round (the least disturbed), again with one BLAS thread. The last line repeats the full-batch
# timing with BLAS's default two threads, to show the effect that made us limit it:

# %%
# NBVAL_IGNORE_OUTPUT
def time_updates(batch_size, updates):
    """Seconds per gradient-descent update on one fixed batch of the given size."""
    params = {name: value.copy() for name, value in params0.items()}
    batch = orders[0][:batch_size]
    with du.Timer() as t:
        for _ in range(updates):
            _, grads = backward(params, X_train[batch], Y_train[batch])
            for name in params:
                params[name] -= 0.01 * grads[name]
    return t.seconds / updates


bench_updates = {1: 1200, 32: 1200, len(X_train): 80}  # batch size: updates per round (about 0.1 s each)
rounds = {b: [] for b in bench_updates}
with threadpool_limits(limits=1, user_api="blas"):
    for _ in range(7):
        for b, k in bench_updates.items():
            rounds[b].append(time_updates(b, k))
two_threads = [time_updates(len(X_train), 20) for _ in range(7)]  # BLAS default: 2 threads
per_update = {b: min(r) for b, r in rounds.items()}
update_cost_ratio = per_update[32] / per_update[1]
epoch_time_ratio = (len(X_train) * per_update[1]) / (np.ceil(len(X_train) / 32) * per_update[32])
print(pd.DataFrame({"µs per update": [1e6 * per_update[b] for b in per_update],
                    "µs per sample": [1e6 * per_update[b] / b for b in per_update]},
                   index=[f"B = {b}" for b in per_update]).round(1))
print(f"an update on 32 samples costs {update_cost_ratio:.1f}x an update on 1 sample (for 32x the arithmetic); "
      f"on all {len(X_train)}: {per_update[len(X_train)] / per_update[1]:.0f}x")
print(f"so an epoch of one-sample updates costs about {epoch_time_ratio:.0f}x an epoch of mini-batches of 32 "
      f"(training runs above: {epoch_time_ratio_runs:.0f}x)")
print(f"B = {len(X_train)} with 2 BLAS threads: fastest round {1e6 * min(two_threads):.0f} µs per update, "
      f"slowest {1e6 * max(two_threads):.0f} µs (1 thread: {1e6 * min(rounds[len(X_train)]):.0f} to "
      f"{1e6 * max(rounds[len(X_train)]):.0f} µs)")

# %% [markdown]
# **Reading the two plots.**
#
# - **Against epochs**, one-sample SGD (thick pale line) and mini-batches of 32 (dashed, drawn on top of it) with
#   linearly scaled learning rates trace nearly the same curve (final training losses 0.0399 and 0.0400): an epoch of
#   1,437 tiny steps and an epoch of 45 steps 32 times larger move the weights about equally far. Batch gradient
#   descent, limited to one step per epoch and by its stability limit, is far behind; its lower test accuracy (0.9556
#   against 0.9722) goes with its higher training loss (0.160: 60 updates at a smaller-than-scaled rate), so it shows
#   under-training, not a generalisation effect. Its curve has bumps, epochs in which the loss rises (the experiment
#   below counts them and shows where they come from).
# - **Against wall time**, the picture changes. The benchmark shows why: an update on 32 samples costs only about
#   1.6× an update on one sample, nowhere near 32×. At this size a step costs mostly the fixed overhead of the
#   Python loop and of each NumPy call, not arithmetic on the samples (compare the "µs per sample" column). So an
#   epoch of one-sample steps costs about 20× an epoch of mini-batches in the benchmark, and took 43× in the training
#   runs that the plot shows: per second, mini-batches make much more progress either way. Batch gradient descent
#   costs the least per sample in both measurements (its 60 epochs took 0.12 s against 0.36 s for mini-batches), but
#   gets only one step per epoch.
# - **Why the two measurements differ.** The benchmark keeps each batch size's fastest of seven rounds; a training run
#   is a single pass through whatever load the other users of this shared 2-core machine caused at that moment. Load
#   alone moved the one-thread full-batch update between 782 and 3,754 µs across the seven rounds, and with BLAS's
#   default two threads it cost 14,375 to 43,021 µs, because each matrix product waited for the busy second core.
#   Read the ratios as rough: they vary between runs and machines.

# %% [markdown]
# ### How large a step can batch gradient descent take?
#
# Batch gradient descent got $\eta = 1.0$ instead of the linearly scaled 4.5. To see why, and what "close to its
# limit" means, we run it for 60 steps (60 epochs) at $\eta = 0.5, 1.0, 2.0$ and $4.5$: same initial weights, same
# data, only the learning rate changes. We count the steps in which the loss *rose*, and the hidden units left
# inactive on every training image.

# %%
# NBVAL_IGNORE_OUTPUT
full_batch = [np.arange(len(X_train))] * 60  # every step uses the whole training set
rate_losses = {}
for lr in [0.5, 1.0, 2.0, 4.5]:
    params_lr, losses, _ = train(params0, X_train, Y_train, full_batch, len(X_train), lr)
    rate_losses[lr] = losses
    dead = int(np.sum((X_train @ params_lr["W1"] + params_lr["b1"]).max(axis=0) <= 0))
    print(f"eta = {lr:<3}: loss {losses[0]:.3f} -> {losses[-1]:.3f} after 60 steps, highest {losses.max():7.2f}, "
          f"rose in {np.sum(np.diff(losses) > 0):2d} of 60 steps; inactive hidden units: {dead} of 32")

fig, ax = plt.subplots(figsize=(6.5, 3.6))
for lr, losses in rate_losses.items():
    ax.plot(losses, label=f"η = {lr}")
ax.axhline(np.log(10), color="k", ls=":", lw=0.8, label="log 10 (chance)")
ax.set(xlabel="step (= epoch)", ylabel="training loss", yscale="log", title="Batch gradient descent, four learning rates")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Only the learning rate changed, and the four runs behave in four different ways. $\eta = 0.5$ lowers the loss at
# every one of its 60 steps, slowly (0.225 at the end). $\eta = 1.0$ ends lowest (0.160), but its loss rose in 21 of
# the 60 steps: the bumps of the first plot are these steps, which overshoot and are then corrected. At
# $\eta = 2.0$ the loss climbs above its starting value within five steps, stays close to chance level for most of
# the run and ends at 1.39, with 24 of the 32 hidden units dead. At the linearly scaled $\eta = 4.5$ it diverges,
# to about 420 within five steps, then hovers near 2.30 (with two more spikes) and ends there: $\log 10$, chance level,
# with all 32 hidden units dead:
# the huge steps pushed every unit into the flat region of ReLU, where its gradient is 0 (the same "dead ReLU"
# symptom appears in section 7). So the largest rate that lowers the loss at *every* step lies between 0.5 and 1.0: $\eta = 1.0$ is past the
# $2/\lambda_\text{max}$ bound part of the time (its bumps), yet ends lowest of the four, while doubling it leaves the
# run near chance level with most units dead. The linear scaling rule holds only while the steps stay small; it does not carry from a batch of 32 to a
# batch of 1,437.
#
# **Pitfall: "stochastic gradient descent uses one sample, so it converges faster".** It takes many more *updates*
# per epoch, which is not the same as converging faster. Per update, a one-sample gradient is the noisiest estimate;
# per epoch, scaled mini-batches do the same work; per second, mini-batches win because the fixed per-step overhead (Python, NumPy calls) is shared by 32
# samples (on large models, vectorised arithmetic adds to this); and with a constant learning rate every stochastic
# variant ends up hovering around a minimum in a region whose size grows with the noise scale $\eta / B$ (it needs a
# small or decaying learning rate to settle). Our one-sample and mini-batch runs have the same $\eta / B = 0.1/32$,
# which is why their curves coincide; exercise 2 gives one-sample SGD the same $\eta$ instead.
# In practice, "SGD" means *mini-batch* stochastic gradient descent:
# `keras.optimizers.SGD` is just the update rule $\theta \leftarrow \theta - \eta g$, and the batch size
# (`batch_size=32` by default in `fit`) decides what $g$ is averaged over. Batch gradient descent is exact but
# expensive per step on real datasets, and its exactness is not needed: the noise of mini-batches costs little, and
# is widely thought to help generalisation (notebook 04 looks at optimizers and batch sizes in depth).

# %% [markdown]
# The mini-batch run is our from-scratch model. Its test accuracy:

# %%
# NBVAL_IGNORE_OUTPUT
scratch = runs["mini-batch (B = 32)"]
scratch_test_accuracy = accuracy(scratch["params"], X_test, y_test)
scratch_pred = forward(scratch["params"], X_test)[0].argmax(axis=1)
print(f"from-scratch network, mini-batches of 32, {EPOCHS} epochs: test accuracy {scratch_test_accuracy:.4f} "
      f"({np.sum(scratch_pred != y_test)} of {len(y_test)} test images wrong)")

# %% [markdown]
# What did its hidden units learn? Each column of $W_1$ holds one unit's 64 input weights and can be shown as an
# 8×8 image (in the start and trained rows, red: a lit pixel excites the unit, blue: it inhibits it; in the change row, red:
# the weight grew). Much of a trained image is still its random start, so we show each unit three times: at its
# random start, after training, and the change that training made. Above each column: the fraction of training
# images on which the unit is active (in red when below 10%).

# %%
W1_start, W1 = params0["W1"], scratch["params"]["W1"]
change = W1 - W1_start
active_fraction = (X_train @ W1 + scratch["params"]["b1"] > 0).mean(axis=0)  # how often each unit is active
scale = max(np.abs(W1_start).max(), np.abs(W1).max())  # one colour scale for start and trained
scale_change = np.abs(change).max()  # the change row gets its own symmetric scale
fig, axes = plt.subplots(3, 16, figsize=(12.5, 3.2))
for row, (name, M, s) in enumerate([("start", W1_start, scale), ("trained", W1, scale), ("change", change, scale_change)]):
    for j, ax in enumerate(axes[row]):
        im = ax.imshow(M[:, j].reshape(8, 8), cmap="RdBu_r", vmin=-s, vmax=s)
        ax.set(xticks=[], yticks=[])
    axes[row, 0].set_ylabel(name, fontsize=9)
    fig.colorbar(im, ax=axes[row].tolist(), fraction=0.015, pad=0.01)
for j, ax in enumerate(axes[0]):
    ax.set_title(f"{j}\n{active_fraction[j]:.0%}", fontsize=7, color="C3" if active_fraction[j] < 0.1 else "k")
fig.suptitle("Input weights of hidden units 0–15 (number, fraction of images active): start, trained, change", y=1.02)
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
never_lit = np.flatnonzero(X_train.max(axis=0) == 0)
lit_fraction = (X_train > 0).mean(axis=0)  # how often each pixel has ink
unit_change = np.linalg.norm(change, axis=0) / np.linalg.norm(W1_start, axis=0)
rare = active_fraction < 0.1
print(f"size of the change relative to the start: {np.linalg.norm(change) / np.linalg.norm(W1_start):.2f}")
print(f"pixels blank in every training image: {never_lit.tolist()}; largest change of their weights: "
      f"{np.abs(change[never_lit]).max()}")
print(f"correlation between a pixel's mean |change| and how often it has ink: "
      f"{np.corrcoef(np.abs(change).mean(axis=1), lit_fraction)[0, 1]:.2f}")
print(f"units active on fewer than 10% of training images: {rare.sum()} of 32 (among units 0-15: "
      f"{np.flatnonzero(rare[:16]).tolist()}), median relative change "
      f"{np.median(unit_change[rare]):.2f}; the other units: {np.median(unit_change[~rare]):.2f}")

# %% [markdown]
# What the three rows and the numbers show:
#
# - **The trained weights still carry their random start.** Training changed $W_1$ by about as much as its initial
#   size (relative change 1.06), so each trained image is the random pattern it started from plus a change of
#   similar size: for several units (2, 7, 8, 12 and 13 in the figure) stroke-like blobs show through, for others the
#   random start dominates. The network reached 0.97 test accuracy without its units becoming clean
#   digit templates.
# - **The change is where learning shows**: structured patterns in the middle of the frame, where the digits'
#   strokes are, for most units, and nearly blank squares for some. Backpropagation explains both. A weight's gradient is $\partial L/\partial W_1 = X^\top G_1$,
#   so it moves only through images in which its pixel has ink *and* its unit is active ($\mathrm{ReLU}' = 0$
#   otherwise). The 4 pixels that are blank in every training image received exactly zero gradient and kept their
#   random weights (largest change: 0.0); across pixels, the size of the change follows how often the pixel has ink
#   (correlation 0.86). The 8 units active on fewer than 10% of the training images changed by a median of 0.10 of
#   their initial size, the others by 1.28: in the figure these are units 1, 9, 10 and 15 (red
#   numbers), whose "change" squares are the near-blank ones.

# %%
du.plot.image_grid(X_test[:20].reshape(-1, 8, 8), labels=y_test[:20], predictions=scratch_pred[:20], ncols=10,
                   title="Test images: label→prediction (red when wrong)")
plt.show()

# %% [markdown]
# ## 6. The same network in Keras
#
# Now the same model with Keras: two `Dense` layers, ReLU in the hidden one, no activation on the output (we return
# **logits**) and a loss built with `from_logits=True`, which applies the stable log-softmax of section 2 inside the
# loss. `SparseCategoricalCrossentropy` takes the integer labels directly; it is the same formula as our one-hot
# cross-entropy (notebook 03 compares the loss variants). The optimizer is plain `SGD` (no momentum) with
# $\eta = 0.1$, and Keras also averages the loss over each batch, exactly like our $1/n$. Each training step of
# `fit` does the two halves of our loop: a `GradientTape` computes the gradients (backpropagation), then the
# optimizer applies them.
#
# To make the comparison exact rather than statistical we also copy in **our initial weights** (a `Dense` kernel has
# shape `(inputs, units)`, the same convention as our $W_1$), and feed **the same mini-batches in the same order**:
# one `fit` call per epoch on the training set permuted by that epoch's order, with `shuffle=False` so that Keras
# keeps our order. (Normally you pass the data once with `epochs=...` and let `shuffle=True`, the default, draw a new
# order each epoch, which is what our `orders` imitate.)

# %%
model = keras.Sequential(
    [
        keras.Input(shape=(64,), name="pixels"),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, name="logits"),
    ],
    name="digits_mlp",
)
keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=keras_loss, metrics=["accuracy"])
model.set_weights([params0["W1"], params0["b1"], params0["W2"], params0["b2"]])
model.summary()
print("Keras weight shapes:", [w.shape for w in model.get_weights()])

# %%
# NBVAL_IGNORE_OUTPUT
def keras_training_loss():
    """Keras's own loss on the whole training set (the same quantity we record for the NumPy network)."""
    return float(keras_loss(y_train, model(X_train, training=False)))


keras_losses = [keras_training_loss()]
fit_seconds = 0.0
for order in orders:
    with du.Timer() as t:
        model.fit(X_train[order], y_train[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
    fit_seconds += t.seconds
    keras_losses.append(keras_training_loss())
keras_losses = np.array(keras_losses)
keras_test_accuracy = float(np.mean(model.predict(X_test, verbose=0).argmax(axis=1) == y_test))
max_loss_gap = float(np.max(np.abs(keras_losses - scratch["losses"])))
max_weight_gap = max(float(np.max(np.abs(w - scratch["params"][name])))
                     for name, w in zip(params0, model.get_weights(), strict=True))
print(f"Keras: {EPOCHS} fit calls of one epoch each took {fit_seconds:.1f} s in all")
print(f"test accuracy: from scratch {scratch_test_accuracy:.4f}, Keras {keras_test_accuracy:.4f}")
print(f"largest gap between the training-loss curves: {max_loss_gap:.1e}; between final weights: {max_weight_gap:.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
epochs_axis = np.arange(EPOCHS + 1)
ax1.plot(epochs_axis, scratch["losses"], lw=3, alpha=0.5, label="from scratch (NumPy)")
ax1.plot(epochs_axis, keras_losses, "k--", lw=1, label="Keras")
ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Same weights, same batches: same curve")
ax1.legend()
ax2.plot(epochs_axis, keras_losses - scratch["losses"], "o", markersize=3)
ax2.axhline(0, color="k", lw=0.8)
ax2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
ax2.set(xlabel="epoch", ylabel="loss Keras − loss NumPy", title="Their difference: float32 rounding")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# The two curves lie on top of each other. They are not bit-identical because float32 sums come out slightly
# differently when added in a different order (TensorFlow's matrix products and NumPy's use different kernels),
# but the differences stay within about $\pm 3 \cdot 10^{-8}$, the level of float32 rounding, for all 60 epochs (on this CPU; on recent NVIDIA GPUs TensorFlow
# computes float32 matrix products in the coarser TF32 format by default, and the gap would be far larger unless you
# call `tf.config.experimental.enable_tensor_float_32_execution(False)`): `model.fit` with `SGD` is the loop of
# section 5, nothing more. (The fit time printed above is not comparable with the NumPy update times of section 5:
# each `fit` call also sets up Keras's data pipeline, callbacks and metrics, so it measures more than
# the updates.) The accuracies can differ only on a test image whose two largest logits are within
# rounding distance of each other.
#
# ## 7. Pitfalls
#
# ### Softmax without the max-subtraction
#
# Large logits are not exotic: they appear when a network becomes confident, when the learning rate is too high, or
# with unscaled inputs (raw pixels 0–255). A textbook softmax then overflows:

# %%
def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


logits_big = np.array([[1000.0, 990.0, 0.0]], dtype=np.float32)  # a confident network
logits_far = np.array([[50.0, -60.0, 0.0]], dtype=np.float32)  # no overflow, but a tiny probability
label = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)  # the true class is the second one
for name, z in [("logits [1000, 990, 0]", logits_big), ("logits [50, -60, 0]  ", logits_far)]:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # NumPy would warn; we show the values
        p_naive = softmax_naive(z)
        loss_naive = -np.sum(label * np.log(p_naive))
    loss_stable = -np.sum(label * log_softmax(z))
    shown = ", ".join(f"{v:.3g}" for v in p_naive[0])
    print(f"{name}: naive softmax [{shown}] -> loss {loss_naive} | stable loss {loss_stable:.1f}")

# %% [markdown]
# **Symptoms:** `exp(1000)` is `inf` in float32 (and in float64), `inf / inf` is `nan`, and one `nan` in a loss
# spreads to every weight in the next update: the training log shows `loss: nan` from then on. Even when nothing
# overflows, the probability of a class far behind can *underflow* to exactly 0 (here $e^{-110} \approx 10^{-48}$ is
# below float32's smallest number), and $-\log 0 = \infty$: the loss is `inf` and its gradient useless. The stable
# version returns the correct finite losses (10 and 110). The fix is the log-softmax with the max subtracted, or in
# Keras, logits plus a loss with `from_logits=True`.
#
# ### Forgetting to divide by the batch size
#
# A frequent slip is $\partial L / \partial Z_2 = P - Y$ instead of $(P - Y)/n$, i.e. the gradient of the *sum* of
# the losses while the loss reported is the *mean*. Every gradient is then $n$ times too large: the gradient check
# flags it at once, since for $g_\text{wrong} = n\, g$ the relative error is exactly $(n-1)/(n+1)$, here with $n = 20$
# check images:

# %%
def backward_without_mean(params, X, Y):
    loss, grads = backward(params, X, Y)
    return loss, {name: g * len(X) for name, g in grads.items()}  # same as using G2 = P - Y


_, grads_sum = backward_without_mean(params64, X_check, Y_check)
print(f"relative error vs finite differences: {relative_error(grads_sum, grads_fd):.4f} "
      f"(expected (n-1)/(n+1) = {(20 - 1) / (20 + 1):.4f})")

# %% [markdown]
# In training the symptom depends on the batch size, which makes the bug confusing: the effective learning rate
# becomes $n\eta$, so code that seemed fine with small batches fails when the batch size grows. With mini-batches of
# 32 and $\eta = 0.1$ the steps are 32 times too large. One epoch, both ways:

# %%
# NBVAL_IGNORE_OUTPUT
curves = {}
for label_, backward_fn in [("correct mean ", backward), ("sum, not mean", backward_without_mean)]:
    params_demo = {name: value.copy() for name, value in params0.items()}
    curve = [cross_entropy(params_demo, X_train, Y_train)]
    for start in range(0, len(X_train), 32):  # epoch 1, same batches as before
        batch = orders[0][start : start + 32]
        _, grads_demo = backward_fn(params_demo, X_train[batch], Y_train[batch])
        for name in params_demo:
            params_demo[name] -= 0.1 * grads_demo[name]
        curve.append(cross_entropy(params_demo, X_train, Y_train))
    curves[label_] = curve
    dead = int(np.sum((X_train @ params_demo["W1"] + params_demo["b1"]).max(axis=0) <= 0))
    print(f"{label_}: training loss every 9 updates {np.round(curve[::9], 2)}; "
          f"hidden units inactive on every training image: {dead} of 32")
assert curves["correct mean "][-1] < curves["correct mean "][0] - 0.5 and curves["sum, not mean"][-1] > 2.0

# %% [markdown]
# With the oversized steps the loss stalls near $\log 10 \approx 2.30$, chance level: the big first updates pushed
# most hidden units into the region $z \le 0$ for every image, where ReLU's gradient is 0, so they
# never recover ("dead ReLUs"). A network stuck at $\log K$ is a classic sign of a too-large step, and a missing
# $1/n$ is one way to get it without noticing.
#
# ### Swapped indices and transposes
#
# Many blog derivations mix the column-vector formulas ($z = Wx + b$, $W$ of shape $h \times d$, giving
# $\partial L/\partial W = g\, x^\top$ with $g = \partial L/\partial z$) with row-vector code ($Z = XW + b$, giving $X^\top G$), or write
# $\partial w / \partial L$ for $\partial L / \partial w$. In NumPy a mismatched transpose usually fails loudly:

# %%
Z2, (Z1, A1) = forward(params64, X_check)
G2 = (np.exp(log_softmax(Z2)) - Y_check) / len(X_check)
wrong = G2.T @ A1  # "delta times activation transposed", copied from a column-vector derivation
print("W2:", params64["W2"].shape, "| correct A1.T @ G2:", (A1.T @ G2).shape, "| G2.T @ A1:", wrong.shape)

# %% [markdown]
# `params["W2"] -= lr * wrong` would raise a broadcasting error here. But `G2.T @ A1` has shape $K \times h$ for
# any batch size, so this slip is silent exactly when $h = K$: the wrong matrix then has the right shape, and it is
# the transpose of the right gradient. The same check on a network with $h = K = 10$ hidden units:

# %%
params_hk = init_params(np.random.default_rng(0), h=10)  # h = K = 10
Z2_hk, (_, A1_hk) = forward(params_hk, X_train[:20])
G2_hk = (np.exp(log_softmax(Z2_hk)) - Y_train[:20]) / 20
right, wrong = A1_hk.T @ G2_hk, G2_hk.T @ A1_hk
print(f"W2: {params_hk['W2'].shape} | correct A1.T @ G2: {right.shape} | G2.T @ A1: {wrong.shape} | "
      f"relative error of the wrong one: {relative_error({'W2': wrong}, {'W2': right}):.2f}")

# %% [markdown]
# No error, and a gradient off by a relative error of order 1: training would run, silently following a wrong
# direction. The batch size matters for slips whose shape contains $n$, such as `dA1 = params["W2"] @ G2.T`
# ($h \times n$ where $n \times h$ is needed), which are silent whenever a batch holds exactly $h$ samples. In this
# notebook $h = 32 = B$: that slip would pass silently in 44 of the 45 mini-batches of every epoch and crash only on
# the last batch of 29 (with a training set divisible by 32 it would never crash), and the shape assertion of section 3
# would not catch it either when $n = h$. Two habits catch all of these: assert that every gradient has the shape of
# its variable, and run a gradient check once, on a batch whose size differs from every layer width (ours uses
# $n = 20$).
#
# ## Results

# %%
# NBVAL_IGNORE_OUTPUT
du.report(
    "02_neural_network_from_scratch",
    scratch_test_accuracy=scratch_test_accuracy,
    keras_test_accuracy=keras_test_accuracy,
    grad_rel_error_fd=grad_rel_error_fd,
    grad_rel_error_tape=grad_rel_error_tape,
    max_loss_gap_scratch_vs_keras=max_loss_gap,
    batch_gd_test_accuracy=comparison.loc["batch GD (B = 1437)", "test accuracy"],
    sgd_one_sample_test_accuracy=comparison.loc["SGD, one sample (B = 1)", "test accuracy"],
    ms_per_epoch_one_sample=comparison.loc["SGD, one sample (B = 1)", "ms per epoch"],
    ms_per_epoch_minibatch_32=comparison.loc["mini-batch (B = 32)", "ms per epoch"],
    update_cost_ratio_b32_vs_b1=update_cost_ratio,
    epoch_time_ratio_b1_vs_b32=epoch_time_ratio,
    epoch_time_ratio_b1_vs_b32_training_runs=epoch_time_ratio_runs,
    batch_gd_eta_1_final_loss=rate_losses[1.0][-1],
    batch_gd_eta_4_5_highest_loss=rate_losses[4.5].max(),
);

# %%
# Check: the gradients are right, the network learned (chance: 0.1), and Keras reproduces it.
assert grad_rel_error_fd < 1e-6, grad_rel_error_fd
assert grad_rel_error_tape < 1e-6, grad_rel_error_tape
assert scratch_test_accuracy >= du.pick(full=0.95, quick=0.85), scratch_test_accuracy
# Same start, same batches, same arithmetic up to float32 rounding: allow at most 2 of the 360 test images to flip
assert abs(scratch_test_accuracy - keras_test_accuracy) <= 2 / len(y_test) + 1e-9, (scratch_test_accuracy,
                                                                                   keras_test_accuracy)
assert max_loss_gap < 1e-6, max_loss_gap  # CPU float32 rounding; TF32 on a GPU would exceed it (section 6)
# Batch GD learning rates: 0.5 falls at every step, 1.0 trains best of the four, 2.0 and 4.5 overshoot
assert np.all(np.diff(rate_losses[0.5]) < 0)
assert rate_losses[1.0][-1] < min(rate_losses[0.5][-1], rate_losses[2.0][-1], rate_losses[4.5][-1])
assert rate_losses[2.0].max() > rate_losses[2.0][0] and rate_losses[4.5].max() > 10 * rate_losses[4.5][0]
assert rate_losses[4.5][-1] > 2.0, rate_losses[4.5][-1]  # ends near chance, log 10 = 2.30
# Weights of pixels that are blank in every training image receive zero gradient: dL/dW1 = X.T @ G1
assert np.all(change[never_lit] == 0)
print("checks passed")

# %% [markdown]
# The tolerance for Keras: both runs start from the same weights and see the same batches, so they differ only by
# float32 rounding (see the largest gap between the loss curves printed in section 6); the bound on that gap, $10^{-6}$,
# leaves room for other CPUs and BLAS libraries but would fail on a GPU computing in TF32. A prediction can flip only
# for a test image whose two top logits lie within that rounding of each other; we allow two such images of 360
# (0.0056) rather than demand equality, because the rounding depends on the CPU and library versions.
#
# ## Exercises
#
# 1. **Another activation.** Replace ReLU by $\tanh$ in `forward`, `backward` and the TensorFlow check
#    ($\tanh'(z) = 1 - \tanh^2(z)$). Re-run the gradient check, then train. Does the test accuracy change? Why is
#    the finite-difference check now free of the kink caveat?
# 2. **The stability limit.** In section 5, batch gradient descent lowered the loss at every step with $\eta = 0.5$,
#    overshot at some steps but ended lowest with $1.0$, and ended near chance with $2.0$. Try 0.75, 1.25, 1.5 and
#    1.75: which lower the loss at every step, and which ends lowest after 60 steps? Run $\eta = 2.0$ for 500 steps:
#    does it recover? Then give one-sample SGD $\eta = 0.1$ (32 times the scaled value):
#    what happens to the training loss and to the test accuracy?
# 3. **Weight decay by hand.** Add $\frac{\lambda}{2}(\lVert W_1 \rVert^2 + \lVert W_2 \rVert^2)$ to the loss,
#    derive the extra gradient terms ($\lambda W_1$, $\lambda W_2$), add them to `backward`, and confirm with
#    `numerical_gradient` that the relative error stays below $10^{-6}$.
# 4. **Choosing ε.** For $\varepsilon = 10^{-1}, 10^{-2}, \dots, 10^{-12}$ compute the relative error of forward
#    and of central differences, in float64 and in float32, and plot them on log-log axes. Explain the V shape
#    (truncation error vs rounding error) and why float32 cannot verify a gradient to $10^{-6}$.
#
# **Next:** [03 · Multilayer perceptrons with Keras](03_mlp_with_keras.ipynb) builds bigger networks on full MNIST
# with the Sequential and Functional APIs, and compares losses.
