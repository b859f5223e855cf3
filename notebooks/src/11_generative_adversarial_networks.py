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
# # 11 · Generative adversarial networks: DCGAN, conditional GAN, failure modes, and measuring samples
#
# Every model so far learned a function from inputs to labels. A **generative** model learns the data distribution
# itself, so that it can produce new samples from it. A generative adversarial network (GAN; Goodfellow et al.,
# 2014) does this with two networks trained against each other: a *generator* that turns random noise into images
# and a *discriminator* that tries to tell those images from real ones.
#
# **What you will learn**
# - the minimax game behind GANs, what the optimal discriminator is, and why everybody trains the generator with
#   the **non-saturating** loss instead of the one in the minimax formula;
# - a DCGAN in Keras 3 (TensorFlow backend): a `keras.Model` subclass with its own `train_step`, two optimizers,
#   two `tf.GradientTape`s, metrics that `fit` can print, a callback that saves a sample grid after each epoch, and
#   a moving average of the generator's weights to sample from;
# - a **conditional GAN** that draws the digit you ask for;
# - how to *measure* samples instead of eyeballing them: a classifier trained on real data as a judge, its confidence
#   and class histogram, and a **Fréchet distance** on its features (the idea behind FID), with a real-data floor
#   and an untrained-generator ceiling to read it against;
# - the classic failure modes: a discriminator that overpowers the generator (trained and measured), the saturating
#   loss (measured only as the generator's gradient norm against one trained discriminator; no generator is trained
#   with it), a generator that collapses onto a blind spot of a frozen discriminator (trained and measured, and what
#   the judge's class histogram and the Fréchet distance each say about it), **mode collapse** demonstrated and
#   counted on a 2-D toy, and the usual remedies (one-sided label smoothing and balanced learning rates are used and
#   explained, not ablated: Exercise 2 leaves that to you);
# - what a transposed convolution computes (a worked example checked against Keras), walking through latent space
#   along straight lines and great circles, and checking that samples are not copies of training images.
#
# **Prerequisites:** [00](00_getting_started.ipynb) (`tf.GradientTape`), [03](03_mlp_with_keras.ipynb) (Keras
# models, cross-entropy from logits) and [04](04_training_deep_networks.ipynb) (Adam, batch normalization, dropout).
# Strided and transposed convolutions are used as building blocks here; notebook 06 explains convolutions in depth.
#
# **Dataset:** MNIST, 70,000 grey-scale 28×28 images of handwritten digits (LeCun, Cortes & Burges; CC BY-SA 3.0),
# loaded by `du.data.load_mnist()` from the offline mirror or a verified download.
#
# **Runtime:** about 17 minutes for the whole notebook in the full profile (1,036 s), measured on a 2-core CPU
# shared with another job — DCGAN 3,000 steps in 529 s, cGAN 3,000 steps in 302 s (Keras reports 95–234 ms per
# step of 64 images over the epochs of the two runs, i.e. roughly 270–670 images/s, depending on the load).

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %%
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.linalg
import tensorflow as tf

L = keras.layers
pd.set_option("display.precision", 3)
plt.rcParams["figure.dpi"] = 100  # sample grids need ~1 screen pixel per image pixel or more
ARTIFACTS = Path("artifacts/11_generative_adversarial_networks")  # git-ignored scratch folder beside the notebook
ARTIFACTS.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Data
#
# We use all 60,000 MNIST training images to train the GANs (and the judge classifier of §3), and keep the 10,000
# test images as **held-out real images**: they show what score real data gets under our measure. The generator will
# end in `tanh`, so we scale pixels to $[-1, 1]$.

# %%
(x_train_raw, y_train), (x_test_raw, y_test) = du.data.load_mnist()
print("train:", x_train_raw.shape, x_train_raw.dtype, "| test:", x_test_raw.shape)


def to_gan_range(images):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1], the range of the generator's tanh output."""
    return (images.astype("float32")[..., None] - 127.5) / 127.5


x_train, x_test = to_gan_range(x_train_raw), to_gan_range(x_test_raw)
print("GAN input:", x_train.shape, x_train.dtype, f"range [{x_train.min():.0f}, {x_train.max():.0f}]")
print("test images per class:", np.bincount(y_test).tolist())

# %%
# NBVAL_IGNORE_OUTPUT
# Budgets. Keras's "epoch" here is a fixed number of steps (`steps_per_epoch`), so that the curves and the sample
# grids have enough points; one step = one discriminator update + one generator update on a batch of 64.
x_train, y_train = du.take(x_train, y_train, quick=4000)
x_test, y_test = du.take(x_test, y_test, quick=2000)
BATCH = 64
STEPS_PER_EPOCH = du.pick(full=300, quick=50)
GAN_EPOCHS = du.pick(full=10, quick=4)
CGAN_EPOCHS = du.pick(full=10, quick=4)
N_EVAL = du.pick(full=5000, quick=1000)  # images per set when scoring (generated, held-out real)
N_REF = du.pick(full=10_000, quick=2000)  # real training images for the reference statistics
print(f"training images: {len(x_train):,} | DCGAN steps: {STEPS_PER_EPOCH * GAN_EPOCHS:,} "
      f"({STEPS_PER_EPOCH * GAN_EPOCHS * BATCH / len(x_train):.1f} passes) | cGAN steps: {STEPS_PER_EPOCH * CGAN_EPOCHS:,} "
      f"| scoring sets: {N_EVAL:,} images")  # fmt: skip

# %% [markdown]
# ## 2. The game
#
# **Idea.** The generator $G$ maps a noise vector $z \sim p_z = \mathcal N(0, I)$ to an image $G(z)$. The
# discriminator $D$ maps an image to the probability $D(x) \in (0, 1)$ that it is real. $D$ is trained to classify
# real vs generated images; $G$ is trained to make $D$ wrong. Neither ever sees a "correct" output for a given $z$:
# the only training signal $G$ gets is the gradient of $D$'s opinion with respect to the pixels it produced.
#
# **Math.** Goodfellow et al. write the training as a two-player minimax game on the value function
#
# $$
# \min_G \max_D \; V(D, G) = \mathbb{E}_{x \sim p_\text{data}}\big[\log D(x)\big]
#   + \mathbb{E}_{z \sim p_z}\big[\log\big(1 - D(G(z))\big)\big].
# $$
#
# $D$ maximizes $V$: that is exactly minimizing the binary cross-entropy with label 1 for real images and 0 for
# generated ones. For a fixed $G$ with sample density $p_g$, the best discriminator is
# $D^*(x) = \dfrac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}$, and plugging it in gives
# $V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_g)$: against a perfect discriminator, the generator
# minimizes the Jensen–Shannon divergence between the data and its own distribution, which is zero only when
# $p_g = p_\text{data}$ (then $D^* = \tfrac12$ everywhere).
#
# **The non-saturating generator loss.** In practice $G$ does *not* minimize $\log(1 - D(G(z)))$. Write the
# discriminator's output as $D = \sigma(\ell)$, a sigmoid of a logit $\ell$. Early in training the fakes are bad,
# $D(G(z)) \approx 0$, $\ell \ll 0$, and
#
# $$
# \frac{\partial}{\partial \ell} \log\big(1 - \sigma(\ell)\big) = -\sigma(\ell) \approx 0 ,
# $$
#
# so the minimax generator gets almost no gradient exactly when it most needs one (the loss *saturates*). The
# **non-saturating** loss asks $G$ to maximize $\log D(G(z))$ instead, i.e. to minimize
#
# $$
# \mathcal L_G = -\,\mathbb{E}_{z}\big[\log D(G(z))\big], \qquad
# \frac{\partial}{\partial \ell}\big(-\log \sigma(\ell)\big) = -\big(1 - \sigma(\ell)\big) \approx -1 \text{ when } \ell \ll 0 .
# $$
#
# It has the same fixed point ($D = \tfrac12$) and strong gradients when $G$ is losing. In Keras both losses are the
# binary cross-entropy on logits (`from_logits=True`, so $D$ has no sigmoid layer):
#
# | who | loss | in code |
# |---|---|---|
# | $D$ | $-\log D(x) - \log(1 - D(G(z)))$ | `bce(1, ℓ_real) + bce(0, ℓ_fake)` |
# | $G$, minimax (saturating) | $\log(1 - D(G(z)))$ | `-bce(0, ℓ_fake)` |
# | $G$, non-saturating | $-\log D(G(z))$ | `bce(1, ℓ_fake)` — generated images labelled "real" |
#
# The picture shows the two generator losses and their derivatives with respect to the logit $\ell$, plotted
# against $D(G(z)) = \sigma(\ell)$ for a fake image.

# %%
bce = keras.losses.BinaryCrossentropy(from_logits=True)

logit = tf.constant(np.linspace(-8, 8, 161), dtype="float32")
with tf.GradientTape(persistent=True) as tape:
    tape.watch(logit)
    saturating = tf.math.log(1.0 - tf.sigmoid(logit))  # G minimizes this (minimax)
    non_saturating = -tf.math.log(tf.sigmoid(logit))  # G minimizes this (in practice)
grad_sat, grad_ns = tape.gradient(saturating, logit), tape.gradient(non_saturating, logit)
print(f"at logit -6 (D(G(z)) = {float(tf.sigmoid(-6.0)):.4f}): d/dlogit saturating = {float(grad_sat[20]):+.4f}, "
      f"non-saturating = {float(grad_ns[20]):+.4f}")  # fmt: skip
# The Keras loss used in training is the same function as the hand-written one, value by value (reduction=None
# keeps one loss per logit instead of the batch mean that `bce` returns):
bce_each = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
print("bce(1, ℓ) == -log σ(ℓ) at all 161 logits:",
      np.allclose(bce_each(tf.ones((161, 1)), logit[:, None]), non_saturating, atol=1e-5))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
x_d = tf.sigmoid(logit).numpy()
for ax, (a, b), title in zip(axes, [(saturating, non_saturating), (grad_sat, grad_ns)], ["loss", "gradient d loss / d logit"], strict=True):
    ax.plot(x_d, a, label="minimax: log(1 − D(G(z)))")
    ax.plot(x_d, b, label="non-saturating: −log D(G(z))")
    ax.set(xlabel="D(G(z))  (discriminator's belief that the fake is real)", title=f"generator {title}")
    ax.grid(alpha=0.3)
axes[0].set_ylim(-5, 8)
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Both panels are drawn against $D(G(z)) = \sigma(\ell)$, the discriminator's belief that a fake is real, not
# against the logit. On this axis the derivatives with respect to the logit are straight lines: $-D(G(z))$ for the
# minimax loss and $-(1 - D(G(z)))$ for the non-saturating one. Towards the left (fakes the discriminator easily
# rejects, $D(G(z)) \to 0$) the minimax gradient shrinks linearly to zero, while the non-saturating one approaches
# its largest magnitude, 1: at logit −6 they are −0.0025 and −0.9975 (printed above). §7a measures the same gap on
# a real network. (The second printed line compares the Keras loss, called with `reduction=None` so that it returns
# one value per logit instead of the batch mean, with the hand-written $-\log\sigma(\ell)$, value by value.)
#
# ## 3. A judge: a classifier and a Fréchet distance
#
# Loss curves of a GAN do not tell you how good the samples are: the two losses measure each network only against
# the *current* other network. We need a fixed yardstick. The standard one, FID (Heusel et al., 2017), embeds images
# with a pretrained Inception network and compares the statistics of the embeddings. Pretrained ImageNet weights
# are not available offline here, and Inception features are not meant for 28×28 digits anyway, so we build the
# same measure on a small CNN **classifier trained on real MNIST** in this notebook:
#
# 1. **Confidence and class histogram.** A good digit generator produces images the classifier is sure about
#    (high max-softmax probability), in roughly equal proportions of the ten classes. A generator that only draws
#    a few digits has a lopsided histogram (mode collapse).
# 2. **Fréchet distance on features.** Take the classifier's penultimate layer (128 features) for a set of
#    real images and for a set of generated images, fit a Gaussian to each, $\mathcal N(\mu_r, \Sigma_r)$ and
#    $\mathcal N(\mu_g, \Sigma_g)$, and compute the *squared* Fréchet (2-Wasserstein) distance $d^2$ between them (FID reports $d^2$ itself, and so
#    does this notebook, calling it "the Fréchet distance"):
#
# $$
# d^2 = \lVert \mu_r - \mu_g \rVert_2^2 + \operatorname{Tr}\!\Big(\Sigma_r + \Sigma_g - 2\,\big(\Sigma_r \Sigma_g\big)^{1/2}\Big).
# $$
#
#    Lower is better; it grows when the generated features are shifted (wrong-looking images) *and* when their spread
#    differs (too little variety, or too much noise). We read it against two anchors measured with the same number
#    of images: **held-out real** test images (the floor: what new real digits score — sampling noise plus the small
#    shift between the training images, which supply the reference statistics and also trained the judge, and the
#    test images; a generator that copied training images could score below it) and an **untrained generator**
#    (the ceiling). The absolute numbers mean nothing outside this notebook (FID uses other features);
#    the comparisons do.
#
# The judge is a plain CNN with logits out; its layer `features` is what we embed with.

