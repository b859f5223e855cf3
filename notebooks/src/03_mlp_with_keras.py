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
# # 03 · Multilayer perceptrons with Keras
#
# In notebook 02 we built a network by hand. Here Keras does the bookkeeping, and we spend the time on the
# decisions that still matter: how the output layer and the loss fit together, how labels are encoded, and how
# to read a training run.
#
# **What you will learn**
# - the same multilayer perceptron (MLP) written with the **Sequential** and the **Functional** API, and a
#   skip connection, which Sequential cannot express (subclassing can too); what dropout does in training and
#   at test time;
# - softmax and cross-entropy, their gradient $p - y$, and what `from_logits` really does in Keras 3;
# - sparse (integer) vs one-hot labels, and which loss goes with which;
# - training with a held-out validation split, learning curves, a test score measured once, a confusion matrix
#   and the model's most confident mistakes;
# - five classic mistakes and what each one does: a softmax output with `from_logits=True` (caught and warned
#   about on Keras's TensorFlow backend, silently wrong elsewhere), one-hot
#   labels with a sparse loss, integer labels with a categorical loss, MSE as a classification loss, and
#   `SGD(lr=…)` from older Keras code.
#
# **Prerequisites:** [02 · a neural network from scratch](02_neural_network_from_scratch.ipynb) (softmax,
# cross-entropy, backpropagation) and [01 · data preprocessing](01_data_preprocessing.ipynb) (splits, scaling).
#
# **Dataset:** MNIST, 70,000 grey-scale 28×28 images of handwritten digits (LeCun, Cortes & Burges; CC BY-SA 3.0),
# loaded by `du.data.load_mnist()` from the offline mirror or a verified download.
#
# **Runtime:** 2.6 min (155 s) for the full profile in the run stored here, on a 2-core CPU that other jobs were
# sharing at the time; the main MLP trained at about 9,400 images per second (including its validation passes).
# An earlier full run of the same code under lighter load took 1.5 min, so expect anything in between. The quick
# profile (CI) trains on a subset for two epochs.

# %%
# NBVAL_IGNORE_OUTPUT
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
from sklearn.model_selection import train_test_split

import dlutils as du

du.setup(seed=42)

# %% [markdown]
# ## 1. The data: load, scale, split
#
# MNIST comes as 60,000 training and 10,000 test images. We keep the **test set for one measurement at the
# very end**; every choice along the way (architecture, epochs, learning rate) is judged on a **validation
# split** held out from the training images. If we looked at the test score while tuning, it would stop
# being an honest estimate of performance on new data.

# %%
(x_train_full, y_train_full), (x_test, y_test) = du.data.load_mnist()
print("train images:", x_train_full.shape, x_train_full.dtype, " labels:", y_train_full.shape, y_train_full.dtype)
print("test images: ", x_test.shape, x_test.dtype, " labels:", y_test.shape, y_test.dtype)
print("pixel range:", x_train_full.min(), "to", x_train_full.max())
print("train images per digit:", np.bincount(y_train_full).tolist())

# %% [markdown]
# The pixels are integers in $[0, 255]$. We divide by 255 to get floats in $[0, 1]$: inputs of order 1 keep
# the first layer's pre-activations of order 1, the scale the default initialiser (Glorot) and learning rate
# are tuned for. (Glorot's derivation assumes zero-mean, unit-variance inputs; MNIST/255 has mean ≈ 0.13 and
# standard deviation ≈ 0.31, so standardising would be the stricter choice.) Dividing by a fixed constant uses no statistics of the data,
# so it cannot leak anything from the test set.
#
# Then we hold out 5,000 training images for validation, **stratified** by label so that every digit keeps its
# share.

# %%
x_train_full = x_train_full.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0

x_train, x_val, y_train, y_val = train_test_split(
    x_train_full, y_train_full, test_size=5000, stratify=y_train_full, random_state=42
)
print("train:", x_train.shape, " validation:", x_val.shape, " test:", x_test.shape)
print("scaled pixel range:", x_train.min(), "to", x_train.max())
print("validation images per digit:", np.bincount(y_val).tolist())

# %% [markdown]
# In the quick profile (CI) the training set is cut to a random subset so that the notebook runs in seconds;
# in the full profile `du.take` returns the arrays unchanged.

# %%
# NBVAL_IGNORE_OUTPUT
x_train, y_train = du.take(x_train, y_train, quick=6000)
print("training on", len(x_train), "images")

# %%
# NBVAL_IGNORE_OUTPUT
# (only a figure: its size repr follows dlutils' layout, which is not the lesson)
du.plot.image_grid(x_train_full[:20], y_train_full[:20], ncols=10, title="The first 20 training images")
plt.show()

# %% [markdown]
# ## 2. Softmax and cross-entropy
#
# **Idea.** The last layer of a $K$-class classifier produces $K$ raw scores, the **logits** $z \in \mathbb{R}^K$.
# Softmax turns them into probabilities, and cross-entropy scores how much probability the model gave to the
# right class.
#
# **Math.** Softmax:
# $$p_k = \operatorname{softmax}(z)_k = \frac{e^{z_k}}{\sum_{j=1}^{K} e^{z_j}}, \qquad p_k > 0,\quad \sum_k p_k = 1 .$$
# Cross-entropy with a **one-hot** label $y$ ($y_c = 1$ for the true class $c$, all other $y_k = 0$):
# $$L = -\sum_{k=1}^{K} y_k \log p_k = -\log p_c .$$
# Only the true class's term survives, so the **sparse** form needs just the integer label $c$:
# $L = -\log p_c$. Same number, cheaper label encoding. Written with logits,
# $$L = -z_c + \log \sum_{j=1}^{K} e^{z_j},$$
# and the gradient with respect to the logits is
# $$\frac{\partial L}{\partial z_k} = -\mathbb{1}[k = c] + \frac{e^{z_k}}{\sum_j e^{z_j}} = p_k - y_k .$$
# A small, bounded error signal: at most 1 in size per logit, and largest exactly when the model is confidently
# wrong. This clean gradient is why softmax and cross-entropy are used together.
#
# **The rule we follow.** Give the model a **linear output layer** (its outputs are logits) and tell the loss so
# with `from_logits=True`. When we want probabilities, we apply softmax to the predictions ourselves.
#
# **What `from_logits` means.** `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` expects the
# raw scores $z$ and computes $\log p$ with a numerically stable **log-softmax**,
# $\log p_k = z_k - m - \log \sum_j e^{z_j - m}$ with $m = \max_j z_j$, so no exponential ever overflows and no
# probability is ever rounded to 0 before its logarithm is taken. With `from_logits=False` (the default) the loss
# expects probabilities; given plain numbers it clips them to $[\varepsilon, 1-\varepsilon]$ with
# $\varepsilon = 10^{-7}$ and takes their logarithm.
#
# > **Under the hood (optional; only the TensorFlow backend).** TensorFlow runs code in two ways: *eagerly*, line
# > by line, each operation returning plain numbers at once, or as a *compiled graph*, which `fit` and `evaluate`
# > build first and in which every tensor remembers the operation that produced it. Keras uses this to rescue
# > softmax outputs: Keras's `softmax` (the `Softmax` layer, `activation="softmax"`, `keras.ops.softmax`)
# > attaches its input logits to the tensor it returns, and in a compiled graph the loss also recognises
# > TensorFlow's `Softmax` operation. In both cases the loss takes those logits and uses the stable formula
# > above (the private function `_get_logits` in `keras/src/backend/tensorflow/nn.py` does it). Probabilities
# > without that history (a NumPy array such as the output of `predict`, `tf.nn.softmax` run eagerly, anything
# > on the JAX and PyTorch backends) get the clipped logarithm. So *softmax output layer + default loss* happens
# > to be numerically safe inside `fit` on TensorFlow; the rule above is safe on every backend and for any loss
# > computed later from stored numbers.
#
# **Check.** Softmax and cross-entropy by hand, against Keras, and the gradient against $p - y$:

