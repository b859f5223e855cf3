# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Convolutional networks
#
# An MLP treats an image as a bag of 784 unrelated numbers: move a shirt two pixels to the left and, for the MLP,
# it is a different input. Convolutional networks (CNNs) build two facts about images into the architecture:
# what matters is **local** (edges, corners, textures are made of neighbouring pixels), and the same pattern can
# appear **anywhere**. This notebook first takes convolution apart by hand, then trains CNNs that score well above the MLPs
# of notebooks 03–04 (which were trained with their own recipes: §10 says what that comparison is and is not).
#
# **What you will learn**
# - what a convolution layer computes: a worked $5\times5$ example with numbers, then a real photo, by hand in NumPy
#   and checked against `tf.nn.conv2d` / `keras.layers.Conv2D`; pooling and stride (computed by hand), padding
#   (drawn), and the output-size formula;
# - the receptive field of a stack of layers, computed with a formula and verified with gradients;
# - why CNNs need far fewer parameters than MLPs (locality and weight sharing);
# - a small CNN (a strided stem, a Conv–BatchNorm–ReLU–Pool block, two convolutions at 7×7, dropout, label smoothing)
#   that reaches a test accuracy of 0.9213 on Fashion-MNIST (mean of three seeds, 7 epochs) and 0.9941 on MNIST (one
#   seed, 4 epochs) on a 2-core CPU, and how to read those numbers next to published textbook results (reference points
#   from other recipes, not baselines run here);
# - data augmentation with Keras preprocessing layers, compared by validation accuracy on 5,000 training images (one
#   seed): 2-pixel shifts +0.66 points (within noise), a shift–rotate–zoom combination −2.52 points; and a probe of
#   why horizontal flips are doubtful for Fashion-MNIST (it measures a distribution shift on mirrored test images; no
#   model is trained with flips);
# - how to look inside: learned filters, feature maps, and the model's most confident mistakes;
# - two classic mistakes: running BatchNorm/dropout in training mode at prediction time, and an augmentation
#   that changes the label.
#
# **Prerequisites:** [03 · MLPs with Keras](03_mlp_with_keras.ipynb) (logits, losses, validation split) and
# [04 · Training deep networks](04_training_deep_networks.ipynb) (Adam, batch normalization, dropout, learning-rate
# schedules).
#
# **Data:** `china.jpg`, a photo that ships with scikit-learn (`sklearn.datasets.load_sample_image`);
# Fashion-MNIST (Zalando, MIT licence) and MNIST (LeCun, Cortes & Burges, CC BY-SA 3.0), 70,000 grey-scale
# 28×28 images each, loaded by `dlutils` from the offline mirror or a verified download.
#
# **Run time (full profile, 2-core CPU):** the stored run took 31 minutes on a 2-core CPU shared with several other
# jobs, training at about 770–1,140 images/s (printed in §5–§7). Most of it is training: three Fashion-MNIST runs of 7
# epochs, one MNIST run of 4 epochs and three 20-epoch runs on 5,000 images for the augmentation comparison, about
# 1.7 million training images in all. Machines of this class differ 2–3×. In a later full re-run of this same code (its
# outputs, timings aside, identical to the ones stored here), the first Fashion-MNIST run had the 2-core machine to
# itself and took 385 s at about 1,000 training images/s. At that speed the 1.7 million training images alone take about
# 28 minutes; at about 2,900 images/s, the speed of the fastest idle machines on record for this collection (the
# same 7 epochs in 133 s), they take about 10 minutes. So this notebook is over the collection's 10-minute budget.

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.signal
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.datasets import load_sample_image
from sklearn.model_selection import train_test_split

L = keras.layers
plt.rcParams["figure.dpi"] = 100  # readable figures; the photo figure of §1 uses 72 to keep the notebook small
pd.set_option("display.precision", 4)

# %% [markdown]
# ## 1. Convolution by hand
#
# **Idea.** A convolution layer slides a small grid of weights, the **kernel** (or filter), over the image. At each
# position it multiplies the kernel with the patch of pixels under it and sums the products: one output number per
# position. The output is again an image, a **feature map**, that is large where the patch looks like the kernel.
#
# **Math.** For a single-channel image $I$ and a $k_h \times k_w$ kernel $K$, the layer computes
#
# $$
# S[i, j] = \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1} I[i+u,\, j+v]\; K[u, v] \; + b .
# $$
#
# Strictly speaking, this is a **cross-correlation**; the convolution of signal processing flips the kernel first,
# $\sum_{u,v} I[i-u, j-v]\,K[u,v]$. Deep-learning libraries compute the cross-correlation and call it convolution;
# for learned kernels it makes no difference (the network would simply learn the flipped kernel). With $C_\text{in}$
# input channels (e.g. RGB) the kernel has a third axis and the sum runs over channels too; a layer with
# $C_\text{out}$ filters has $C_\text{out}$ such kernels and produces $C_\text{out}$ feature maps:
#
# $$
# S[i, j, o] = \sum_{u,v,c} I[i+u,\, j+v,\, c]\; K[u, v, c, o] + b_o .
# $$
#
# First a worked example small enough to check with pencil and paper: a $5\times5$ image and a $3\times3$ kernel.
# With `padding="valid"` the kernel fits at $3\times3$ positions, so the output is $3\times3$. The top-left output
# is the sum of the nine products of the kernel with the top-left $3\times3$ patch; the cell prints it term by term,
# computes all nine outputs with two loops, and checks them against `tf.nn.conv2d` and a `keras.layers.Conv2D` layer
# whose kernel we set by hand.

# %%
image5 = np.array([[3, 0, 1, 2, 7],
                   [1, 5, 8, 9, 3],
                   [2, 7, 2, 5, 1],
                   [0, 1, 3, 1, 7],
                   [4, 2, 1, 6, 2]], dtype="float32")
kernel3 = np.array([[1, 0, -1],
                    [1, 0, -1],
                    [1, 0, -1]], dtype="float32")  # left column minus right column: a vertical-edge detector

by_loops = np.zeros((3, 3), dtype="float32")  # 'valid': 5 - 3 + 1 = 3 positions along each axis
for i in range(3):
    for j in range(3):
        by_loops[i, j] = np.sum(image5[i : i + 3, j : j + 3] * kernel3)
terms = " + ".join(f"{a:g}·{b:g}" for a, b in zip(image5[:3, :3].ravel(), kernel3.ravel(), strict=True))
print(f"S[0, 0] = {terms} = {by_loops[0, 0]:g}")
print("S by hand:\n", by_loops.astype(int))

by_tf = tf.nn.conv2d(image5[None, :, :, None], kernel3[:, :, None, None], strides=1, padding="VALID")[0, :, :, 0]
conv5 = L.Conv2D(1, 3, padding="valid", use_bias=False)
conv5.build((None, 5, 5, 1))
conv5.set_weights([kernel3[:, :, None, None]])  # Keras kernel shape: (k_h, k_w, C_in, C_out)
by_conv2d = keras.ops.convert_to_numpy(conv5(image5[None, :, :, None]))[0, :, :, 0]
print("tf.nn.conv2d equal:", np.allclose(by_loops, by_tf), "| keras Conv2D equal:", np.allclose(by_loops, by_conv2d))
assert np.allclose(by_loops, by_tf) and np.allclose(by_loops, by_conv2d)

# %% [markdown]
# Read the printed $S$: six of the nine outputs are negative, two are zero and one is positive. The kernel computes
# *left column minus right column* of each window, so a negative output means that the right side of the window is
# brighter. The strongest response, $-10$ at row 1, column 0, comes from the window over rows 1–3 and columns 0–2:
# left column $1 + 2 + 0 = 3$, right column $8 + 2 + 3 = 13$. The only positive output, $2$ at row 1, column 2, comes
# from the window over rows 1–3 and columns 2–4, whose left column ($8 + 2 + 3 = 13$) is a little brighter than its
# right column ($3 + 1 + 7 = 11$). Changes from top to bottom do not matter to this kernel: its three rows are the
# same, so it only responds to left–right differences. Now some classic hand-made kernels on a real photo.

# %%
photo = load_sample_image("china.jpg")  # uint8, (height, width, RGB)
gray = (photo @ np.array([0.299, 0.587, 0.114]) / 255.0).astype("float32")  # ITU-R BT.601 luma, in [0, 1]
print("photo:", photo.shape, photo.dtype, "| grey-scale:", gray.shape, gray.dtype)

KERNELS = {
    "blur (5×5 box)": np.full((5, 5), 1 / 25),
    "vertical edges (Sobel x)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "horizontal edges (Sobel y)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "all edges (Laplacian)": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
}
KERNELS = {name: k.astype("float32") for name, k in KERNELS.items()}


def correlate2d(image, kernel):
    """The formula above, 'valid' positions only: every (k_h, k_w) window times the kernel, summed."""
    windows = sliding_window_view(image, kernel.shape)  # (H - k_h + 1, W - k_w + 1, k_h, k_w), no copy
    return np.einsum("ijuv,uv->ij", windows, kernel)


# %% [markdown]
# The same computation with a Keras `Conv2D` layer: one filter, no bias, `padding="valid"`, and the kernel set by
# hand instead of learned. Keras works on batches of images with a channel axis, shape $(N, H, W, C)$, and stores
# the kernel as $(k_h, k_w, C_\text{in}, C_\text{out})$. We also compare with SciPy's `correlate2d`, and check the
# remark about flipping: SciPy's true convolution with the flipped kernel gives the same result.