# %%
def make_classifier():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            L.Conv2D(32, 3, activation="relu", name="conv_1"),
            L.MaxPooling2D(name="pool_1"),
            L.Conv2D(64, 3, activation="relu", name="conv_2"),
            L.MaxPooling2D(name="pool_2"),
            L.Flatten(name="flatten"),
            L.Dense(128, activation="relu", name="features"),
            L.Dropout(0.3, name="dropout"),
            L.Dense(10, name="logits"),
        ],
        name="judge_classifier",
    )


judge = make_classifier()
judge.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])  # fmt: skip
judge.summary()

# %%
# NBVAL_IGNORE_OUTPUT
with du.Timer() as t:
    judge.fit(x_train, y_train, batch_size=128, epochs=du.pick(full=2, quick=1), verbose=2)
judge_test_accuracy = judge.evaluate(x_test, y_test, batch_size=1000, verbose=0, return_dict=True)["accuracy"]
print(f"judge trained in {t.seconds:.0f} s | test accuracy {judge_test_accuracy:.4f}")

# %%
feature_model = keras.Model(judge.inputs, judge.get_layer("features").output, name="judge_features")


def judge_images(images):
    """(features, softmax probabilities) of the judge for images in [-1, 1]."""
    feats, logits = [], []
    for start in range(0, len(images), 1000):
        batch = tf.convert_to_tensor(images[start : start + 1000])
        feats.append(feature_model(batch, training=False).numpy())
        logits.append(judge(batch, training=False).numpy())
    return np.concatenate(feats).astype("float64"), tf.nn.softmax(np.concatenate(logits)).numpy()


def gaussian_stats(features):
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(stats_a, stats_b):
    """Fréchet distance between two Gaussians (μ, Σ), as in FID.

    Only the trace of (Σ_a Σ_b)^(1/2) is needed: the sum of the square roots of the eigenvalues of Σ_a Σ_b, which
    are real and >= 0 (the product is similar to a PSD matrix). Unlike scipy.linalg.sqrtm of the product, this
    stays well-behaved when a covariance is singular, as it is for an untrained generator (dead features).
    """
    (mu_a, cov_a), (mu_b, cov_b) = stats_a, stats_b
    eigenvalues = scipy.linalg.eigvals(cov_a @ cov_b).real.clip(min=0)  # drop round-off imaginary/negative parts
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.sqrt(eigenvalues).sum())


rng = np.random.default_rng(0)
ref_stats = gaussian_stats(judge_images(x_train[rng.choice(len(x_train), N_REF, replace=False)])[0])


def score(images):
    """The judge's verdict on a set of images: Fréchet distance to the real reference, confidence, class shares."""
    feats, probs = judge_images(images)
    shares = np.bincount(probs.argmax(axis=1), minlength=10) / len(images)
    return dict(
        fid=frechet_distance(gaussian_stats(feats), ref_stats),
        confidence=float(probs.max(axis=1).mean()),
        share_below_half=float(np.mean(probs.max(axis=1) < 0.5)),  # images the judge gives < 50 % to any class
        top_class_share=float(shares.max()),
        class_entropy_bits=float(-np.sum(shares[shares > 0] * np.log2(shares[shares > 0]))),
        shares=shares,
    )


# A sanity check of frechet_distance on Gaussians with a known answer: identical -> 0; shifted mean by 3 in one
# coordinate -> 9; covariances I and 4I in d dims -> d (2 - 1)^2 = d.
d = 5
checks = [
    frechet_distance((np.zeros(d), np.eye(d)), (np.zeros(d), np.eye(d))),
    frechet_distance((np.zeros(d), np.eye(d)), (np.r_[3.0, np.zeros(d - 1)], np.eye(d))),
    frechet_distance((np.zeros(d), np.eye(d)), (np.zeros(d), 4 * np.eye(d))),
]
print("checks (expected 0, 9, 5):", [round(c, 6) + 0.0 for c in checks])  # + 0.0 turns a rounded -0.0 into 0.0

# %% [markdown]
# ## 4. A DCGAN
#
# **Architecture**: DCGAN-style (after Radford et al., 2016), scaled down for MNIST on a CPU, and different from the
# paper in two more ways: the generator uses LeakyReLU instead of ReLU, and the discriminator has no batch
# normalization. The **generator** projects $z$
# ($64$ numbers) with a `Dense` layer to a $7\times7\times128$ tensor, passes it through one **stride-1** $3\times3$
# transposed convolution that keeps the size (with stride 1 a transposed convolution is an ordinary convolution with
# a flipped kernel; $7\times7\times128$; the DCGAN of §4 has it, the cGAN of §5 does not),
# and doubles the resolution twice with **transposed convolutions** (stride 2): $7 \to 14 \to 28$, with 64 channels
# at $14\times14$. Batch normalization and LeakyReLU follow each hidden layer; the output is `tanh`, matching the
# data range $[-1, 1]$. The **discriminator** mirrors it: **strided convolutions** $28 \to 14 \to 7$ (64 and 128
# channels; downsampling without pooling), LeakyReLU (non-zero gradients for negative inputs, so the generator always
# gets a signal through $D$), and one logit out. In the DCGAN's discriminator the flattened $7\times7\times128$
# features pass through a **hidden `Dense` layer** (256 units, LeakyReLU) before the logit; the cGAN's
# discriminator has a linear head instead (one `Dense` straight to the logit) and adds dropout after each
# convolution. The hidden layer gave the largest gain in sample quality among the variants we measured (end of §4).
#
# **What a transposed convolution does.** An ordinary stride-2 convolution *gathers*: each output pixel is a weighted
# sum of a $k\times k$ patch of the input, and the output is about half the size. A transposed convolution
# *scatters*: each **input** pixel stamps a copy of the kernel, scaled by the pixel's value, onto the output at
# position $2\cdot(i, j)$, and where stamps overlap they add up. The output is about twice the size: with padding
# `"valid"`, $(n - 1)\cdot s + k$ pixels per side; with `"same"`, exactly $n \cdot s$: Keras crops the
# $k - s$ extra pixels of the full $(n - 1)\cdot s + k$ output, $\lfloor (k - s)/2 \rfloor$ at the start and the
# rest at the end. For the $3\times3$ kernel of the example below that keeps the first $n\cdot s$ rows and columns;
# for the $4\times4$ kernel of the generator it drops one row and one column on each side. It is called *transposed* because, written as a matrix acting on the flattened image,
# it is the transpose of the stride-2 convolution's matrix — the same operation that carries gradients backwards
# through a strided convolution. Worked example: a $2\times2$ input, a $3\times3$ kernel, stride 2, by hand and
# with the Keras layer.