# %%
z = np.array([[2.0, 1.0, 0.1, -1.0], [0.5, 2.5, 0.0, 0.3]], dtype="float32")  # logits: 2 samples, K = 4
c = np.array([0, 3])  # true classes
y_onehot = keras.utils.to_categorical(c, num_classes=4)

p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
loss_by_hand = -np.log(p[np.arange(len(c)), c]).mean()
sparse_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(c, z)
onehot_probs = keras.losses.CategoricalCrossentropy(from_logits=False)(y_onehot, p)
print("softmax p:\n", p.round(4))
print(f"cross-entropy by hand {loss_by_hand:.4f} | sparse, from logits {float(sparse_logits):.4f}"
      f" | one-hot, from probabilities {float(onehot_probs):.4f}")

z_var = tf.Variable(z)
with tf.GradientTape() as tape:
    # reduction="sum" so that the gradient is per sample, not divided by the batch size
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(c, z_var)
grad = tape.gradient(loss, z_var).numpy()
print("dL/dz from autodiff:\n", grad.round(4))
print("p - y equals it:", np.allclose(grad, p - y_onehot, atol=1e-6))

# %% [markdown]
# Where does the difference show? Take a confident, wrong prediction: logits $z = (0, 200)$ for a sample of
# class 0. The true loss is $-z_0 + \log(e^{0} + e^{200}) \approx 200$. Softmax in 32-bit floats rounds
# $p_0 = e^{-200}$ to exactly 0, so a loss that only sees the probabilities must clip and reports
# $-\log 10^{-7} \approx 16.1$: the information about *how* wrong the model is has been lost before the loss is
# computed. Worse for training, clipping has zero gradient outside $[\varepsilon, 1-\varepsilon]$, so a clipped,
# confidently wrong sample gives **no gradient at all**. Below: a from-logits reference, then the default loss
# (`from_logits=False`) given the same probabilities in four forms, and last the gradient with respect to the
# logits with and without clipping:

# %%
z_wrong = np.array([[0.0, 200.0]], dtype="float32")
y_wrong = np.array([0])
prob_loss = keras.losses.SparseCategoricalCrossentropy()  # from_logits=False, the default
p_wrong = keras.ops.convert_to_numpy(keras.ops.softmax(z_wrong))  # NumPy: the loss sees only the numbers
print("softmax in float32:", p_wrong)

probe = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Softmax()], name="softmax_only")
probe.compile(loss=prob_loss)  # evaluate() runs the loss inside a compiled graph, as fit() does
cases = {
    "logits, from_logits=True (reference)": float(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_wrong, z_wrong)),
    "output of a Softmax layer (tensor)": float(prob_loss(y_wrong, keras.layers.Softmax()(z_wrong))),
    "model with a softmax output, evaluate()": float(probe.evaluate(z_wrong, y_wrong, verbose=0)),
    "tf.nn.softmax, computed eagerly": float(prob_loss(y_wrong, tf.nn.softmax(z_wrong))),
    "the same probabilities as NumPy": float(prob_loss(y_wrong, p_wrong)),
}
for name, value in cases.items():
    print(f"{name:40s} loss {value:7.2f}")

z_var = tf.Variable(z_wrong)
with tf.GradientTape(persistent=True) as tape:
    loss_from_logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_wrong, z_var)
    loss_clipped = prob_loss(y_wrong, tf.nn.softmax(z_var))  # eager softmax: the loss clips
print("dL/dz, from logits:           ", tape.gradient(loss_from_logits, z_var).numpy())
print("dL/dz, clipped probabilities: ", tape.gradient(loss_clipped, z_var).numpy())

# %% [markdown]
# The Softmax layer's tensor and the compiled model hand the loss their logits, so it reports the full 200, like
# the from-logits reference; the last two are plain numbers, and the loss can only report the clipped 16.12.
# The gradients show the second problem: from logits the loss pushes $z_0$ up and $z_1$ down with full strength (±1, that is $p - y$),
# while through the clipped probabilities the gradient is exactly 0, so this sample would teach the model nothing.

# %% [markdown]
# ## 3. One MLP, two APIs
#
# Our model: flatten the $28 \times 28$ image into 784 inputs, two hidden layers of 512 and 256 ReLU units,
# and a linear output layer with 10 logits. **Dropout** (rate 0.3) after each hidden layer randomly zeroes 30% of
# the activations during training only, which keeps units from relying on particular partners and usually
# reduces overfitting (notebook 04 measures it); at the end of this section we look at exactly what it does.
#
# A `Dense` layer from $n_\text{in}$ to $n_\text{out}$ units has $n_\text{in} \cdot n_\text{out}$ weights plus
# $n_\text{out}$ biases, so this model has
# $(784 + 1) \cdot 512 + (512 + 1) \cdot 256 + (256 + 1) \cdot 10$ parameters.
#
# **Sequential API**: a plain stack of layers, each feeding the next. Naming the model and its layers keeps
# the summary readable (and identical from run to run).

