# %% [markdown]
# # 05 · Evaluation and tuning: metrics that tell the truth, cross-validation, hyperparameter search, TensorBoard
#
# **What you will learn**
# - why **accuracy** misleads on an imbalanced problem, and what to report instead: precision, recall, F1,
#   the confusion matrix, the **ROC curve** (ROC-AUC) and the **precision–recall curve** (average precision);
#   and, with more than two classes, what **macro, micro and weighted F1** average;
# - how to **choose a decision threshold** on validation data (for a required recall, or for the best F1) and only
#   then apply it to the test set, with the two classes' **score histograms** to see what a threshold cuts;
# - what **class weights** do to a classifier (they move its operating point, the (recall, precision) pair at its threshold, and its probabilities, as a
#   **reliability diagram** shows; they do not make it rank better);
# - **stratified k-fold cross-validation** of a Keras model (a fresh model per fold), how much a score moves
#   across **random seeds**, and why a bigger validation set makes the *estimate* less variable, not the model better;
# - **hyperparameter search** with KerasTuner: grid search, random search, Bayesian optimization and Hyperband on
#   the same search space and the same budget of training epochs, compared like with like;
# - logging a run to **TensorBoard** (scalars, weight histograms, hyperparameters) and reading it back.
#
# **Prerequisites:** [03_mlp_with_keras](03_mlp_with_keras.ipynb) (dense networks, `fit`, losses) and
# [04_training_deep_networks](04_training_deep_networks.ipynb) (Adam, dropout, learning rates);
# [01_data_preprocessing](01_data_preprocessing.ipynb) introduced stratified splits and k-fold on a table.
# **Data:** Fashion-MNIST (Zalando, MIT licence), turned into a rare-class detection problem: *is this image a
# shirt?*, with shirts kept at 5 % of the images.
# **Run time (full profile, 2-core CPU):** 9.3 minutes, measured on a shared machine that was running other jobs at the same
# time, so expect less on an idle one (the README table holds the latest run); most of it is the four searches and the retraining of their winners.

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %%
import shutil
import warnings
from pathlib import Path

import keras
import keras_tuner as kt
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers
from sklearn.calibration import calibration_curve
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.class_weight import compute_class_weight
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api as hparams_api

pd.set_option("display.width", 120)
# This notebook builds many small models in loops; TensorFlow then logs a harmless "triggered tf.function
# retracing" warning about each new model's predict function. Show only errors from TensorFlow's Python logger.
tf.get_logger().setLevel("ERROR")
SEED = 42

# Scratch folders (git-ignored), emptied at every run so that a re-run starts fresh. Seeding makes re-runs repeat
# closely, not bitwise: multithreaded TensorFlow kernels may sum in a different order unless
# tf.config.experimental.enable_op_determinism() is on (slower), so trained numbers can move in the last digits.
ARTIFACTS = Path("artifacts/05_evaluation_and_tuning")  # KerasTuner projects
LOGS = Path("logs/05_evaluation_and_tuning")  # TensorBoard event files
for folder in (ARTIFACTS, LOGS):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

# %% [markdown]
# ## 1. A rare-class problem
#
# Many real classification problems are **imbalanced**: fraudulent payments, defective parts, a disease in a
# screening population. The class we care about — the **positive** class — is the rare one, and missing it is usually
# the expensive mistake.
#
# We build such a problem from Fashion-MNIST. The positive class is **Shirt** (class 6), the hardest of the ten
# classes: shirts look like T-shirts, pullovers and coats, so the task is not trivially separable. Fashion-MNIST has
# 6,000 shirts among 60,000 training images (10 %); we keep all non-shirts and a random subset of shirts so that
# **shirts are 5 % of the images** — in the training file *and* in the test file, because the test set must look like
# the data the model will meet in use. The label is $y = 1$ for a shirt and $y = 0$ for anything else.

# %%
(train_images, train_labels), (test_images, test_labels) = du.data.load_fashion_mnist()
CLASSES = du.data.FASHION_MNIST_CLASSES
POSITIVE = CLASSES.index("Shirt")
POSITIVE_FRACTION = 0.05


def make_rare(images, labels, rng):
    """Keep every non-shirt and just enough random shirts that shirts are POSITIVE_FRACTION of the result."""
    positives, negatives = np.flatnonzero(labels == POSITIVE), np.flatnonzero(labels != POSITIVE)
    n_keep = round(POSITIVE_FRACTION / (1 - POSITIVE_FRACTION) * len(negatives))
    keep = np.sort(np.concatenate([negatives, rng.choice(positives, n_keep, replace=False)]))
    x = images[keep].reshape(len(keep), -1).astype("float32") / 255.0  # 784 pixels in [0, 1]
    y = (labels[keep] == POSITIVE).astype("int32")
    return x, y, labels[keep]


rng = np.random.default_rng(SEED)
x_dev, y_dev, dev_classes = make_rare(train_images, train_labels, rng)
x_test, y_test, test_classes = make_rare(test_images, test_labels, rng)

# The training file is split, stratified, into train (fit the weights) and validation (every choice we make).
x_train, x_val, y_train, y_val, train_classes, val_classes = train_test_split(
    x_dev, y_dev, dev_classes, test_size=0.2, stratify=y_dev, random_state=SEED
)
pd.DataFrame.from_dict(
    {name: {"images": len(y), "shirts": int(y.sum()), "shirt fraction": round(y.mean(), 4)}
     for name, y in [("train", y_train), ("validation", y_val), ("test", y_test)]},
    orient="index",
)

# %%
shown = np.concatenate([np.flatnonzero(y_train == 1)[:8], np.flatnonzero(y_train == 0)[:16]])
du.plot.image_grid(
    x_train[shown].reshape(-1, 28, 28), labels=[CLASSES[c] for c in train_classes[shown]], ncols=8,
    title="First row: shirts (positive); other rows: everything else (negative)",
)
plt.show()

# %% [markdown]
# The quick profile (CI) uses random subsets of the training and validation rows; the test set stays complete in
# both profiles.

# %%
# NBVAL_IGNORE_OUTPUT
x_train, y_train, train_classes = du.take(x_train, y_train, train_classes, quick=4000)
x_val, y_val, val_classes = du.take(x_val, y_val, val_classes, quick=3000)
print(f"rows used: train {len(y_train)} ({int(y_train.sum())} shirts), validation {len(y_val)} ({int(y_val.sum())} shirts)")

# %% [markdown]
# ## 2. The accuracy trap
#
# **Idea.** A model that answers "not a shirt" for every image never finds a single shirt, yet its accuracy equals
# the fraction of negatives:
#
# $$\text{accuracy}(\text{always } 0) = \frac{\#\{y = 0\}}{N} = 1 - \pi, \qquad \pi = P(y = 1) = 0.05 .$$
#
# So on this problem 95 % accuracy is the *floor*, not an achievement.

# %%
always_negative = np.zeros_like(y_test)
always_negative_accuracy = accuracy_score(y_test, always_negative)
print(f"'always not-a-shirt' on the test set: accuracy {always_negative_accuracy:.4f}, "
      f"recall {recall_score(y_test, always_negative):.4f} (it finds none of the {int(y_test.sum())} shirts)")

# %% [markdown]
# Now a real model: a small dense network (784 → 128 ReLU → dropout → 1 sigmoid) that outputs
# $\hat p(x) = P(y = 1 \mid x)$, trained with binary cross-entropy. Besides accuracy, we ask Keras to track the area
# under the precision–recall curve (`AUC(curve="PR")`, logged as `auc_pr`), an approximation of the *average
# precision* that section 3 defines.

# %%
EPOCHS = du.pick(full=10, quick=2)
BATCH = du.pick(full=256, quick=32)  # quick: few rows, so smaller batches to get enough steps to learn anything


def build_mlp(units=128, dropout=0.2, learning_rate=1e-3, n_layers=1, name="shirt_mlp"):
    """A dense binary classifier; the default arguments are our hand-picked baseline."""
    model = keras.Sequential([keras.Input(shape=(784,), name="pixels")], name=name)
    for i in range(n_layers):
        model.add(layers.Dense(units, activation="relu", name=f"hidden_{i + 1}"))
        model.add(layers.Dropout(dropout, name=f"dropout_{i + 1}"))
    model.add(layers.Dense(1, activation="sigmoid", name="p_shirt"))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(curve="PR", name="auc_pr")],
    )
    return model


build_mlp().summary()

# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(SEED)
baseline = build_mlp()
with du.Timer() as timer:
    history = baseline.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=BATCH,
                           validation_batch_size=1024, verbose=2)
print(f"trained in {timer.seconds:.1f} s, {EPOCHS * len(y_train) / timer.seconds:,.0f} training images/s "
      "(including the validation passes; the machine may be shared)")
p_val = baseline.predict(x_val, batch_size=1024, verbose=0).ravel()
p_test = baseline.predict(x_test, batch_size=1024, verbose=0).ravel()

# %%
fig = du.plot.learning_curves(history, metrics=["loss", "accuracy", "auc_pr"], title="Baseline MLP, shirt vs rest")
accuracy_ax = fig.axes[1]
accuracy_ax.axhline(always_negative_accuracy, color="black", ls=":", label="always 'not a shirt'")
accuracy_ax.set_ylim(0.9, 1.0)
accuracy_ax.legend()
plt.show()