# %%
x_small = np.array([[1, 2], [3, 4]], dtype="float32")
kernel = np.arange(1, 10, dtype="float32").reshape(3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]
by_hand = np.zeros((5, 5), dtype="float32")  # (2 - 1) * 2 + 3 = 5
for i in range(2):
    for j in range(2):
        by_hand[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += x_small[i, j] * kernel  # stamp, scaled, at 2·(i, j)
print("by hand (stamps of 1·K, 2·K, 3·K, 4·K; overlaps summed):\n", by_hand.astype(int))
for padding in ["valid", "same"]:
    layer = L.Conv2DTranspose(1, 3, strides=2, padding=padding, use_bias=False)
    layer.build((None, 2, 2, 1))
    layer.set_weights([kernel[:, :, None, None]])  # Keras kernel shape: (kh, kw, out_channels, in_channels)
    out = layer(x_small[None, :, :, None]).numpy()[0, :, :, 0]
    print(f'Keras Conv2DTranspose, padding="{padding}": output {out.shape}, equals by_hand[:{len(out)}, :{len(out)}]:',
          np.array_equal(out, by_hand[: len(out), : len(out)]))  # fmt: skip

# %% [markdown]
# The centre pixel, 36, is where all four stamps overlap: $1\cdot9 + 2\cdot7 + 3\cdot3 + 4\cdot1$. With a
# $3\times3$ kernel and stride 2 the overlaps are uneven throughout: along each axis, output pixels alternate between
# one stamp and two (so 1, 2 or 4 in all), which can leave a faint checkerboard in generated images. With a $4\times4$
# kernel and stride 2, as used below, the kernel size is a multiple of the stride, so the stamps tile evenly: every
# output pixel gets two stamps per axis (4 in all), except the outermost rows and columns of the `"same"` output,
# which only one stamp per axis reaches. Even overlap removes the built-in unevenness, not every checkerboard: the
# two stamps that land on neighbouring pixels come from different parts of the kernel, so learned weights can still
# make alternate pixels differ (Odena et al., 2016) — §7b shows a generator that does exactly that.

# %%
LATENT = 64
N_CLASSES = 10
G_FILTERS = (128, 64)  # generator channels at 7x7 and 14x14
D_FILTERS = (64, 128)  # discriminator channels at 14x14 and 7x7
# The unconditional DCGAN's recipe (measured in the "Toward the target" paragraph below); the cGAN of §5 keeps the
# defaults of the functions (no extra block, dropout 0.3, learning rate 2e-4), with which it meets its target.
DCGAN_EXTRA_7X7 = 128  # channels of an extra stride-1 block at 7x7 in the generator
DCGAN_D_DROPOUT = 0.0  # no dropout in the discriminator
DCGAN_LR = 5e-4  # Adam learning rate of both players
DCGAN_D_HIDDEN = 256  # a hidden Dense layer in the discriminator's head (the cGAN's head stays linear)
DCGAN_EMA = 0.995  # decay of the moving average of the generator's weights that we sample from (0 = none)


def make_generator(n_classes=0, name="generator", extra_7x7=0):
    """z (and a one-hot label, if n_classes) -> 28x28x1 image in [-1, 1]; extra_7x7: channels of an extra block."""
    z = keras.Input((LATENT,), name="z")
    inputs, h = [z], z
    if n_classes:
        label = keras.Input((n_classes,), name="label")
        inputs.append(label)
        embedding = L.Dense(16, use_bias=False, name="label_embedding")(label)  # one-hot @ W: a learned vector per class
        h = L.Concatenate(name="z_and_label")([z, embedding])
    h = L.Dense(7 * 7 * G_FILTERS[0], use_bias=False, name="project")(h)
    h = L.BatchNormalization(name="bn_0")(h)
    h = L.LeakyReLU(0.2, name="act_0")(h)
    h = L.Reshape((7, 7, G_FILTERS[0]), name="to_7x7")(h)
    if extra_7x7:  # one more layer before upsampling; a stride-1 transposed convolution is an ordinary 3x3
        # convolution with a flipped kernel (same size in, same size out), written as Conv2DTranspose like its neighbours
        h = L.Conv2DTranspose(extra_7x7, 3, strides=1, padding="same", use_bias=False, name="conv_7x7")(h)
        h = L.BatchNormalization(name="bn_7x7")(h)
        h = L.LeakyReLU(0.2, name="act_7x7")(h)
    h = L.Conv2DTranspose(G_FILTERS[1], 4, strides=2, padding="same", use_bias=False, name="up_14x14")(h)
    h = L.BatchNormalization(name="bn_1")(h)
    h = L.LeakyReLU(0.2, name="act_1")(h)
    image = L.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", name="up_28x28")(h)
    return keras.Model(inputs if n_classes else z, image, name=name)


def make_discriminator(n_classes=0, name="discriminator", dropout=0.3, hidden=0):
    """28x28x1 image (and a one-hot label, if n_classes) -> one logit: real vs generated.

    hidden: units of a Dense + LeakyReLU layer between the flattened features and the logit (0 = none, a linear head).
    """
    image = keras.Input((28, 28, 1), name="image")
    h = L.Conv2D(D_FILTERS[0], 4, strides=2, padding="same", name="down_14x14")(image)
    h = L.LeakyReLU(0.2, name="act_1")(h)
    if dropout:
        h = L.Dropout(dropout, name="dropout_1")(h)
    h = L.Conv2D(D_FILTERS[1], 4, strides=2, padding="same", name="down_7x7")(h)
    h = L.LeakyReLU(0.2, name="act_2")(h)
    if dropout:
        h = L.Dropout(dropout, name="dropout_2")(h)
    h = L.Flatten(name="flatten")(h)
    if hidden:
        h = L.Dense(hidden, name="hidden")(h)
        h = L.LeakyReLU(0.2, name="act_hidden")(h)
    logit = L.Dense(1, name="logit")(h)
    if not n_classes:
        return keras.Model(image, logit, name=name)
    # Projection discriminator (Miyato & Koyama, 2018): logit(x, y) = w·h(x) + b + e_y·h(x), with e_y a learned
    # vector per class. The label acts on the *features* of the image, where "is this a 7?" can be judged.
    label = keras.Input((n_classes,), name="label")
    class_vector = L.Dense(h.shape[-1], use_bias=False, name="label_embedding")(label)  # e_y = one-hot @ E
    projection = L.Dot(axes=1, name="projection")([class_vector, h])
    logit = L.Add(name="logit_plus_projection")([logit, projection])
    return keras.Model([image, label], logit, name=name)


make_generator(extra_7x7=DCGAN_EXTRA_7X7).summary()  # the DCGAN's networks
make_discriminator(dropout=DCGAN_D_DROPOUT, hidden=DCGAN_D_HIDDEN).summary()

# %% [markdown]
# **The training step.** `fit` cannot train a GAN out of the box: there are two models, two losses and two
# optimizers, and the updates alternate. Keras 3's answer is to subclass `keras.Model` and override `train_step`;
# `fit` still provides the loop, the callbacks, the progress lines and the `History`. On the TensorFlow backend one
# step is:
#
# 1. draw $z$, generate a batch of fakes, score real and fake images with $D$;
#    **update $D$** with the gradient of its loss, taken *only* over $D$'s weights;
# 2. draw new $z$, **update $G$** with the gradient of the non-saturating loss, taken only over $G$'s weights.
#    ($D$ takes part in the forward pass but is not updated: that is all "freezing $D$" means here. Keras 2
#    tutorials set `discriminator.trainable = False` inside a combined model; with an explicit tape it is not needed.)
# 3. if asked (`ema_decay`), move the averaged copy of $G$ a small step towards the new weights (explained below).
#
# Two details are remedies for known problems, used here from the start:
# - **One-sided label smoothing** (Salimans et al., 2016): real images get target $0.9$ instead of $1$. A
#   discriminator that must not be certain keeps its logits moderate, so it cannot become overconfident and its
#   gradients stay informative. Only the *real* side is smoothed (smoothing the fake side would reward $G$ for
#   staying where it is).
# - **Balanced learning rates**: both optimizers are Adam with the same rate and $\beta_1 = 0.5$ (less momentum
#   than the default $0.9$, which reacts too slowly when the target moves). The DCGAN paper's rate is
#   $\eta = 2\cdot10^{-4}$; the cGAN uses it, the DCGAN uses $5\cdot10^{-4}$ for both players (measured below).
#
# The metrics are `keras.metrics.Mean` trackers listed in the `metrics` property, so that Keras resets them at each
# epoch; `train_step` returns their current values, which `fit` prints and records. Besides both losses we track the
# discriminator's accuracy on real and on generated images (a logit above 0, i.e. $D > \tfrac12$, counts as "real").
# Near 1 on both means $D$ is winning. What the equilibrium looks like depends on the targets. With targets 1 and 0
# the optimal discriminator is $D^* = p_\text{data}/(p_\text{data} + p_g)$, which is $\tfrac12$ everywhere once
# $p_g = p_\text{data}$, so both accuracies would sit near 0.5. With the real target $0.9$ used here, maximizing
# $p_\text{data}(x)\,\big[0.9 \log D + 0.1 \log(1 - D)\big] + p_g(x) \log(1 - D)$ pointwise over $D$ gives
#
# $$
# D^*(x) = \frac{0.9\, p_\text{data}(x)}{p_\text{data}(x) + p_g(x)},
# $$
#
# which is $0.45$ where $p_g = p_\text{data}$: a logit below 0. At that equilibrium the threshold at logit 0 would
# call every image fake (accuracy 0 on real images, 1 on fakes); $D^*$ calls an image real only where
# $p_\text{data} > 1.25\, p_g$. In the full-profile runs stored below, the DCGAN's discriminator rejects 0.79–0.86 of the
# fakes in every epoch while accepting only 0.63–0.70 of the real images; the cGAN's discriminator rejects 0.80–0.88 of the fakes and accepts 0.48–0.65 of the real
# images after epoch 1 (0.71 in epoch 1). That most fakes are rejected and a third to a half of the real images doubted is largely what
# the smoothing itself predicts — the cut at logit 0 is biased towards "fake" under a $0.9$ target — so this pattern
# is not evidence that $D$ tells most fakes apart and pays for it by doubting real digits. (A cut at $D = 0.45$
# would be the unbiased one; the notebook does not print accuracies at that cut.) The overall accuracy (the mean of
# the two printed accuracies: 0.64–0.78 per epoch, over both runs) is far from 1, so neither player wins outright,
# and only the Fréchet distance says whether the samples improve.
#
# **Sampling from an average of the generator's weights.** $G$'s weights keep moving as long as the game goes on:
# each update follows the current $D$, so consecutive generators differ in small ways that are not improvements,
# only reactions. Averaging the weights over the last few hundred steps cancels much of that jitter. After every
# step, a second copy of $G$ is updated as an exponential moving average (EMA, also called Polyak averaging),
# $\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta$ with $d = 0.995$ (an average over roughly the last
# $1/(1 - d) = 200$ steps), including the batch-norm statistics (which are averaged like the weights, not recomputed
# for the averaged network). A warm-up keeps the average from dragging the random initial weights along:
# $d_t = \min\big(0.995, (1 + t)/(10 + t)\big)$ at step $t$, which is 0.971 at step 300 and 0.985 at step 600 and
# reaches 0.995 only after about 1,790 steps; before that the average covers fewer steps. The averaged copy is never trained; it is only used
# to draw samples (the `sampler` property). Progressive GANs, StyleGAN and BigGAN all report their results this way (Karras et
# al., 2018; Yazıcı et al., 2019 measured the effect). Keras optimizers also offer `use_ema=True`, but that option
# averages only the trainable weights and, at the end of `fit`, writes the average *over* the model's weights, whereas here
# we want both generators side by side, to compare them. The DCGAN of §4 uses the average (both are scored in
# the Check); the cGAN of §5 does not.

# %%
class GAN(keras.Model):
    """An (optionally label-conditioned) GAN trained with the non-saturating loss by `fit`."""

    def __init__(self, generator, discriminator, n_classes=0, real_target=0.9, ema_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.n_classes, self.real_target, self.ema_decay = n_classes, real_target, ema_decay
        if ema_decay:  # a second copy of G whose weights trail the trained ones as an exponential moving average
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.noise = keras.random.SeedGenerator(1)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")}

    def compile(self, d_optimizer, g_optimizer):
        super().compile()  # no optimizer passed: Keras builds a default one that train_step never uses
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    @property
    def sampler(self):
        """The generator to draw samples from: the moving average if there is one, else the trained weights."""
        return self.ema_generator if self.ema_decay else self.generator

    @property
    def metrics(self):
        return list(self.trackers.values())  # Keras resets these at the start of every epoch

    @staticmethod
    def _call(model, x, cond, training=True):
        return model([x, *cond] if cond else x, training=training)

    def train_step(self, data):
        if self.n_classes:
            real, labels = data
            cond = [tf.one_hot(labels, self.n_classes)]  # the same labels condition G and D
        else:
            real, cond = data, []
        batch = tf.shape(real)[0]

        # 1. Discriminator: real -> real_target (0.9, one-sided smoothing), generated -> 0.
        z = keras.random.normal((batch, LATENT), seed=self.noise)
        with tf.GradientTape() as tape:
            fake = self._call(self.generator, z, cond)
            real_logits = self._call(self.discriminator, real, cond)
            fake_logits = self._call(self.discriminator, fake, cond)
            d_loss = (bce(tf.fill(tf.shape(real_logits), self.real_target), real_logits)
                      + bce(tf.zeros_like(fake_logits), fake_logits))  # fmt: skip
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))

        # 2. Generator, non-saturating: make D call fresh fakes real (target 1).
        z = keras.random.normal((batch, LATENT), seed=self.noise)
        with tf.GradientTape() as tape:
            fake_logits_g = self._call(self.discriminator, self._call(self.generator, z, cond), cond)
            g_loss = bce(tf.ones_like(fake_logits_g), fake_logits_g)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))

        # 3. Moving average of G's weights (and of its batch-norm statistics): avg <- d * avg + (1 - d) * current.
        # Warm-up as in tf.train.ExponentialMovingAverage(num_updates=t): d = min(ema_decay, (1 + t) / (10 + t)), so
        # the average forgets the random initial weights within the first few hundred steps.
        if self.ema_decay:
            t = tf.cast(self.g_optimizer.iterations, "float32")
            d = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
            for w_avg, w in zip(self.ema_generator.weights, self.generator.weights, strict=True):
                w_avg.assign(d * w_avg + (1.0 - d) * w)

        self.trackers["d_loss"].update_state(d_loss)
        self.trackers["g_loss"].update_state(g_loss)
        self.trackers["d_acc_real"].update_state(tf.cast(real_logits > 0, "float32"))
        self.trackers["d_acc_fake"].update_state(tf.cast(fake_logits < 0, "float32"))
        return {name: m.result() for name, m in self.trackers.items()}


def adam(learning_rate=2e-4):
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)


def make_dataset(*arrays):
    """Shuffled, repeated batches; `fit` draws `steps_per_epoch` of them per epoch."""
    ds = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
    ds = ds.shuffle(10_000, seed=0).batch(BATCH, drop_remainder=True).repeat().prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False  # avoids idle stalls at epoch starts on this CPU (CONVENTIONS §9)
    return ds.with_options(options)


# %% [markdown]
# **A callback that records progress.** After every epoch it runs the generator on a **fixed** batch of noise
# vectors (the same $z$ each time, so the grids are comparable), saves the grid as a PNG under
# `artifacts/11_generative_adversarial_networks/`, relative to the working directory (beside the notebook when it
# is run from `notebooks/`; git-ignored), and scores $N_\text{eval}$ fresh samples with the judge. It uses the
# model's `sampler` (the averaged generator for the DCGAN) and runs it with `training=False`, so batch normalization
# uses its moving statistics, as it will when the model is used.