# %%
def build_sequential() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28), name="image"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(512, activation="relu", name="hidden_1"),
            keras.layers.Dropout(0.3, name="dropout_1"),
            keras.layers.Dense(256, activation="relu", name="hidden_2"),
            keras.layers.Dropout(0.3, name="dropout_2"),
            keras.layers.Dense(10, name="logits"),  # no activation: the loss gets logits
        ],
        name="mlp_sequential",
    )


seq_model = build_sequential()
seq_model.summary()

# %% [markdown]
# **Functional API**: we call layers on tensors and then declare the model's inputs and outputs. For a straight
# stack it is more typing, but it also builds models the Sequential API cannot: several inputs or outputs, skip
# connections, shared layers. (Subclassing `keras.Model` can express these too, in plain Python code.)

# %%
inputs = keras.Input(shape=(28, 28), name="image")
h = keras.layers.Flatten(name="flatten")(inputs)
h = keras.layers.Dense(512, activation="relu", name="hidden_1")(h)
h = keras.layers.Dropout(0.3, name="dropout_1")(h)
h = keras.layers.Dense(256, activation="relu", name="hidden_2")(h)
h = keras.layers.Dropout(0.3, name="dropout_2")(h)
outputs = keras.layers.Dense(10, name="logits")(h)
fn_model = keras.Model(inputs=inputs, outputs=outputs, name="mlp_functional")
fn_model.summary()

# %%
by_formula = (784 + 1) * 512 + (512 + 1) * 256 + (256 + 1) * 10
print("parameters (Sequential):", seq_model.count_params())
print("parameters (Functional):", fn_model.count_params())
print("parameters (formula):   ", by_formula)
print("same architecture:", seq_model.count_params() == fn_model.count_params() == by_formula)

# %% [markdown]
# **What the Functional API is for.** A model in which one tensor feeds two layers cannot be written as a
# stack. Here a **skip connection**: the output of `hidden_1` goes both into `hidden_2` and, around it, into an
# `Add` layer, the idea behind residual networks (ResNets). The summary's *Connected to* column
# shows the graph: `skip_add` takes two inputs. `Add` needs inputs of equal shape, so `hidden_1` is 256 wide
# here instead of 512, and dropout is left out for brevity; that, not the skip, is why this model has about half
# the parameters (269,322 against 535,818).

# %%
inputs = keras.Input(shape=(28, 28), name="image")
x = keras.layers.Flatten(name="flatten")(inputs)
h1 = keras.layers.Dense(256, activation="relu", name="hidden_1")(x)
h2 = keras.layers.Dense(256, activation="relu", name="hidden_2")(h1)
merged = keras.layers.Add(name="skip_add")([h1, h2])  # h1 reaches the output twice: through hidden_2 and around it
skip_outputs = keras.layers.Dense(10, name="logits")(merged)
skip_model = keras.Model(inputs=inputs, outputs=skip_outputs, name="mlp_with_skip")
skip_model.summary()
print("output shape for 3 images:", skip_model(x_val[:3]).shape)

# %% [markdown]
# **Dropout, exactly.** During training a `Dropout(rate=p)` layer sets each activation to 0 with probability
# $p$ and multiplies the survivors by $1/(1-p)$ ("inverted dropout"). The rescaling keeps the expected value of
# every activation unchanged, $\mathbb{E}[\tilde a] = (1-p)\cdot \frac{a}{1-p} + p \cdot 0 = a$, so the next layer
# sees inputs of the same average size in training and at test time, when dropout does nothing at all. With
# $p = 0.3$ the survivors become $1/0.7 \approx 1.4286$ times larger:

# %%
dropout = keras.layers.Dropout(0.3, seed=1)
ones = np.ones((1000, 100), dtype="float32")
dropped = keras.ops.convert_to_numpy(dropout(ones, training=True))
print("values after dropout (training):", [round(float(v), 4) for v in np.unique(dropped)])
print(f"share set to 0: {np.mean(dropped == 0):.2f}, mean of all values: {dropped.mean():.2f}")
print("at inference (training=False) the input passes unchanged:",
      bool(np.array_equal(keras.ops.convert_to_numpy(dropout(ones, training=False)), ones)))

# %% [markdown]
# ## 4. Sparse or one-hot labels: same loss, two encodings
#
# MNIST's labels are integers. `SparseCategoricalCrossentropy` takes them as they are;
# `CategoricalCrossentropy` wants one-hot rows, which `keras.utils.to_categorical` makes:

# %%
print("integer labels:", y_val[:4])
print("one-hot labels:\n", keras.utils.to_categorical(y_val[:4], num_classes=10))

# %% [markdown]
# On the same predictions (here the logits of the untrained Functional model on 512 validation images) the two
# losses are the same number, because $-\sum_k y_k \log p_k = -\log p_c$. Pick the encoding that matches your
# labels; sparse saves memory when there are many classes. An untrained 10-class model should score about
# $\log 10 \approx 2.30$: it spreads probability roughly evenly.

# %%
val_logits = fn_model.predict(x_val[:512], verbose=0)
sparse_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_val[:512], val_logits)
onehot_loss = keras.losses.CategoricalCrossentropy(from_logits=True)(
    keras.utils.to_categorical(y_val[:512], num_classes=10), val_logits
)
print(f"sparse loss, integer labels:     {float(sparse_loss):.4f}")
print(f"categorical loss, one-hot labels: {float(onehot_loss):.4f}")
print(f"log(10) = {np.log(10):.4f}")
print("equal:", bool(np.isclose(float(sparse_loss), float(onehot_loss), rtol=1e-6)))

# %% [markdown]
# ## 5. Training the MLP
#
# **Recipe.**
# - Loss: `SparseCategoricalCrossentropy(from_logits=True)` (integer labels, logits output).
# - Optimizer: Adam with a **cosine-decay** learning-rate schedule: starting at $\eta_0 = 10^{-3}$, the rate
#   after $t$ of $T$ total steps is
#   $$\eta_t = \eta_0 \cdot \tfrac{1}{2}\left(1 + \cos\frac{\pi t}{T}\right),$$
#   large early for fast progress, small at the end so the weights settle into a minimum instead of bouncing
#   around it. Adam divides each parameter's step by a running root-mean-square of that parameter's gradient,
#   so multiplying the loss by a constant leaves its steps almost unchanged. (Notebook 04 compares optimizers
#   and schedules.)
# - Mini-batches of 128 images and 12 epochs, a number fixed in advance (not tuned on the curves below). The
#   schedule's length $T$ is computed from it, so a different number of epochs means a new schedule and a new
#   run. We train on the 55,000 training images only and keep the model as it is at the end. Retraining on all 60,000 images
#   for the same number of epochs may add a little accuracy, at the price of a second run with no validation
#   curve to watch (Exercise 1 measures it).
#
# `fit` shuffles the training set every epoch. `verbose=2` prints one line per epoch.