# %%
filtered = {}
for name, kernel in KERNELS.items():
    by_hand = correlate2d(gray, kernel)
    conv = L.Conv2D(1, kernel.shape, padding="valid", use_bias=False, name="hand_made")
    conv.build((None, *gray.shape, 1))
    conv.set_weights([kernel[:, :, None, None]])
    by_keras = keras.ops.convert_to_numpy(conv(gray[None, :, :, None]))[0, :, :, 0]
    by_scipy = scipy.signal.correlate2d(gray, kernel, mode="valid")
    flipped = scipy.signal.convolve2d(gray, kernel[::-1, ::-1], mode="valid")
    assert np.allclose(by_hand, by_keras, atol=1e-5) and np.allclose(by_hand, by_scipy, atol=1e-5)
    assert np.allclose(by_hand, flipped, atol=1e-5)
    filtered[name] = by_keras
    print(f"{name:27s} kernel {kernel.shape} -> output {by_keras.shape}; NumPy = Keras = SciPy: True")

# %%
fig, axes = plt.subplots(2, 3, figsize=(10, 5), dpi=72)  # a photo: low dpi keeps the notebook small
axes.flat[0].imshow(photo)
axes.flat[0].set_title("china.jpg")
axes.flat[1].imshow(gray, cmap="gray")
axes.flat[1].set_title("grey-scale input")
for ax, (name, out) in zip(axes.flat[2:], filtered.items(), strict=True):
    shown = out if name.startswith("blur") else np.abs(out)  # edge maps: strength, whatever the sign
    ax.imshow(shown, cmap="gray" if name.startswith("blur") else "magma")
    ax.set_title(name)
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The Sobel-x kernel responds to left–right changes of brightness, so it lights up **vertical** edges (the pillars,
# the window frames); Sobel-y does the same for horizontal edges (roof lines, steps); the Laplacian responds to
# edges in every direction; the box filter averages each 5×5 neighbourhood. (In the figure the 640-pixel-wide photo is drawn at about a
# third of its width, which hides most of a 5-pixel blur: the blur panel looks almost the same as the grey-scale
# input.) A CNN *learns* its kernels. Networks trained on colour photos are known for first layers with edge- and
# colour-selective kernels; ours sees grey-scale images, and after 7 epochs only a few of its 32 first-layer kernels
# show an oriented light–dark transition (§8).
#
# ### Pooling and stride
#
# **Max pooling** with a $2\times2$ window and stride 2 keeps the largest value of each non-overlapping $2\times2$
# block: it halves height and width, and a feature that moves by a pixel inside its block does not change the
# output (a little translation invariance). By hand, it is a reshape and a max. A convolution with **stride** $s$
# evaluates the kernel only at every $s$-th position — exactly the stride-1 output, subsampled.

# %%
H, W = gray.shape
pooled_by_hand = gray[: H // 2 * 2, : W // 2 * 2].reshape(H // 2, 2, W // 2, 2).max(axis=(1, 3))
pooled_by_keras = keras.ops.convert_to_numpy(L.MaxPooling2D(pool_size=2)(gray[None, :, :, None]))[0, :, :, 0]
print("max pooling:", gray.shape, "->", pooled_by_keras.shape, "| NumPy = Keras:",
      np.array_equal(pooled_by_hand, pooled_by_keras))  # fmt: skip

sobel = KERNELS["vertical edges (Sobel x)"]
strided = L.Conv2D(1, 3, strides=2, use_bias=False)
strided.build((None, H, W, 1))
strided.set_weights([sobel[:, :, None, None]])
by_stride = keras.ops.convert_to_numpy(strided(gray[None, :, :, None]))[0, :, :, 0]
print("stride 2:", gray.shape, "->", by_stride.shape, "| equals stride-1 output[::2, ::2]:",
      np.allclose(by_stride, correlate2d(gray, sobel)[::2, ::2], atol=1e-5))  # fmt: skip

# %% [markdown]
# ## 2. Output size: kernel, stride and padding
#
# **Math.** Along one axis, an input of size $n$, a kernel of size $k$, stride $s$ and $p$ zeros added on each side
# give
#
# $$
# n_\text{out} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1 .
# $$
#
# Keras names two cases: `padding="valid"` means $p = 0$ (the kernel stays inside the image, so the output shrinks
# by $k - 1$ at stride 1 — as the photo did above); `padding="same"` adds just enough zeros that
# $n_\text{out} = \lceil n / s \rceil$ (for stride 1 the output keeps the input's size; for odd $k$ and stride 1,
# $p = (k-1)/2$). Pooling layers follow the same formula.
#
# Where `"same"` puts its zeros: TensorFlow pads a total of $P = \max\big((\lceil n/s \rceil - 1)\,s + k - n,\ 0\big)$
# along an axis, $\lfloor P/2 \rfloor$ before and the rest after. When $P$ is odd the padding is not symmetric, and the
# formula above, with the same $p$ on both sides, gives the right size but not the placement. Our own stem is such a
# case: $n = 28$, $k = 5$, $s = 2$ gives $P = 13 \cdot 2 + 5 - 28 = 3$, i.e. one row (column) of zeros at the top
# (left) and two at the bottom (right). The $5\times5$ case drawn below ($k = 3$, $s = 2$) has $P = 2$, one on each
# side, so the drawing does not show this. Below, the formula against the shapes Keras produces,
# with explicit padding done by a `ZeroPadding2D` layer:

# %%
def n_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def keras_size(n, k, s, p=0, padding="valid", layer="conv"):
    make = {"conv": lambda: L.Conv2D(1, k, strides=s, padding=padding),
            "max pool": lambda: L.MaxPooling2D(k, strides=s, padding=padding)}[layer]  # fmt: skip
    x = np.zeros((1, n, n, 1), dtype="float32")
    if p:
        x = L.ZeroPadding2D(p)(x)
    return int(make()(x).shape[1])


rows = []
for layer, n, k, s, p in [("conv", 28, 3, 1, 0), ("conv", 28, 3, 1, 1), ("conv", 28, 5, 1, 2), ("conv", 28, 5, 2, 0),
                          ("conv", 28, 3, 2, 1), ("conv", 28, 7, 3, 0), ("max pool", 28, 2, 2, 0),
                          ("max pool", 7, 2, 2, 0), ("max pool", 28, 3, 2, 0)]:  # fmt: skip
    rows.append(dict(layer=layer, n=n, k=k, stride=s, pad=p, formula=n_out(n, k, s, p),
                     keras=keras_size(n, k, s, p, layer=layer)))  # fmt: skip
for layer, n, k, s in [("conv", 28, 3, 1), ("conv", 28, 5, 2), ("conv", 27, 3, 2), ("max pool", 7, 2, 2)]:
    rows.append(dict(layer=layer, n=n, k=k, stride=s, pad='"same"', formula=-(-n // s),  # ceil(n / s)
                     keras=keras_size(n, k, s, padding="same", layer=layer)))  # fmt: skip
sizes = pd.DataFrame(rows)
assert (sizes["formula"] == sizes["keras"]).all()
sizes

# %% [markdown]
# The same rules drawn on the $5\times5$ example of §1 with the $3\times3$ kernel: `"valid"` keeps the window inside
# the image; `"same"` at stride 1 adds one ring of zeros ($p = 1$) so that the output keeps the input's size; at
# stride 2 the window jumps two cells at a time, so the output has $\lceil 5/2 \rceil = 3$ positions per axis.
# The cell prints each output (numbers out) and checks its size against the formula.

# %%
cases = [("valid, stride 1", "valid", 1, 0), ("same, stride 1", "same", 1, 1), ("same, stride 2", "same", 2, 1)]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
for ax, (title, padding, s, p) in zip(axes, cases, strict=True):
    conv = L.Conv2D(1, 3, strides=s, padding=padding, use_bias=False)
    conv.build((None, 5, 5, 1))
    conv.set_weights([kernel3[:, :, None, None]])
    out = keras.ops.convert_to_numpy(conv(image5[None, :, :, None]))[0, :, :, 0]
    assert out.shape == (n_out(5, 3, s, p),) * 2
    print(f"{title}: p = {p}, formula (5 + 2·{p} - 3) // {s} + 1 = {n_out(5, 3, s, p)}, Keras output "
          f"{out.shape[0]}×{out.shape[1]}:\n{out.astype(int)}")  # fmt: skip
    padded = np.pad(image5, p)
    m = len(padded)
    for r in range(m):
        for c in range(m):
            inside = p <= r < m - p and p <= c < m - p
            ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor="white" if inside else "0.85", edgecolor="0.6"))
            ax.text(c + 0.5, r + 0.5, f"{padded[r, c]:g}", ha="center", va="center", color="black" if inside else "0.45")
    for step, (style, colour) in enumerate([("-", "tab:red"), ("--", "tab:blue")]):  # first and second output
        ax.add_patch(plt.Rectangle((step * s + 0.06, 0.06), 2.88, 2.88, fill=False, lw=2.5, ls=style, edgecolor=colour))
    ax.set(xlim=(-0.1, 7.1), ylim=(7.1, -0.1), aspect="equal")
    ax.set_title(f"{title}: {m}×{m}" + (" (padded)" if p else " (no padding)") + f" → {out.shape[0]}×{out.shape[1]}")
    ax.axis("off")
fig.suptitle("Where the 3×3 window sits for the first output (red) and the next one along the row (blue, dashed); "
             "grey: zero padding")  # fmt: skip
plt.show()


# %% [markdown]
# Note the floor: a $7\times7$ map max-pooled by 2 becomes $3\times3$ (the last row and column are dropped), unless
# `padding="same"` pads it to $4\times4$.
#
# ## 3. Receptive fields
#
# **Idea.** One unit of the first $3\times3$ convolution sees a $3\times3$ patch of the input. A unit of a second
# $3\times3$ convolution on top sees a $3\times3$ patch of the first *feature map*, i.e. a $5\times5$ patch of the
# input. Pooling and stride make the next layers' steps larger in input pixels, so deeper units see larger and larger
# regions — the **receptive field**. That is how a CNN combines edges into parts and parts into objects while each
# layer stays local.
#
# **Math.** Let $r_l$ be the receptive field (in input pixels, along one axis) of a unit in layer $l$, and $j_l$ the
# distance in input pixels between two neighbouring units of layer $l$ (the "jump"), with $r_0 = j_0 = 1$ for the
# input. A layer with kernel $k_l$ and stride $s_l$ gives
#
# $$
# r_l = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l .
# $$
#
# For the network we train below — a $5\times5$ convolution with stride 2, a $3\times3$ convolution, $2\times2$ max
# pooling, two more $3\times3$ convolutions and another $2\times2$ pooling:

# %%
def receptive_fields(layers):
    """layers: list of (name, kernel, stride). Returns a table of receptive field r and jump j after each layer."""
    r, j, rows = 1, 1, []
    for name, k, s in layers:
        r, j = r + (k - 1) * j, j * s
        rows.append(dict(layer=name, kernel=k, stride=s, receptive_field=r, jump=j))
    return pd.DataFrame(rows).set_index("layer")


CNN_GEOMETRY = [("conv1", 5, 2), ("conv2", 3, 1), ("pool2", 2, 2), ("conv3", 3, 1), ("conv4", 3, 1), ("pool4", 2, 2)]
rf_table = receptive_fields(CNN_GEOMETRY)
rf_table

# %% [markdown]
# **Check with gradients.** The receptive field of an output unit is the set of input pixels that can change it,
# i.e. where its gradient with respect to the input can be non-zero. Max pooling and ReLU route gradients to only
# some pixels, so we verify the geometry on a *linear twin* of the network: same kernels and strides, but all
# weights set to 1, average pooling instead of max pooling and no activation, so that every pixel in the receptive
# field has a positive influence. On a 64×64 input (large enough that no zero padding reaches the unit we pick), the
# gradient of one unit of the last layer is non-zero on a square exactly as large as the formula says.

# %%
twin = keras.Sequential([keras.Input((64, 64, 1))], name="linear_twin")
for name, k, s in CNN_GEOMETRY:
    if name.startswith("conv"):
        twin.add(L.Conv2D(1, k, strides=s, padding="same", kernel_initializer="ones", use_bias=False, name=name))
    else:
        twin.add(L.AveragePooling2D(k, strides=s, name=name))

x_probe = tf.Variable(tf.zeros((1, 64, 64, 1)))
with tf.GradientTape() as tape:
    out = twin(x_probe)
    unit = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]  # one unit near the middle of the last map