# %%
def generate(generator, n, labels=None, seed=0):
    """n images from a generator (labels: class ids for a conditional one), deterministic given seed."""
    z = np.random.default_rng(seed).normal(size=(n, LATENT)).astype("float32")
    inputs = [z, np.eye(N_CLASSES, dtype="float32")[labels]] if labels is not None else z
    return generator.predict(inputs, batch_size=1000, verbose=0)


def tile(images, ncols=10):
    """(N, 28, 28, 1) in [-1, 1] -> one (rows*28, ncols*28) image in [0, 1]."""
    images = (images[..., 0] + 1) / 2
    rows = int(np.ceil(len(images) / ncols))
    canvas = np.ones((rows * 28, ncols * 28), dtype="float32")
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] = img
    return canvas


class ProgressRecorder(keras.callbacks.Callback):
    def __init__(self, prefix, labels=None):
        super().__init__()
        self.prefix, self.labels = prefix, labels
        n = 100 if labels is None else len(labels)
        self.fixed_z = np.random.default_rng(123).normal(size=(n, LATENT)).astype("float32")
        self.fids, self.files = [], []

    def on_epoch_end(self, epoch, logs=None):
        g = self.model.sampler
        inputs = self.fixed_z if self.labels is None else [self.fixed_z, np.eye(N_CLASSES, dtype="float32")[self.labels]]
        grid = g(inputs, training=False).numpy()
        path = ARTIFACTS / f"{self.prefix}_epoch_{epoch + 1:02d}.png"
        plt.imsave(path, tile(grid), cmap="gray", vmin=0, vmax=1)
        self.files.append(path)
        labels = None if self.labels is None else np.arange(N_EVAL) % N_CLASSES
        self.fids.append(score(generate(g, N_EVAL, labels, seed=epoch))["fid"])


# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(42)
# the ceiling: same architecture, no training
untrained_generator = make_generator(extra_7x7=DCGAN_EXTRA_7X7, name="untrained_generator")
keras.utils.set_random_seed(42)
dcgan = GAN(make_generator(extra_7x7=DCGAN_EXTRA_7X7), make_discriminator(dropout=DCGAN_D_DROPOUT, hidden=DCGAN_D_HIDDEN),
            ema_decay=DCGAN_EMA, name="dcgan")  # fmt: skip
dcgan.compile(d_optimizer=adam(DCGAN_LR), g_optimizer=adam(DCGAN_LR))
dcgan_progress = ProgressRecorder("dcgan")
with du.Timer() as t:
    dcgan_history = dcgan.fit(make_dataset(x_train), epochs=GAN_EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                              callbacks=[dcgan_progress], verbose=2, shuffle=False).history  # fmt: skip
dcgan_seconds = t.seconds
print(f"DCGAN: {STEPS_PER_EPOCH * GAN_EPOCHS} steps in {dcgan_seconds:.0f} s "
      f"({1000 * dcgan_seconds / (STEPS_PER_EPOCH * GAN_EPOCHS):.0f} ms/step incl. scoring)")  # fmt: skip

# %% [markdown]
# **Progress.** The first 50 of the 100 fixed noise vectors, after four of the epochs (the PNGs the callback
# wrote; each title gives the Fréchet distance of that epoch's fresh samples):

# %%
shown = np.linspace(1, GAN_EPOCHS, 4).round().astype(int)  # four epochs from first to last
fig, axes = plt.subplots(2, 2, figsize=(7.6, 4.5), layout="constrained")
for ax, epoch in zip(axes.flat, shown, strict=True):
    grid = plt.imread(dcgan_progress.files[epoch - 1])[: 5 * 28, :, 0]  # the first 50 of the 100 fixed noise vectors
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.set_title(f"epoch {epoch} ({epoch * STEPS_PER_EPOCH} steps), Fréchet distance {dcgan_progress.fids[epoch - 1]:.1f}", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# **The curves.** A GAN's losses do not go to zero: each network's progress raises the other's loss. In this run
# they are not flat either. Over the ten epochs the generator's loss rises from 1.24 to 1.61 (with one dip, 1.39 →
# 1.33, in epoch 3), the discriminator's loss falls from 1.20 to 1.02, and its accuracy rises on real images
# (0.63 → 0.69–0.70) and on fakes (0.79 → 0.85–0.86): the discriminator is slowly gaining. The Fréchet distance —
# the only curve here that measures sample quality — falls steeply from 48.3 after 300 steps to 12.8 after 1,200,
# and then stays between about 10.5 and 11.5 up to step 3,000 (10.9 in the last epoch): most of the gain in this
# measure comes in the first 1,200 steps. (These are the averaged generator's samples; the trained weights are
# scored in the Check below.)

# %%
epochs = np.arange(1, GAN_EPOCHS + 1) * STEPS_PER_EPOCH


def plot_gan_curves(histories, fids=None, title=None):
    """Loss and discriminator-accuracy curves for {name: history} (and Fréchet distances {name: list})."""
    ncols = 3 if fids else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.4))
    for name, h in histories.items():
        steps = np.arange(1, len(h["d_loss"]) + 1) * STEPS_PER_EPOCH
        axes[0].plot(steps, h["d_loss"], "o-", ms=3, label=f"{name}: D loss")
        axes[0].plot(steps, h["g_loss"], "s--", ms=3, label=f"{name}: G loss")
        axes[1].plot(steps, h["d_acc_real"], "o-", ms=3, label=f"{name}: D acc. on real")
        axes[1].plot(steps, h["d_acc_fake"], "s--", ms=3, label=f"{name}: D acc. on fake")
    for name, f in (fids or {}).items():
        axes[2].plot(np.arange(1, len(f) + 1) * STEPS_PER_EPOCH, f, "o-", ms=3, label=name)
    titles = ["losses (epoch means)", "discriminator accuracy", "Fréchet distance to real (lower is better)"]
    for ax, ttl in zip(axes, titles, strict=False):
        ax.set(xlabel="training step", title=ttl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].set_ylim(0, 1.05)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


plot_gan_curves({"DCGAN": dcgan_history}, {"DCGAN": dcgan_progress.fids})
plt.show()

# %% [markdown]
# **Check: score the samples.** Now the judge's verdict on $N_\text{eval}$ fresh samples of the averaged generator
# ("DCGAN samples") and of the trained weights it averages, next to the two anchors: held-out real test images and
# the untrained generator.

# %%
# NBVAL_IGNORE_OUTPUT
dcgan_samples = generate(dcgan.sampler, N_EVAL, seed=1)  # the moving-average generator
verdicts = {
    "held-out real images": score(x_test[:N_EVAL]),
    "DCGAN samples": score(dcgan_samples),
    "DCGAN, trained weights (no average)": score(generate(dcgan.generator, N_EVAL, seed=1)),
    "untrained generator": score(generate(untrained_generator, N_EVAL, seed=1)),
}
score_table = pd.DataFrame({k: {m: v for m, v in s.items() if m != "shares"} for k, s in verdicts.items()}).T
score_table

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1.6, 1]}, layout="constrained")
axes[0].imshow(tile(dcgan_samples[:40], ncols=10), cmap="gray", interpolation="nearest")
axes[0].set_title("DCGAN: 40 random samples")
axes[0].axis("off")
width = 0.4
axes[1].bar(np.arange(10) - width / 2, verdicts["held-out real images"]["shares"], width, label="held-out real")
axes[1].bar(np.arange(10) + width / 2, verdicts["DCGAN samples"]["shares"], width, label="DCGAN samples")
axes[1].set(xticks=range(10), xlabel="class predicted by the judge", ylabel="share", title="class histogram")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# In the full-profile run stored here, the DCGAN's Fréchet distance (10.9) lies between the two anchors — far below
# the untrained generator (343), well above the real-data floor (2.9). The untrained generator is a **weak
# bar**, though: any generator that has learned to put white strokes on a black background clears it, so the Check
# cell's "below half the untrained generator's distance" shows that training worked, not that the samples are good. A
# stronger simple baseline scored by the same judge — a Gaussian fitted to the training pixels, or blurred real
# digits — would say more; this notebook does not measure one. An unconditional GAN cannot be asked for a particular
# digit, and nothing in its training checks class proportions directly (only at the ideal equilibrium
# $p_g = p_\text{data}$, which training does not reach, would they have to match): the judge puts 0.162 of the samples in its most
# frequent class (9s, in the histogram) and only 0.048 in its rarest (6s), against 0.090–0.115 for the classes of the
# held-out real images (class entropy 3.24 bits against 3.32).
#
# **The 0.90 target.** The target for this notebook is a mean judge confidence of at least **0.90** on DCGAN
# samples; this run reaches **0.907** with the averaged generator (held-out real images: 0.983), so the target is
# **met**, and the Check cell asserts it — by a margin of 0.007 (0.9066 unrounded), less than the 0.01 that we
# treat as possible run-to-run noise (appendix), from one seed, on a recipe chosen on this same judge. Outside the
# notebook, the script of the appendix trained the same recipe from two more initialization seeds (43 and 44;
# 3,000 steps, 2,000 scored samples, an average without the warm-up): 0.909 and 0.903 with the average, 0.904 and
# 0.901 with the trained weights, so all three runs are above 0.90, by 0.001–0.009. The trained weights, without the average, score 0.902, also above 0.90, with a Fréchet
# distance of 12.1 against the average's 10.9: in this run the average adds 0.004 in confidence and lowers the
# distance by 1.2. **Confidence alone can be gamed:** §7b trains a generator that draws no digits at all and scores
# 0.926. What says that the 0.907 comes from digits is the rest of the evidence: the same samples have a Fréchet
# distance of 10.9 (§7b's non-digits: 187; the real floor 2.9) and look like digits in the grid above. The mean hides the spread, so the table also gives the share of images to
# which the judge gives less than 50 % for every class (`share_below_half`): 0.028 of the averaged generator's samples
# (0.037 for the trained weights), against 0.003 of the held-out real digits. By eye, most of the 40 samples above
# are readable digits and a few are malformed — the clearest is the flattened blob in the third row, seventh
# column — which fits a judge that is unsure about roughly one sample in thirty.
#
# **How this recipe was chosen.** Two earlier versions of this notebook reached 0.825 and then 0.872. While
# preparing them we measured variants outside the notebook, one change at a time, in a script that copies this
# notebook's judge, networks and training step (one seed per run, 2,000 scored samples); the tables are in the
# appendix at the end. In short: a learning rate of $5\cdot10^{-4}$, an extra $7\times7$ block in $G$ and no dropout
# in $D$ took the first recipe from 0.822 to 0.872 (with 900 more steps); then, of ten single changes on top of
# that, a hidden layer in $D$'s head gave the largest gain (+0.023 with 256 units, +0.025 with 512, after 1,800
# steps), and the moving average added up to 0.016 in most runs. The recipe was chosen on the judge that reports
# it, so the reported confidence is optimistic by an unknown amount; two more initialization seeds of the final
# recipe, run in the script, scored 0.909 and 0.903 (the 0.90 target paragraph below).
#
# **This notebook's own run** of the recipe, scored on 5,000 samples: 0.907 with the average and 0.902 with the
# trained weights after 3,000 steps, Fréchet distances 10.9 and 12.1 — in line with the script's 0.905 and 0.895
# after 2,700 steps, on different sample sets of a different size. The epoch-10 grid above is titled 10.9 as well,
# but it is not the same measurement: the callback scores its own 5,000 samples drawn with `seed=epoch` (seed 9 for
# the tenth epoch, counting from 0), the Check cell 5,000 others drawn with seed 1 — the same generator, two sample
# sets. The conditional GAN below reaches a higher confidence (0.981) with the first recipe, but it also gets the
# label and is sampled class by class (§5), so that comparison does not isolate a cause.
#
# ## 5. A conditional GAN
#
# **Idea** (Mirza & Osindero, 2014). Give both networks the label $y$: the generator draws $G(z, y)$, and the
# discriminator judges *pairs* $D(x, y)$ — "is this a real image **of class $y$**?" A perfect-looking 3 presented
# as a 7 is now a fake, so the generator has to respect the label. The game becomes
#
# $$
# \min_G \max_D \; \mathbb{E}_{(x, y) \sim p_\text{data}}\big[\log D(x, y)\big]
#   + \mathbb{E}_{z \sim p_z,\, y \sim p(y)}\big[\log\big(1 - D(G(z, y), y)\big)\big],
# $$
#
# trained with the same non-saturating generator loss. How $y$ enters matters. In the **generator**, a learned
# 16-number embedding of the label is concatenated to $z$. In the **discriminator**, the simplest option — appending
# the one-hot label as ten constant $28\times28$ planes to the image — adds a class-dependent offset to the first
# layer's pre-activations; through the LeakyReLU that offset changes what every later layer sees, but only
# indirectly, whereas the projection below compares the label with the image features directly.
# An earlier version of this notebook used label planes and its samples were the requested digit only 71 % of the
# time; that version also had smaller networks and is not re-run here, so this is a pointer, not a measured
# one-change comparison. Here
# $D$ is a **projection discriminator** (Miyato & Koyama, 2018): it computes image features $h(x)$ as before and adds
# the inner product of $h(x)$ with a learned vector $e_y$ for the claimed class,
# $\ell(x, y) = w^\top h(x) + b + e_y^\top h(x)$, so the label is compared with what the image looks like (the
# `make_*(n_classes=10)` branches above). The `GAN` class already handles `(images, labels)` batches.

# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(42)
cgan = GAN(make_generator(N_CLASSES, name="cond_generator"), make_discriminator(N_CLASSES, name="cond_discriminator"),
           n_classes=N_CLASSES, name="cgan")  # fmt: skip
cgan.compile(d_optimizer=adam(), g_optimizer=adam())
cgan_progress = ProgressRecorder("cgan", labels=np.repeat(np.arange(N_CLASSES), 10))  # row r = class r
with du.Timer() as t:
    cgan_history = cgan.fit(make_dataset(x_train, y_train), epochs=CGAN_EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                            callbacks=[cgan_progress], verbose=2, shuffle=False).history  # fmt: skip
cgan_seconds = t.seconds
print(f"cGAN: {STEPS_PER_EPOCH * CGAN_EPOCHS} steps in {cgan_seconds:.0f} s")

# %% [markdown]
# **Ask for each digit.** Row $r$ of the grid below was generated with label $r$ and ten different noise vectors
# (the grid of the last epoch, as saved by the callback); next to it, the first epoch's grid of the same noise.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4.8), layout="constrained")
for ax, epoch in zip(axes, [1, CGAN_EPOCHS], strict=True):
    ax.imshow(plt.imread(cgan_progress.files[epoch - 1])[:, :, 0], cmap="gray", interpolation="nearest")
    ax.set_title(f"cGAN, epoch {epoch}: row r = requested digit r", fontsize=10)
    ax.axis("off")
plt.show()

# %% [markdown]
# **Check: does it draw what we ask for?** We request $N_\text{eval}/10$ images of each class and let the judge
# classify them. The per-class accuracy is the share of images of class $y$ that the judge reads as $y$.

# %%
# NBVAL_IGNORE_OUTPUT
requested = np.arange(N_EVAL) % N_CLASSES
cgan_samples = generate(cgan.generator, N_EVAL, labels=requested, seed=2)
cgan_verdict = score(cgan_samples)
cgan_predicted = judge_images(cgan_samples)[1].argmax(axis=1)
cgan_class_accuracy = float(np.mean(cgan_predicted == requested))
per_class = pd.Series([np.mean(cgan_predicted[requested == c] == c) for c in range(N_CLASSES)], name="accuracy")
print(f"cGAN: judge accuracy on requested classes {cgan_class_accuracy:.3f} | Fréchet distance "
      f"{cgan_verdict['fid']:.1f} | confidence {cgan_verdict['confidence']:.3f}")  # fmt: skip
per_class.to_frame().T


# %% [markdown]
# With the projection discriminator, the judge reads **96.7 %** of the requested digits as the class asked for
# (worst class: 8s, 88.8 %), with a mean confidence of 0.981 and a Fréchet distance of 5.0 — close to the
# real-data floor of 2.9. That meets the cGAN target (at least 90 % read as requested; asserted in the Check
# cell). It is also below the unconditional DCGAN's 10.9, but that is **not a one-change comparison**: the cGAN
# trained for the same 3,000 steps, but with labels, a projection discriminator with a linear head, the first
# recipe of §4 (no $7\times7$ block, dropout in $D$, learning rate $2\cdot10^{-4}$) and no weight average, and its
# scoring set is class-balanced by construction. The grid shows every row drawing its digit, in varied styles.
#
# ## 6. Walking through latent space
#
# The generator is a smooth function of $z$, so the images along a path between two noise vectors should change
# gradually. **Which path?** The straight line
# $z_t = (1 - t)\,z_0 + t\,z_1$ is the obvious one, but for Gaussian $z$ in 64 dimensions $\lVert z\rVert$
# concentrates near $\sqrt{64} = 8$ (standard deviation about $0.7$), while the midpoint $\tfrac12(z_0 + z_1)$ of two
# independent draws has norm about $\sqrt{32} \approx 5.7$: the middle of a linear path passes through noise vectors
# shorter than almost any the generator saw in training. **Spherical interpolation** (slerp; White, 2016) walks along
# the great circle between them instead,
#
# $$
# z_t = \frac{\sin\big((1 - t)\,\Omega\big)}{\sin \Omega}\, z_0 + \frac{\sin(t\,\Omega)}{\sin \Omega}\, z_1,
# \qquad \cos \Omega = \frac{z_0 \cdot z_1}{\lVert z_0\rVert\,\lVert z_1\rVert},
# $$
#
# which keeps $\lVert z_t\rVert$ near the norms of its ends. The cell prints the norms; the figure shows both paths
# (titles: the judge's reading and $\lVert z_t\rVert$). The last row keeps one $z$ fixed in the conditional GAN and
# changes only the label, to see what the label controls.

# %%
def slerp(z0, z1, t):
    """Spherical interpolation between z0 and z1 for t in [0, 1] (t: column vector)."""
    omega = np.arccos(np.clip(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)), -1.0, 1.0))
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


z0, z1 = np.random.default_rng(7).normal(size=(2, LATENT)).astype("float32")
t_values = np.linspace(0, 1, 9, dtype="float32")[:, None]  # t = 0.5 is the 5th image
paths = {"linear": (1 - t_values) * z0 + t_values * z1, "slerp": slerp(z0, z1, t_values).astype("float32")}
norms = np.linalg.norm(np.random.default_rng(8).normal(size=(100_000, LATENT)), axis=1)
pairs = np.random.default_rng(9).normal(size=(2, 100_000, LATENT))
print(f"||z|| of N(0, I) in {LATENT} dims: mean {norms.mean():.2f}, std {norms.std():.2f}")
print(f"this pair: ||z0|| = {np.linalg.norm(z0):.2f}, ||z1|| = {np.linalg.norm(z1):.2f} | midpoint norm: "
      f"linear {np.linalg.norm(paths['linear'][4]):.2f}, slerp {np.linalg.norm(paths['slerp'][4]):.2f}")
print(f"linear midpoints of 100,000 random pairs: mean norm {np.linalg.norm(pairs.mean(axis=0), axis=1).mean():.2f}")