# %%
EPOCHS = du.pick(full=12, quick=2)
BATCH_SIZE = 128

du.seed_everything(42)  # same initial weights whatever ran above
model = build_sequential()
steps_per_epoch = int(np.ceil(len(x_train) / BATCH_SIZE))
schedule = keras.optimizers.schedules.CosineDecay(initial_learning_rate=1e-3, decay_steps=EPOCHS * steps_per_epoch)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=schedule),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)

# %% [markdown]
# The schedule, step by step (one step = one mini-batch):

# %%
steps = np.arange(EPOCHS * steps_per_epoch + 1)
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(steps / steps_per_epoch, keras.ops.convert_to_numpy(schedule(steps)))
ax.set(title="cosine decay of Adam's learning rate", xlabel="epoch", ylabel="learning rate")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
with du.Timer() as timer:
    history = model.fit(
        x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), verbose=2
    )
train_seconds = timer.seconds
images_per_second = EPOCHS * len(x_train) / train_seconds
print(f"trained {EPOCHS} epochs in {train_seconds:.1f} s: {images_per_second:,.0f} training images per second"
      " (includes the validation passes; on a shared machine this varies run to run)")

# %% [markdown]
# **Reading the learning curves.** Early on, the *training* loss is above the validation loss: it is averaged
# over an epoch while the weights are still improving, and it is measured with dropout switched on, while
# validation runs the full network. Later the training loss keeps falling while the validation loss levels off
# (in the run stored here it reaches its lowest value around epoch 8 and then stays within 0.001 of it). That is
# a growing generalisation gap, but the validation loss is not rising, so there is no harmful overfitting yet;
# the size of the gap is partly a measurement artefact, since the training number is a running mean with dropout
# on. Whether the decaying learning rate is what keeps the validation loss from rising would need a run with a
# constant rate to tell (notebook 04 compares schedules). If the validation loss did climb, the usual tool is
# `keras.callbacks.EarlyStopping(restore_best_weights=True)`; with a cosine schedule sized for all epochs it
# clashes, though: the weights it restores come from a run whose rate had not decayed yet, and an 8-epoch run
# would have a different schedule (notebook 04 covers early stopping).

# %%
du.plot.learning_curves(history, title="MLP 784-512-256-10 on MNIST")
plt.show()

# %% [markdown]
# ### The test set, once
#
# Now, and only now, the test images. `evaluate` reports the loss and accuracy; `predict` returns logits, which
# softmax turns into probabilities.

# %%
# NBVAL_IGNORE_OUTPUT
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
test_probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_test, verbose=0)))
y_pred = test_probs.argmax(axis=1)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}: {np.sum(y_pred != y_test)} of {len(y_test)} wrong")

# %% [markdown]
# Per-class precision (of the images predicted as a digit, the share that are that digit), recall (of the
# images of a digit, the share found) and F1 (their harmonic mean):

# %%
# NBVAL_IGNORE_OUTPUT
digit_names = [str(d) for d in range(10)]
du.metrics.classifier_report(y_test, y_pred, digit_names)

# %% [markdown]
# The confusion matrix shows *which* digits get confused (rows: true digit, columns: prediction). The correct
# predictions on the diagonal (about 900 to 1,100 per digit) would set the colour scale and leave every mistake the
# same pale colour, so we set the diagonal to 0 and colour only the mistakes; the cell after it lists the five
# largest.

# %%
confusions = confusion_matrix(y_test, y_pred)
np.fill_diagonal(confusions, 0)  # keep only the mistakes, so that they set the colour scale
fig, ax = plt.subplots(figsize=(6, 5))
ConfusionMatrixDisplay(confusions, display_labels=digit_names).plot(ax=ax, cmap="Blues", values_format="d")
ax.set_title("MLP on the MNIST test set: mistakes only (diagonal set to 0)")
fig.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
for flat in np.argsort(-confusions, axis=None)[:5]:
    true_digit, predicted = np.unravel_index(flat, confusions.shape)
    print(f"a {true_digit} predicted as {predicted}: {confusions[true_digit, predicted]} times")

# %% [markdown]
# The model's **most confident mistakes**: the wrong predictions to which it gave the highest probability
# (true label → prediction in red, with the probability the model gave its prediction). Looking at errors to
# decide what to try next is development work, so we do it on the **validation** split; the test set stays a
# single measurement.

# %%
# NBVAL_IGNORE_OUTPUT
val_probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_val, verbose=0)))
val_pred = val_probs.argmax(axis=1)
wrong = np.flatnonzero(val_pred != y_val)
most_confident = wrong[np.argsort(-val_probs[wrong].max(axis=1))][:20]
confidence = val_probs[most_confident].max(axis=1)
du.plot.image_grid(
    x_val[most_confident], y_val[most_confident],
    [f"{pred} ({conf:.2%})" for pred, conf in zip(val_pred[most_confident], confidence, strict=True)], ncols=10,
    title="Most confident mistakes on the validation split: true → predicted (probability of the prediction)",
)
plt.show()
print(f"probability the model gave these 20 wrong predictions: {confidence.min():.4f} to {confidence.max():.4f}")
print(f"all {len(wrong)} validation mistakes: median probability {np.median(val_probs[wrong].max(axis=1)):.3f}")

# %% [markdown]
# Every one of these twenty wrong predictions got a probability above 0.98, and half of all 89 validation
# mistakes got more than 0.85 (both printed above): a confident answer is not therefore a correct one (Exercise 4
# measures how well the probabilities match the accuracy). Some of the images are ambiguous even to a person (the
# 6 with a tiny loop read as 0, the crossed-out 0 read as 8, the thick 3s read as 8); others look like ordinary
# digits (the 3 read as 5 at the end of the first row, the 3 read as 2 at the start of the second). Twenty images
# cannot tell us what another architecture would fix. One thing an MLP does lack: it gives every pixel its own
# weights, so a stroke pattern learned in one part of the image is not reused elsewhere. Convolutional networks
# (notebook 06) detect local stroke features with the same weights everywhere (weight sharing); notebook 06
# measures what that buys on MNIST.