# %% [markdown]
# Drawn next to its floor (the dotted line), the accuracy curve stays within a couple of points of it: accuracy is
# dominated by the easy negatives. The AUC-PR curve moves much more (in the log above, validation AUC-PR rises by
# more than ten points over the ten epochs, validation accuracy by little more than one) — it is the one that watches the shirts.
#
# Why do the *training* curves start below the validation ones (lower AUC-PR, higher loss at epoch 1)? Two reasons.
# Keras reports a training metric as a **running average over the epoch's batches**, taken while the weights are
# still improving, whereas the validation value is measured once, with the weights at the end of the epoch. And
# **dropout** is active while training (it switches off a fifth of the hidden units in every batch) and off when
# validating. Note also that validation AUC-PR is still creeping up and validation loss still falling at the last
# epoch: more training might still help (section 9 comes back to this). At the default threshold of 0.5, on the
# test set:

# %%
# NBVAL_IGNORE_OUTPUT
y_pred_05 = (p_test >= 0.5).astype(int)
test_accuracy = accuracy_score(y_test, y_pred_05)
print(f"model accuracy {test_accuracy:.4f}   vs   'always not-a-shirt' {always_negative_accuracy:.4f}")
du.metrics.classifier_report(y_test, y_pred_05, ["not shirt", "shirt"])

# %% [markdown]
# The two accuracies are a point or two apart, while the per-class rows tell the real story: the "not shirt" row
# is nearly perfect whatever the model does, and the "shirt" row shows how many shirts are found (recall) and how
# trustworthy a "shirt" alarm is (precision).
#
# ## 3. Precision, recall, F1, ROC and PR curves
#
# **Math.** With TP, FP, FN, TN the counts of the confusion matrix (positive = shirt):
#
# $$\text{precision} = \frac{TP}{TP + FP}, \qquad \text{recall} = \text{TPR} = \frac{TP}{TP + FN}, \qquad
# F_1 = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}}, \qquad
# \text{FPR} = \frac{FP}{FP + TN}.$$
#
# Precision answers "when the model says *shirt*, how often is it right?"; recall answers "what fraction of the
# shirts does it find?". $F_1$ is their harmonic mean, which is low when *either* is low. None of them gives
# credit for the true negatives, which is exactly why they are informative here.
#
# All four depend on the **threshold** $t$ in $\hat y = [\hat p(x) \ge t]$. Sweeping $t$ from 1 down to 0 traces
# two curves:
# - the **ROC curve**: TPR against FPR. Its area, **ROC-AUC**, equals the probability that a random shirt gets a
#   higher score than a random non-shirt, $P(\hat p(x^+) > \hat p(x^-))$: 0.5 for random scores, 1 for a perfect
#   ranking. It does not depend on the class balance — which is both its strength and, here, its weakness: with 19
#   negatives per positive, a small FPR is still many false alarms.
# - the **precision–recall curve**: precision against recall. Its summary, **average precision**,
#   $\text{AP} = \sum_n (R_n - R_{n-1})\,P_n$ (precision at each threshold, weighted by the recall gained there),
#   has chance level $\pi = 0.05$, not 0.5, and reacts strongly to false positives among many negatives. On rare
#   classes, AP is the more honest summary.
#
# Keras's `AUC(curve="PR")` of section 2 estimates the same area as AP, but differently (on 200 fixed thresholds,
# with interpolation between them, and during training as a running value over batches), so `auc_pr` and AP are
# close but not equal; the second line below compares them on the validation set, for the same trained model.
# The other numbers are computed by `sklearn.metrics` from the predicted probabilities on the test set, to
# illustrate the metrics: no choice is made from them.

# %%
# NBVAL_IGNORE_OUTPUT
test_roc_auc = roc_auc_score(y_test, p_test)
test_average_precision = average_precision_score(y_test, p_test)
print(f"test ROC-AUC {test_roc_auc:.4f} (chance 0.5)   test average precision {test_average_precision:.4f} "
      f"(chance {y_test.mean():.2f})")
print(f"validation, same model: sklearn AP {average_precision_score(y_val, p_val):.4f}, "
      f"Keras AUC-PR after the last epoch {history.history['val_auc_pr'][-1]:.4f}")