grad = tape.gradient(unit, x_probe).numpy()[0, :, :, 0]
rows_nz, cols_nz = np.nonzero(grad)
support = (int(rows_nz.max() - rows_nz.min() + 1), int(cols_nz.max() - cols_nz.min() + 1))
print("last map:", tuple(out.shape[1:3]), "| non-zero gradient on a", support, "square of input pixels",
      "| formula:", rf_table["receptive_field"].iloc[-1])  # fmt: skip
assert support == (rf_table["receptive_field"].iloc[-1],) * 2

# %%
fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(grad, cmap="viridis")
ax.set_title(f"gradient of one unit of pool4\nw.r.t. the input: {support[0]}×{support[1]} pixels")
ax.axis("off")
plt.show()

# %% [markdown]
# The gradient is larger in the middle: central pixels reach the unit along many more paths than pixels at the
# border of the receptive field (the *effective* receptive field is smaller than the theoretical one). On a 28×28
# image, each unit of the last pooling layer sees 31×31 pixels (cut off by the border), i.e. the whole garment or
# digit for the units near the centre.
#
# ## 4. Why convolutions: parameter counts
#
# A `Dense` layer connects every input to every unit: $(n_\text{in} + 1) \cdot n_\text{out}$ parameters. A
# `Conv2D` layer uses one small kernel per output channel, **shared** across all positions:
# $(k_h k_w C_\text{in} + 1) \cdot C_\text{out}$ parameters, whatever the image size. For 32 units or filters:

# %%
def dense_params(h, w, c, units):
    return (h * w * c + 1) * units


def conv_params(k, c_in, filters):
    return (k * k * c_in + 1) * filters


def keras_params(layer, shape):
    layer.build((None, *shape))
    return layer.count_params()


param_rows = []
for label, shape in [("Fashion-MNIST image 28×28×1", (28, 28, 1)), ("china.jpg 427×640×3", photo.shape)]:
    dense = dense_params(*shape, 32)
    conv = conv_params(3, shape[-1], 32)
    # Keras agrees (for the photo, the Dense layer would allocate 26 million weights just to count them: skipped)
    if shape[0] == 28:
        assert dense == keras_params(L.Dense(32), (int(np.prod(shape)),))
    assert conv == keras_params(L.Conv2D(32, 3), shape)
    param_rows.append({"input": label, "Dense(32) on the flattened pixels": dense, "Conv2D(32, 3×3)": conv})
pd.DataFrame(param_rows).set_index("input")

# %% [markdown]
# The convolution is not just smaller, it also encodes an assumption that is true for images: a detector that is
# useful in one place is useful everywhere (weight sharing), and it only needs to look at a neighbourhood
# (locality). A stride-1 convolution is **translation-equivariant**: shift the input by a pixel, and the feature map
# shifts with it by a pixel (away from the borders). Stride and pooling break this: after our stride-2 stem, or a
# $2\times2$ pooling, only shifts by a multiple of 2 pixels move the output cleanly; a 1-pixel shift changes which
# positions are sampled, so the output changes rather than moves. Pooling also adds a little invariance to small
# shifts, but only a little, and only within a pooling block. The price: a convolution layer costs more *computation* per
# parameter, since every weight is used at every position: without a bias, its multiply-adds per image are its weight
# count times its number of output positions. §5 counts them for our network; we did not time the layers.
#
# ## 5. A CNN for Fashion-MNIST
#
# ### Data and protocol
#
# As in notebooks 03–04: scale pixels to $[0, 1]$, hold out a stratified **validation split** of 5,000 training
# images to watch the training curves and to compare augmentations (§7), and evaluate each final model **once** on the
# 10,000 test images. Two caveats, so that you can weigh them. First, the §7 comparison did not change the headline
# recipe: its best option (2-pixel shifts) was measured on 5,000 training images only, its gain is within noise, and we
# did not measure it on the full training set, so the headline models are trained without augmentation. Second, a few
# probes in this notebook *are* run on the test set (mirrored images in §7, test-time augmentation in §5 and §10), and
# one choice was made after seeing such a number (the headline does not use shift test-time augmentation, which scored
# lower on test). They are reported as probes; a clean protocol would measure them on the validation split. Conv layers want a channel axis: $(N, 28, 28, 1)$.

# %%
(xf_train_full, yf_train_full), (xf_test, yf_test) = du.data.load_fashion_mnist()
CLASSES = du.data.FASHION_MNIST_CLASSES


def prepare(x):
    return (x.astype("float32") / 255.0)[..., None]  # (N, 28, 28) uint8 -> (N, 28, 28, 1) float32 in [0, 1]


xf_train, xf_val, yf_train, yf_val = train_test_split(
    prepare(xf_train_full), yf_train_full, test_size=5000, stratify=yf_train_full, random_state=42
)
xf_test = prepare(xf_test)
print("train:", xf_train.shape, "| validation:", xf_val.shape, "| test:", xf_test.shape)
print("validation images per class:", np.bincount(yf_val).tolist())

# %%
# NBVAL_IGNORE_OUTPUT
# The quick profile (CI) trains on small random subsets; the full profile keeps everything.
xf_train, yf_train = du.take(xf_train, yf_train, quick=5000)
FASHION_EPOCHS = du.pick(full=7, quick=2)
print(f"Fashion-MNIST: training on {len(xf_train):,} images for {FASHION_EPOCHS} epochs")