# %% [markdown]
# ## 6. Pitfalls
#
# Five mistakes that appear in many tutorials, each shown with what it does: a symptom in training, an
# error, or only a warning. They use a small training subset and
# a few epochs, so they cost seconds.

# %%
PIT_N = du.pick(full=10_000, quick=2_000)
PIT_EPOCHS = du.pick(full=5, quick=2)
x_pit, y_pit = x_train[:PIT_N], y_train[:PIT_N]


def small_mlp(output_activation: str | None, name: str) -> keras.Sequential:
    """784-256-10; the same seed gives every variant the same initial weights."""
    du.seed_everything(0)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation=output_activation),
        ],
        name=name,
    )


untrained_probs = keras.ops.convert_to_numpy(keras.ops.softmax(small_mlp(None, name="untrained").predict(x_val, verbose=0)))
print(f"untrained small MLP on the validation split: cross-entropy "
      f"{-np.log(untrained_probs[np.arange(len(y_val)), y_val]).mean():.2f} (log 10 = {np.log(10):.2f}), "
      f"mean largest probability {untrained_probs.max(axis=1).mean():.2f} (uniform: 0.10)")

# %% [markdown]
# ### Pitfall 1: a softmax output layer *and* `from_logits=True`
#
# The model ends in `Dense(10, activation="softmax")`, so its outputs are probabilities $q$, but the loss is told
# they are logits. On the JAX and PyTorch backends, or with any loss that sees only the numbers, the loss applies
# softmax again: it computes $\ell = -\log \operatorname{softmax}(q)_c$. On the TensorFlow backend (ours), the
# built-in loss detects the softmax, warns, and uses the logits instead. First that rescue, then what the mistake
# does where there is none.
#
# **The rescue on TensorFlow.** Our trained model with a softmax layer appended, its loss computed on a tensor,
# inside `evaluate`, and on the same probabilities passed as a NumPy array (for example the output of
# `predict`), which carries no history of the softmax:

# %%
# NBVAL_IGNORE_OUTPUT
prob_model = keras.Sequential([model, keras.layers.Softmax(name="probabilities")], name="mlp_with_softmax")
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
prob_model.compile(loss=loss_fn)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loss_tracked = float(loss_fn(y_val, prob_model(x_val)))  # a tensor that remembers its softmax
    loss_evaluate = float(prob_model.evaluate(x_val, y_val, verbose=0))  # the compiled loss, as in fit()
loss_numpy = float(loss_fn(y_val, prob_model.predict(x_val, verbose=0)))  # plain numbers
loss_right = float(loss_fn(y_val, model.predict(x_val, verbose=0)))  # logits, as intended
print("warning:", str(caught[0].message).splitlines()[0] if caught else None)
print(f"validation loss, logits (correct):              {loss_right:.4f}")
print(f"softmax output seen as a tensor (rescued):      {loss_tracked:.4f}")
print(f"softmax output inside evaluate() (rescued):     {loss_evaluate:.4f}")
print(f"softmax output as NumPy array (double softmax): {loss_numpy:.4f}")

# %%
print("Keras warned about the softmax output:", len(caught) > 0)
print("the rescued losses equal the correct one:",
      bool(np.isclose(loss_tracked, loss_right, rtol=1e-4) and np.isclose(loss_evaluate, loss_right, rtol=1e-3)))

# %% [markdown]
# And inside `fit`: the small MLP (784-256-10, defined above) from the same initial weights, trained for one
# epoch with the built-in `SparseCategoricalCrossentropy(from_logits=True)`, once with a logits output and once
# with a softmax output layer:

# %%
# NBVAL_IGNORE_OUTPUT
fit_check = {}
with warnings.catch_warnings(record=True) as caught_fit:
    warnings.simplefilter("always")
    for name, activation in [("logits output", None), ("softmax output (the mistake)", "softmax")]:
        net = small_mlp(activation, name="fit_check")
        net.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        fit_check[name] = net.fit(x_pit, y_pit, epochs=1, batch_size=128, verbose=0).history["loss"][0]
for name, value in fit_check.items():
    print(f"training loss after one epoch, {name:28s} {value:.4f}")
print("Keras warned during fit:", len(caught_fit) > 0)

# %% [markdown]
# So on the TensorFlow backend, with the built-in loss, the mistake costs nothing inside `evaluate` or `fit`
# (the two training losses above agree) and leaves only a warning. The rescue is fragile, though. It works only
# if the softmax's output is the very tensor the loss receives, so any operation in between (a cast, a clip, a
# reshape, a `Lambda` layer, a custom loss that calls `keras.ops.log_softmax`) silently removes it; it rests on a
# private attribute (`_keras_logits`) and a private function; and Keras's JAX and PyTorch backends have no
# rescue at all (their `sparse_categorical_crossentropy` in `keras/src/backend/{jax,torch}/nn.py` applies
# log-softmax to whatever it is given). Do not rely on it; write the output layer and the loss so that they agree.

# %% [markdown]
# **Without the rescue: the loss floor.** Because $0 \le q_k \le 1$, every difference $q_j - q_c \ge -1$, so
# $$\ell = -\log \frac{e^{q_c}}{\sum_j e^{q_j}} = \log\Big(1 + \sum_{j \ne c} e^{\,q_j - q_c}\Big)
#   \;\ge\; \log\Big(1 + \frac{K-1}{e}\Big),$$
# with equality only for a perfect one-hot output. For $K = 10$ the loss can never go below
# $\log(1 + 9/e) \approx 1.461$, however good the model is: the double softmax squeezes even a perfect
# prediction to a probability of at most $e/(e+9) \approx 0.232$ for the true class.
#
# **The learning signal.** The gradient reaching $q$ is $\operatorname{softmax}(q) - y$, which never vanishes
# (for the true class it lies between $-0.9$ at the start, when $q$ is about uniform, and $0.232 - 1 = -0.768$
# for a perfect output); it is multiplied by the softmax layer's Jacobian,
# $\partial q_i / \partial z_j = q_i(\mathbb{1}[i=j] - q_j)$, which goes to 0 as $q$ saturates. So training
# keeps pushing outputs towards 0 and 1 (over-confidence) through a path that gets weaker as it goes
# (slower learning).