print(f"at threshold 0.5: precision {precision_score(y_test, y_pred_05, zero_division=0):.4f}, "
      f"recall {recall_score(y_test, y_pred_05):.4f}, F1 {f1_score(y_test, y_pred_05):.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
RocCurveDisplay.from_predictions(y_test, p_test, name="baseline MLP", ax=axes[0], plot_chance_level=True)
axes[0].set_title("ROC curve (test)")
PrecisionRecallDisplay.from_predictions(y_test, p_test, name="baseline MLP", ax=axes[1], plot_chance_level=True)
axes[1].set_title("Precision–recall curve (test)")
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The ROC curve hugs the top-left corner and looks excellent; the PR curve shows the same model more soberly:
# precision falls steadily as we ask for more recall, because finding the last shirts means accepting many
# T-shirts, pullovers and coats. The confusion matrix at threshold 0.5, and which classes the false alarms come from:

# %%
du.plot.confusion_matrix(y_test, y_pred_05, class_names=["not shirt", "shirt"], title="Test set, threshold 0.5")
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
false_alarms = pd.Series([CLASSES[c] for c in test_classes[(y_pred_05 == 1) & (y_test == 0)]]).value_counts()
print("false positives by true class:\n" + false_alarms.to_string())

# %% [markdown]
# **More than two classes: macro, micro and weighted F1.** Precision, recall and F1 are defined per class
# (one class against the rest). A multi-class problem has one F1 per class, and a single summary must say how it
# averages them ($K$ classes, $n_k$ test images of class $k$, $N = \sum_k n_k$):
#
# $$F_1^{\text{macro}} = \frac{1}{K}\sum_k F_1^{(k)}, \qquad
# F_1^{\text{weighted}} = \sum_k \frac{n_k}{N} F_1^{(k)}, \qquad
# F_1^{\text{micro}} = F_1\Big(\textstyle\sum_k TP_k,\ \sum_k FP_k,\ \sum_k FN_k\Big).$$
#
# Macro counts every class equally, so a class that the model handles badly pulls it down however few images it has; weighted counts
# every *image* equally, so it follows the big classes; micro pools all decisions, and when each image has exactly
# one true and one predicted label, every false positive of one class is a false negative of another, so micro
# precision = micro recall = micro F1 = **accuracy**. To see them differ, we train a similar dense network (784 → 128 ReLU → 10 softmax, without
# dropout) on the first `MULTI_ROWS` = 12,000 of our training rows with their ten original labels (shirts are 5 % of these rows, each
# other class about 10.5 %):

# %%
# NBVAL_IGNORE_OUTPUT
MULTI_ROWS = du.pick(full=12_000, quick=3_000)
keras.utils.set_random_seed(SEED)
ten_class = keras.Sequential([keras.Input(shape=(784,), name="pixels"), layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax")], name="ten_class_mlp")
ten_class.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
ten_class.fit(x_train[:MULTI_ROWS], train_classes[:MULTI_ROWS], epochs=EPOCHS, batch_size=BATCH, verbose=0)
test_classes_pred = ten_class.predict(x_test, batch_size=1024, verbose=0).argmax(axis=1)

per_class_f1 = pd.DataFrame({"test images": np.bincount(test_classes, minlength=10),
                             "F1": f1_score(test_classes, test_classes_pred, average=None)}, index=CLASSES)
print(per_class_f1.T.round(3).to_string())
f1_averages = {average: f1_score(test_classes, test_classes_pred, average=average)
               for average in ("macro", "weighted", "micro")}
multi_accuracy = accuracy_score(test_classes, test_classes_pred)
print("  ".join(f"{k} F1 {v:.4f}" for k, v in f1_averages.items()) + f"   accuracy {multi_accuracy:.4f}")

# %% [markdown]
# Read the per-class row first: Shirt has by far the lowest F1 (about 0.43, against 0.74 for the next worst,
# Pullover). Shirt is both the rarest class here and the hardest one — it is the hardest even in the balanced
# Fashion-MNIST (section 1) — so this run cannot say how much of its low F1 comes from having half the examples.
# Macro F1 gives Shirt the same say as every other class, weighted F1 gives it about half the say of the others (it
# has about half the images), so macro ends up a little below weighted; micro F1 equals the accuracy, as the identity
# above says. Report macro F1 when the rare classes matter as much as the common ones, and always show the per-class
# numbers beside any average.

# %% [markdown]
# ## 4. Choosing the decision threshold — on validation data
#
# **Idea.** 0.5 is only a default. The right threshold depends on what errors cost: a quality check that must catch
# 90 % of the shirts needs a low threshold; a system that must rarely raise a false alarm needs a high one. The
# threshold is a **hyperparameter**, so it is chosen on the **validation** set, and the test set is used once, at the
# end, to measure the chosen rule.
#
# Two common rules, both read off the validation precision–recall curve:
# 1. **required recall**: the highest threshold whose validation recall is at least $r^\* = 0.90$ (highest, to keep
#    precision as high as possible);
# 2. **best F1**: $t^\* = \arg\max_t F_1(t)$ on validation.

# %%
REQUIRED_RECALL = 0.90


def threshold_table(y_true, scores):
    """Precision, recall and F1 at every distinct threshold (sklearn's precision_recall_curve)."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall), where=precision + recall > 0)
    return pd.DataFrame({"threshold": thresholds, "precision": precision, "recall": recall, "f1": f1})


val_curve = threshold_table(y_val, p_val)
t_recall = val_curve.loc[val_curve["recall"] >= REQUIRED_RECALL, "threshold"].max()
t_f1 = val_curve.loc[val_curve["f1"].idxmax(), "threshold"]

fig, ax = plt.subplots(figsize=(7, 4))
for col in ("precision", "recall", "f1"):
    ax.plot(val_curve["threshold"], val_curve[col], label=col)
ax.axvline(0.5, color="gray", ls=":", label="default 0.5")
ax.axvline(t_recall, color="tab:red", ls="--", label=f"recall ≥ {REQUIRED_RECALL}")
ax.axvline(t_f1, color="tab:green", ls="--", label="max F1")
ax.set(xlabel="threshold t", ylabel="score", title="Validation set: metrics against the threshold")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# The plot above hides *why* the metrics trade off. The scores themselves show it: below are the validation
# scores of the two classes, with the three thresholds. Everything right of a line is called "shirt": shirts left
# of it are missed (false negatives), non-shirts right of it are false alarms (false positives).

# %%
# NBVAL_IGNORE_OUTPUT
fig, ax = plt.subplots(figsize=(8, 3.8))
bins = np.linspace(0, 1, 51)
# Outlines, not filled bars: filled bars with transparency would mix into a third colour where they overlap.
ax.hist(p_val[y_val == 0], bins=bins, histtype="step", lw=1.5, color="tab:blue",
        label=f"not shirt ({int((y_val == 0).sum()):,})")
ax.hist(p_val[y_val == 1], bins=bins, histtype="step", lw=1.5, color="tab:orange", label=f"shirt ({int(y_val.sum()):,})")
for t, color, style, name in [(0.5, "gray", ":", "default"), (t_recall, "tab:red", "--", f"recall ≥ {REQUIRED_RECALL}"),
                              (t_f1, "tab:green", "--", "max F1")]:
    ax.axvline(t, color=color, ls=style, label=f"{name}: t = {t:.3f}")
ax.set_yscale("log")
ax.set(xlabel="predicted probability of 'shirt'", ylabel="validation images (log scale)",
       title="Validation scores by true class, with the thresholds")
ax.legend(fontsize=8)
plt.show()
for low in (0.6, 0.8):
    print(f"scores ≥ {low}: {int((p_val[y_val == 0] >= low).sum())} non-shirts, {int((p_val[y_val == 1] >= low).sum())} shirts")
print(f"highest score of a non-shirt: {p_val[y_val == 0].max():.3f}")


# %% [markdown]
# Most negatives sit in the first bin, near 0, and they thin out steadily towards higher scores; a few reach up to
# about 0.83 (the counts below the plot: 14 non-shirts score 0.6 or more, the highest 0.834). The shirts are spread
# over the whole range, roughly 10 to 40 per bin; above about 0.6 they dominate (183 shirts against those 14
# non-shirts) but are not alone until about 0.85. No threshold separates the two histograms: moving the line left
# catches more of the orange mass (recall) and lets in more of the blue (precision falls). Because the axis is
# logarithmic, a blue step that looks only a little higher than an orange one can hold several times as many
# images — that is what a 19-to-1 imbalance does to precision.

# %% [markdown]
# Raising $t$ trades recall for precision; F1 peaks where neither has collapsed. Now we freeze both thresholds and
# apply them to the test set:

# %%
# NBVAL_IGNORE_OUTPUT
def scores_at(y_true, scores, t):
    y_hat = (scores >= t).astype(int)
    return {"threshold": t, "precision": precision_score(y_true, y_hat, zero_division=0),
            "recall": recall_score(y_true, y_hat), "f1": f1_score(y_true, y_hat),
            "accuracy": accuracy_score(y_true, y_hat)}


rules = {"default 0.5": 0.5, f"recall ≥ {REQUIRED_RECALL} (val)": t_recall, "max F1 (val)": t_f1}
threshold_results = pd.DataFrame(
    {(rule, part): scores_at(y, p, t) for rule, t in rules.items() for part, y, p in
     [("validation", y_val, p_val), ("test", y_test, p_test)]}
).T.round(4)
test_f1_at_threshold = threshold_results.loc[("max F1 (val)", "test"), "f1"]
threshold_results

# %% [markdown]
# The validation rows are what we chose on; the test rows are what the rule delivers on unseen data. They are
# close but not identical — the test recall of the "recall ≥ 0.9" rule can land a little below 0.9, because a
# threshold tuned on one sample of shirts is applied to another. That gap is the honest uncertainty of the rule;
# reporting the validation numbers as if they were test numbers would hide it.
#
# ## 5. Class weights
#
# **Idea.** With 19 negatives per shirt, the loss is dominated by negatives, and a network trained with plain
# binary cross-entropy is cautious about saying "shirt". **Class weights** multiply each example's loss by a weight
# for its class:
#
# $$L = -\frac{1}{N}\sum_{i=1}^{N} w_{y_i}\,\big[y_i \log \hat p_i + (1 - y_i)\log(1 - \hat p_i)\big],
# \qquad w_c = \frac{N}{2\,N_c}\ \ (\text{"balanced"}),$$
#
# so both classes contribute equally in total. What does that change? For a flexible model, the weighted loss is
# minimized by $\hat p' = \dfrac{w_1 p}{w_1 p + w_0 (1 - p)}$ instead of the true probability $p$: the scores are
# pushed up monotonically, and $\hat p' \ge 0.5 \iff p \ge \dfrac{w_0}{w_0 + w_1} = \pi$. In the ideal case,
# **class weights are a threshold shift**: the ranking of images (hence ROC-AUC and AP) stays about the same, and the
# 0.5 threshold of the weighted model behaves like a threshold of $\pi = 0.05$ on the unweighted one. In practice
# the optimization also changes (each shirt's loss now counts $w_1 = 10$ times, each non-shirt's about half), so the
# two trained models are not exactly equivalent. Keras takes the weights as `fit(..., class_weight={0: w0, 1: w1})`.
#
# Two words for what follows. A classifier's **operating point** is the (recall, precision) pair it delivers at its
# chosen threshold: one point on its precision–recall curve. And one trained model is one draw: retraining the same
# recipe with another random seed moves its scores by a few hundredths of AP (section 6 measures it), so a single
# pair of runs compares recipes only roughly. As in section 4, we compare the two models on the **validation** set,
# where choices are made, and show the test set only for the record.

# %%
# NBVAL_IGNORE_OUTPUT
weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=y_train)
class_weight = {0: float(weights[0]), 1: float(weights[1])}
print("balanced class weights:", {k: round(v, 3) for k, v in class_weight.items()})

keras.utils.set_random_seed(SEED)  # same initial weights and batch order as the baseline
weighted = build_mlp(name="shirt_mlp_weighted")
weighted.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, class_weight=class_weight, verbose=0)
p_val_weighted = weighted.predict(x_val, batch_size=1024, verbose=0).ravel()
p_test_weighted = weighted.predict(x_test, batch_size=1024, verbose=0).ravel()

comparison = pd.DataFrame(
    {(name, part): {"ROC-AUC": roc_auc_score(y, p), "average precision": average_precision_score(y, p),
                    **{k: v for k, v in scores_at(y, p, 0.5).items() if k != "threshold"}}
     for name, p_v, p_t in [("no weights", p_val, p_test), ("balanced weights", p_val_weighted, p_test_weighted)]
     for part, y, p in [("validation", y_val, p_v), ("test (for the record)", y_test, p_t)]}
).T.round(4)
recall_no_weights = comparison.loc[("no weights", "test (for the record)"), "recall"]
recall_class_weights = comparison.loc[("balanced weights", "test (for the record)"), "recall"]
print("threshold 0.5:")
comparison

# %%
fig, ax = plt.subplots(figsize=(6, 4.5))
for name, p, color in [("no weights", p_val, "tab:blue"), ("balanced weights", p_val_weighted, "tab:orange")]:
    PrecisionRecallDisplay.from_predictions(y_val, p, name=name, ax=ax, curve_kwargs={"color": color})
    at_05 = scores_at(y_val, p, 0.5)
    ax.plot(at_05["recall"], at_05["precision"], "o", ms=9, color=color, mec="black", label=f"{name}: threshold 0.5")
ax.set_title("Validation PR curves: class weights move the operating point")
ax.grid(alpha=0.3)
ax.legend(loc="lower left")
plt.show()


# %%
# NBVAL_IGNORE_OUTPUT
def precision_at_recall(y_true, scores, recalls):
    """The best precision reachable with recall of at least r, for each r (the interpolated PR curve)."""
    precision, recall, _ = precision_recall_curve(y_true, scores)
    return [precision[recall >= r].max() for r in recalls]


RECALL_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
precision_table = pd.DataFrame(
    {name: precision_at_recall(y_val, p, RECALL_LEVELS)
     for name, p in [("no weights", p_val), ("balanced weights", p_val_weighted)]},
    index=pd.Index(RECALL_LEVELS, name="recall ≥"),
).T
precision_table.loc["difference"] = precision_table.loc["balanced weights"] - precision_table.loc["no weights"]
print("validation precision at fixed recall:")
precision_table.round(3)

# %% [markdown]
# The curves do **not** keep the same shape. On validation the balanced-weights curve lies below the
# unweighted one at every recall level of the table from 0.1 to 0.8, by 3 to 11 points of precision, and the two tie
# at 0.9, where both models accept many T-shirts, pullovers and coats. Average precision falls from 0.668 to 0.617
# and ROC-AUC from 0.958 to 0.953: in this run class weights did not make the ranking better. It is one seed each,
# and the difference of two single runs varies by about $\sqrt{2}$ times the seed-to-seed sd that section 6
# measures (about 0.04 in AP, on a smaller set), i.e. by about 0.055 — the size of this gap. So the gap is
# suggestive, not proven; 3–5 seeds per arm would settle it. What the weights did do is move the operating point:
# the dots, the 0.5 thresholds, sit far apart; with balanced weights the model finds most shirts at the price of many
# more false alarms. The same trade is available without retraining, by lowering the threshold of the unweighted
# model on validation data (section 4). Class weights are often said to matter most when the model's capacity or
# training time is limited and the rare class would otherwise be ignored: an expectation that this notebook does
# not test (Exercise 1 does, with a smaller positive fraction). The test rows of the table, for the record, show the
# same pattern (AP 0.631 against 0.576).
#
# **Are the scores probabilities?** A classifier is **calibrated** when, among the images it scores about $s$, a
# fraction $s$ are positives. A **reliability diagram** (`sklearn.calibration.calibration_curve`) bins the scores
# and plots, per bin, the observed fraction of positives against the mean score; a calibrated model lies on the
# diagonal. Section 5's algebra predicts what class weights do: if the unweighted model were calibrated, the
# weighted one would return $s = w_1 p/(w_1 p + w_0(1-p))$, so a weighted score $s$ would mean a true probability
# $p = w_0 s/(w_0 s + w_1(1 - s))$ — the dashed curve.

# %%
# NBVAL_IGNORE_OUTPUT
w0, w1 = class_weight[0], class_weight[1]
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.plot([0, 1], [0, 1], color="black", lw=1, label="perfectly calibrated")
s = np.linspace(0.001, 0.999, 200)
ax.plot(s, w0 * s / (w0 * s + w1 * (1 - s)), "--", color="tab:orange", lw=1,
        label="ideal weighted model (algebra of §5)")
calibration_bins = np.linspace(0, 1, 11)
bin_counts = {}
for name, p, color in [("no weights", p_val, "tab:blue"), ("balanced weights", p_val_weighted, "tab:orange")]:
    observed, mean_score = calibration_curve(y_val, p, n_bins=10, strategy="uniform")
    ax.plot(mean_score, observed, "o-", color=color, label=name)
    bin_counts[name] = np.histogram(p, bins=calibration_bins)[0]
ax.set(xlabel="mean predicted probability in the bin", ylabel="fraction of shirts in the bin",
       title="Reliability diagram (validation, 10 equal-width bins)", xlim=(0, 1), ylim=(0, 1))
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="upper left")
plt.show()
print("validation images per bin (a point resting on few images is noisy):")
print(pd.DataFrame(bin_counts, index=[f"{a:.1f}–{b:.1f}" for a, b in zip(calibration_bins[:-1], calibration_bins[1:], strict=True)]).T.to_string())
calibration = pd.DataFrame(
    {name: {"mean score": p.mean(), "shirt fraction": y_val.mean(), "Brier score": brier_score_loss(y_val, p)}
     for name, p in [("no weights", p_val), ("balanced weights", p_val_weighted)]}
).T
calibration.round(4)

# %% [markdown]
# The unweighted model is roughly calibrated at low scores, where almost all images are (its points lie close to the
# diagonal up to a score of about 0.55), and under-confident above 0.6: there its points lie 0.1–0.15 above the
# diagonal (for example 0.81 of the images scored about 0.65 are shirts), but those bins hold only 35–61 images each
# (see the counts). Its mean score, 0.046, matches the 5 % of shirts — necessary for calibration, not sufficient.
# The weighted model's points lie far below the diagonal — in the bins around 0.5 only about one image in eight is a
# shirt — and its mean score is about three times the real shirt fraction, with a Brier score (mean squared error of
# the probabilities) about two and a half times worse. Its points sit between the diagonal and the dashed curve,
# closer to the curve: the weights distorted the scores in the direction the algebra predicts, somewhat less than
# the ideal amount (the trained network is not the exact minimizer the algebra assumes). So if a downstream decision
# needs probabilities (expected costs, risk scores), train without weights and move the threshold, or recalibrate the
# weighted scores on validation data: fit a 1-D map from score to probability on the validation scores, such as
# `sklearn.isotonic.IsotonicRegression` or a `LogisticRegression` on the logit of the score (Platt scaling), or
# apply the inverse formula above. (`sklearn.calibration.CalibratedClassifierCV` expects an sklearn estimator; a
# Keras model would need a wrapper.)

# %% [markdown]
# ## 6. Cross-validation of a Keras model, and seed-to-seed variation
#
# **Idea.** A single validation score is one draw from a noisy process. Two sources of noise matter:
# **which rows** landed in the validation split, and **which random seed** initialized the weights and shuffled the
# batches. **Stratified k-fold cross-validation** addresses the first: split the data into $k$ folds with the same
# class balance, train a *fresh* model on $k - 1$ folds, score it on the held-out fold, and repeat for every fold:
#
# $$\bar s = \frac{1}{k}\sum_{j=1}^{k} s_j, \qquad \text{sd} = \sqrt{\frac{1}{k-1}\sum_{j=1}^{k}(s_j - \bar s)^2}.$$
#
# $\bar s$ estimates how well *this recipe* (architecture + training procedure) generalizes; sd shows how much one
# split's score can differ from it. (The folds share training rows, so $\text{sd}/\sqrt{k}$ understates the
# uncertainty of $\bar s$.) Every fold uses the **same seed**; that fixes the initial weights, but on different
# training rows the batches and hence the training path still differ, so the fold-to-fold sd holds data noise *plus*
# training noise. Then, separately, we keep **one split** fixed and vary only the seed: that measures training
# noise alone.
#
# Cross-validation multiplies training cost by $k$, so for this and the search below we use a stratified
# **subset** of the training rows. A *fresh* model per fold matters: reusing a trained model would let it start each
# fold having already seen that fold's held-out rows.

# %%
SEARCH_ROWS = du.pick(full=12_000, quick=3_000)
x_small, _, y_small, _ = train_test_split(x_train, y_train, train_size=SEARCH_ROWS, stratify=y_train, random_state=SEED)
K = du.pick(full=5, quick=2)
CV_EPOCHS = du.pick(full=8, quick=2)


def fit_and_score(x_fit, y_fit, x_eval, y_eval, seed, epochs=CV_EPOCHS):
    """Train a fresh baseline MLP with a given seed; return (training AP, held-out AP)."""
    keras.utils.set_random_seed(seed)
    model = build_mlp()
    model.fit(x_fit, y_fit, epochs=epochs, batch_size=BATCH, verbose=0)
    ap_fit = average_precision_score(y_fit, model.predict(x_fit, batch_size=1024, verbose=0).ravel())
    ap_eval = average_precision_score(y_eval, model.predict(x_eval, batch_size=1024, verbose=0).ravel())
    return ap_fit, ap_eval


# %%
# NBVAL_IGNORE_OUTPUT
folds = StratifiedKFold(n_splits=K, shuffle=True, random_state=SEED)
cv_rows = []
with du.Timer() as timer:
    for fold, (fit_idx, held_idx) in enumerate(folds.split(x_small, y_small), start=1):
        ap_fit, ap_held = fit_and_score(x_small[fit_idx], y_small[fit_idx], x_small[held_idx], y_small[held_idx], SEED)
        cv_rows.append({"fold": fold, "held-out shirts": int(y_small[held_idx].sum()),
                        "training AP": ap_fit, "held-out AP": ap_held})
cv_table = pd.DataFrame(cv_rows).set_index("fold")
cv_mean, cv_std = cv_table["held-out AP"].mean(), cv_table["held-out AP"].std(ddof=1)
print(f"{K}-fold CV in {timer.seconds:.0f} s: held-out average precision {cv_mean:.4f} ± {cv_std:.4f} (mean ± sd)")
cv_table.round(4)

# %%
# NBVAL_IGNORE_OUTPUT
N_SEEDS = du.pick(full=5, quick=2)
x_fit, x_held, y_fit, y_held = train_test_split(x_small, y_small, test_size=1 / K, stratify=y_small, random_state=SEED)
seed_scores = pd.Series([fit_and_score(x_fit, y_fit, x_held, y_held, seed)[1] for seed in range(N_SEEDS)],
                        index=pd.Index(range(N_SEEDS), name="seed"), name="held-out AP")
seed_std = seed_scores.std(ddof=1)
print(f"one fixed split, {N_SEEDS} seeds: held-out AP {seed_scores.mean():.4f} ± {seed_std:.4f} (mean ± sd)")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(cv_table.index, cv_table["held-out AP"], "o", ms=8, label="k folds, one seed")
seed_x = K + 1.0 + np.linspace(-0.2, 0.2, N_SEEDS)  # spread sideways so that equal scores stay visible
ax.plot(seed_x, seed_scores, "s", ms=7, color="tab:orange", alpha=0.8, label="another split, several seeds")
ax.hlines(cv_mean, 0.6, K + 0.4, color="tab:blue", ls="--", lw=1)
ax.fill_between([0.6, K + 0.4], cv_mean - cv_std, cv_mean + cv_std, color="tab:blue", alpha=0.12,
                label="CV mean ± sd (folds only)")
ax.axvline(K + 0.5, color="gray", lw=1)
ax.set_xticks(list(cv_table.index) + [K + 1], [f"fold {i}" for i in cv_table.index] + ["seeds\n(another split)"])
ax.set(ylabel="held-out average precision", title="Variation across folds and across seeds")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The two spreads are of the same size (0.024 across folds, data plus training noise; 0.039 across
# seeds on one split, training noise alone; with five values each, a standard deviation is itself uncertain by about
# ±35 %, so this run cannot say which is larger). The seed runs use a split that is none of the five folds, so their
# mean is not comparable with the CV mean. Consequences: a difference between two models smaller than these spreads
# is not evidence that one is better; report a mean ± sd over folds or seeds, not the single best run.
#
# Note also the **training AP** column of the fold table: about 0.58–0.63, only 6 to 13 points above the held-out
# AP. A network with 100,000 weights scoring so low on the 9,600 rows it was trained on *looks* like it is
# **underfitting** — it has not learned even its training set well. The gap between training and held-out AP is a
# generalization gap, and it can exist in an underfitting model too; section 9 tests the diagnosis by training
# longer.
#
# **A bigger validation set improves the estimate, not the model.** A popular claim is that "a bigger validation
# set improves generalization". The model never learns from its validation rows, so their number cannot change it;
# what it changes is how precisely we *measure* the model. To see it, keep the baseline model fixed and draw many
# fresh validation sets of a given size (with replacement from our 11,369 validation rows, which stand in for the
# population), and look at how much its average precision varies from draw to draw:

# %%
# NBVAL_IGNORE_OUTPUT
VAL_SIZES = [300, 1_000, 3_000, 10_000]
N_DRAWS = du.pick(full=200, quick=50)
draw_rng = np.random.default_rng(SEED)
val_size_ap = pd.DataFrame(
    [{"size": n, "AP": average_precision_score(y_val[idx], p_val[idx])}
     for n in VAL_SIZES for idx in (draw_rng.integers(0, len(y_val), n) for _ in range(N_DRAWS))]
)
val_size_table = val_size_ap.groupby("size")["AP"].describe(percentiles=[0.05, 0.95])[["mean", "std", "5%", "95%"]]
full_val_ap = average_precision_score(y_val, p_val)
print(f"the same baseline model, AP on all {len(y_val):,} validation rows: {full_val_ap:.4f}; {N_DRAWS} draws per size:")
val_size_table.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].boxplot([val_size_ap.loc[val_size_ap["size"] == n, "AP"] for n in VAL_SIZES], whis=(5, 95), showfliers=False)
axes[0].set_xticks(range(1, len(VAL_SIZES) + 1), [f"{n:,}" for n in VAL_SIZES])
axes[0].axhline(full_val_ap, color="black", ls="--", lw=1, label="AP on all validation rows")
axes[0].set(xlabel="validation set size", ylabel="average precision",
            title="One fixed model, measured on many validation sets")
axes[0].legend(fontsize=8)
axes[1].loglog(VAL_SIZES, val_size_table["std"], "o-", label="sd across draws")
axes[1].loglog(VAL_SIZES, val_size_table["std"].iloc[0] * np.sqrt(VAL_SIZES[0] / np.array(VAL_SIZES)), "k:",
               label=r"$\propto 1/\sqrt{n}$")
axes[1].set(xlabel="validation set size n", ylabel="sd of the AP estimate", title="Spread of the estimate")
axes[1].legend(fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()


# %% [markdown]
# The boxes (whiskers at the 5th and 95th percentiles) are centred on the same value at every size — it is the same
# model: the means are 0.663–0.669, against 0.668 on all the validation rows — and they narrow as the validation
# set grows. With 300 rows (about 15 shirts) one draw could have reported this model anywhere from 0.43 to 0.84;
# with 10,000 rows, from 0.63 to 0.71. The standard deviation falls from 0.125 to 0.022 over that range, close to the
# $1/\sqrt{n}$ line: ten times more rows buy an about three times smaller sd. That is worth having: a threshold, an
# early-stopping epoch or a hyperparameter chosen on a noisy estimate is a noisier choice, and the winner of many
# noisy comparisons is more optimistic (section 9). But rows moved from training to validation are rows the model
# does not learn from; a larger validation set never makes the model itself better.

# %% [markdown]
# ## 7. Hyperparameter search with KerasTuner
#
# **Idea.** Hyperparameters (width, depth, dropout, learning rate, …) are chosen by training models and comparing
# their **validation** scores. A **search space** says which values are allowed; a **search strategy** decides
# which configurations to try within a **budget**. In KerasTuner a function `build(hp)` declares the space while it
# builds a model, and a tuner decides the values.
#
# Our space (the same for all four tuners): 1–3 hidden layers; 32–256 units in steps of 32; dropout 0–0.5 in steps
# of 0.1; and a learning rate from $10^{-4}$ to $10^{-2}$ on a **log scale** (`sampling="log"`): with a
# multiplicative step of $\sqrt{10}$ the allowed values are $10^{-4}, 3.2\cdot10^{-4}, 10^{-3}, 3.2\cdot10^{-3},
# 10^{-2}$, because $10^{-4}\to10^{-3}$ matters as much as $10^{-3}\to10^{-2}$. Every value is discrete, so grid
# search can use the same space: $3 \times 8 \times 6 \times 5 = 720$ combinations. The objective is the
# validation AUC-PR that Keras computes each epoch (an approximation of average precision on 200 thresholds); a
# trial's score is its best epoch. Models train on the same 12,000-row subset as the cross-validation and are
# scored on the validation split.

# %%
def build_trial(hp):
    """The search space: KerasTuner calls this for every trial, with the values it chose in hp."""
    return build_mlp(
        n_layers=hp.Int("n_layers", 1, 3),
        units=hp.Int("units", 32, 256, step=32),
        dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
        learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, step=10**0.5, sampling="log"),
    )


HP_NAMES = ["n_layers", "units", "dropout", "learning_rate"]
OBJECTIVE = kt.Objective("val_auc_pr", direction="max")
TRIAL_EPOCHS = du.pick(full=6, quick=2)  # epochs of a full-length trial
# A throwaway tuner, only to print the search space that build_trial() declares:
kt.RandomSearch(build_trial, objective=OBJECTIVE, max_trials=1, directory=ARTIFACTS, project_name="space",
                overwrite=True).search_space_summary()


# %% [markdown]
# **The four strategies, and their budgets.**
# - **Grid search** tries every combination of the allowed values, in a fixed order. KerasTuner's `GridSearch`
#   starts from each hyperparameter's default (here its smallest value) and advances the *last* declared
#   hyperparameter first, like an odometer. A budget smaller than the grid therefore covers only its first corner.
# - **Random search** draws each trial independently from the space. It is simple, embarrassingly parallel and a
#   strong baseline, because usually only a few hyperparameters matter and random draws try many different values of
#   each of them (a grid of $m$ points per axis tries only $m$).
# - **Bayesian optimization** fits a **surrogate**, a cheap stand-in for the expensive map hyperparameters → score,
#   to the trials seen so far. KerasTuner's surrogate is a **Gaussian process**, a model that predicts, for every
#   untried configuration, a mean score and an uncertainty (sd) that is small near tried configurations and large
#   far from them. An **acquisition function** turns that prediction into the next trial; KerasTuner uses the
#   **upper confidence bound**, mean + β·sd, and tries the configuration where it is highest: optimism under
#   uncertainty, which favours both configurations predicted to be good and unexplored ones. Its first `num_initial_points` trials are random (KerasTuner's default is 3 × the number of
#   hyperparameters, which would make our whole budget random; we set 3).
# - **Hyperband** starts many configurations with a tiny budget and keeps only the best of them for a longer budget
#   (*successive halving*), in several *brackets* that trade "many short trials" against "few long ones". With
#   `max_epochs` $E$ and `factor` 3, bracket $s$ ($s = 0, 1, \dots$ while $E/3^s \ge 1$) starts
#   $\lceil \lceil 1 + \log_3 E\rceil\,3^s/(s+1)\rceil$ models at $\lceil E/3^s\rceil$ epochs each, and keeps the best
#   third (rounded up) for 3× longer, up to $E$ epochs. For $E = 6$: 5 models at 2 epochs → the best 2 continue to 6;
#   then 3 models at 6 epochs. KerasTuner continues a promoted model from its saved weights (not from scratch), so a
#   trial costs `tuner/epochs − tuner/initial_epoch` epochs.
#
# **Same budget.** We run Hyperband first with $E$ = `TRIAL_EPOCHS`, count the epochs it actually trained, and give
# the other three the same number of epochs: that many trials of $E$ epochs each, rounded. The budget is counted in
# **epochs**, not in seconds or FLOPs: an epoch of a 3 × 256 network costs several times one of a 1 × 32 network, so
# equal epochs favour a tuner that picks big models (the "seconds" column below shows how unequal the time was). The budget is kept small
# so that the notebook runs in minutes; the comparison at the end of this section says what such a budget can and
# cannot tell. Random search, Bayesian optimization and Hyperband draw their random configurations with the same
# seed, so they start from the same first configuration (printed below). The trials' *training* seeds are not
# shared, though, so even that identical configuration scores differently in each search: the printed first-trial
# scores show how much training noise alone can move one trial — and that noise depends on the configuration (it is
# large for a slow learning rate that is far from converged after a few epochs).

# %%
# NBVAL_IGNORE_OUTPUT
def run_search(tuner, name):
    """Run a search silently; return (one row per trial, in the order the trials ran; seconds)."""
    with du.Timer() as timer:
        tuner.search(x_small, y_small, validation_data=(x_val, y_val), epochs=TRIAL_EPOCHS, batch_size=BATCH,
                     validation_batch_size=1024, verbose=0)
    rows = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        values = trial.hyperparameters.values
        rows.append({"tuner": name, "trial": int(trial.trial_id) + 1, "score": trial.score,
                     "length": values.get("tuner/epochs", TRIAL_EPOCHS),  # the epoch a trial ends at
                     "epochs": values.get("tuner/epochs", TRIAL_EPOCHS) - values.get("tuner/initial_epoch", 0),
                     **{k: values[k] for k in HP_NAMES}})
    table = pd.DataFrame(rows)
    table["best so far"] = table["score"].cummax()
    table["epochs so far"] = table["epochs"].cumsum()
    return table, timer.seconds


tuners, searches = {}, {}
with warnings.catch_warnings():
    # Hyperband loads the weights of the trial it continues into a fresh model whose optimizer is not built yet,
    # so Keras warns that it skips the optimizer's saved state; the continued trial restarts Adam's moments.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    tuners["Hyperband"] = kt.Hyperband(build_trial, objective=OBJECTIVE, max_epochs=TRIAL_EPOCHS, factor=3, seed=SEED,
                                       directory=ARTIFACTS, project_name="hyperband", overwrite=True)
    searches["Hyperband"] = run_search(tuners["Hyperband"], "Hyperband")

hyperband_epochs = int(searches["Hyperband"][0]["epochs"].sum())
MAX_TRIALS = max(2, round(hyperband_epochs / TRIAL_EPOCHS))
print(f"Hyperband trained {hyperband_epochs} epochs in {len(searches['Hyperband'][0])} trials "
      f"-> grid, random and Bayesian search get {MAX_TRIALS} trials of {TRIAL_EPOCHS} epochs")

# %%
tuners["Grid search"] = kt.GridSearch(build_trial, objective=OBJECTIVE, max_trials=MAX_TRIALS,
                                     directory=ARTIFACTS, project_name="grid", overwrite=True)
tuners["Random search"] = kt.RandomSearch(build_trial, objective=OBJECTIVE, max_trials=MAX_TRIALS, seed=SEED,
                                         directory=ARTIFACTS, project_name="random", overwrite=True)
tuners["Bayesian optimization"] = kt.BayesianOptimization(
    build_trial, objective=OBJECTIVE, max_trials=MAX_TRIALS, num_initial_points=3, seed=SEED,
    directory=ARTIFACTS, project_name="bayesian", overwrite=True)
for name in ("Grid search", "Random search", "Bayesian optimization"):
    with warnings.catch_warnings():
        # The Gaussian process may hit a bound of its length scales on so few points; its fit is still usable.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        searches[name] = run_search(tuners[name], name)

# %%
# NBVAL_IGNORE_OUTPUT
all_trials = pd.concat([table for table, _ in searches.values()], ignore_index=True)
summary = pd.DataFrame.from_dict({
    name: {"trials": len(table), "epochs trained": int(table["epochs"].sum()), "seconds": round(seconds, 1),
           "best val AUC-PR in search": round(table["score"].max(), 4),
           **{k: table.loc[table["score"].idxmax(), k] for k in HP_NAMES}}
    for name, (table, seconds) in searches.items()
}, orient="index")
summary["learning_rate"] = summary["learning_rate"].map(lambda v: f"{v:.1e}")
search_best = summary["best val AUC-PR in search"]
distinct_values = all_trials.groupby("tuner", sort=False)[HP_NAMES].nunique()
print("best trial of each search:")
print(summary.to_string())
print("\nhow many different values of each hyperparameter each search tried:")
print(distinct_values.to_string())
print("\nfirst trial of each search:")
print(all_trials.groupby("tuner", sort=False)[HP_NAMES + ["length", "score"]].first().round(4).to_string())

# %%
fig, axes = plt.subplots(1, 5, figsize=(17, 4), gridspec_kw={"width_ratios": [1.4, 1, 1, 1, 1]}, layout="constrained")
for name, (table, _) in searches.items():
    axes[0].step(table["epochs so far"], table["best so far"], where="post", marker="o", ms=3, label=name)
axes[0].set(xlabel="epochs trained so far", ylabel="best validation AUC-PR so far", title="Progress per epoch of budget")
axes[0].legend(fontsize=7)
axes[0].grid(alpha=0.3)
norm = plt.Normalize(all_trials.loc[all_trials["length"] == TRIAL_EPOCHS, "score"].min(), all_trials["score"].max())
for ax, (name, (table, _)) in zip(axes[1:], searches.items(), strict=True):
    # Nudge each trial a little (by its number) so that trials with the same configuration do not hide each other.
    jitter = 10 ** (0.25 * (table["trial"] - table["trial"].mean()) / len(table))
    x, y = table["learning_rate"] * jitter, table["units"] + 30 * (table["trial"] - table["trial"].mean()) / len(table)
    full = table["length"] == TRIAL_EPOCHS
    points = ax.scatter(x[full], y[full], c=table.loc[full, "score"], cmap="viridis", norm=norm,
                        s=25 + 25 * table.loc[full, "n_layers"], edgecolors="black")
    ax.scatter(x[~full], y[~full], facecolors="none", edgecolors="gray", s=25 + 25 * table.loc[~full, "n_layers"])
    for xi, yi, d in zip(x, y, table["dropout"], strict=True):
        ax.annotate(f"{d:.1f}", (xi, yi), xytext=(5, 3), textcoords="offset points", fontsize=6)
    ax.set_xscale("log")
    ax.set(xlim=(5e-5, 2e-2), ylim=(0, 280), xlabel="learning rate", title=f"{name} ({len(table)} trials)")
    ax.grid(alpha=0.3)
axes[1].set_ylabel("units per layer")
fig.colorbar(points, ax=axes[1:], label="full-length trial's val AUC-PR", fraction=0.02)
fig.suptitle("Where each search looked: marker size = layers, label = dropout, hollow grey = short Hyperband trial",
             fontsize=9)
plt.show()

# %% [markdown]
# Read the left panel per epoch of budget, not per trial: Hyperband's trials are mostly short, so it
# runs more of them (10 against 6) for the same 36 epochs; all four searches end between 0.51 and 0.55. The four
# small panels show *where* each search looked (learning rate across, units up, marker size for the number of
# layers, the small label for dropout; each trial is nudged a little so that repeated configurations stay visible,
# and Hyperband's 2-epoch trials are drawn hollow, because their scores are not comparable with 6-epoch ones). Grid
# search, walking its 720-point grid in order, spends its whole budget in one corner of the space: the printed counts
# say it tried all five learning rates and two dropout values, but only one depth and one width (1 layer of 32
# units). The other three spread their trials over all four hyperparameters. This is not quite the failure of grids
# that Bergstra and Bengio (2012) describe. Theirs is a *complete* coarse grid that fits the budget: with two values
# per axis it tests only two values of each hyperparameter, wherever the important ones are, while random draws test
# as many values as there are trials. Ours is a fine grid far larger than the budget, so the search never leaves its
# first corner. Exercise 3 builds the coarse grid.
#
# **Comparing the tuners like with like.** The "best in search" column is not a fair ranking. Each number is the
# maximum over that tuner's trials, each trial ran with one random seed, and a maximum of noisy scores is optimistic.
# So we retrain each tuner's winner, and the hand-picked baseline, from scratch with fresh seeds, on the same rows,
# for the same epochs, and score them with the same metric on the same validation rows as the search did. That
# removes the seed luck of the search runs, but not all selection bias: the winners were picked on these same
# validation rows, whose own sampling noise (sd about 0.02 in AP on 10,000 rows, section 6) they may have ridden. And
# it is the search's setting — 6 epochs on 12,000 rows, where the baseline is still far from converged (section 9) —
# not the setting the final model is trained in; section 8 checks the pick there.

# %%
# NBVAL_IGNORE_OUTPUT
N_RETRAIN_SEEDS = du.pick(full=3, quick=2)
BASELINE_CONFIG = {"n_layers": 1, "units": 128, "dropout": 0.2, "learning_rate": 1e-3}
candidates = {"baseline (hand-picked)": BASELINE_CONFIG}
for name, tuner in tuners.items():
    best = tuner.get_best_hyperparameters(1)[0].values
    candidates[f"{name} winner"] = {k: best[k] for k in HP_NAMES}


def retrain_score(config, seed):
    """Train a configuration from scratch exactly as a full-length trial; return its best validation AUC-PR."""
    keras.utils.set_random_seed(seed)
    model = build_mlp(**config)
    history = model.fit(x_small, y_small, validation_data=(x_val, y_val), epochs=TRIAL_EPOCHS, batch_size=BATCH,
                        validation_batch_size=1024, verbose=0)
    return max(history.history["val_auc_pr"])


retrained = {}
for name, config in candidates.items():
    same = [other for other in retrained if candidates[other] == config]  # two tuners may pick the same config
    retrained[name] = retrained[same[0]] if same else [retrain_score(config, 1000 + i) for i in range(N_RETRAIN_SEEDS)]
like_for_like = pd.DataFrame.from_dict({
    name: {**{k: config[k] for k in HP_NAMES},
           "best in search": search_best.get(name.removesuffix(" winner"), np.nan),
           "retrained mean": np.mean(retrained[name]), "retrained sd": np.std(retrained[name], ddof=1)}
    for name, config in candidates.items()
}, orient="index")
like_for_like["learning_rate"] = like_for_like["learning_rate"].map(lambda v: f"{v:.1e}")
retrained_sd = float(np.mean([np.std(v, ddof=1) for v in retrained.values()]))
print(f"val AUC-PR (best epoch), {N_RETRAIN_SEEDS} fresh seeds each; typical seed-to-seed sd {retrained_sd:.4f}")
like_for_like.round(4)

# %% [markdown]
# Three things to read in this table.
# - **The search scores were optimistic.** Retrained, three of the four winners score lower than in the search
#   (Hyperband 0.553 → 0.525, random 0.533 → 0.518, grid 0.510 → 0.486). The sizes of these drops come from single
#   search runs, whose seed noise is as large as the drops, so they cannot be ranked. The Bayesian winner scores a
#   little higher retrained (0.548 → 0.561), within the seed noise of its single search run. How large that noise
#   can be, the first trials show: the same configuration (2 × 32, dropout 0.2, learning rate $3.2\cdot10^{-4}$,
#   6 epochs) scored 0.344 in random search and 0.444 in Bayesian optimization, a 0.10 gap from training noise
#   alone, about five times the retrained seed sd below — a slow learning rate after 6 epochs is far from converged.
# - **Against a seed-to-seed sd of about 0.015–0.025**, the Hyperband and random-search winners are tied with the
#   hand-picked baseline (0.525 and 0.518 against 0.527); the grid winner, from the corner the grid explored, is about
#   0.04 worse; only the Bayesian winner (2 layers of 32 units, no dropout, learning rate $10^{-2}$) is ahead, by
#   0.034, about twice the seed sd — with three seeds each, and still chosen on these validation rows, a lead that is
#   suggestive rather than settled.
# - **The tuners rank differently** by their best search score and after retraining. With 6–10 trials and noise of
#   this size, one run of each search cannot say which *strategy* is better; that takes many repetitions of each
#   search. Bayesian optimization and Hyperband are designed for larger spaces and budgets (dozens to hundreds of
#   trials); on a budget like this one, random search is a sensible default, and a grid much larger than the budget,
#   as here, explores only a corner.

# %% [markdown]
# ## 8. TensorBoard: logging a run and reading it back
#
# **Idea.** TensorBoard is TensorFlow's dashboard for training runs. Keras writes **event files** through the
# `keras.callbacks.TensorBoard` callback: scalars (loss and metrics per epoch, in `train/` and `validation/`
# subfolders), the model graph, and with `histogram_freq=1` a **histogram of every weight tensor** after each epoch —
# handy to spot dead layers or exploding weights. The **HParams** plugin's `KerasCallback` records the run's
# hyperparameters, so that the dashboard can table and compare runs by hyperparameter.
#
# We retrain the search's pick (the tuner winner with the best retrained score, here the Bayesian
# one) on the full training split, for the same 10 epochs and batch size as the baseline, and log it.

# %%
# NBVAL_IGNORE_OUTPUT
pick_name = like_for_like.drop(index="baseline (hand-picked)")["retrained mean"].idxmax()
best_values = candidates[pick_name]
print(f"search's pick ({pick_name}):", {k: round(v, 5) for k, v in best_values.items()})
run_dir = LOGS / "best_tuned"
keras.utils.set_random_seed(SEED)
tuned = build_mlp(**best_values, name="shirt_mlp_tuned")
tuned_history = tuned.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=BATCH,
                          validation_batch_size=1024, verbose=0,
                          callbacks=[keras.callbacks.TensorBoard(log_dir=str(run_dir), histogram_freq=1),
                                     hparams_api.KerasCallback(str(run_dir), best_values, trial_id="best_tuned")])
# The decision is made on validation: both models, trained on the full training split for EPOCHS epochs.
p_val_tuned = tuned.predict(x_val, batch_size=1024, verbose=0).ravel()
for label, h in [("baseline", history.history), ("tuned   ", tuned_history.history)]:
    best_epoch = int(np.argmax(h["val_auc_pr"]))
    print(f"{label} validation AUC-PR: best {h['val_auc_pr'][best_epoch]:.4f} at epoch {best_epoch + 1}, "
          f"last {h['val_auc_pr'][-1]:.4f}")
tuned_val_average_precision = average_precision_score(y_val, p_val_tuned)
print(f"validation AP after {EPOCHS} epochs: tuned {tuned_val_average_precision:.4f}, baseline {full_val_ap:.4f} "
      f"(difference {tuned_val_average_precision - full_val_ap:+.4f})")
# The test set, once, for the record.
p_test_tuned = tuned.predict(x_test, batch_size=1024, verbose=0).ravel()
tuned_test_average_precision = average_precision_score(y_test, p_test_tuned)
print(f"test, for the record: tuned AP {tuned_test_average_precision:.4f}, baseline AP {test_average_precision:.4f}")


# %% [markdown]
# **Did the search pay off?** Not here. Trained on the full training split for the same 10 epochs as
# the baseline, the search's pick scores a lower validation AP than the baseline (printed above; one seed each, so a
# difference of this size is within the seed noise of section 6, about 0.04 per run). It learns faster at first — in the
# curves below its validation AUC-PR is at or above the baseline's (§2 log) for the first five epochs — but it peaks
# at epoch 5 at 0.648, already below the 0.667 the baseline reaches at epoch 10, and ends at 0.646. So its
# overfitting after epoch 5 costs only about 0.002; the baseline simply keeps improving for longer. The likelier cause is the search's setting.
# Each trial ran only 6 epochs on 12,000 rows and was scored at its best epoch; that rewards configurations that
# learn *fast* (a learning rate of $10^{-2}$), while section 9 shows the baseline is still underfit after so few
# epochs. The search's pick differs from the baseline in all four hyperparameters (depth, width, dropout, learning
# rate), so this run cannot say which of them cost it. Two lessons: tune in the setting you will train in (the same
# rows and epochs, with the same stopping rule), or at least re-check the winner there on validation data before
# adopting it — as we just did; and the winner's validation score is the maximum of many noisy scores, so it is
# optimistic (the same effect as the threshold leak of §9). The test AP, printed once for the record, points the same way (0.607 against 0.631).
#
# To look at these logs in the dashboard, run in a terminal, from the project root:
#
# ```bash
# tensorboard --logdir notebooks/logs
# ```
#
# and open http://localhost:6006; or, inside Jupyter, `%load_ext tensorboard` and then
# `%tensorboard --logdir logs` (the notebook's folder is `notebooks/`). The *Scalars*, *Histograms* and *HParams*
# tabs show what we logged. The event files can also be read without a server: `EventAccumulator` loads one folder,
# and TensorFlow 2 stores each scalar and each histogram (one `(left edge, right edge, count)` row per bucket) as a
# tensor per epoch:

# %%
def load_events(folder):
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})  # 0 = keep every event
    accumulator.Reload()
    return accumulator


def scalar_series(accumulator, tag):
    events = accumulator.Tensors(tag)
    return np.array([e.step for e in events]), np.array([float(tf.make_ndarray(e.tensor_proto)) for e in events])


train_events, val_events = load_events(run_dir / "train"), load_events(run_dir / "validation")
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for ax, tag in zip(axes[:2], ["epoch_loss", "epoch_auc_pr"], strict=True):
    for events, label, style in [(train_events, "train", "o-"), (val_events, "validation", "s--")]:
        steps, values = scalar_series(events, tag)
        ax.plot(steps + 1, values, style, ms=3, label=label)
    ax.set(xlabel="epoch", title=f"{tag} (read from the event files)")
    ax.grid(alpha=0.3)
    ax.legend()
histograms = train_events.Tensors("shirt_mlp_tuned/hidden_1/kernel/histogram")
colors = plt.cm.viridis(np.linspace(0, 1, len(histograms)))
for event, color in zip(histograms, colors, strict=True):
    left, right, count = tf.make_ndarray(event.tensor_proto).T  # one row per bucket: left edge, right edge, count
    density = count / (count.sum() * (right - left))  # the bucket edges change every epoch: compare densities
    axes[2].semilogy((left + right) / 2, density, color=color, label=f"epoch {event.step + 1}")
glorot_limit = np.sqrt(6 / (784 + best_values["units"]))  # the Glorot-uniform initialization box
axes[2].axvspan(-glorot_limit, glorot_limit, color="gray", alpha=0.2, label="initial range")
axes[2].set(xlabel="weight value", ylabel="density (log scale)", title="hidden_1 kernel: histogram after each epoch")
axes[2].legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# The loss and AUC-PR curves are the numbers Keras would have printed during `fit`, now read from disk
# (the training value of an epoch is a running average over its batches, while the weights change, which is why
# epoch 1 trains "worse" than it validates; this model has no dropout, so that is the only reason here). From epoch 5
# on, the training loss keeps falling while the validation loss rises and the validation AUC-PR stops improving: the
# signature of overfitting. The histogram panel shows the first layer's weights. They were initialized
# Glorot-uniform in a narrow box of $\pm\sqrt{6/(784 + n_\text{units})}$ ($\pm 0.086$ for 32 units, the grey
# band); the first curve, logged at the *end* of epoch 1, is already far wider, and the tails keep growing epoch
# after epoch (out to about $\pm 3$ by epoch 10) as some weights specialize — the picture TensorBoard's *Histograms*
# tab draws for every layer. A histogram that stays frozen (a layer that does not learn) or blows up (exploding
# weights) is the kind of symptom this view catches.

# %% [markdown]
# ## 9. Pitfalls
#
# | mistake | symptom | where shown |
# |---|---|---|
# | reporting accuracy on imbalanced data | "95 % accuracy" from a model that finds no positive at all | §2 |
# | choosing the threshold (or anything else) on the test set | a test score that does not repeat on new data | below |
# | "cross-validation prevents overfitting"; calling any train > held-out gap "overfitting" | a model that is underfitting is given dropout or a smaller network, cures for a problem it does not have | below (training longer is tested) |
# | comparing models by one run each | the ranking flips with the seed or the split | §6 |
# | trusting the best validation score of a search | the winner's score is the maximum of many noisy scores, so it is optimistic; retrain it with fresh seeds, and only a fresh test set measures the chosen model | §7–8 |
#
# **(a) Choosing the threshold on the test set.** If we pick the max-F1 threshold on the test set itself, the
# reported F1 is the maximum over thresholds of a noisy curve, so it is biased upwards: part of it is luck of that
# particular sample. To *see* the bias we need data the choice never touched, so we cut the test set into two
# stratified halves, many times over. On half A we do the leaky thing (choose $t$ on A, report F1 on A); on half B
# we measure what that threshold really gives. For contrast, the honest rule (threshold chosen on validation, §4)
# is scored on both halves.

# %%
N_HALVINGS = du.pick(full=200, quick=50)
leak_rows = []
for i in range(N_HALVINGS):
    half_a, half_b = train_test_split(np.arange(len(y_test)), test_size=0.5, stratify=y_test, random_state=i)
    curve_a = threshold_table(y_test[half_a], p_test[half_a])
    t_leaky = curve_a.loc[curve_a["f1"].idxmax(), "threshold"]
    leak_rows.append({
        "leaky: reported (A)": curve_a["f1"].max(),
        "leaky: fresh data (B)": f1_score(y_test[half_b], p_test[half_b] >= t_leaky),
        "honest: A": f1_score(y_test[half_a], p_test[half_a] >= t_f1),
        "honest: B": f1_score(y_test[half_b], p_test[half_b] >= t_f1),
    })
leak = pd.DataFrame(leak_rows)
leak_optimism = leak["leaky: reported (A)"] - leak["leaky: fresh data (B)"]
honest_difference = leak["honest: A"] - leak["honest: B"]
threshold_leak_optimism = leak_optimism.mean()

fig, ax = plt.subplots(figsize=(7, 3.6))
bins = np.linspace(min(leak_optimism.min(), honest_difference.min()), max(leak_optimism.max(), honest_difference.max()), 30)
ax.hist(honest_difference, bins=bins, alpha=0.6, label="honest: F1(A) − F1(B), threshold from validation")
ax.hist(leak_optimism, bins=bins, alpha=0.6, label="leaky: reported F1(A) − F1(B), threshold from A")
ax.axvline(0, color="black", lw=1)
ax.set(xlabel="F1 difference", ylabel=f"count (of {N_HALVINGS} halvings)", title="Choosing the threshold on the test set")
ax.legend(fontsize=8)
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
print(f"leaky rule:  reported F1 exceeds the fresh-data F1 by {leak_optimism.mean():+.4f} on average "
      f"(in {(leak_optimism > 0).mean():.0%} of the halvings)")
print(f"honest rule: F1 on A minus F1 on B averages {honest_difference.mean():+.4f} (no systematic gap)")

# %% [markdown]
# The honest differences are centred on zero: a threshold fixed in advance scores about the same on any fresh
# sample. The leaky differences are shifted to the right: the number you would have reported is systematically
# higher than what the same threshold achieves on new data. The same bias hits anything tuned on the test set —
# epochs, architectures, features — and in general it grows with the number of choices made on the set and shrinks
# with its size (the spread of the estimate that §6 measured).
#
# **(b) "Cross-validation prevents overfitting", and the gap that is not overfitting.** Cross-validation does not
# change the model; it *estimates* how well a training recipe generalizes. And before curing overfitting, check that
# there is any: every fold of section 6 has a training AP of only about 0.6, 6 to 13 points above its held-out AP. Is
# that a model that fits its training rows too well, or one that has not learned enough? Train the same recipe on
# fold 1 three times longer and watch both numbers:

# %%
# NBVAL_IGNORE_OUTPUT
fit_idx, held_idx = next(folds.split(x_small, y_small))  # fold 1 of section 6 again
longer_fit, longer_held = fit_and_score(x_small[fit_idx], y_small[fit_idx], x_small[held_idx], y_small[held_idx], SEED,
                                        epochs=3 * CV_EPOCHS)
underfit_table = pd.DataFrame({
    f"{CV_EPOCHS} epochs (section 6)": {"training AP": cv_table.loc[1, "training AP"],
                                        "held-out AP": cv_table.loc[1, "held-out AP"]},
    f"{3 * CV_EPOCHS} epochs": {"training AP": longer_fit, "held-out AP": longer_held},
}).T
underfit_gain = longer_held - cv_table.loc[1, "held-out AP"]
underfit_table.round(4)

# %% [markdown]
# Three times more epochs lift the training AP from 0.58 to 0.80 *and* the held-out AP from 0.50 to
# 0.62 (+0.11). This is one seed on one fold, so the noise to compare with is the seed-to-seed sd of section 6
# (0.039): the gain is about three times that. A model that gets better on unseen data when it is allowed to fit its
# training data more closely was **underfitting**, and the cures point the other way from the usual anti-overfitting
# list: train longer, and in general add capacity or regularize less, rather than add dropout or shrink the model as
# one might on seeing "training above held-out". Only "train longer" is tested here; the other two are general
# advice (in section 7 the 3 × 128 Hyperband winner only tied the 1 × 128 baseline, so more capacity alone was not
# shown to help). Overfitting is when *more* fitting makes the held-out score worse, as the validation loss of the
# tuned model of §8 shows after its best epoch. Cross-validation is how you check whether a change to the recipe
# helped. Two related traps: running cross-validation *after* selecting features or hyperparameters on all the data
# (notebook 01 shows it turning noise into a high score), and reporting the best cross-validation score among many
# configurations as the expected performance (it is the maximum of noisy estimates; keep a test set for the final
# number).

# %% [markdown]
# ## Results

# %%
# NBVAL_IGNORE_OUTPUT
results_file = du.report(
    "05_evaluation_and_tuning",
    test_roc_auc=test_roc_auc,
    test_average_precision=test_average_precision,
    test_f1_at_threshold=test_f1_at_threshold,
    max_f1_threshold=t_f1,
    test_accuracy_at_05=test_accuracy,
    always_negative_accuracy=always_negative_accuracy,
    recall_no_weights=recall_no_weights,
    recall_class_weights=recall_class_weights,
    ap_class_weights=comparison.loc[("balanced weights", "test (for the record)"), "average precision"],
    macro_f1_10_classes=f1_averages["macro"],
    weighted_f1_10_classes=f1_averages["weighted"],
    micro_f1_10_classes=f1_averages["micro"],
    cv_mean=cv_mean,
    cv_std=cv_std,
    seed_std=seed_std,
    val_ap_sd_300_rows=val_size_table.loc[300, "std"],
    val_ap_sd_10000_rows=val_size_table.loc[10_000, "std"],
    **{f"{name.split()[0].lower()}_retrained_val_auc_pr": float(like_for_like.loc[name, "retrained mean"])
       for name in like_for_like.index},
    tuned_val_average_precision=tuned_val_average_precision,
    tuned_test_average_precision=tuned_test_average_precision,
    threshold_leak_optimism=threshold_leak_optimism,
    underfit_gain_3x_epochs=underfit_gain,
)

# %%
# Check: the model ranks shirts far above chance (ROC-AUC 0.5, AP 0.05); class weights find more shirts at 0.5 and
# inflate the scores; micro F1 is accuracy; the estimate's spread shrinks with the validation size; the four
# searches reach a sensible floor; a threshold chosen on the test set is optimistic; training longer helps.
assert always_negative_accuracy > 0.94
assert test_roc_auc >= du.pick(full=0.93, quick=0.80), test_roc_auc
assert test_average_precision >= du.pick(full=0.55, quick=0.20), test_average_precision
assert test_f1_at_threshold >= du.pick(full=0.50, quick=0.20), test_f1_at_threshold
assert recall_class_weights > recall_no_weights, (recall_class_weights, recall_no_weights)
assert p_test_weighted.mean() > 2 * p_test.mean(), (p_test_weighted.mean(), p_test.mean())
assert np.isclose(f1_averages["micro"], multi_accuracy), (f1_averages["micro"], multi_accuracy)
assert multi_accuracy >= du.pick(full=0.80, quick=0.60), multi_accuracy
assert cv_mean >= du.pick(full=0.45, quick=0.12) and cv_std > 0 and seed_std > 0, (cv_mean, cv_std, seed_std)
assert val_size_table.loc[10_000, "std"] < 0.5 * val_size_table.loc[300, "std"], val_size_table
for name, best in search_best.items():
    assert best >= du.pick(full=0.50, quick=0.10), (name, best)  # quick: 2 trials of 2 epochs, still 2x chance
assert distinct_values.loc["Grid search", "units"] == 1 < distinct_values.loc["Random search", "units"], distinct_values
assert tuned_test_average_precision >= du.pick(full=0.55, quick=0.10), tuned_test_average_precision
assert threshold_leak_optimism > 0, threshold_leak_optimism
assert underfit_gain > du.pick(full=0.03, quick=-1.0), underfit_gain  # quick: too few rows and epochs to say
assert du.is_quick() or test_accuracy > always_negative_accuracy

# %% [markdown]
# ## Exercises
#
# 1. **Rarer positives.** Set `POSITIVE_FRACTION = 0.01` and rerun sections 1–5. How do the "always negative"
#    accuracy, the average precision and the gap between the no-weights and balanced-weights recall change? At what
#    fraction does the unweighted model stop predicting "shirt" at all at threshold 0.5?
# 2. **A cost-based threshold.** Suppose a missed shirt costs 10 and a false alarm costs 1. On the validation set,
#    choose the threshold that minimizes $10\cdot FN + FP$, apply it to the test set, and compare it with the
#    theoretical $t = 1/(1 + 10)$ for calibrated probabilities. Given the reliability diagram of section 5, for which
#    of the two models (unweighted, balanced weights) should the two thresholds agree?
# 3. **A fair grid.** Give grid search a coarse grid that fits the budget (`hp.Choice` with two values for each
#    hyperparameter is 16 trials; fix the least important one to get 8) and rerun the like-for-like comparison of
#    section 7. Does a well-placed grid catch up with random search?
# 4. **Repeated CV.** Replace `StratifiedKFold` by `RepeatedStratifiedKFold(n_splits=5, n_repeats=3)` and give each
#    repeat its own seed. How do the mean and the standard deviation compare with section 6?
#
# **Next:** [06_convolutional_networks](06_convolutional_networks.ipynb) replaces the dense layers by convolutions
# and learns Fashion-MNIST's ten classes directly from the image structure.