fig, axes = plt.subplots(4, 9, figsize=(12, 6.9), layout="constrained")
for row, (name, zs) in enumerate(paths.items()):
    images = dcgan.sampler(zs, training=False).numpy()
    reading = judge_images(images)[1].argmax(axis=1)
    for i in range(9):
        axes[row, i].imshow(images[i, ..., 0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        axes[row, i].set_title(f"{name} t={t_values[i, 0]:.3g}\njudge: {reading[i]}, |z| {np.linalg.norm(zs[i]):.1f}", fontsize=8)
for row, (z_name, z) in enumerate([("z0", z0), ("z1", z1)], start=2):  # one z per row, labels 1-9
    style_images = cgan.generator([np.repeat(z[None], 9, axis=0), np.eye(10, dtype="float32")[1:]], training=False).numpy()
    for i in range(9):
        axes[row, i].imshow(style_images[i, ..., 0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        axes[row, i].set_title(f"cGAN, {z_name}, label {i + 1}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("DCGAN from z0 to z1 along a straight line (top) and a great circle (middle) · cGAN: one z per row, labels 1–9 (bottom two rows)", fontsize=10)
plt.show()

# %% [markdown]
# **What the walk shows.** At $z_0$ the DCGAN draws a 2 with a blot at its foot. Along the path the stroke
# straightens into a Z-like 2, turns into a 7 around the middle, the 7's foot curls into a loop ($t = 0.875$), and
# at $z_1$ the shape is a 7 with a closed loop at the bottom — close to an 8 — that the judge reads as a 3. The
# judge's labels are 2, 2, 2, 2, 7, 7, 7, 3, 3 along the straight line and 2, 2, 2, 2, 7, 7, 7, 7, 3 along the great
# circle: the images change gradually, one stroke at a time, and the judge's label switches where the shape is
# between two digits. The linear and slerp rows look nearly the same, although the linear path's midpoint has norm
# 5.11 against 7.17 for slerp: for this pair and this generator the shorter noise vectors did no visible harm. So
# the figure shows what slerp does to the norm, not that it gives better images.
#
# In the two bottom rows one $z$ per row is combined with the labels 1–9. Most images are recognizably the digit
# requested, several of them malformed or smudged (the $z_0$ row's 3; in the $z_1$ row, the 2, the 4 and the 8):
# the label controls the digit's identity. Each row keeps some of its style — the $z_0$ digits are thick and lean to the right, the $z_1$
# digits are more upright — but thickness still varies within a row (the $z_1$ row's 1 is thin, its 2 and 4 thick),
# so $z$ controls part of the style, not all of it; with two noise vectors this is an impression, not a measurement.
#
# **Is the generator copying its training set?** Smooth paths do not prove that samples are new: a generator that
# memorized a few thousand training images could still interpolate between them. A direct check: for each generated
# sample, find its **nearest training image** (Euclidean distance in pixel space, all 60,000 training images), and
# compare those distances with the same distances for **held-out real** test images, which are new digits by
# construction. A copying generator would sit far *closer* to the training set than real held-out digits do.

# %%
# NBVAL_IGNORE_OUTPUT
N_NN = du.pick(full=1000, quick=200)
train_flat = x_train.reshape(len(x_train), -1)
train_sq = np.sum(train_flat**2, axis=1)


def nearest_training_image(images):
    """(distance, index) of the nearest training image, Euclidean in pixel space ([-1, 1] pixels)."""
    flat = images.reshape(len(images), -1)
    dists, idx = [], []
    for start in range(0, len(flat), 250):
        chunk = flat[start : start + 250]
        d2 = np.sum(chunk**2, axis=1)[:, None] - 2.0 * chunk @ train_flat.T + train_sq[None, :]
        idx.append(d2.argmin(axis=1))
        dists.append(np.sqrt(np.maximum(d2[np.arange(len(chunk)), idx[-1]], 0.0)))
    return np.concatenate(dists), np.concatenate(idx)


nn_dist_generated, nn_idx_generated = nearest_training_image(dcgan_samples[:N_NN])
nn_dist_heldout, _ = nearest_training_image(x_test[:N_NN])
copy_threshold = np.percentile(nn_dist_heldout, 1)
share_closer = float(np.mean(nn_dist_generated < copy_threshold))
print(f"nearest-training-image distance, median: DCGAN samples {np.median(nn_dist_generated):.2f}, "
      f"held-out real {np.median(nn_dist_heldout):.2f} (min {nn_dist_generated.min():.2f} vs {nn_dist_heldout.min():.2f})")
print(f"DCGAN samples closer to a training image than 99 % of held-out real images ({copy_threshold:.2f}): {share_closer:.1%}")

# %%
fig = plt.figure(figsize=(13, 4.4), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.5, 1])
axes = left.subplots(2, 8)
closest = np.argsort(nn_dist_generated)[:8]  # the 8 samples nearest to the training set: the best candidates for copies
for col, k in enumerate(closest):
    axes[0, col].imshow(dcgan_samples[k, ..., 0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    axes[0, col].set_title(f"sample\nd = {nn_dist_generated[k]:.1f}", fontsize=8)
    axes[1, col].imshow(x_train[nn_idx_generated[k], ..., 0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    axes[1, col].set_title("nearest train", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
left.suptitle("the 8 DCGAN samples closest to a training image (top) and that image (bottom)", fontsize=10)
ax = right.subplots()
bins = np.linspace(0, max(nn_dist_generated.max(), nn_dist_heldout.max()), 40)
ax.hist(nn_dist_heldout, bins, alpha=0.6, label="held-out real images")
ax.hist(nn_dist_generated, bins, alpha=0.6, label="DCGAN samples")
ax.set(xlabel="distance to the nearest training image (pixels in [-1, 1])", ylabel="images", title="nearest-training-image distances")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The generated samples sit **farther** from the training set than held-out real digits do (median distance to
# the nearest training image 9.68 against 8.81), and none of them is closer to a training image than 99 % of
# held-out real images are (threshold 2.45). The eight samples nearest to the training set are all 1s, each close
# to its neighbour's shape but at distances 3.1–3.5, above that threshold: pixel distance favours thin digits, which
# have few lit pixels to disagree on.
#
# **What this check can and cannot show.** A *small* distance would flag a copy, so the check rules out near-copies.
# A *large* distance does not prove novelty: blurry, broken or otherwise poor samples are also far from every
# training image, so "farther than held-out digits" is exactly what a bad generator shows too, and the Check cell's
# assertion on the medians is met by any poor generator. Telling novelty from low quality would need a degraded-real
# baseline (for example blurred or noised test digits) or nearest neighbours in the judge's feature space; this
# notebook measures neither. Here the larger distances fit the gap that the Fréchet distance and the judge's
# confidence already show.

# %% [markdown]
# ## 7. Pitfalls: when the game goes wrong
#
# GAN training is a search for an equilibrium, not a minimization, and it fails in characteristic ways. 7a and
# 7b provoke two of them on digits and measure them with the judge; 7c demonstrates mode collapse on a 2-D toy
# where modes can be counted; 7d lists a few more mistakes briefly.
#
# ### 7a. A discriminator that overpowers the generator
#
# If $D$ learns much faster than $G$ (a larger learning rate, more capacity, more steps), it soon separates real
# from fake almost perfectly: its accuracy on both goes towards 1, its loss can fall towards its floor (with the real target
# $0.9$ that floor is not 0 but the entropy of the target, $H(0.9) \approx 0.325$ nats, reached when real images get
# exactly 0.9 and fakes 0), and the generator's loss climbs. $G$'s only teacher is then confidently saying "fake"
# everywhere, and its gradient carries little information about *how* to become more real. We repeat the DCGAN run
# with **two changes made together**: the discriminator's learning rate 10× larger than the DCGAN's
# ($5\cdot10^{-3}$ instead of $5\cdot10^{-4}$) and the generator's 10× smaller ($5\cdot10^{-5}$) (a 100× imbalance between the two players; everything else, label smoothing included, as
# in §4), for the same number of steps as the first epochs of the balanced run, and compare. Because both rates
# change, the run shows what the imbalance as a whole does, not which of the two changes causes it.

# %%
# NBVAL_IGNORE_OUTPUT
PATHOLOGY_EPOCHS = du.pick(full=2, quick=2)
keras.utils.set_random_seed(42)
# the DCGAN of §4 (same networks, real_target=0.9), with D's learning rate x10 and G's /10
strong_d = GAN(make_generator(extra_7x7=DCGAN_EXTRA_7X7), make_discriminator(dropout=DCGAN_D_DROPOUT, hidden=DCGAN_D_HIDDEN),
               ema_decay=DCGAN_EMA, name="dcgan_strong_d")  # fmt: skip
strong_d.compile(d_optimizer=adam(10 * DCGAN_LR), g_optimizer=adam(DCGAN_LR / 10))
strong_d_progress = ProgressRecorder("strong_d")
strong_d_history = strong_d.fit(make_dataset(x_train), epochs=PATHOLOGY_EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
                                callbacks=[strong_d_progress], verbose=2, shuffle=False).history  # fmt: skip

# %%
balanced_first = {k: v[:PATHOLOGY_EPOCHS] for k, v in dcgan_history.items()}
plot_gan_curves({"balanced": balanced_first, "D lr ×10, G lr ÷10": strong_d_history},
                {"balanced": dcgan_progress.fids[:PATHOLOGY_EPOCHS], "D lr ×10, G lr ÷10": strong_d_progress.fids})
plt.show()

# %% [markdown]
# **Why the minimax loss would make this worse.** With a winning discriminator, $D(G(z)) \approx 0$ for most fakes:
# exactly the region where §2's minimax loss is flat. Measured on the over-trained discriminator of this run, the
# gradient norm the generator would receive under each loss:

# %%
# NBVAL_IGNORE_OUTPUT
z = tf.random.normal((512, LATENT), seed=3)
with tf.GradientTape(persistent=True) as tape:
    fake_logits = strong_d.discriminator(strong_d.generator(z, training=False), training=False)
    minimax_loss = -bce(tf.zeros_like(fake_logits), fake_logits)  # = mean log(1 - D(G(z)))
    ns_loss = bce(tf.ones_like(fake_logits), fake_logits)  # = mean -log D(G(z))
weights = strong_d.generator.trainable_weights
grad_norm = {name: float(tf.linalg.global_norm(tape.gradient(loss, weights)))
             for name, loss in [("minimax (saturating)", minimax_loss), ("non-saturating", ns_loss)]}  # fmt: skip
mean_d_fake = float(tf.reduce_mean(tf.sigmoid(fake_logits)))
print(f"mean D(G(z)) = {mean_d_fake:.3f} | generator gradient norm: "
      + ", ".join(f"{k} {v:.3g}" for k, v in grad_norm.items()))

# %% [markdown]
# In the full-profile run stored here, the over-strong discriminator wins its game: it rejects 0.96 of the
# generated images in epoch 1 and 0.94 in epoch 2 (and accepts 0.97 and 0.92 of the real ones), and the generator's
# loss is 7.5 in epoch 1 and 8.1 in epoch 2 (balanced run: 1.24 and 1.39). Its own loss, 1.15 and 5.43, is far above
# the floor of about 0.325 set by the real target, so in this run its accuracy, not its loss, is the sign that it
# wins. Its loss also *rises*, from 1.15 to 5.43, about five times the balanced discriminator's, although its
# accuracy stays above 0.9: a few confidently wrong verdicts with very large losses would do that, and it points to
# unstable training at this learning rate as much as to a discriminator that simply wins (the notebook does not
# examine the per-image losses; the figure has only two points per curve). Its generator's samples score a Fréchet distance of
# 206 against the balanced run's 29.7 after the same 600 steps. That gap **cannot be put down to the strong discriminator alone**: a generator with
# a 10× smaller learning rate learns more slowly whatever $D$ does, and the notebook does not run the two controls
# that would separate the causes (only $G$'s rate ÷10 with the default $D$; only $D$'s rate ×10 with the default
# $G$). What the run does show is the discriminator's side — mean $D(G(z)) = 0.026$ on fresh fakes — and, against
# that $D$, the gradient measurement above: the non-saturating loss gives the generator a gradient norm of 32.9
# against the minimax loss's 0.949, about 35 times larger (the Check cell only asserts "more than 5×").
#
# **Remedies:**
# balance the two players (learning rates — some recipes deliberately give $D$ a *moderately* larger rate, e.g. 2–4×,
# the "two time-scale update rule" — or capacity, or update steps), one-sided label smoothing, dropout or noise in
# $D$, and losses whose gradients do not vanish when $D$ wins (the non-saturating loss; Wasserstein GANs with a
# gradient penalty).
#
# ### 7b. Chasing a frozen discriminator: collapse onto a blind spot
#
# For a *fixed* discriminator, the generator's best response is not the data distribution: it is to put all its
# samples on whatever image $D$ currently scores highest. Alternating updates normally prevent this — $D$ is trained
# on batches in which the fakes pile up in that region, so it learns to score the region as fake (it judges one
# image at a time and never sees the batch as a whole), and $G$ has to move on. Here we remove that check on purpose: a copy of
# the trained DCGAN generator (its trained weights, not the average) chases the trained discriminator **frozen** (no $D$ updates at all) for a few hundred
# steps. Two things differ from §4's training, not one: $D$ is frozen, and the chaser uses a fresh Adam optimizer
# with learning rate $10^{-3}$, 2× the DCGAN's $5\cdot10^{-4}$. The notebook runs no control (the chase at
# $5\cdot10^{-4}$, or as many ordinary alternating steps at $10^{-3}$), so what follows shows what a generator can do
# against a frozen $D$, not how much of it the larger step size adds. What it finds is worth looking at before
# reading any score.

# %%
# NBVAL_IGNORE_OUTPUT
CHASE_STEPS = du.pick(full=300, quick=40)
keras.utils.set_random_seed(42)
chaser = keras.models.clone_model(dcgan.generator)
chaser.set_weights(dcgan.generator.get_weights())
chase_optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5)
frozen_d = dcgan.discriminator


@tf.function
def chase_step():
    z = tf.random.normal((BATCH, LATENT))
    with tf.GradientTape() as tape:
        logits = frozen_d(chaser(z, training=True), training=False)
        loss = bce(tf.ones_like(logits), logits)
    grads = tape.gradient(loss, chaser.trainable_weights)
    chase_optimizer.apply_gradients(zip(grads, chaser.trainable_weights, strict=True))
    return loss


chase_losses = [float(chase_step()) for _ in range(CHASE_STEPS)]
collapsed_samples = generate(chaser, N_EVAL, seed=1)
verdicts["G chasing a frozen D"] = score(collapsed_samples)
print(f"generator loss against the frozen D: {chase_losses[0]:.2f} -> {chase_losses[-1]:.2f}")
pd.DataFrame({k: {m: v for m, v in s.items() if m != "shares"} for k, s in verdicts.items()}).T

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1.6, 1]}, layout="constrained")
axes[0].imshow(tile(collapsed_samples[:40], ncols=10), cmap="gray", interpolation="nearest")
axes[0].set_title(f"after {CHASE_STEPS} generator-only steps against a frozen D")
axes[0].axis("off")
for offset, name in [(-0.2, "DCGAN samples"), (0.2, "G chasing a frozen D")]:
    axes[1].bar(np.arange(10) + offset, verdicts[name]["shares"], 0.4, label=name)
axes[1].set(xticks=range(10), xlabel="class predicted by the judge", ylabel="share", title="class histogram")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# **What the figure shows.** No sample is a digit. Every one is made of the same ingredient — a fine grid of
# isolated white dots, a checkerboard texture — arranged into blotchy shapes whose outlines differ from sample to
# sample. The generator's loss against the frozen discriminator fell from 1.34 to 0.00 (to two decimals; the loss of
# single training batches, computed with the chaser's batch normalization in training mode, i.e. on batch
# statistics, whereas the samples scored below use its moving statistics), i.e. $D$ now calls these images real
# with probability close to 1 (the loss is −mean log D, so a loss below 0.005 means a geometric mean of D above
# 0.995): the generator has found a **blind spot** of a discriminator that can no longer adapt, and moved nearly all
# its samples into it. The outlines still vary, so this is not the extreme form of mode collapse (every $z$ giving the
# same image, 7c's definition), but the samples have lost what made them digits: every $z$ now lands in one
# non-digit region that $D$ happens to score as real.
#
# **What the judge says.** Its confidence is fooled: the mean confidence *rises* from 0.907 (DCGAN samples) to
# 0.926, higher than for the DCGAN's digit samples. The histogram flags the change — the top-class share rises to
# 0.906 and the class entropy drops from 3.24 to 0.63 bits — but misdescribes it: it reads the pattern as an 8,
# which *looks* like collapse onto 8s, although there are no 8s in the figure. **A classifier's confidence and class
# histogram are only meaningful for inputs that look like the data it was trained on;** on non-digits a softmax can
# be confidently wrong. The **Fréchet distance** says how far off the samples are: 187, against 10.9 for the DCGAN
# (the untrained generator: 343), because the pattern's features sit far from those of real digits in
# both mean and spread. That is why §3 pairs the histogram with a feature-statistics measure, and why one should
# always look at the samples.
#
# ### 7c. Mode collapse, where modes can be counted
#
# **Mode collapse** is the failure in which $G$ maps many different $z$ to the same few outputs: the samples lose
# variety (in the extreme, every $z$ gives the same image) and whole parts of the data distribution are never drawn.
# On digits, modes are hard to count — 7b's collapse went to a non-digit, which the judge's histogram misreads — so
# we use the classic toy where modes can be counted: a ring of **8 Gaussian
# blobs** in 2-D (radius 2, standard deviation 0.02). Generator and discriminator are small MLPs (two hidden layers
# of 128 ReLU units), trained with the same non-saturating loss (but with real target 1: unlike §4, the toy uses no label smoothing). Two runs differ in how far $G$ is
# allowed to get ahead of $D$ — two settings changed together, so the comparison shows the effect of "$G$ ahead", not of
# either knob alone: a *balanced* run (one $G$ step per $D$ step, both Adam $10^{-3}$) and a run in which
# $G$ takes **5 steps per $D$ step and $D$ learns 10× more slowly** ($10^{-4}$). The second run's generator also
# gets 5× more updates (10,000 against 2,000 in the 2,000 steps), another difference to keep in mind. We measure, on 2,000 samples: how
# many of the 8 modes receive at least 1 % of the samples (within 0.18 of a centre, 9 standard deviations), the share
# of samples that land on any mode, the entropy of the mode histogram, and the spread of the samples (mean distance
# between two samples).

# %%
# NBVAL_IGNORE_OUTPUT
MODES, RING_SD = 8, 0.02
centres = 2.0 * np.stack([np.cos(2 * np.pi * np.arange(MODES) / MODES), np.sin(2 * np.pi * np.arange(MODES) / MODES)], axis=1)
TOY_STEPS = du.pick(full=2000, quick=300)


def ring_samples(n, rng):
    return (centres[rng.integers(0, MODES, n)] + RING_SD * rng.normal(size=(n, 2))).astype("float32")


def mode_report(points):
    """Modes with >= 1 % of the samples, share on a mode, mode-histogram entropy (bits), mean pairwise distance."""
    dist = np.linalg.norm(points[:, None] - centres[None], axis=2)
    on_mode = dist.min(axis=1) < 9 * RING_SD
    shares = np.bincount(dist.argmin(axis=1)[on_mode], minlength=MODES) / len(points)
    p = shares[shares > 0] / max(shares.sum(), 1e-12)
    pairs = np.linalg.norm(points[: len(points) // 2] - points[len(points) // 2 :], axis=1)
    return dict(modes_covered=int(np.sum(shares >= 0.01)), on_a_mode=float(on_mode.mean()),
                mode_entropy_bits=float(-np.sum(p * np.log2(p))), spread=float(pairs.mean()))  # fmt: skip


def train_ring_gan(g_steps, d_lr, steps, seed=0):
    keras.utils.set_random_seed(seed)
    g = keras.Sequential([keras.Input((16,)), L.Dense(128, activation="relu"), L.Dense(128, activation="relu"), L.Dense(2)])
    d = keras.Sequential([keras.Input((2,)), L.Dense(128, activation="relu"), L.Dense(128, activation="relu"), L.Dense(1)])
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(d_lr, beta_1=0.5)

    @tf.function
    def step(real):
        with tf.GradientTape() as tape:
            real_logits, fake_logits = d(real), d(g(tf.random.normal((512, 16))))
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_weights), d.trainable_weights, strict=True))
        for _ in range(g_steps):
            with tf.GradientTape() as tape:
                fake_logits = d(g(tf.random.normal((512, 16))))
                g_loss = bce(tf.ones_like(fake_logits), fake_logits)
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_weights), g.trainable_weights, strict=True))

    rng, z_eval = np.random.default_rng(seed), np.random.default_rng(99).normal(size=(2000, 16)).astype("float32")
    snapshots = {}
    for s in range(1, steps + 1):
        step(ring_samples(512, rng))
        if s % (steps // 4) == 0:
            snapshots[s] = g(z_eval).numpy()
    return snapshots


ring_runs = {"balanced": train_ring_gan(1, 1e-3, TOY_STEPS), "G ahead (5 G steps, D lr ÷10)": train_ring_gan(5, 1e-4, TOY_STEPS)}
ring_table = pd.DataFrame({name: mode_report(list(snaps.values())[-1]) for name, snaps in ring_runs.items()}).T
ring_table.loc["real data"] = mode_report(ring_samples(2000, np.random.default_rng(5)))
ring_table

# %%
fig, axes = plt.subplots(2, 4, figsize=(11, 5.8), layout="constrained", sharex=True, sharey=True)
lim = 1.05 * max(3.0, max(np.abs(pts[:500]).max() for snaps in ring_runs.values() for pts in snaps.values()))
for row, (name, snaps) in enumerate(ring_runs.items()):
    for ax, (s, pts) in zip(axes[row], snaps.items(), strict=False):
        ax.scatter(*centres.T, s=80, facecolors="none", edgecolors="tab:orange", label="the 8 modes")
        ax.scatter(*pts[:500].T, s=3, alpha=0.5, label="generated (500 of 2,000)")
        r = mode_report(pts)
        ax.set_title(f"{name}, step {s}\nmodes with ≥ 1 %: {r['modes_covered']}, spread {r['spread']:.2f}", fontsize=8)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")  # wide enough to show all 500 plotted samples
axes[0, 0].legend(fontsize=7, loc="center")
plt.show()

# %% [markdown]
# **What the figure and table show.** The balanced run finds the ring by step 1,000 and then covers all **8 modes**
# (0.88 of its samples on a mode, mode entropy 2.96 bits against the data's 3.00, spread 2.49 against
# 2.50). The run in which $G$ gets ahead **collapses**: from step 500 on, its samples form one narrow streak: at step
# 500 a long streak from just below the bottom mode down to about $y = -7.5$, at steps 1,000 and 1,500 a short one
# on the top mode (reaching below it at step 1,000, above it at step 1,500), and at step 2,000 a streak from the
# bottom mode down and to the right, to about $(2.5, -4.5)$. The axes are set wide enough (±8) to show every plotted
# sample, including the balanced run's loose cloud at step 500 (spread 2.63). Each setting is one run with one seed, and
# on this toy whether and where a run collapses can depend on the seed. The table's `modes_covered` of 1 at step 2,000 rests on only 0.012 of the samples
# landing on a mode, just over the 1 % cut: the run covers no mode properly, it has collapsed and is wandering across the
# plane. Its spread, 0.76 against 2.49, is the number that shows the lost variety (the Check cell asserts
# it). This fits the classic picture: $G$ puts everything where $D$ currently says "real", $D$ (too slow here)
# eventually learns that spot is fake, and $G$ hops elsewhere instead of spreading out. On digits the same mechanism
# would give a generator that draws only a few classes or styles: a lopsided class histogram *with* confident,
# genuine-looking digits.
#
# **Remedies** for collapse and for blind spots: keep $D$ in the game (balanced rates, no long generator-only
# phases), give $D$ a view of the whole batch (minibatch discrimination, or the minibatch standard deviation feature
# of progressive GANs) so that it can penalize a lack of variety, conditional GANs (the label forces coverage of every
# class, as §5 measured), and Wasserstein losses.
#
# ### 7d. Other classic mistakes, briefly
#
# - **Reading the losses as quality.** A falling generator loss can mean a better generator or a weaker
#   discriminator; in 7b it meant a generator exploiting a frozen discriminator's blind spot. Measure samples (§3),
#   and look at them.
# - **Sampling in training mode.** `generator(z, training=True)` normalizes with the statistics of the current
#   batch; samples for display and scoring should use `training=False` (moving statistics), as the callback does.
# - **A `sigmoid` output in $D$ plus `from_logits=True`** (or probabilities into a logits loss): the sigmoid is
#   applied twice, and $D$'s gradients shrink (notebook 03 shows the softmax version of this mistake).
# - **Mismatched ranges:** a `tanh` generator trained on images scaled to $[0, 1]$ — $D$ can tell real from fake
#   by the presence of negative pixels alone.
#
# ## Results
#
# The table below is what this run wrote to `results/`. The DCGAN reaches a mean judge confidence of **0.907**
# with the averaged generator (0.902 with its trained weights), so **the 0.90 confidence target is met**, by a small
# margin, with a Fréchet distance of 10.9 (held-out real floor 2.9, untrained-generator ceiling 343 — a weak bar,
# §4); 0.028 of its samples get less than 50 % from the judge for every class. Its recipe (learning rate
# $5\cdot10^{-4}$, an extra $7\times7$ block in $G$, no dropout in $D$, a hidden layer in $D$'s head, a moving average
# of $G$'s weights, 3,000 steps) was chosen as the best of many variants on this same judge, so the 0.907 is
# optimistic by an unknown amount (§4 and the appendix); the hidden layer in $D$ gave the largest gain of the second
# round of variants. The margin over 0.90 (0.007) is small: two more initialization seeds, trained outside the
# notebook, scored 0.909 and 0.903 (§4), and confidence alone can be gamed (§7b), so the Fréchet distance and the samples themselves carry as much of the
# evidence as the confidence.
# The conditional GAN meets its target: 0.967 of the requested digits are read as asked (worst class 0.888), Fréchet
# distance 5.0. The two Fréchet distances sit side by side in the table, but they are not a one-change comparison
# (label conditioning with a projection discriminator, the first recipe, no average, class-balanced sampling). The
# pitfalls: the run with D's learning rate ×10 and G's ÷10 ends at a Fréchet distance of 206 against 29.7 for the
# balanced run after the same steps (both rates changed, so not a clean attribution, §7a); the generator chasing a
# frozen $D$ moves nearly all its samples into one non-digit region, Fréchet distance 187; the judge reads 0.906 of
# them as 8s, with a mean confidence of 0.926 — above the DCGAN's 0.907, so confidence alone can be gamed (§7b); on the ring toy the balanced run covers 8 modes with spread 2.49, and the
# "G ahead" run collapses to a spread of 0.76 (§7c).

# %%
# NBVAL_IGNORE_OUTPUT
fid_generated = verdicts["DCGAN samples"]["fid"]
fid_real_heldout = verdicts["held-out real images"]["fid"]
fid_untrained_generator = verdicts["untrained generator"]["fid"]
_ = du.report(
    "11_generative_adversarial_networks",
    dcgan_judge_confidence=verdicts["DCGAN samples"]["confidence"],
    dcgan_trained_weights_judge_confidence=verdicts["DCGAN, trained weights (no average)"]["confidence"],
    dcgan_share_below_half=verdicts["DCGAN samples"]["share_below_half"],
    real_judge_confidence=verdicts["held-out real images"]["confidence"],
    cgan_class_accuracy=cgan_class_accuracy,
    cgan_worst_class_accuracy=float(per_class.min()),
    fid_generated=fid_generated,
    fid_cgan=cgan_verdict["fid"],
    fid_real_heldout=fid_real_heldout,
    fid_untrained_generator=fid_untrained_generator,
    dcgan_class_entropy_bits=verdicts["DCGAN samples"]["class_entropy_bits"],
    nn_distance_median_generated=float(np.median(nn_dist_generated)),
    nn_distance_median_heldout=float(np.median(nn_dist_heldout)),
    fid_strong_discriminator=strong_d_progress.fids[-1],
    fid_balanced_same_steps=dcgan_progress.fids[PATHOLOGY_EPOCHS - 1],
    fid_frozen_d_chase=verdicts["G chasing a frozen D"]["fid"],
    ring_balanced_modes=int(ring_table.loc["balanced", "modes_covered"]),
    ring_balanced_spread=float(ring_table.loc["balanced", "spread"]),
    ring_g_ahead_modes=int(ring_table.iloc[1]["modes_covered"]),
    ring_g_ahead_spread=float(ring_table.iloc[1]["spread"]),
    judge_test_accuracy=judge_test_accuracy,
    dcgan_seconds=dcgan_seconds,
    cgan_seconds=cgan_seconds,
)

# %%
# Check: the targets (full profile), the headline (samples far better than an untrained generator, the cGAN obeys
# labels) and the claims above
assert judge_test_accuracy >= du.pick(full=0.98, quick=0.80), judge_test_accuracy
assert fid_real_heldout < fid_generated < du.pick(full=0.5, quick=0.8) * fid_untrained_generator, (
    fid_real_heldout, fid_generated, fid_untrained_generator)  # fmt: skip
assert cgan_verdict["fid"] < du.pick(full=0.5, quick=0.8) * fid_untrained_generator
# Targets: clean DCGAN samples (judge confidence) and a cGAN that draws what it is asked for. (The quick profile's
# 200 steps are far too few for either; its bars are the Fréchet ones above.)
assert du.is_quick() or verdicts["DCGAN samples"]["confidence"] >= 0.90, verdicts["DCGAN samples"]["confidence"]
assert du.is_quick() or cgan_class_accuracy >= 0.90, cgan_class_accuracy
# §6: the samples are no closer to the training set than held-out real digits (no near-copies in pixel space; a poor generator also passes this); slerp keeps the norm.
assert du.is_quick() or np.median(nn_dist_generated) > np.median(nn_dist_heldout)
assert np.linalg.norm(paths["slerp"][4]) > np.linalg.norm(paths["linear"][4]) + 1.0
# 7a: the over-strong D wins its game and its generator is worse after the same number of steps.
assert du.is_quick() or strong_d_history["d_acc_fake"][-1] > 0.9
assert du.is_quick() or strong_d_progress.fids[-1] > dcgan_progress.fids[PATHOLOGY_EPOCHS - 1]
assert du.is_quick() or grad_norm["non-saturating"] > 5 * grad_norm["minimax (saturating)"]
# 7b: the generator chasing a frozen D gets a lower loss against it, and the Fréchet distance catches the damage.
assert du.is_quick() or (chase_losses[-1] < chase_losses[0]
                         and verdicts["G chasing a frozen D"]["fid"] > fid_generated)  # fmt: skip
# 7c: letting G get ahead of D collapses the variety of its samples (spread), where the balanced run keeps it.
assert du.is_quick() or ring_table.iloc[1]["spread"] < 0.5 * ring_table.loc["balanced", "spread"], ring_table
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Fashion-MNIST.** Swap in `du.data.load_fashion_mnist()` (same shapes) and retrain both GANs and the judge.
#    Which classes does the cGAN draw worst, by the judge's per-class accuracy? Are those the classes the judge
#    itself confuses on real images (its confusion matrix)?
# 2. **Ablate the remedies.** Train the DCGAN with `real_target=1.0`, then with the generator's learning rate 10×
#    smaller than the discriminator's, and compare the Fréchet-distance curves with the balanced run of §4.
# 3. **The minimax loss for real.** Change the generator step to minimize `-bce(0, ℓ_fake)` (the saturating loss)
#    and train for two epochs. What happens to `d_acc_fake` and to the samples?
# 4. **How good is the yardstick?** Compute the Fréchet distance between two disjoint halves of the test set with
#    500, 1,000 and 5,000 images each. How large is the small-sample bias, and why must all scores in a comparison
#    use the same number of images?


# %% [markdown]
# ## Appendix: how the DCGAN recipe of §4 was chosen
#
# Two earlier versions of this
# notebook reached 0.825 (1,800 steps with the cGAN's settings: no $7\times7$ block in $G$, dropout 0.3 in $D$,
# learning rate $2\cdot10^{-4}$) and then 0.872 (learning rate $5\cdot10^{-4}$ for both players, the $7\times7$ block,
# no dropout in $D$, 2,700 steps; no hidden layer in $D$, no average). While preparing the versions we ran variants in a
# separate script that copies this notebook's judge (trained by the same code and seed), networks, training step and
# seeds, and scores 2,000 samples instead of 5,000 (different sample sets of a different size, so its numbers are
# not exactly this notebook's). Those runs are not part of this collection and nothing in this notebook reproduces
# them; each is **one run with one seed** (second seeds were run only for the final recipe, at the end of this
# appendix). The only repeats among the variants are the first recipe
# measured twice (0.821 and 0.822 after 1,800 steps) and the second recipe run with two CPU threads and with one
# (0.864 in the first round, 0.863 as the second round's first row): thread scheduling alone moves the result by
# about 0.001, and seed-to-seed noise is larger (0.005 between the averaged generators of three seeds of the final recipe), so we treat differences below about 0.01 as
# possibly noise. First round, starting from 0.825:
#
# | change against the first recipe (each row: one run) | steps | confidence | Fréchet distance |
# |---|---|---|---|
# | none (the first recipe) | 1,800 | 0.822 | 34.1 |
# | both learning rates decayed linearly to 0 over the second half | 1,800 | 0.812 | 40.0 |
# | learning rate $5\cdot10^{-4}$ for both players | 1,800 | 0.843 | 26.1 |
# | an extra stride-1 $3\times3$ block (128 channels) at $7\times7$ in $G$ | 1,800 | 0.836 | 27.1 |
# | no dropout in $D$ | 1,800 | 0.835 | 29.4 |
# | learning rate and extra block together | 2,700 | 0.866 | 18.4 |
# | all three together (the second recipe) | 2,700 | 0.872 | 16.4 |
# | all three, plus the decay over the second half | 3,000 | 0.875 | 17.1 |
# | all three, twice the first recipe's steps | 3,600 | 0.878 | 14.3 |
#
# The combined rows also ran longer than the single changes (2,700–3,600 steps against 1,800), so they change the
# step count as well. Each of the three changes kept gained 0.013–0.021 alone — at most about twice the assumed
# noise — and together they flattened out: 0.872 after 2,700 steps and 0.878 after 3,600. Two more ideas did not help in that round: a moving
# average of the generator's weights on the first recipe (0.818 against 0.821 without it, after 1,800 steps), and a
# categorical code appended to $z$ with InfoGAN's mutual-information loss (Chen et al., 2016), meant to let $G$ jump
# between digit classes instead of passing through ambiguous in-between shapes (0.796 against 0.799 after 1,200
# steps, where we stopped it). So the second round changed one thing at a time on
# top of the second recipe, each for 1,800 steps, and scored both the trained generator and its moving average
# ($d = 0.995$):
#
# | change against the second recipe (each row: one run, 1,800 steps) | confidence, trained $G$ | confidence, average | Fréchet, trained $G$ |
# |---|---|---|---|
# | none (the second recipe, run again) | 0.863 | 0.864 | 22.4 |
# | real target 1 (no label smoothing) | 0.857 | 0.871 | 23.7 |
# | batch of 128 instead of 64 (twice the images per step) | 0.859 | 0.867 | 20.1 |
# | R1 gradient penalty on real images, $\gamma = 1$ (Mescheder et al., 2018) | 0.851 | 0.866 | 22.4 |
# | top-$k$ generator updates: $G$ learns only from the half of its fakes that $D$ scores highest (Sinha et al., 2020) | 0.860 | 0.865 | 20.0 |
# | $G$ twice as wide (256 channels at $7\times7$, 128 at $14\times14$) | 0.865 | 0.875 | 20.1 |
# | $G$ upsamples by nearest-neighbour resizing + $3\times3$ convolution instead of transposed convolutions | 0.867 | 0.862 | 18.4 |
# | $D$ twice as wide (128 and 256 channels) | 0.864 | 0.867 | 19.2 |
# | $D$: an extra $3\times3$ convolution (128 channels) at $7\times7$ | 0.877 | 0.887 | 15.2 |
# | $D$: a hidden `Dense` layer of 512 units before the logit | 0.888 | 0.894 | 16.0 |
# | **$D$: a hidden `Dense` layer of 256 units before the logit** | **0.886** | **0.894** | 14.7 |
# | the same, 2,700 steps | 0.895 | 0.905 | 12.9 |
#
# What this round says, with the caveat of one seed per row: the changes to $G$, the loss and the batch moved the
# trained generator's confidence by −0.012 to +0.004, within the assumed noise; the moving average changed it by
# −0.005 to +0.016 (up in 11 of the 12 rows; on the second recipe itself only +0.001 after 1,800 and 2,700 steps,
# and +0.005 after 3,600 steps in the same run, continued). An extra convolution in $D$ gained +0.014, about the
# noise level; the two hidden layers gained +0.023 (256 units) and +0.025 (512 units), two runs pointing the same
# way and the largest gains of the round (the first round's learning-rate change gave a similar +0.021, on a
# different base). More width in $D$ (+0.001) did not help. The hidden layer also adds 1.6 million parameters (92 %
# of the discriminator's), so depth and capacity change together; that the twice-as-wide $D$ (about 540,000
# parameters, four times the base) did not help argues only weakly against capacity alone. A plausible reading,
# not tested further: with a linear head, $D$'s verdict is a weighted sum of local features at fixed positions,
# which is a poor test of a digit's overall shape, and shape is what the judge's confidence rewards. Shrinking the
# noise vectors at sampling time (multiplying $z$ by 0.9, 0.8 or 0.7, the "truncation trick" of BigGAN) moved the
# trained generator's confidence by −0.009 to +0.004 in the runs where we tried it (0.886 → 0.886, 0.883, 0.879 for
# the hidden-layer run) and raised the Fréchet distance in nearly all of them, so it is not used. The recipe used in
# §4 is the second recipe plus the hidden layer of 256 units and the average, for 3,000 steps (the script measured
# 2,700 steps, where the average reached 0.905; the 300 more steps were meant as a margin, and §4's own run, 0.907,
# does not show whether they added anything). The selection caveat stands: the recipe was chosen on the judge that
# reports it, so the reported confidence is the best of many variants on that metric and biased upward by an
# unknown amount. Two more initialization seeds of the final recipe (43 and 44, 3,000 steps, average without the
# warm-up) scored 0.909 and 0.903 with the average and 0.904 and 0.901 with the trained weights (Fréchet distances
# 13.3 and 12.1 with the average): the recipe, not only seed 42, clears 0.90 on this judge, by a few thousandths.
#
# **Previous:** [10 · Attention and Transformers](10_attention_and_transformers.ipynb) ·
# **Next:** [12 · Deployment](12_deployment.ipynb) — saving, exporting and serving a trained model.