# %% [markdown]
# ### The architecture
#
# A **stem**, one **Conv → BatchNorm → ReLU → MaxPool** block at 14×14, and a block of **two** Conv → BatchNorm → ReLU
# layers at 7×7 followed by pooling; then flatten, **dropout** (rate 0.25) and a dense layer with 10 logits. The shapes
# (printed in the summary below): 28×28×1 → stem (stride 2) 14×14×32 → `conv2` 14×14×64 → pool 7×7×64 → `conv3`
# 7×7×128 → `conv4` 7×7×128 → pool 4×4×128. The resolution falls at the stem and at each pooling, and the number of
# channels grows from 32 to 128 (not in lockstep with the resolution): spatial detail is traded for more, and more
# abstract, features. Details that matter:
#
# - The stem is a $5\times5$ convolution with **stride 2** (32 filters), then BatchNorm and ReLU: it downsamples by
#   itself, so it needs no pooling layer. It computes 14×14 = 196 outputs per map instead of 28×28 = 784, each from a
#   larger $5\times5$ patch: a quarter of the multiply-adds of the same convolution at stride 1, and a quarter of the
#   activations for BatchNorm and ReLU. ResNet's stem makes the same trade on ImageNet. (We did not time the
#   alternative.)
# - Two $3\times3$ convolutions at 7×7 (128 filters each): this is where the units see most of the image (§3) and
#   combine parts into garments. Only 49 positions per map, but many channels: together they carry about three
#   quarters of the network's multiply-adds (counted below the summary). The second convolution also holds more than
#   half of the parameters (147,456 of 262,314).
# - Pooling with `padding="same"`: the 7×7 maps become 4×4, instead of dropping the last row and column (§2).
# - `use_bias=False` in the convolutions: batch normalization subtracts the batch mean of each channel right after,
#   which would cancel any bias; BN's own shift $\beta$ takes its role (notebook 04, §3).
# - BatchNorm before the ReLU (the order of the original BN paper; after works about as well), with
#   `momentum=0.9` for its moving averages of the batch statistics, which are used at inference: Keras's default
#   0.99 averages over the last ~100 batches and needs a few hundred steps to forget its initial values, too slow
#   for the short runs of CI's quick profile; 0.9 averages over ~10 batches. It is the same setting as PyTorch's default, which PyTorch writes as
#   `momentum=0.1` because there the momentum is the weight of the new batch, not of the old average.
# - The output layer has no softmax: the loss gets logits (notebook 03).
# - **Label smoothing** ($\varepsilon = 0.1$): the cross-entropy is computed against a softened target,
#   $y^\text{smooth} = (1 - \varepsilon)\, y^\text{one-hot} + \varepsilon / K$ with $K = 10$ classes, i.e. 0.91 for the
#   true class and 0.01 for each other one. The network is no longer pushed to make its logits ever larger on training
#   images it already gets right. Keras's `SparseCategoricalCrossentropy` has no `label_smoothing` argument, so the
#   small loss function below one-hot encodes the integer labels and calls `categorical_crossentropy`.
# - Optimizer: Adam with a one-epoch linear warm-up to $2\cdot10^{-3}$, then cosine decay to 0 (notebook 04, §5).
#   The schedule lets the last epochs fine-tune with small steps instead of bouncing around at a fixed rate.

# %%
SEED = 42
BATCH_SIZE = 128
LABEL_SMOOTHING = 0.1