# %%
floor = np.log1p(9 / np.e)
perfect = keras.utils.to_categorical(np.arange(10), num_classes=10)  # a perfect prediction for each class
floor_keras = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(np.arange(10), perfect)
print(f"log(1 + 9/e) = {floor:.4f}")
print(f"Keras's from-logits loss of perfect probabilities = {float(floor_keras):.4f}")
print(f"largest true-class probability after a second softmax: e/(e+9) = {np.e / (np.e + 9):.4f}")
print("the double-softmax (NumPy) loss above is above the floor:", loss_numpy > floor)


# %% [markdown]
# To watch the mistake train, we write the from-logits loss out, exactly as the JAX and PyTorch backends compute it
# (a custom loss, so the rescue does not reach it),
# $-\log \operatorname{softmax}(s)_c$ for scores $s$, check that it equals Keras's loss, and train two small MLPs
# from the same initial weights with the same optimizer: one with logits output (correct), one with a softmax
# output layer (the mistake).

# %%
def from_logits_loss(y_true, scores):
    """-log softmax(scores)[y]: what SparseCategoricalCrossentropy(from_logits=True) computes, per sample."""
    labels = keras.ops.cast(keras.ops.reshape(y_true, (-1, 1)), "int32")
    log_p = keras.ops.log_softmax(scores, axis=-1)
    return -keras.ops.take_along_axis(log_p, labels, axis=-1)[:, 0]


scores = np.random.default_rng(0).normal(size=(6, 10)).astype("float32")
labels = np.arange(6)
keras_per_sample = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(labels, scores)
print("same as Keras's loss:", np.allclose(keras.ops.convert_to_numpy(from_logits_loss(labels, scores)),
                                           keras.ops.convert_to_numpy(keras_per_sample), atol=1e-6))

# %%
# NBVAL_IGNORE_OUTPUT
pit_histories, pit_probs = {}, {}
for name, activation in [("logits output (correct)", None), ("softmax output + from_logits (mistake)", "softmax")]:
    net = small_mlp(activation, name="softmax_twice" if activation else "logits_once")
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=from_logits_loss, metrics=["accuracy"])
    pit_histories[name] = net.fit(
        x_pit, y_pit, epochs=PIT_EPOCHS, batch_size=128, validation_data=(x_val, y_val), verbose=0
    ).history
    out = net.predict(x_val, verbose=0)
    pit_probs[name] = keras.ops.convert_to_numpy(keras.ops.softmax(out)) if activation is None else out


def calibration(probs: np.ndarray, y: np.ndarray, train_loss: float) -> dict[str, float]:
    """Accuracy, mean confidence (largest probability) and cross-entropy of the predicted probabilities."""
    true_class_prob = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    return {
        "final training loss": train_loss,
        "val accuracy": float(np.mean(probs.argmax(axis=1) == y)),
        "mean confidence": float(probs.max(axis=1).mean()),
        "val cross-entropy of the probabilities": float(-np.log(true_class_prob).mean()),
    }


rows = {name: calibration(probs, y_val, pit_histories[name]["loss"][-1]) for name, probs in pit_probs.items()}
pd.DataFrame(rows).T.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, hist in pit_histories.items():
    epochs = np.arange(1, len(hist["loss"]) + 1)
    axes[0].plot(epochs, hist["loss"], "o-", label=name)
    axes[1].plot(epochs, hist["val_accuracy"], "o-", label=name)
axes[0].axhline(floor, color="gray", ls="--", label="floor log(1 + 9/e)")
axes[0].set(title="training loss", xlabel="epoch", ylabel="loss")
axes[1].set(title="validation accuracy", xlabel="epoch", ylabel="accuracy")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Symptoms.** Trained with the hand-written loss, the mistaken model's training loss flattens just above the floor of 1.461 (about 1.53 after the
# last epoch) while its validation accuracy is a respectable 0.92. Where there is no rescue (other backends, custom losses),
# a training loss that plateaus between $\log 10 \approx 2.30$ and the floor 1.46 (here 1.53 after five epochs)
# on a 10-class problem is the fingerprint of this bug. From the same initial weights it trails the correct model
# at every epoch (0.924 vs 0.941 after five; one seed, so read the size of the gap loosely), and its mean
# confidence is above its accuracy (0.956 vs 0.924: over-confident), while the correct model's is a little below
# its own (0.924 vs 0.941); its lower accuracy and its over-confidence together give a worse cross-entropy (0.335 vs 0.219). **Fix:** linear output plus
# `from_logits=True` (preferred), or softmax output plus `from_logits=False`, never both softmaxes.
#
# ### Pitfall 2: one-hot labels with a sparse loss
#
# `SparseCategoricalCrossentropy` expects one integer per sample. Given one-hot rows, Keras 3 stops with a
# shape error as soon as `fit` runs. We catch it here on purpose, to read the message:

# %%
demo = small_mlp(None, name="label_mismatch_demo")
demo.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
y_onehot_pit = keras.utils.to_categorical(y_train[:256], num_classes=10)
try:
    demo.fit(x_train[:256], y_onehot_pit, batch_size=32, epochs=1, verbose=0)
except ValueError as err:
    print(f"{type(err).__name__}: {str(err).splitlines()[0]}")

# %% [markdown]
# The message says the labels have the same rank as the output, `(32, 10)`, where a sparse loss needs one rank
# less. **Fix:** pass the integer labels, or use `CategoricalCrossentropy` with the one-hot ones.
#
# ### Pitfall 3: integer labels with a categorical loss
#
# The mirror image: `CategoricalCrossentropy` needs a full probability row per sample, one-hot, and integer
# labels do not have one.

# %%
demo.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
try:
    demo.fit(x_train[:256], y_train[:256], batch_size=32, epochs=1, verbose=0)
except ValueError as err:
    print(f"{type(err).__name__}: {str(err).splitlines()[0]}")

# %% [markdown]
# **Fix:** `keras.utils.to_categorical(y, num_classes)` for a categorical loss, or switch to the sparse loss.
# Both mismatches fail loudly in Keras 3, which is the good case: read the shapes in the message, they say which
# side is which. Not every mismatch is loud, though: `binary_crossentropy` with 10 sigmoid outputs and one-hot labels (a
# multi-label loss on a single-label problem) trains without any error. In older Keras (tf.keras 2) its
# `"accuracy"` then became *binary* accuracy, averaged over the 10 outputs: about 0.9 for a model that says "no"
# to every class. Keras 3 chooses the accuracy from the shapes of the labels and outputs, not from the loss:

# %%
demo_bce = small_mlp("sigmoid", name="binary_loss_demo")
demo_bce.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
demo_bce.fit(x_train[:256], y_onehot_pit, batch_size=32, epochs=1, verbose=0)  # trains: no error, no warning
print('"accuracy" with binary_crossentropy, one-hot labels and 10 outputs is computed by:',
      [type(metric).__name__ for metric in demo_bce.metrics[-1].metrics])
all_no = np.zeros_like(y_onehot_pit)  # a model that says "no" to every class
print(f"binary accuracy of that all-\"no\" model: {float(keras.metrics.BinaryAccuracy()(y_onehot_pit, all_no)):.2f}")

# %% [markdown]
# So in Keras 3 the number you see with `metrics=["accuracy"]` is the ordinary one; the 0.9 trap returns only
# if you ask for `"binary_accuracy"` yourself.
#
# ### Pitfall 4: mean squared error as a classification loss
#
# Squared error on softmax probabilities, $L = \sum_k (p_k - y_k)^2$, does train a classifier. Its gradient with
# respect to the logits passes through the softmax Jacobian,
# $$\frac{\partial L}{\partial z_j} = 2 \sum_k (p_k - y_k)\, p_k \big(\mathbb{1}[k=j] - p_j\big),$$
# and every term carries a factor $p_k$. Two consequences:
#
# - **Saturation.** When the model is confidently wrong ($p_c \approx 0$) the gradient nearly vanishes, exactly
#   where cross-entropy's $p - y$ is largest. The figure below shows it for the true class's term:
#   $-\log p_c$ against $(1 - p_c)^2$ (plus, dotted, the full sum's worst case), and the size of their gradients with respect to the true class's logit,
#   $1 - p_c$ against $2 p_c (1 - p_c)^2$.
# - **Scale.** Near a uniform prediction ($p_k = 1/K$, where training starts: the untrained small MLP above scores close to
#   $\log 10$, though its largest probability averages 0.17 rather than 0.10) the formula reduces to
#   $\frac{2}{K}(p - y) = 0.2\,(p - y)$ for $K = 10$: five times smaller than cross-entropy's gradient. Keras's
#   `"mse"` also averages over the $K$ outputs, which makes it fifty times smaller. With the same learning rate,
#   part of any gap is therefore just a smaller step, not saturation.

# %%
p_c = np.linspace(0.001, 1, 500)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(p_c, -np.log(p_c), label=r"cross-entropy $-\log p_c$")
axes[0].plot(p_c, (1 - p_c) ** 2, label=r"squared error, true-class term $(1 - p_c)^2$")
axes[0].plot(p_c, 2 * (1 - p_c) ** 2, ":", label=r"full squared error, worst case $p_w = 1 - p_c$")
axes[0].set(title="loss", xlabel="probability of the true class $p_c$", ylim=(0, 4))
axes[1].plot(p_c, 1 - p_c, label=r"cross-entropy: $1 - p_c$")
axes[1].plot(p_c, 2 * p_c * (1 - p_c) ** 2, label=r"squared error: $2 p_c (1 - p_c)^2$")
axes[1].set(title=r"gradient size w.r.t. the true logit $z_c$", xlabel="probability of the true class $p_c$")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()


# %% [markdown]
# On the left, a confidently wrong prediction ($p_c \to 0$) costs cross-entropy without bound, but the true-class
# squared-error term at most 1 and the full sum at most 2 (dotted: all the remaining probability on one wrong
# class); on the right, squared error's gradient peaks at $p_c = 1/3$ and falls to 0 as $p_c \to 0$, while
# cross-entropy's is largest there.
#
# We train the small MLP from the same initial weights with plain SGD (Adam divides out a constant factor in the
# gradient, which would hide the scale effect) and one-hot labels: cross-entropy and the sum of squared errors, each at
# learning rates 0.1 and 0.5, plus Keras's `"mse"` at 0.1 as a blog post would write it. Squared error at 0.5
# starts with the same step size as cross-entropy at 0.1 (five times the rate for a gradient five times smaller;
# it is also exactly `"mse"` at rate 5). Then one run with Adam: `"mse"` against the Adam cross-entropy run of
# Pitfall 1 (same data, initial weights, optimizer and epochs; it also differs in ways that are mathematically
# equivalent: integer vs one-hot labels, the hand-written `from_logits_loss` vs a built-in loss, a linear output vs
# a softmax layer, and hence sparse vs categorical accuracy).

# %%
# NBVAL_IGNORE_OUTPUT
def sum_squared_error(y_true, probs):
    return keras.ops.sum(keras.ops.square(y_true - probs), axis=-1)


y_pit_onehot = keras.utils.to_categorical(y_pit, num_classes=10)
y_val_onehot = keras.utils.to_categorical(y_val, num_classes=10)
cross_entropy = keras.losses.CategoricalCrossentropy(from_logits=True)
loss_runs = {  # name: (output activation, loss, optimizer)
    "cross-entropy, SGD 0.1": (None, cross_entropy, keras.optimizers.SGD(learning_rate=0.1)),
    "cross-entropy, SGD 0.5": (None, cross_entropy, keras.optimizers.SGD(learning_rate=0.5)),
    "squared error, SGD 0.1": ("softmax", sum_squared_error, keras.optimizers.SGD(learning_rate=0.1)),
    "squared error, SGD 0.5": ("softmax", sum_squared_error, keras.optimizers.SGD(learning_rate=0.5)),
    'Keras "mse", SGD 0.1': ("softmax", "mse", keras.optimizers.SGD(learning_rate=0.1)),
    'Keras "mse", Adam 1e-3': ("softmax", "mse", keras.optimizers.Adam(1e-3)),
}
mse_histories = {}
for name, (activation, loss, optimizer) in loss_runs.items():
    net = small_mlp(activation, name="loss_comparison")
    net.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    mse_histories[name] = net.fit(
        x_pit, y_pit_onehot, epochs=PIT_EPOCHS, batch_size=128, validation_data=(x_val, y_val_onehot), verbose=0
    ).history