def make_cnn(name, augmentation=None):
    """Strided Conv-BN-ReLU stem (32), Conv-BN-ReLU-Pool (64), 2 × Conv-BN-ReLU (128) + Pool, dropout, 10 logits."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = L.Conv2D(32, 5, strides=2, padding="same", use_bias=False, name="conv1")(x)  # 28x28 -> 14x14
    x = L.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    for i, filters in ((2, 64), (3, 128), (4, 128)):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = L.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = L.ReLU(name=f"relu{i}")(x)
        if i in (2, 4):
            x = L.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)  # 14x14 -> 7x7, 7x7 -> 4x4
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.25, name="dropout")(x)
    outputs = L.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


# Registered so that a model compiled with this loss could be saved as .keras and loaded again by name. It is not
# what makes keras.models.clone_model work in §9: clone_model rebuilds the layers and returns an uncompiled model.
@keras.saving.register_keras_serializable(package="nb06")
def smoothed_cross_entropy(y_true, logits):
    """Cross-entropy from logits against label-smoothed one-hot targets; y_true holds integer labels."""
    one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), 10)
    return keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=LABEL_SMOOTHING)


def train(model, x, y, epochs, validation_data, peak_lr=2e-3, verbose=2):
    """Adam with warm-up + cosine decay; validation split watched every epoch. Returns (history dict, seconds)."""
    steps_per_epoch = int(np.ceil(len(x) / BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr / 20, warmup_target=peak_lr, warmup_steps=steps_per_epoch,
        decay_steps=steps_per_epoch * (epochs - 1), alpha=0.0,
    )  # fmt: skip
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=smoothed_cross_entropy,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    with du.Timer() as timer:
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, validation_data=validation_data,
                            validation_batch_size=1000, verbose=verbose)  # fmt: skip
    return history.history, timer.seconds


keras.utils.set_random_seed(SEED)
fashion_cnn = make_cnn("fashion_cnn")
fashion_cnn.summary()

# %% [markdown]
# About 262,000 parameters — half of the 784-512-256-10 MLP of notebook 03 (535,818 = 785·512 + 513·256 + 257·10).
# Most of the weights sit in `conv3` and `conv4`. The computation is spread differently. The convolutions have no bias,
# so each one's multiply-adds per image are its parameter count (above) times its output positions: `conv1`
# 800 × 196 ≈ 0.16 M (1 %), `conv2` 18,432 × 196 ≈ 3.6 M (25 %), `conv3` 73,728 × 49 ≈ 3.6 M (25 %), `conv4`
# 147,456 × 49 ≈ 7.2 M (49 %), and the dense layer 20,480 (0.1 %); about 14.6 M in all. So the two 7×7 convolutions
# carry about three quarters of the multiply-adds, and `conv4` alone half. Multiply-adds are not time (BatchNorm, ReLU
# and pooling cost memory traffic too), and we did not profile the layers.

# %%
# NBVAL_IGNORE_OUTPUT
fashion_history, fashion_seconds = train(fashion_cnn, xf_train, yf_train, FASHION_EPOCHS, (xf_val, yf_val))
fashion_images_per_second = len(xf_train) * FASHION_EPOCHS / fashion_seconds
print(f"seed {SEED}: trained in {fashion_seconds:.0f} s, {fashion_images_per_second:,.0f} training images/s")

# %%
du.plot.learning_curves(fashion_history, title="Fashion-MNIST CNN")
plt.show()

# %% [markdown]
# Training accuracy in the log is measured with dropout active and on a model that is still changing during the
# epoch. It sits below the validation accuracy for the first four epochs and above it for the last three (0.963 vs
# 0.934 in the last epoch); in inference mode the network gets 0.969 of its own training images right (printed below).
# So the network fits its training images better than new ones. Whether it has begun to overfit cannot be read
# from the last epoch: validation accuracy moved from 0.9334 to 0.9340 (3 images of 5,000) and validation loss from
# 0.6664 to 0.6657, with the learning rate annealed almost to 0; changes this small say nothing either way. (The loss
# values are higher than in earlier notebooks because of label smoothing: even a perfect prediction of the smoothed
# target leaves a loss of about 0.5.)

# %% [markdown]
# One training run is one draw: the initial weights, the order of the batches and the dropout masks all depend on
# the seed, and the test accuracy moves between draws (by up to 0.30 points across the three seeds below). So the headline is the **mean over
# three seeds**, with the spread, not the best run. The two further runs (seeds 43 and 44) print only their results;
# the network trained with seed 42 above is the one the rest of the notebook looks inside. Then, once, the test set
# for each of them:

# %%
# NBVAL_IGNORE_OUTPUT
FASHION_SEEDS = [SEED, SEED + 1, SEED + 2]
fashion_models = {SEED: fashion_cnn}
fashion_histories, fashion_train_seconds = {SEED: fashion_history}, {SEED: fashion_seconds}
for seed in FASHION_SEEDS[1:]:
    keras.utils.set_random_seed(seed)
    fashion_models[seed] = make_cnn(f"fashion_cnn_seed{seed}")
    fashion_histories[seed], fashion_train_seconds[seed] = train(
        fashion_models[seed], xf_train, yf_train, FASHION_EPOCHS, (xf_val, yf_val), verbose=0)
    print(f"seed {seed}: final validation accuracy {fashion_histories[seed]['val_accuracy'][-1]:.4f}, "
          f"trained in {fashion_train_seconds[seed]:.0f} s")  # fmt: skip
fashion_images_per_second = len(xf_train) * FASHION_EPOCHS * len(FASHION_SEEDS) / sum(fashion_train_seconds.values())
print(f"{len(FASHION_SEEDS)} runs: {fashion_images_per_second:,.0f} training images/s on average")


# %%
# NBVAL_IGNORE_OUTPUT
def shift_images(x, dy, dx):
    """Shift a batch of images by whole pixels, filling with the black background (no interpolation)."""
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return np.roll(padded, (dy, dx), axis=(1, 2))[:, 2:-2, 2:-2]


SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]  # the original and four 1-pixel shifts


def shift_averaged_accuracy(model, x, y):
    """Test-time augmentation: average the softmax over the original and its four 1-pixel shifts."""
    views = np.concatenate([shift_images(x, dy, dx) for dy, dx in SHIFTS])
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(views, batch_size=1000, verbose=0)))
    return float(np.mean(probs.reshape(len(SHIFTS), len(x), -1).mean(axis=0).argmax(axis=1) == y))


seed_rows = {}
for seed, model in fashion_models.items():
    seed_rows[seed] = {
        "final validation accuracy": fashion_histories[seed]["val_accuracy"][-1],
        "test accuracy": model.evaluate(xf_test, yf_test, batch_size=1000, verbose=0, return_dict=True)["accuracy"],
        "test accuracy, 5 shifted views averaged": shift_averaged_accuracy(model, xf_test, yf_test),
    }
seed_table = pd.DataFrame(seed_rows).T.rename_axis("seed")
seed_table.loc["mean"] = seed_table.mean()
seed_table.loc["std (over seeds)"] = seed_table.iloc[: len(FASHION_SEEDS)].std(ddof=1)
fashion_test_accuracies = seed_table["test accuracy"].iloc[: len(FASHION_SEEDS)].tolist()
fashion_test_accuracy = float(np.mean(fashion_test_accuracies))  # the headline: mean over the seeds
fashion_test_accuracy_std = float(np.std(fashion_test_accuracies, ddof=1))
fashion_tta_accuracy = float(seed_table.loc["mean", "test accuracy, 5 shifted views averaged"])
train_fit_accuracy = fashion_cnn.evaluate(xf_train, yf_train, batch_size=1000, verbose=0, return_dict=True)["accuracy"]
print(f"Fashion-MNIST test accuracy over {len(FASHION_SEEDS)} seeds: {fashion_test_accuracy:.4f} ± "
      f"{fashion_test_accuracy_std:.4f} (mean ± std), range {min(fashion_test_accuracies):.4f}–"
      f"{max(fashion_test_accuracies):.4f}")  # fmt: skip
print(f"seed {SEED}: accuracy on its own training images in inference mode {train_fit_accuracy:.4f}, "
      f"during its last epoch (dropout on) {fashion_history['accuracy'][-1]:.4f}, validation "
      f"{fashion_history['val_accuracy'][-1]:.4f}")  # fmt: skip
seed_table

# %%
fashion_logits = fashion_cnn.predict(xf_test, batch_size=1000, verbose=0)
fashion_pred = fashion_logits.argmax(axis=1)
du.plot.confusion_matrix(yf_test, fashion_pred, CLASSES, normalize="true", title="Fashion-MNIST test set (recall per class)")
plt.show()

# %% [markdown]
# The errors concentrate where the classes really are ambiguous at 28×28 pixels: *Shirt* against *T-shirt/top*,
# *Pullover* and *Coat*. Trousers, bags, sandals and sneakers are nearly perfect.
#
# ## 6. The same network on MNIST
#
# Nothing but the data changes: same architecture, same optimizer and schedule, fewer epochs (digits are easier).
# To keep the notebook's run time down, MNIST is trained with one seed only (seed 42), so its accuracy is a single
# draw. We did not measure MNIST's seed-to-seed spread. For scale: the sampling standard error of one accuracy near
# 0.994 on 10,000 test images is already about 0.08 points ($\sqrt{0.994 \cdot 0.006 / 10000}$), and on Fashion-MNIST
# the three seeds differed by up to 0.30 points. So do not read anything into differences of a tenth of a point.

# %%
(xm_train_full, ym_train_full), (xm_test, ym_test) = du.data.load_mnist()
xm_train, xm_val, ym_train, ym_val = train_test_split(
    prepare(xm_train_full), ym_train_full, test_size=5000, stratify=ym_train_full, random_state=42
)
xm_test = prepare(xm_test)
print("train:", xm_train.shape, "| validation:", xm_val.shape, "| test:", xm_test.shape)

# %%
# NBVAL_IGNORE_OUTPUT
xm_train, ym_train = du.take(xm_train, ym_train, quick=5000)
MNIST_EPOCHS = du.pick(full=4, quick=2)
keras.utils.set_random_seed(SEED)
mnist_cnn = make_cnn("mnist_cnn")
mnist_history, mnist_seconds = train(mnist_cnn, xm_train, ym_train, MNIST_EPOCHS, (xm_val, ym_val))
mnist_images_per_second = len(xm_train) * MNIST_EPOCHS / mnist_seconds
mnist_test_accuracy = mnist_cnn.evaluate(xm_test, ym_test, batch_size=1000, verbose=0, return_dict=True)["accuracy"]
print(f"MNIST (one seed): {len(xm_train):,} images, {MNIST_EPOCHS} epochs, {mnist_images_per_second:,.0f} training "
      f"images/s | test accuracy {mnist_test_accuracy:.4f} ({round((1 - mnist_test_accuracy) * len(xm_test))} of "
      f"{len(xm_test):,} test digits wrong)")  # fmt: skip

# %% [markdown]
# ## 7. Data augmentation
#
# **Idea.** A model should not care whether a jacket is a few pixels further left, slightly rotated or a bit larger.
# Instead of hoping it learns that from the training images alone, we can *show* it: during training, each image is
# randomly transformed, so that the model never sees exactly the same image twice. This is a regularizer that
# encodes prior knowledge — the transformations must keep the label (§9 shows one that does not) and should produce
# images that look like the data the model will meet.
#
# Keras preprocessing layers do this inside the model. They are active only in training (`fit`, or a call with
# `training=True`); `predict` and `evaluate` pass images through unchanged. We compare two augmentations:
#
# - **2-pixel shifts**: `RandomTranslation(2/28, 2/28, interpolation="nearest")` moves the image by up to 2 pixels
#   in each direction. With nearest-neighbour sampling a shift is a whole number of pixels, so the strokes stay as
#   sharp as in the original.
# - **shift, rotate, zoom**: `RandomTranslation(0.1, 0.1)` (up to 10 % of height and width, i.e. ±2.8 pixels),
#   `RandomRotation(0.03)` (up to $\pm 0.03 \cdot 360° \approx 11°$) and `RandomZoom(0.1)` (±10 %), with the default
#   bilinear interpolation. Each of the three layers resamples the image, and the blur of one resampling adds to the
#   next (the figure below shows the result).
#
# Both use `fill_mode="constant"`: uncovered pixels get 0, the background colour of these images. The two differ
# in **four** ways at once: the shift range (±2.8 against ±2 pixels), rotation, zoom, and interpolation (three
# bilinear resamplings against whole-pixel moves). So the comparison below can rank these two configurations, but it
# cannot say which of the four differences is responsible.
#
# **Why no horizontal flips?** Mirroring left–right looks harmless for clothes, and it is a standard augmentation
# for natural photos. But a flip should also keep the *data distribution*, not only the label, and in Fashion-MNIST the
# shoes seem to be photographed facing one way. We did **not** train a flip-augmented model: the proper control,
# `RandomFlip("horizontal")` in the protocol below, is missing from this notebook. What the next cell measures is a
# distribution-shift probe: how one-sided the training footwear is (by an ink proxy), and how the headline network
# (seed 42, trained without augmentation) does on mirrored **test** images. It shows whether mirrored shoes are
# unusual for this data. It does not show whether flip augmentation would raise or lower validation accuracy.

# %%
# NBVAL_IGNORE_OUTPUT
# Footwear orientation: share of training images with more ink in the right half than in the left half.
FOOTWEAR = [CLASSES.index(c) for c in ("Sandal", "Sneaker", "Ankle boot")]
heavier_right = {CLASSES[c]: float(np.mean(xf_train[yf_train == c, :, 14:].sum(axis=(1, 2, 3))
                                           > xf_train[yf_train == c, :, :14].sum(axis=(1, 2, 3))))
                 for c in FOOTWEAR}  # fmt: skip
print("training images heavier on the right:", ", ".join(f"{k} {v:.0%}" for k, v in heavier_right.items()))

# The no-augmentation headline model on the test images and on their mirror images.
probs_original = keras.ops.convert_to_numpy(keras.ops.softmax(fashion_logits))
mirrored_logits = fashion_cnn.predict(xf_test[:, :, ::-1, :], batch_size=1000, verbose=0)
probs_mirrored = keras.ops.convert_to_numpy(keras.ops.softmax(mirrored_logits))
flip_groups = {"all 10 classes": np.ones(len(yf_test), bool)} | {CLASSES[c]: yf_test == c for c in FOOTWEAR}
flip_groups["the 7 other classes"] = ~np.isin(yf_test, FOOTWEAR)
flip_table = pd.DataFrame(
    {
        group: {
            "original": np.mean(probs_original[m].argmax(1) == yf_test[m]),
            "mirrored": np.mean(probs_mirrored[m].argmax(1) == yf_test[m]),
            "average of both predictions": np.mean((probs_original[m] + probs_mirrored[m]).argmax(1) == yf_test[m]),
        }
        for group, m in flip_groups.items()
    }
).T
flip_table.columns.name = "test accuracy on"
flip_table

# %% [markdown]
# The shoes are the story. By the ink proxy, nearly every sandal, sneaker and ankle boot in the training set faces the
# same way (92–100 % heavier on the right). On mirrored test images the network that never saw a flip gets most
# footwear wrong (sneakers 0.115, ankle boots 0.000), while the other seven classes lose under two points
# (0.898 → 0.882). Averaging the predictions for an image and its mirror image (test-time augmentation with flips)
# scores below the original alone (0.889 against 0.922). These are probes on the test set, reported but not used to
# choose anything for the headline model, which, like every model in this notebook, is trained without flips. They
# show that mirrored shoes are out of distribution for this dataset; they do not show what training with flips would
# do. A flip-trained network might learn both orientations at little cost, or waste capacity on shoes that the test set
# never shows; that run is missing. So the comparison below leaves flips out on this prior, not on a measurement of
# flip augmentation.

# %%
keras.utils.set_random_seed(SEED)  # the layers draw their seeds from the global seed
AUGMENTATIONS = {
    "2-pixel shifts": keras.Sequential(
        [L.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", interpolation="nearest")], name="small_shifts"),
    "shift, rotate, zoom": keras.Sequential(
        [L.RandomTranslation(0.1, 0.1, fill_mode="constant"), L.RandomRotation(0.03, fill_mode="constant"),
         L.RandomZoom(0.1, fill_mode="constant")], name="shift_rotate_zoom"),
}  # fmt: skip
SHORT = {"2-pixel shifts": "2-px shift", "shift, rotate, zoom": "shift+rot+zoom"}
tiles, tile_labels = [], []
for img in xf_val[[0, 1, 2]]:
    tiles.append(img[None])
    tile_labels.append("original")
    for name, aug in AUGMENTATIONS.items():
        tiles.append(keras.ops.convert_to_numpy(aug(np.repeat(img[None], 3, axis=0), training=True)))
        tile_labels += [SHORT[name]] * 3
du.plot.image_grid(np.concatenate(tiles), labels=tile_labels, ncols=7,
                   title="Original, three 2-pixel shifts, three shift-rotate-zoom draws (each call draws anew)")  # fmt: skip
plt.show()

# %% [markdown]
# In the figure, the 2-pixel shifts look like the original moved by a pixel or two, just as sharp. Every
# shift-rotate-zoom tile is strongly smeared: the bag's outline and the sneaker's laces are washed out, and the shirt's
# pattern is blurred. The likely cause is the three bilinear resamplings in a row described above; a single sub-pixel shift was not
# shown separately.
#
# **Does it help?** We measure on the validation split: the same network trained on 5,000 training images, once
# without augmentation and once with each augmentation in front, everything else equal (seed, schedule, epochs).
# A small training set is where augmentation should matter most. The budget matters too: an augmented image is a
# harder, ever-changing task that may need more epochs. (For the record only: the previous committed version of this
# notebook, commit 568368c, trained shift-rotate-zoom on a different network, with one 7×7 convolution and dropout
# 0.5, for 8 epochs, and stored a validation accuracy of 0.7956 against 0.8736 without augmentation. Those outputs are
# not part of this notebook and were not re-run.) So each run gets
# 20 epochs here, long enough for the run without augmentation to fit its 5,000 training images almost perfectly
# (the table's training accuracy, measured on the original images in inference mode).
#
# The measure of success is the **validation accuracy**. The train–validation gap is printed for context only: a
# smaller gap is not good news if validation accuracy falls with it (notebook 04's trap).

# %%
# NBVAL_IGNORE_OUTPUT
N_AUG, AUG_EPOCHS = du.pick(full=5000, quick=2000), du.pick(full=20, quick=4)
aug_runs = {}
for label, aug in [("no augmentation", None), *AUGMENTATIONS.items()]:
    keras.utils.set_random_seed(SEED)
    model = make_cnn("fashion_cnn_small", augmentation=aug)
    history, seconds = train(model, xf_train[:N_AUG], yf_train[:N_AUG], AUG_EPOCHS, (xf_val, yf_val), verbose=0)
    train_acc = model.evaluate(xf_train[:N_AUG], yf_train[:N_AUG], batch_size=1000, verbose=0, return_dict=True)
    aug_runs[label] = dict(history=history, images_per_second=N_AUG * AUG_EPOCHS / seconds,
                           train_accuracy=train_acc["accuracy"], val_accuracy=history["val_accuracy"][-1])  # fmt: skip
aug_table = pd.DataFrame({k: {m: v for m, v in r.items() if m != "history"} for k, r in aug_runs.items()}).T
aug_table["gap (train - val)"] = aug_table["train_accuracy"] - aug_table["val_accuracy"]
aug_table["val_accuracy vs none (points)"] = 100 * (aug_table["val_accuracy"] - aug_table.loc["no augmentation", "val_accuracy"])
print(f"{N_AUG:,} training images, {AUG_EPOCHS} epochs; training accuracy measured without dropout or augmentation")
aug_table

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
epochs = np.arange(1, AUG_EPOCHS + 1)
for label, r in aug_runs.items():
    augmented = label != "no augmentation"  # only these runs trained on augmented images
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        (line,) = ax.plot(epochs, r["history"][f"val_{metric}"], "o-", ms=3, label=f"{label}: validation")
        ax.plot(epochs, r["history"][metric], "--", color=line.get_color(),
                label=f"{label}: train" + (" (augmented images)" if augmented else ""))  # fmt: skip
for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
    ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}, {N_AUG:,} training images")
    ax.grid(alpha=0.3)
axes[1].set_ylim(0.7, 1.0)
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# How to read the table: judge by the **validation accuracy** (last column: points against no augmentation, one seed).
# For scale: the sampling standard error of one accuracy near 0.89 on 5,000 validation images is about 0.45 points
# ($\sqrt{0.89 \cdot 0.11 / 5000}$), and the seed-to-seed spread of this 5,000-image protocol was not measured.
#
# - **2-pixel shifts: +0.66 points (0.8950 against 0.8884), within noise.** One seed, and a difference of about one
#   and a half standard errors of a single accuracy: not even the sign is established. Without augmentation the
#   network memorizes its 5,000 training images (training accuracy 0.9998); with shifts its accuracy on the original
#   training images is 0.9262, so the shifts do make the training task harder. In the curves, the shifted run's
#   validation accuracy is at or above the run without augmentation in most of the second half of training, but that
#   is the same single pair of runs, not extra evidence.
# - **Shift, rotate and zoom: −2.52 points (0.8632).** This is larger than the noise scale above, but this
#   configuration differs from the 2-pixel shifts in four ways (larger shifts, rotation, zoom, three stacked bilinear
#   resamplings), and we did not isolate them. The smearing in the figure above, which erases fine detail, is one
#   candidate; rotation or zoom are others. Exercise 3 (each transformation alone, or
#   `RandomTranslation(0.1, 0.1, interpolation="nearest")`) would tell them apart. Its accuracy on the original training
#   images (0.8688) shows it has not fitted them after 20 epochs.
# - The **gap** column shows why the gap is the wrong yardstick: it is smallest for shift-rotate-zoom, the worst model.
#
# (In the accuracy plot the legend covers part of the shift-rotate-zoom training curve, around epochs 8–10; the table
# has the final values.)
#
# The headline models (55,000 training images, 7 epochs) are trained **without** augmentation. Small shifts were not
# measured on the full training set (Exercise 3), and on 5,000 images their gain is within noise, so §7 does not
# change the headline recipe.
#
# ## 8. Looking inside: filters, feature maps, mistakes
#
# **Filters.** The 32 kernels of `conv1` of the Fashion-MNIST network trained with seed 42, each $5\times5$ (blue
# negative, red positive, one colour scale for all). A few show an oriented light–dark transition, an edge or gradient
# detector like the hand-made Sobel kernels of §1; after only 7 epochs, most still look noisy.

# %%
kernels = fashion_cnn.get_layer("conv1").get_weights()[0][:, :, 0, :]  # (5, 5, 32)
limit = np.abs(kernels).max()
fig, axes = plt.subplots(4, 8, figsize=(8, 4.4), layout="constrained")
for i, ax in enumerate(axes.flat):
    ax.imshow(kernels[:, :, i], cmap="bwr", vmin=-limit, vmax=limit)
    ax.axis("off")
fig.suptitle("conv1: the 32 learned 5×5 kernels (blue negative, red positive)")
plt.show()

# %% [markdown]
# **Feature maps.** A second model with the same layers returns the activations after three of the ReLUs. For one
# test image, the first 16 channels of each. The stem's 14×14 maps still look like the boot (its outline, the sole,
# regions of the upper). `relu2`'s maps, still 14×14 (taken before pooling), still show the boot's outline in several
# channels. `relu4`'s 7×7 maps are coarser, but many channels respond at particular places of the 7×7 grid rather than
# everywhere, so they still carry location. One image cannot tell what a channel detects, or whether deeper channels
# combine the patterns of shallower ones; that would need many images, or tools like those of notebook 07.

# %%
probe = keras.Model(fashion_cnn.input, [fashion_cnn.get_layer(f"relu{i}").output for i in (1, 2, 4)], name="probe")
image_index = 0
maps = probe.predict(xf_test[image_index : image_index + 1], verbose=0)
fig = plt.figure(figsize=(13, 4.8), layout="constrained")
for subfig, name, fmap in zip(fig.subfigures(3, 1), ("relu1 (stem)", "relu2", "relu4"), maps, strict=True):
    axes = subfig.subplots(1, 17)
    axes[0].imshow(xf_test[image_index, :, :, 0], cmap="gray")
    for c in range(16):
        axes[c + 1].imshow(fmap[0, :, :, c], cmap="viridis")
    for ax in axes:
        ax.axis("off")
    subfig.suptitle(f"{name}: {fmap.shape[1]}×{fmap.shape[2]}×{fmap.shape[3]}, input (left) and channels 0–15",
                    fontsize=10)  # fmt: skip
fig.suptitle(f"Feature maps for one test image ({CLASSES[yf_test[image_index]]})")
plt.show()

# %% [markdown]
# **The most confident mistakes.** Softmax turns the logits into probabilities; among the wrongly classified test
# images, we show those where the model was surest. They are worth a look: some are real model errors, some are
# ambiguous images, and some have a questionable label.

# %%
# NBVAL_IGNORE_OUTPUT
probs = keras.ops.convert_to_numpy(keras.ops.softmax(fashion_logits))
wrong = np.flatnonzero(fashion_pred != yf_test)
worst = wrong[np.argsort(-probs[wrong].max(axis=1))][:12]
print(f"{len(wrong)} of {len(yf_test):,} test images misclassified; the 12 most confident mistakes:")
du.plot.image_grid(
    xf_test[worst],
    labels=[CLASSES[y] for y in yf_test[worst]],
    predictions=[f"{CLASSES[p]} {probs[i, p]:.0%}" for i, p in zip(worst, fashion_pred[worst], strict=True)],
    ncols=6, title="true → predicted (confidence)",
)  # fmt: skip
plt.show()

# %% [markdown]
# ## 9. Pitfalls
#
# **Pitfall 1: predicting in training mode.** `BatchNormalization` behaves differently in training and inference:
# in training it normalizes with the statistics of the *current batch*; at inference it uses moving averages
# collected during training. `Dropout` is only active in training. `predict`, `evaluate` and `model(x)` use inference
# mode — but calling `model(x, training=True)` (a common slip in custom loops, or when someone wants "the same mode
# as during training") makes predictions depend on the other images in the batch. The symptom is worst when a batch
# is not a random mix, e.g. when you predict a folder of images of one class: BatchNorm subtracts the features these
# images have in common — precisely the ones that identify their class.

# %%
# NBVAL_IGNORE_OUTPUT
def accuracy(logits, y):
    return float(np.mean(keras.ops.convert_to_numpy(logits).argmax(axis=1) == y))


def bn_statistics(model):
    """{layer name: (moving mean, moving variance)} of every BatchNormalization layer, as NumPy copies."""
    return {layer.name: (keras.ops.convert_to_numpy(layer.moving_mean).copy(),
                         keras.ops.convert_to_numpy(layer.moving_variance).copy())
            for layer in model.layers if isinstance(layer, L.BatchNormalization)}  # fmt: skip


# In Keras 3 a call with training=True also UPDATES BatchNorm's moving statistics, so the demo runs on a copy.
victim = keras.models.clone_model(fashion_cnn)
victim.set_weights(fashion_cnn.get_weights())
original_stats = bn_statistics(fashion_cnn)
original_val_logits = fashion_cnn.predict(xf_val, batch_size=1000, verbose=0)

by_class = [xf_val[yf_val == c] for c in range(10)]  # validation images, one batch per class
mode_rows = {
    "inference mode, mixed batch": accuracy(victim(xf_val, training=False), yf_val),
    "inference mode, one class per batch": np.mean([accuracy(victim(b, training=False), c)
                                                    for c, b in enumerate(by_class)]),  # fmt: skip
    "training=True, mixed batch": accuracy(victim(xf_val, training=True), yf_val),
    "training=True, one class per batch": np.mean([accuracy(victim(b, training=True), c)
                                                   for c, b in enumerate(by_class)]),  # fmt: skip
    "inference mode again, after those 11 calls": accuracy(victim(xf_val, training=False), yf_val),
}
modes = pd.Series(mode_rows, name="validation accuracy (copy of fashion_cnn)").to_frame()
modes


# %% [markdown]
# **The silent half: the model itself changes.** In Keras 3, a call with `training=True` does not only
# *use* the batch statistics, it also **updates BatchNorm's moving averages** (with `momentum=0.9`, each call moves
# them 10 % of the way towards the statistics of that batch), exactly as a training step would, only without a
# gradient step. Nothing is printed and nothing warns you: every later `predict` or `evaluate` runs with the
# altered statistics. That is why the cell above ran on a copy (`keras.models.clone_model` builds the same
# architecture from the layers' configs, uncompiled and with fresh weights, `set_weights` copies all of them, the moving statistics included). The cell below
# measures how far the copy's statistics moved, after the 11 calls above and after 10 more calls on a folder of
# ankle boots, and checks that the original `fashion_cnn`, which the rest of this notebook uses, did not change:

# %%
# NBVAL_IGNORE_OUTPUT
def drift_table(stats):
    """How far each BatchNorm layer's moving statistics moved from the original model's."""
    return pd.DataFrame(
        {
            name: {
                "mean shift (in moving std, avg over channels)": np.mean(np.abs(stats[name][0] - mean) / np.sqrt(var + 1e-3)),
                "largest mean shift (in moving std)": np.max(np.abs(stats[name][0] - mean) / np.sqrt(var + 1e-3)),
                "variance after/before (median over channels)": np.median(stats[name][1] / var),
            }
            for name, (mean, var) in original_stats.items()
        }
    ).T


# The copy after the 11 calls above; then after 10 more training-mode calls on one folder of ankle boots.
demo_stats = bn_statistics(victim)
for _ in range(10):
    victim(by_class[CLASSES.index("Ankle boot")], training=True)
boots_stats = bn_statistics(victim)
copy_accuracy = {
    "before any training-mode call": mode_rows["inference mode, mixed batch"],
    "after the 11 calls above": mode_rows["inference mode again, after those 11 calls"],
    "after 10 more calls on ankle boots": accuracy(victim(xf_val, training=False), yf_val),
}
print("copy, inference mode, mixed validation batch:", " | ".join(f"{k}: {v:.4f}" for k, v in copy_accuracy.items()))
# The original: untouched, because the demo ran on the copy.
original_unchanged = all(np.array_equal(original_stats[n][k], bn_statistics(fashion_cnn)[n][k])
                         for n in original_stats for k in (0, 1))  # fmt: skip
original_predictions_unchanged = np.array_equal(
    original_val_logits, fashion_cnn.predict(xf_val, batch_size=1000, verbose=0))
print(f"original fashion_cnn: moving statistics unchanged: {original_unchanged}, "
      f"validation predictions unchanged: {original_predictions_unchanged}")  # fmt: skip
drift = pd.concat({"after the 11 calls": drift_table(demo_stats), "after 10 more on ankle boots": drift_table(boots_stats)})
drift

# %% [markdown]
# In inference mode the accuracy does not depend on how the images are batched (up to float rounding, which can flip
# a near-tie or two). With `training=True` a mixed batch costs a little accuracy (dropout noise, and batch statistics
# instead of the learned averages), and single-class batches cost several times more: BatchNorm subtracts what the
# images of a batch have in common. How much depends on the network and the data, and it can be far worse, but the
# predictions are never trustworthy: the same image gets a different answer depending on its batch-mates.
#
# The second table shows the silent part: the copy's moving statistics moved, and the mean shifts grew further after
# 10 more calls on one folder of ankle boots (these rows are cumulative: 21 training-mode calls against 11, so the
# extra drift cannot be put down to the one-class batches alone, and not every variance ratio moved further from 1).
# In this network the shift is small compared with each feature's spread (the largest mean shift is 0.16 moving
# standard deviations), and the copy's inference-mode accuracy moved by at most 0.18 points (0.9340 → 0.9322 →
# 0.9336), far less than the 4.34 points lost to single-class batches in training mode (0.9340 → 0.8906). What makes
# this half worth knowing is that it persists and nothing reports it, not its size in this run: in a network or dataset with less uniform batches, or after more calls, it need not be small, and
# nothing would tell you. Fix: never pass `training=True` for predictions; in a custom loop, call the model with
# `training=True` in the training step only; and if you must experiment, do it on a copy.
#
# **Pitfall 2: an augmentation that changes the label.** Augmentations must produce images that still belong to the
# labelled class. Rotating a *6* by 180° gives something that looks like a *9*: `RandomRotation(0.5)` on MNIST (any
# angle) would teach the network to call 9-shaped images "6" and vice versa. Horizontal flips turn *2*, *3*, *7* into
# non-digits. The trained MNIST network reads most of the validation sixes rotated by 180° as a 9, and almost none as a 6 (the printed share rounds
# to 0 %):

# %%
# NBVAL_IGNORE_OUTPUT
sixes = xm_val[ym_val == 6]
rotated = np.rot90(sixes, k=2, axes=(1, 2))  # 180°
rotated_pred = mnist_cnn.predict(rotated, batch_size=1000, verbose=0).argmax(axis=1)
share_nine = float(np.mean(rotated_pred == 9))
print(f"{len(sixes)} validation sixes rotated by 180°: {share_nine:.0%} classified as 9, "
      f"{np.mean(rotated_pred == 6):.0%} as 6")  # fmt: skip

# %%
du.plot.image_grid(np.concatenate([sixes[:6], rotated[:6]]), labels=[6] * 12,
                   predictions=mnist_cnn.predict(np.concatenate([sixes[:6], rotated[:6]]), verbose=0).argmax(axis=1),
                   ncols=6, title="Sixes, then the same sixes rotated by 180°: label → prediction")  # fmt: skip
plt.show()

# %% [markdown]
# Choose augmentations by asking whether a human would still give the same label, and then measure. Small shifts
# keep the label of digits and clothes (in §7 they tied with no augmentation on 5,000 images); §7's combined
# shift-rotate-zoom lowered validation accuracy, for reasons that §7 did not isolate. Horizontal flips are standard for
# natural photos, where a mirrored scene is as likely as the original; for Fashion-MNIST they are doubtful, because
# nearly all shoes face the same way (92–100 % of the footwear training images carry more ink on the right, §7), but
# we did not measure a flip-trained model. By the same reasoning, no vertical flips for any of these datasets.
#
# ## 10. Results
#
# The headline models were trained on 55,000 images (the validation split watched), with a fixed number of epochs,
# and evaluated once on the 10,000 test images: Fashion-MNIST three times (seeds 42, 43, 44), reported as the mean,
# MNIST once.

# %%
# NBVAL_IGNORE_OUTPUT
_ = du.report(
    "06_convolutional_networks",
    fashion_mnist_test_accuracy=fashion_test_accuracy,  # mean over FASHION_SEEDS
    fashion_mnist_test_accuracy_std=fashion_test_accuracy_std,
    fashion_mnist_test_accuracy_per_seed=fashion_test_accuracies,
    fashion_mnist_seeds=FASHION_SEEDS,
    fashion_mnist_test_accuracy_shift_tta=fashion_tta_accuracy,
    fashion_mnist_epochs=FASHION_EPOCHS,
    fashion_mnist_train_seconds_per_run=float(np.mean(list(fashion_train_seconds.values()))),
    fashion_mnist_train_images_per_second=fashion_images_per_second,
    mnist_test_accuracy=mnist_test_accuracy,  # one seed
    mnist_epochs=MNIST_EPOCHS,
    mnist_train_seconds=mnist_seconds,
    mnist_train_images_per_second=mnist_images_per_second,
    fashion_mnist_test_accuracy_mirrored=flip_table.loc["all 10 classes", "mirrored"],
    fashion_mnist_test_accuracy_flip_averaged=flip_table.loc["all 10 classes", "average of both predictions"],
    cnn_parameters=fashion_cnn.count_params(),
    aug_val_accuracy={k: r["val_accuracy"] for k, r in aug_runs.items()},
    aug_train_images=N_AUG,
    aug_epochs=AUG_EPOCHS,
)

# %% [markdown]
# The anchors: the CNN of *Hands-On Machine Learning* (3rd edition, chapter 14) reaches 91.17 % on Fashion-MNIST, and the
# keras.io "Simple MNIST convnet" 99.22 % on MNIST after 15 epochs. They are published single numbers from other
# recipes, splits and budgets (keras.io trains for 15 epochs, we train for 4), quoted as reference points. They are
# not baselines trained under this notebook's split, schedule and epochs; we did not run those. The table below puts
# the runs stored here next to them and next to our targets, 92.0 % and 99.3 %; the Check cell asserts the targets.
#
# **What is asserted.** For Fashion-MNIST, the **mean test accuracy over three seeds**: 0.9213, with a standard
# deviation of 0.0016 between seeds (0.9195–0.9225). A single run would be a draw from that spread; seed 44 alone
# (0.9195) is just below the target. For MNIST, one seed: 0.9941 (59 wrong digits of 10,000), 0.11 points (11 digits)
# above the target. That margin is less than one and a half sampling standard errors (about 0.08 points, §6), and the
# seed-to-seed spread on MNIST was not measured, so "target met" for MNIST rests on one draw; another seed could miss.
#
# **Against the MLPs.** Notebooks 03 and 04 report MLP test accuracies of 0.9840 on MNIST and 0.8911 on Fashion-MNIST
# (`results/03_mlp_with_keras.json`, `results/04_training_deep_networks.json`). Those MLPs were trained with their own
# recipes (without label smoothing, and with their own optimizer settings and epoch counts), so the gap mixes
# architecture with recipe. An MLP trained
# with this notebook's recipe is the missing baseline.
#
# **What changed from the previous version of this notebook.** The previous committed version (commit 568368c; its
# outputs are not part of this notebook) had one convolution at 7×7, unpadded pooling (3×3 maps), dropout 0.5 and no
# label smoothing, and its single stored run scored 0.9101 on the Fashion-MNIST test set. The recipe here changes four
# things at once: a second 128-filter convolution at 7×7, padded pooling, dropout 0.25, and label smoothing 0.1. One
# old run against a three-seed mean, four changes and no ablation: this says nothing about which change matters or why,
# and we make no claim about it. Note also that this recipe was developed after the previous version's test score was
# known, so across versions of this notebook the test set has not stayed untouched.
#
# **Tried and reported, not chosen on validation:** test-time augmentation with small shifts (averaging the softmax
# over the image and its four 1-pixel shifts) gives 0.9195 on average, against 0.9213 without (each seed lost
# 0.05–0.26 points). It was measured on the test set only, so leaving it out of the headline is a decision made on
# test; since it scored lower, using it would not have raised the headline. **Not run:** the missing controls named
# above (a flip-trained model in §7's protocol, 2-pixel shifts on the full 55,000 images, an MLP and the anchor CNNs
# under this notebook's recipe), and a one-cycle learning-rate schedule with a higher peak and weight averaging (EMA,
# `keras.optimizers.Adam(use_ema=True)`), ideas behind today's fastest small-image training recipes. They are left as
# experiments for the reader.
#
# **Time.** On the 2-core CPU that ran this notebook, shared with other jobs during the stored run, training
# processed about 900 images/s on Fashion-MNIST (425 s per 7-epoch run on average) and about 1,060 images/s on MNIST
# (207 s for 4 epochs); the speed varied with the load (epochs of the same run took 58–93 s), so read these as rough.
# Machines of this class differ 2–3× in speed, and the load changes it further; a faster CPU or a GPU changes the
# minutes, not the recipe: with the same epochs, expect the same accuracy sooner.

# %%
# NBVAL_IGNORE_OUTPUT
targets = pd.DataFrame(
    {
        "test accuracy": [fashion_test_accuracy, mnist_test_accuracy],
        "measured as": [f"mean of {len(FASHION_SEEDS)} seeds (std {fashion_test_accuracy_std:.4f})", "one seed"],
        "anchor": [0.9117, 0.9922],
        "target": [0.920, 0.993],
        "epochs": [FASHION_EPOCHS, MNIST_EPOCHS],
        "training s per run": [np.mean(list(fashion_train_seconds.values())), mnist_seconds],
        "training images/s": [fashion_images_per_second, mnist_images_per_second],
    },
    index=["Fashion-MNIST", "MNIST"],
)
targets["vs anchor (points)"] = (100 * (targets["test accuracy"] - targets["anchor"])).round(2)
targets["target met"] = targets["test accuracy"] >= targets["target"]
targets

# %%
# Check: the claims this notebook makes, on its own measurements.
# Full profile: the targets. Fashion-MNIST: the MEAN test accuracy over the three seeds; MNIST: one seed.
# The MLPs of notebooks 03-04 were trained with other recipes and are not asserted against here (§10).
# Time is reported, not asserted.
assert fashion_test_accuracy >= du.pick(full=0.920, quick=0.60), seed_table
assert mnist_test_accuracy >= du.pick(full=0.993, quick=0.80), mnist_test_accuracy
# §7, a distribution-shift probe on the test set (no model is trained with flips): mirrored test images are much
# harder for the no-flip model (shoes face one way), and averaging over a flip does not help.
assert du.is_quick() or flip_table.loc["all 10 classes", "mirrored"] < flip_table.loc["all 10 classes", "original"] - 0.03, flip_table
assert du.is_quick() or flip_table.loc["all 10 classes", "average of both predictions"] < flip_table.loc["all 10 classes", "original"], flip_table
# §7: augmentation is judged by validation accuracy (printed in the table); here only that every run learned.
assert (aug_table["val_accuracy"] > du.pick(full=0.85, quick=0.30)).all(), aug_table
# §9: training mode at prediction time hurts, most with single-class batches; it also moves the copy's BatchNorm
# statistics, while the original model (the demo ran on a copy) is unchanged. A rotated 6 is read as a 9.
m = modes.iloc[:, 0]
assert abs(m["inference mode, mixed batch"] - m["inference mode, one class per batch"]) < 2e-3  # up to float rounding
assert du.is_quick() or m["training=True, one class per batch"] < min(
    m["training=True, mixed batch"], m["inference mode, mixed batch"] - 0.02), modes  # worst, > 2 points
assert original_unchanged and original_predictions_unchanged
assert (drift.iloc[:, 0] > 0).all(), drift  # the copy's statistics moved
assert du.is_quick() or share_nine > 0.3, share_nine
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Receptive field by design.** Replace each $3\times3$ convolution by two stacked $3\times3$ convolutions
#    (a VGG-style block). Compute the new receptive fields with `receptive_fields`, verify them with the linear twin,
#    and compare the parameter count with a single $5\times5$ convolution of the same width.
# 2. **Global average pooling.** Replace `Flatten` + `Dense` by `GlobalAveragePooling2D` + `Dense`. How many
#    parameters does the head lose? Train on Fashion-MNIST with the same budget and compare validation accuracy.
# 3. **Augmentation budget.** Repeat §7 with 20,000 and with 55,000 training images (and, if you have the time,
#    twice the epochs). For which training-set sizes does augmentation pay off within the budget? Then try each
#    transformation alone to see which one helps most.
# 4. **Colour photos** (needs internet): the same code trains on CIFAR-10, 32×32 RGB images in 10 classes, with
#    `keras.Input((32, 32, 3))`:
#
#    ```python
#    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()  # 170 MB download
#    x_train, x_test = x_train.astype("float32") / 255, x_test.astype("float32") / 255
#    ```
#
#    Expect it to be much harder than Fashion-MNIST (around 75–80 % for a network of this size); notebook 07 shows
#    how a network pretrained on a large dataset helps.
#
# **Next:** [07 · Transfer learning and interpretability](07_transfer_learning_and_interpretability.ipynb) — reusing a
# trained network's features, and seeing which pixels a prediction depends on.