mse_histories["cross-entropy, Adam 1e-3 (Pitfall 1)"] = pit_histories["logits output (correct)"]
final_val = pd.Series({name: hist["val_accuracy"][-1] for name, hist in mse_histories.items()},
                      name=f"val accuracy after {PIT_EPOCHS} epochs")
final_val.round(4).to_frame()

# %%
sgd_runs = [name for name in mse_histories if "Adam" not in name and "mse" not in name]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name in sgd_runs:
    hist = mse_histories[name]
    axes[0].plot(np.arange(1, len(hist["val_accuracy"]) + 1), hist["val_accuracy"], "o-", label=name)
mse_hist = mse_histories['Keras "mse", SGD 0.1']
axes[1].plot(np.arange(1, len(mse_hist["val_accuracy"]) + 1), mse_hist["val_accuracy"], "o-", color="gray",
             label='Keras "mse", SGD 0.1')
axes[0].set(title="cross-entropy vs squared error, plain SGD", xlabel="epoch", ylabel="validation accuracy")
axes[1].set(title='Keras "mse" (its own axis)', xlabel="epoch", ylabel="validation accuracy")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Symptom:** slower learning at the same settings; but most of the story is the gradient's scale. From the
# table (one seed, 10,000 training images, five epochs):
# - at the same learning rate cross-entropy ends ahead of squared error: 0.903 vs 0.884 at rate 0.1, and
#   0.943 vs 0.926 at rate 0.5;
# - Keras's `"mse"` at rate 0.1, with its fifty-times-smaller gradient, reaches only 0.634 (right panel), the number a blog
#   post comparing the two losses at one rate would report;
# - squared error at rate 0.5, which starts with the same step size as cross-entropy at 0.1, ends *ahead* of
#   it (0.926 vs 0.903; in the left panel of the figure its curve starts below cross-entropy at 0.1 and is above
#   it from epoch 2 on). Changing the rate five-fold moved each loss by about 4 points, more than switching
#   the loss at a fixed rate (about 2 points); so a same-rate comparison is not a clean measure of saturation;
# - with Adam, which divides out a constant factor in the gradient (not the different shape of squared error's), `"mse"` and cross-entropy end within 0.3 points of each
#   other (0.938 vs 0.941), a tie for a single seed.
#
# So squared error is not hopeless on MNIST once its learning rate is scaled, and the saturation in the figure
# above is not what dominates here. Cross-entropy still ended ahead at each rate we tried, needs no rescaled
# rate, and keeps a large gradient on confidently wrong examples, where squared error's fades. **Fix:** cross-entropy for
# classification; keep MSE for regression.
#
# ### Pitfall 5: `SGD(lr=0.01)` from older code
#
# Keras 1 named the learning rate `lr`, and Keras 2 still accepted the name with a deprecation warning, so older blog posts
# write `keras.optimizers.SGD(lr=0.01)`. Keras 3 rejects the unknown argument as soon as the optimizer is created:

# %%
try:
    keras.optimizers.SGD(lr=0.01)  # code from older Keras versions
except ValueError as err:
    print(f"{type(err).__name__}: {err}")
optimizer = keras.optimizers.SGD(learning_rate=0.01)  # the fix: the argument's full name
print("fixed:", type(optimizer).__name__, "with learning_rate =", f"{float(optimizer.learning_rate):g}")

# %% [markdown]
# **Fix:** `learning_rate=`, for every optimizer (`Adam(lr=…)` fails the same way). The error names the
# argument, so the fix is quick; the risk is copying the line into code that catches exceptions broadly.
#
# ## Results
#
# The headline: the MLP of section 5, trained on the training split only, scored once on the 10,000 test images.
# Its training time depends on the machine (and here on how busy it was), so it is reported, not checked.

# %%
# NBVAL_IGNORE_OUTPUT
du.report(
    "03_mlp_with_keras",
    test_accuracy=test_accuracy,
    test_loss=test_loss,
    train_seconds=round(train_seconds, 1),
    train_images_per_second=round(images_per_second),
    epochs=EPOCHS,
    params=model.count_params(),
)

# %%
# Check: the MLP learned (quick: 6,000 images, 2 epochs; full: 55,000 images, 12 epochs), and the pitfalls
# showed the symptoms the text describes. No wall-clock time is checked: machines differ 2-3x in speed.
assert test_accuracy >= du.pick(full=0.982, quick=0.85), test_accuracy
mistake, correct = rows["softmax output + from_logits (mistake)"], rows["logits output (correct)"]
assert mistake["final training loss"] > floor, mistake  # the double softmax cannot go below the floor
assert du.is_quick() or mistake["mean confidence"] > mistake["val accuracy"], mistake  # over-confident
assert du.is_quick() or correct["val accuracy"] > mistake["val accuracy"], (correct, mistake)
for lr in ("0.1", "0.5"):  # at the same learning rate, cross-entropy ahead of squared error
    assert du.is_quick() or final_val[f"cross-entropy, SGD {lr}"] > final_val[f"squared error, SGD {lr}"], final_val
assert du.is_quick() or final_val['Keras "mse", SGD 0.1'] < final_val["cross-entropy, SGD 0.1"] - 0.1, final_val
print("checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Retrain on all 60,000 images.** Concatenate the training and validation splits, train a fresh model for
#    the same `EPOCHS`, and report its test accuracy next to ours. With 60,000 images an epoch has 469 steps, not
#    430: recompute `steps_per_epoch` and `decay_steps` so that the schedule still ends at the last step. This is a
#    second, final measurement of a different model, not a tuning step. Why can you no longer check the number of
#    epochs on a validation curve, and what are you relying on instead?
# 2. **Width vs depth.** Replace 512-256 by 256-256-256 and by 1024, keeping dropout; compare the parameter
#    counts (by formula first), the training time and the validation accuracy.
# 3. **Pitfall 1 with SGD.** Rerun the softmax-plus-`from_logits` comparison with `keras.optimizers.SGD(0.1)`
#    instead of Adam. Does the mistake cost more or less accuracy than with Adam, and why (think of Adam's
#    per-parameter rescaling)?
# 4. **Calibration.** Bin the validation predictions (`val_probs`) by confidence (0.5–0.6, …, 0.9–1.0) and plot the accuracy in each
#    bin against its mean confidence (a reliability diagram). Is the headline model over- or under-confident?
#
# **Next:** [04 · training deep networks](04_training_deep_networks.ipynb): optimizers, initialisation,
# batch normalisation, regularisation and learning-rate schedules, the knobs behind the recipe used here.
