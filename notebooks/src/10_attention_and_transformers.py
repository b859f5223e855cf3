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
# # 10 · Attention and Transformers: by hand, on IMDB, and translating English to Chinese
#
# "Attention Is All You Need" (Vaswani et al., 2017) replaced recurrence by one operation: every position of a
# sequence looks at every other position and takes a weighted average of what it finds. This notebook builds that
# operation from NumPy up, checks it against Keras, and then uses it twice: to classify IMDB reviews (compared with
# the recurrent models and n-gram baselines of [08](08_rnn_lstm_text.ipynb)) and to translate English sentences into
# Chinese, scored with BLEU and chrF against a retrieval baseline that is harder to beat than it looks.
#
# **What you will learn**
# - why attention: the fixed-size bottleneck of an RNN encoder, and attention as a soft, differentiable lookup;
# - scaled dot-product attention by hand (NumPy, then TensorFlow) with its shapes, why the scores are divided by
#   $\sqrt{d_k}$ (softmax saturation, measured), and multi-head attention by hand, checked against
#   `keras.layers.MultiHeadAttention` with the same weights copied in;
# - padding and causal (look-ahead) masks as pictures, and what goes wrong without each (measured);
# - why self-attention needs positional encodings (it is permutation-equivariant, shown numerically), sinusoidal
#   and learned;
# - a Transformer encoder block written as a small Keras layer, and a classifier on raw IMDB text;
# - an encoder–decoder Transformer that translates English to Chinese: teacher forcing, the causal mask,
#   cross-attention, greedy decoding, a cross-attention map, translations that work and that fail;
# - measuring translation properly: corpus BLEU (`sacrebleu`, `tokenize="zh"`) and chrF against all references,
#   against a TF-IDF retrieval "translator".
#
# **Prerequisites:** [08](08_rnn_lstm_text.ipynb) (text to tensors, `TextVectorization`, embeddings, masking, RNNs,
# the NB-weighted n-gram baselines) and [04](04_training_deep_networks.ipynb) (Adam, dropout, learning-rate
# schedules). [09](09_time_series_forecasting.ipynb) used recurrent networks on a series; this notebook replaces the
# recurrence.
#
# **Data:** the IMDB reviews of 08 (Maas et al., ACL 2011), loaded as raw text by `du.data.load_imdb_reviews()` and
# split exactly as in 08; and 29,155 English–Chinese sentence pairs from the [Tatoeba Project](https://tatoeba.org)
# (the `cmn-eng` set distributed by manythings.org/anki, licence CC BY 2.0 FR, each pair credited to its
# contributors; the attribution of the pairs shown is printed with them), loaded by `du.data.load_tatoeba_cmn()`.
#
# **Runtime:** the stored full-profile run took 18.7 minutes from its second cell to the Results cell (printed
# there) on a 2-core CPU shared with other jobs (load average 2.0 over the last minute and 3.4 over the last 15 minutes when it ended, printed with it). The IMDB
# classifier's training batches ran at 65 s per epoch (309 reviews/s, 54,871 real tokens/s, padding not counted), the translator's epochs took 63 s
# (4,401 target characters/s), and greedy decoding of the 2,000 test sentences took 27 s (all printed below).
# The quick profile used by CI trains on small subsets (2,500 reviews, 4,000 sentence pairs) for one to two epochs.
#
# The first code cell calls `du.setup(seed=42)`, which seeds Python, NumPy and TensorFlow and prints the profile
# ("full" here, "quick" in CI).

# %%
# NBVAL_IGNORE_OUTPUT
import json
import os
import re
import time
import warnings
from collections import Counter
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sacrebleu
import tensorflow as tf
from matplotlib import font_manager
from sklearn.feature_extraction.text import TfidfVectorizer

import dlutils as du

du.setup(seed=42)

# %%
notebook_start = time.perf_counter()  # the Results cell prints the notebook's total wall time
pd.set_option("display.precision", 4)
L = keras.layers
ops = keras.ops
SEED = 42
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Why attention: the bottleneck of a recurrent encoder
#
# The recurrent models of [08](08_rnn_lstm_text.ipynb) read a review token by token and kept one state vector, of a
# size fixed in advance (64 numbers for its LSTM), whatever the length of the text. For classification that can be
# enough. For translation it is a bottleneck: an RNN encoder–decoder (Sutskever et al., 2014) must squeeze a whole
# sentence into that one vector before the decoder writes the first word of the translation, and what the decoder
# needs at each step ("which English word am I translating now?") has to be dug out of it. Bahdanau et al. (2015)
# let the decoder instead **look back at every encoder state** and take a weighted average of them, with weights it
# computes afresh at each step. The Transformer keeps only this look-up and drops the recurrence.
#
# Attention is a **soft dictionary lookup**. A dictionary has keys and values; a query that equals a key returns
# that key's value. Attention compares a query $q$ with every key $k_j$ (by a dot product), turns the similarities
# into weights that are positive and sum to 1 (a softmax), and returns the weighted average of the values. Because
# every step is differentiable, the network can learn what to ask for (queries), how to be found (keys) and what
# to hand over (values). Below, four keys and their values; a query equal to key 2 returns (mostly) value 2, and
# a query halfway between keys 0 and 1 returns a blend of values 0 and 1.

# %%
def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)  # subtracting the max does not change the result, avoids overflow
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


keys = np.eye(4) * 4.0  # four orthogonal keys of length 4
values = np.array([[10.0], [20.0], [30.0], [40.0]])
for name, query in {"equal to key 2": keys[2], "between keys 0 and 1": (keys[0] + keys[1]) / 2}.items():
    weights = softmax(keys @ query / np.sqrt(4))
    print(f"query {name:<22} weights {np.round(weights, 3)} -> returns {(weights @ values).item():.2f}")

# %% [markdown]
# ## 2. Scaled dot-product attention by hand
#
# For $n_q$ queries and $n_k$ keys/values, stacked as rows of $Q \in \mathbb{R}^{n_q\times d_k}$,
# $K \in \mathbb{R}^{n_k\times d_k}$ and $V \in \mathbb{R}^{n_k\times d_v}$:
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right) V,$$
#
# where the softmax runs over each row (over the keys), so row $i$ of the weight matrix
# $A \in \mathbb{R}^{n_q\times n_k}$ holds how much query $i$ takes from each key, and the output has shape
# $n_q \times d_v$. $M$ is a mask: 0 where attending is allowed and $-\infty$ (in practice $-10^9$) where it is not,
# so that those weights become exactly 0 after the softmax. A batch dimension (and later a heads dimension) rides
# along in front. In *self-attention* $Q$, $K$ and $V$ all come from the same sequence; in *cross-attention* the
# queries come from one sequence and the keys/values from another.

# %%
def attention_np(q, k, v, mask=None):
    """Scaled dot-product attention; q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v); mask True = may attend."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., n_q, n_k)
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


q = rng.normal(size=(2, 3, 4))  # batch 2, 3 queries, d_k = 4
k = rng.normal(size=(2, 5, 4))  # 5 keys
v = rng.normal(size=(2, 5, 6))  # 5 values, d_v = 6
out, weights = attention_np(q, k, v)
print("Q", q.shape, "K", k.shape, "V", v.shape, "-> weights", weights.shape, "-> output", out.shape)
print("each row of weights sums to 1:", np.allclose(weights.sum(-1), 1.0))

# %% [markdown]
# The same in TensorFlow, in float32, is a few lines; it agrees with the float64 NumPy version to float32
# precision:

# %%
def attention_tf(q, k, v):
    scores = tf.matmul(q, k, transpose_b=True) / tf.sqrt(tf.cast(tf.shape(k)[-1], tf.float32))
    weights = tf.nn.softmax(scores, axis=-1)
    return tf.matmul(weights, v), weights


out_tf, _ = attention_tf(*(tf.constant(a, tf.float32) for a in (q, k, v)))
print(f"max |TF - NumPy| = {np.abs(out_tf.numpy() - out).max():.1e}  (float32 vs float64)")

# %% [markdown]
# **Why divide by $\sqrt{d_k}$?** If the entries of $q$ and $k$ are independent with mean 0 and variance 1, the dot
# product $q\cdot k = \sum_{i=1}^{d_k} q_i k_i$ has variance $d_k$: the scores spread more the wider the heads. Fed
# to a softmax, widely spread scores **saturate** it: nearly all the weight goes to the largest score, and the
# softmax's gradient, $\partial p_i/\partial s_j = p_i(\delta_{ij} - p_j)$, shrinks (it is exactly 0 for a
# one-hot $p$), so smaller gradients reach the queries and keys. Dividing by $\sqrt{d_k}$ brings the variance back to 1 for every width. We measure
# it on random queries and keys (1,000 queries × 32 keys for each $d_k$): the standard deviation of the scores, the
# average largest attention weight, and the average size (Frobenius norm) of the softmax's Jacobian.

# %%
rows = []
for d_k in (4, 16, 64, 256, 1024):
    q_r = rng.normal(size=(1000, d_k))
    k_r = rng.normal(size=(32, d_k))
    for scaled in (False, True):
        s = q_r @ k_r.T / (np.sqrt(d_k) if scaled else 1.0)
        p = softmax(s)
        jacobian = np.eye(32)[None] * p[:, None, :] - p[:, :, None] * p[:, None, :]  # dp_i/ds_j = p_i(δ_ij - p_j)
        jac = np.linalg.norm(jacobian, axis=(1, 2))  # Frobenius norm, one per query
        rows.append({"d_k": d_k, "scaled by sqrt(d_k)": scaled, "score std": s.std(),
                     "mean max weight": p.max(1).mean(), "mean ||Jacobian||": jac.mean()})  # fmt: skip
saturation = pd.DataFrame(rows)
print(saturation.round(3).to_string(index=False))

# %% [markdown]
# Unscaled, the spread of the scores grows like $\sqrt{d_k}$ (2.1 → 31.5), the largest weight climbs towards 1
# (0.31 → 0.95) and the Jacobian shrinks about fivefold (0.30 → 0.06) from $d_k = 4$ to $d_k = 1024$: smaller, not
# zero. Scaled, the score spread stays near 1 and the other two columns stay nearly constant across widths. (With 32
# keys, uniform attention would put 1/32 ≈ 0.031 on each.) The table also shows that the Jacobian is not largest for
# the flattest softmax: at $d_k = 4$ and 16 the unscaled scores, which spread *more* than the scaled ones, have the
# larger Jacobian (0.300 against 0.235, 0.290 against 0.240). A perfectly flat softmax has a small Jacobian too
# (every $p_i$ is small); the gradient is largest in between, and the scaling keeps the scores at a spread of about 1
# whatever the width.
#
# ### Multi-head attention by hand, checked against Keras
#
# One attention lets each position ask one kind of question. **Multi-head attention** runs $h$ attentions in
# parallel on different learned projections of the same input and concatenates their outputs:
#
# $$\operatorname{head}_i = \operatorname{Attention}(X_q W^Q_i + b^Q_i,\; X_{kv} W^K_i + b^K_i,\; X_{kv} W^V_i + b^V_i),
# \qquad \operatorname{MHA} = [\operatorname{head}_1, \dots, \operatorname{head}_h]\, W^O + b^O,$$
#
# with $W^Q_i, W^K_i \in \mathbb{R}^{d_{\text{model}}\times d_k}$, $W^V_i \in \mathbb{R}^{d_{\text{model}}\times d_v}$
# and $W^O \in \mathbb{R}^{h d_v \times d_{\text{model}}}$. In code all heads are computed by one matrix product
# and a reshape to (batch, heads, positions, $d_k$). We write it in NumPy with our own random weights, then copy
# those weights into `keras.layers.MultiHeadAttention` (whose kernels are stored as (d_model, heads, key_dim) and
# (heads, key_dim, d_model)) and compare the outputs, with and without a mask.

# %%
def split_heads(t, h):
    """(batch, n, h * d) -> (batch, h, n, d)"""
    b, n, _ = t.shape
    return t.reshape(b, n, h, -1).transpose(0, 2, 1, 3)


def mha_np(x_q, x_kv, p, h, mask=None):
    """Multi-head attention; p holds Wq, bq, Wk, bk, Wv, bv (d_model x h*d), Wo (h*d x d_model), bo."""
    qh = split_heads(x_q @ p["Wq"] + p["bq"], h)
    kh = split_heads(x_kv @ p["Wk"] + p["bk"], h)
    vh = split_heads(x_kv @ p["Wv"] + p["bv"], h)
    heads, weights = attention_np(qh, kh, vh, None if mask is None else mask[:, None])  # mask over all heads
    b, _, n_q, _ = heads.shape
    concat = heads.transpose(0, 2, 1, 3).reshape(b, n_q, -1)  # (batch, n_q, h * d_v)
    return concat @ p["Wo"] + p["bo"], weights


D_MODEL, HEADS, KEY_DIM = 8, 2, 4
params = {name: rng.normal(scale=0.5, size=shape).astype("float32") for name, shape in {
    "Wq": (D_MODEL, HEADS * KEY_DIM), "bq": (HEADS * KEY_DIM,), "Wk": (D_MODEL, HEADS * KEY_DIM),
    "bk": (HEADS * KEY_DIM,), "Wv": (D_MODEL, HEADS * KEY_DIM), "bv": (HEADS * KEY_DIM,),
    "Wo": (HEADS * KEY_DIM, D_MODEL), "bo": (D_MODEL,)}.items()}  # fmt: skip
x = rng.normal(size=(2, 5, D_MODEL)).astype("float32")

mha = L.MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM, name="keras_mha")
mha(x, x)  # builds the layer's weights
mha.set_weights([
    params["Wq"].reshape(D_MODEL, HEADS, KEY_DIM), params["bq"].reshape(HEADS, KEY_DIM),
    params["Wk"].reshape(D_MODEL, HEADS, KEY_DIM), params["bk"].reshape(HEADS, KEY_DIM),
    params["Wv"].reshape(D_MODEL, HEADS, KEY_DIM), params["bv"].reshape(HEADS, KEY_DIM),
    params["Wo"].reshape(HEADS, KEY_DIM, D_MODEL), params["bo"],
])  # fmt: skip
print("Keras weight shapes:", [tuple(w.shape) for w in mha.get_weights()])
pad_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])  # second sequence: 2 padding positions
attn_mask = np.repeat(pad_mask[:, None, :], 5, axis=1)  # (batch, n_q, n_k): may query i look at key j?
ours, _ = mha_np(x, x, params, HEADS)
ours_masked, _ = mha_np(x, x, params, HEADS, mask=attn_mask)
theirs = mha(x, x).numpy()
theirs_masked = mha(x, x, attention_mask=attn_mask).numpy()
mha_max_abs_diff = float(max(np.abs(ours - theirs).max(), np.abs(ours_masked - theirs_masked).max()))
print("output shape", theirs.shape, "| max |by hand - Keras| without and with a mask:",
      f"{np.abs(ours - theirs).max():.1e}, {np.abs(ours_masked - theirs_masked).max():.1e}")  # fmt: skip

# %% [markdown]
# The hand-written version and Keras agree to float32 rounding (the Check cell asserts a difference ≤ 1e-5): a
# Keras `MultiHeadAttention(num_heads=2, key_dim=4)` is exactly the two formulas above, biases included.
#
# ## 3. Masks as pictures
#
# Two masks appear in every Transformer:
# - a **padding mask**: sentences of different lengths are padded to one length with token 0, and no query may take
#   anything from a padding position;
# - a **causal** (look-ahead) mask in a decoder: while learning to predict token $t+1$, position $t$ may only look at
#   positions $\le t$, otherwise it could read the answer.
#
# Below, three English sentences padded to one length (yellow = real token), the self-attention mask of the
# middle one, "I am hungry." (which query may look at which key), and the causal mask of a 7-token decoder input.
# The mask drawn is the one every model below uses: it hides padded **keys** only (each row is the same). Padded
# *queries* still compute an output, but nothing uses it: the classifier averages over the real tokens only and the
# translator's loss ignores padded positions. Masking the padded query rows too would leave rows with no allowed key,
# and a softmax over scores that are all $-10^9$ gives uniform weights, not zeros, so it would gain nothing.

# %%
mask_sentences = ["Tom is reading a book in the garden.", "I am hungry.", "Go!"]
mask_tokens = [re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", s.lower()) for s in mask_sentences]  # en_tokens of §6
n_max = max(map(len, mask_tokens))
padding = np.array([[i < len(t) for i in range(n_max)] for t in mask_tokens])
short = padding[1]
self_mask = np.repeat(short[None, :], n_max, axis=0)  # key-only, as in every model below: row i = query i
causal = np.tril(np.ones((7, 7), bool))

fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [2.2, 1.3, 1.3]})
axes[0].imshow(padding, cmap="viridis", vmin=0, vmax=1)
axes[0].set_yticks(range(3), mask_sentences, fontsize=8)
axes[0].set_xticks(range(n_max))
axes[0].set_xlabel("position")
axes[0].set_title("padding mask (batch × positions)")
axes[1].imshow(self_mask, cmap="viridis", vmin=0, vmax=1)
labels = mask_tokens[1] + ["[pad]"] * (n_max - len(mask_tokens[1]))
axes[1].set_xticks(range(n_max), labels, rotation=60)
axes[1].set_yticks(range(n_max), labels)
axes[1].set_title('self-attention mask, "I am hungry."')
axes[1].set_xlabel("key")
axes[1].set_ylabel("query")
axes[2].imshow(causal, cmap="viridis", vmin=0, vmax=1)
axes[2].set_title("causal mask (7 positions)")
axes[2].set_xlabel("key (position)")
axes[2].set_ylabel("query (position)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **What goes wrong without them, measured.** We take the Keras layer from above and a sequence of 3 real tokens.
# Padded with 4 more positions (whose vectors are not zero: an embedding maps the padding id 0 to a learned
# vector like any other id), the outputs at the 3 real positions should not change. And in a decoder, the outputs at
# positions $0..5$ of a 7-token sequence should not change when token 6 changes.

# %%
real = rng.normal(size=(1, 3, D_MODEL)).astype("float32")
padded = np.concatenate([real, rng.normal(size=(1, 4, D_MODEL)).astype("float32")], axis=1)
key_ok = np.array([[True] * 3 + [False] * 4])
alone = mha(real, real).numpy()
no_mask = mha(padded, padded).numpy()[:, :3]
with_mask = mha(padded, padded, attention_mask=np.repeat(key_ok[:, None, :], 7, axis=1)).numpy()[:, :3]
padding_leak = {"without mask": np.abs(no_mask - alone).max(), "with padding mask": np.abs(with_mask - alone).max()}
print("padding: max change of the real positions' outputs |", {k: f"{v:.1e}" for k, v in padding_leak.items()})

seq = rng.normal(size=(1, 7, D_MODEL)).astype("float32")
seq_changed = seq.copy()
seq_changed[0, 6] = rng.normal(size=D_MODEL)  # a different last token
causal_leak = {}
for name, use_causal in (("without mask", False), ("with causal mask", True)):
    a = mha(seq, seq, use_causal_mask=use_causal).numpy()[:, :6]
    b = mha(seq_changed, seq_changed, use_causal_mask=use_causal).numpy()[:, :6]
    causal_leak[name] = np.abs(a - b).max()
print("causal: max change of positions 0..5 when token 6 changes |", {k: f"{v:.1e}" for k, v in causal_leak.items()})

# %% [markdown]
# Without a padding mask, the outputs of the real tokens depend on how much padding their batch happened to need
# (the first number above); with it they are unchanged (0.0). Without a causal mask, earlier positions see the later
# token (second line); a decoder trained that way could learn to copy the next character from its input instead of
# predicting it, and at generation time there is nothing to copy (Exercise 3 asks you to try). With the mask the
# change is zero.
#
# ## 4. Order: self-attention does not see it, positional encodings add it
#
# Self-attention compares every position with every other by content alone. Permute the input rows and the output
# rows are permuted the same way: the layer is **permutation-equivariant**, so without help "dog bites man" and
# "man bites dog" give the same set of vectors. Measured with the Keras layer:

# %%
perm = np.array([4, 2, 0, 1, 3])
y = mha(x, x).numpy()
y_perm = mha(x[:, perm], x[:, perm]).numpy()
print(f"max |MHA(P x) - P MHA(x)| = {np.abs(y_perm - y[:, perm]).max():.1e}  (equivariant)")


def sinusoids(length, depth):
    """Sinusoidal positional encodings (Vaswani et al., 2017), shape (length, depth); sin in the first half of
    the channels, cos in the second (the paper interleaves them; the order of channels does not matter)."""
    pos = np.arange(length)[:, None]
    i = np.arange(depth // 2)[None, :]
    angle = pos / 10000 ** (2 * i / depth)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1).astype("float32")


pe = sinusoids(5, D_MODEL)
xp = x + pe
y_pos = mha(xp, xp).numpy()
y_pos_perm = mha(x[:, perm] + pe, x[:, perm] + pe).numpy()
print(f"with positional encodings added: max |MHA(P x + PE) - P MHA(x + PE)| = {np.abs(y_pos_perm - y_pos[:, perm]).max():.2f}")

# %% [markdown]
# The cure is to add to each token's vector a vector that depends only on its position. The original Transformer
# used fixed **sinusoids**: channel pair $i$ of position $p$ holds $\sin(p/10000^{2i/d})$ and $\cos(p/10000^{2i/d})$,
# so each pair rotates at its own frequency, from one turn every $2\pi \approx 6$ positions (first pair) to very
# slow ones (last pairs). The left picture shows the encodings of 64 positions with $d = 64$, with the 32 sines in
# channels 0–31 and the 32 cosines in channels 32–63: each half has fast stripes at its left (low channel pairs, so
# they appear twice, at the left edge and in the middle of the image) and slowly varying ones to its right; the right picture shows the dot product between the
# encodings of two positions, largest on the diagonal and falling off, with ripples, with distance, so nearby
# positions look alike. **Learned** positional embeddings are simply an `Embedding(max_len, d)` indexed by position; they cannot
# extrapolate beyond `max_len` (Vaswani et al. report nearly identical results with both); the IMDB classifier below uses them, the translator
# the sinusoids.

# %%
pe_big = sinusoids(64, 64)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
im = axes[0].imshow(pe_big, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
axes[0].set_xlabel("channel")
axes[0].set_ylabel("position")
axes[0].set_title("sinusoidal encodings (sin | cos halves)")
fig.colorbar(im, ax=axes[0])
im = axes[1].imshow(pe_big @ pe_big.T, cmap="viridis")
axes[1].set_xlabel("position")
axes[1].set_ylabel("position")
axes[1].set_title("dot product between positions")
fig.colorbar(im, ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. A Transformer encoder block, and a classifier on IMDB
#
# One **encoder block** of the Transformer is multi-head self-attention followed by a position-wise feed-forward
# network (two dense layers applied to every position separately), each wrapped in a residual connection and a
# layer normalization (the "post-LN" order of the original paper):
#
# $$H = \operatorname{LayerNorm}\big(X + \operatorname{Dropout}(\operatorname{MHA}(X, X, X; \text{padding mask}))\big),
# \qquad Y = \operatorname{LayerNorm}\big(H + \operatorname{Dropout}(\operatorname{ReLU}(H W_1 + b_1) W_2 + b_2)\big).$$
#
# Written as a Keras layer, it also returns the attention weights so that we can draw them.

# %%
class TransformerEncoderBlock(L.Layer):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm (post-LN, as in the paper).

    Call with the token vectors (batch, n, d_model) and a boolean padding mask (batch, n), True = real token;
    returns the new vectors and the attention weights (batch, heads, n, n).
    """

    def __init__(self, d_model, num_heads, ff_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.attention = L.MultiHeadAttention(num_heads, key_dim=d_model // num_heads, dropout=dropout)
        self.ffn = keras.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(d_model)])
        self.norm1, self.norm2 = L.LayerNormalization(), L.LayerNormalization()
        self.drop1, self.drop2 = L.Dropout(dropout), L.Dropout(dropout)

    def call(self, x, pad_mask, training=False):
        a, weights = self.attention(x, x, attention_mask=pad_mask[:, None, :], return_attention_scores=True,
                                    training=training)  # fmt: skip
        h = self.norm1(x + self.drop1(a, training=training))
        return self.norm2(h + self.drop2(self.ffn(h), training=training)), weights


# %% [markdown]
# **The data and the split are those of 08:** the 25,000 training reviews shuffled with seed 42 and cut into
# 20,000 for training and 5,000 for validation, `<br />` replaced by spaces, a `TextVectorization` vocabulary of
# 20,000 tokens fitted on the training split; the 25,000 test reviews are used once, at the end. The difference:
# 08's recurrent models read the first 100 tokens of each review; here we keep `SEQ_LEN` = 256 tokens per review
# (the median training review has fewer, printed below). A Transformer processes all positions at once instead of
# step by step, but the cost of self-attention grows with the square of the length, so 256 is a compromise between
# covering most reviews and time per epoch. Reviews longer than that are cut at
# the **front**, keeping their end (the default of `keras.utils.pad_sequences`; whether the beginning or the end of a
# review says more about its label was not measured here, see Exercise 4). In the quick profile `du.take` keeps a
# random subset of the rows (it returns the arrays unchanged in the full profile) and `du.pick(full=..., quick=...)`
# chooses a value by profile.

# %%
(texts_train_all, y_train_all), (texts_test, y_test) = du.data.load_imdb_reviews()


def clean(texts):
    """Replace the HTML line breaks by spaces (as in 08)."""
    return np.array([re.sub(r"<br\s*/?>", " ", t) for t in texts], dtype=object)


texts_train_all, texts_test = clean(texts_train_all), clean(texts_test)
order = np.random.default_rng(SEED).permutation(len(texts_train_all))
texts_train_all, y_train_all = texts_train_all[order], y_train_all[order]
texts_train, y_train = texts_train_all[:20_000], y_train_all[:20_000]
texts_val, y_val = texts_train_all[20_000:], y_train_all[20_000:]
print(f"training split {len(texts_train):,} | validation split {len(texts_val):,} | test {len(texts_test):,}")

# %%
# NBVAL_IGNORE_OUTPUT
texts_train, y_train = du.take(texts_train, y_train, quick=2500)
texts_val, y_val = du.take(texts_val, y_val, quick=800)
texts_test, y_test = du.take(texts_test, y_test, quick=2000)
VOCAB_SIZE = 20_000
SEQ_LEN = du.pick(full=256, quick=128)
vectorizer = L.TextVectorization(max_tokens=VOCAB_SIZE, ragged=True)
vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts_train).batch(512))


def to_ids(texts):
    """Token ids of each review, keeping its LAST SEQ_LEN tokens (cut at the front, as `pad_sequences` does by
    default), padded with 0 at the end."""
    ragged = vectorizer(texts)
    lengths = ragged.row_lengths().numpy()
    ids = keras.utils.pad_sequences(ragged.to_list(), maxlen=SEQ_LEN, padding="post", truncating="pre")
    return ids.astype("int32"), lengths


(ids_train, len_train), (ids_val, _), (ids_test, _) = (to_ids(t) for t in (texts_train, texts_val, texts_test))
print("ids:", ids_train.shape, ids_val.shape, ids_test.shape,
      f"| median training review {np.median(len_train):.0f} tokens; share longer than {SEQ_LEN} (cut at the front): "
      f"{(len_train > SEQ_LEN).mean():.2f}")  # fmt: skip

# %% [markdown]
# The classifier: token embeddings plus **learned** position embeddings (inside one layer: an `Embedding` called
# on a constant `arange` outside a layer would be evaluated once, while the model is built, and its weights would
# be neither tracked nor trained), one encoder block, then the average of
# the token vectors over the real (unpadded) positions, dropout and one logit. The embedding is kept small
# (`IMDB_D` = 32 numbers per token); it holds most of the parameters, 20,000 × 32. The feed-forward width is
# 2 × 32 (small, like the rest of this model), and a heavier dropout (0.3) sits before the logit. Adam at
# $10^{-3}$, batches of 64. Such a model fits its training reviews within two passes over them, so the validation
# accuracy is measured every **quarter epoch** (78 batches, about 5,000 reviews) and training stops when it has not
# improved for three quarters, keeping the best weights. The accuracy metric uses `threshold=0.0` because the model
# outputs a logit, and a logit of 0 is a probability of 0.5. `du.Timer` is a wall-clock timer (`.seconds`); the
# printed throughput counts the training batches only (validation passes excluded) and only real tokens, not
# padding.

# %%
# NBVAL_IGNORE_OUTPUT
class TokenAndPositionEmbedding(L.Layer):
    """Token embedding plus a learned embedding of the position (0, 1, ..., n-1)."""

    def __init__(self, vocab_size, max_len, d_model, **kwargs):
        super().__init__(**kwargs)
        self.tokens = L.Embedding(vocab_size, d_model)
        self.positions = L.Embedding(max_len, d_model)

    def call(self, ids):
        return self.tokens(ids) + self.positions(ops.arange(ops.shape(ids)[1]))[None]


IMDB_D, IMDB_HEADS = 32, 2
ids_in = keras.Input((SEQ_LEN,), dtype="int32", name="token_ids")
real_token = ops.not_equal(ids_in, 0)
h = TokenAndPositionEmbedding(VOCAB_SIZE, SEQ_LEN, IMDB_D, name="token_and_position_embedding")(ids_in)
h = L.Dropout(0.1)(h)
h, imdb_attention = TransformerEncoderBlock(IMDB_D, IMDB_HEADS, 2 * IMDB_D, name="encoder_block")(h, real_token)
h = L.GlobalAveragePooling1D(name="mean_over_tokens")(h, mask=real_token)
logit = L.Dense(1, name="logit")(L.Dropout(0.3)(h))  # heavier dropout on the pooled vector, the usual choice
classifier = keras.Model(ids_in, logit, name="transformer_classifier")
classifier(ids_train[:2])  # one call builds every sub-layer, so that the summary counts all weights
classifier.summary(line_length=100)

# %%
# NBVAL_IGNORE_OUTPUT
QUARTERS = du.pick(full=12, quick=4)  # a cap in quarter epochs: early stopping ends the run
quarter_steps = -(-len(ids_train) // 64) // 4  # -(-a // b) is the ceiling of a / b: batches per epoch, / 4


class TrainTime(keras.callbacks.Callback):
    """Seconds spent on the training batches of each epoch (from the epoch's start to its validation pass)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_test_begin(self, logs=None):  # Keras calls this when the epoch's validation pass starts
        self.seconds.append(time.perf_counter() - self.t0)


def fit_quarters(model):
    """The training recipe of this section, shared by the Transformer and the no-attention baseline below."""
    keras.utils.set_random_seed(SEED)
    ds = (tf.data.Dataset.from_tensor_slices((ids_train, y_train)).shuffle(len(ids_train), seed=SEED).batch(64)
          .repeat().prefetch(2))  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])  # threshold 0: a logit
    train_time = TrainTime()
    # patience 3 quarters = 3/4 epoch; shuffle=False because the tf.data pipeline already shuffles (Keras 3
    # would ignore shuffle=True for a dataset and warn about it)
    history = model.fit(
        ds, steps_per_epoch=quarter_steps, epochs=QUARTERS, validation_data=(ids_val, y_val), verbose=2,
        shuffle=False, callbacks=[train_time,
                                  keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=3,
                                                                restore_best_weights=True)],
    )  # fmt: skip
    test_acc = float(model.evaluate(ids_test, y_test, batch_size=256, verbose=0)[1])
    return history, train_time, test_acc


with du.Timer() as imdb_timer:
    imdb_history, imdb_train_time, transformer_test_accuracy = fit_quarters(classifier)
quarters_run = len(imdb_history.history["loss"])
imdb_s_per_epoch = 4 * imdb_timer.seconds / quarters_run  # wall time: validation passes and test evaluation included
imdb_train_s_per_epoch = 4 * float(np.median(imdb_train_time.seconds))  # training batches only, median quarter
real_tokens_per_epoch = int((ids_train != 0).sum())  # padding not counted
best_quarter = int(np.argmax(imdb_history.history["val_accuracy"])) + 1
transformer_val_accuracy = max(imdb_history.history["val_accuracy"])
print(f"{quarters_run} quarter epochs in {imdb_timer.seconds:.0f} s of wall time | training batches only: "
      f"{imdb_train_s_per_epoch:.0f} s per epoch, {len(ids_train) / imdb_train_s_per_epoch:.0f} reviews/s, "
      f"{real_tokens_per_epoch / imdb_train_s_per_epoch:,.0f} real (non-padding) tokens/s | best val accuracy "
      f"{transformer_val_accuracy:.4f} after quarter {best_quarter} | TEST accuracy {transformer_test_accuracy:.4f}")  # fmt: skip

# %% [markdown]
# **The same pipeline without attention.** To see what the encoder block adds, the baseline below is the model
# above with the block removed and nothing else changed: the same 256 token ids, the same token and position
# embedding and dropout, the same masked mean over the real tokens, the same dropout and logit, trained by the same
# function (same seed, batches, optimizer, quarter epochs and early stopping).

# %%
# NBVAL_IGNORE_OUTPUT
h = TokenAndPositionEmbedding(VOCAB_SIZE, SEQ_LEN, IMDB_D, name="token_and_position_embedding")(ids_in)
h = L.GlobalAveragePooling1D(name="mean_over_tokens")(L.Dropout(0.1)(h), mask=real_token)
bag_model = keras.Model(ids_in, L.Dense(1, name="logit")(L.Dropout(0.3)(h)), name="no_attention_baseline")
bag_history, _, bag_test_accuracy = fit_quarters(bag_model)
bag_val_accuracy = max(bag_history.history["val_accuracy"])
print(f"no-attention baseline: {bag_model.count_params():,} parameters | best val accuracy {bag_val_accuracy:.4f} "
      f"after quarter {int(np.argmax(bag_history.history['val_accuracy'])) + 1} of "
      f"{len(bag_history.history['loss'])} | TEST accuracy {bag_test_accuracy:.4f} "
      f"(Transformer: {transformer_test_accuracy:.4f})")  # fmt: skip
# paired comparison on the same test reviews: how often exactly one of the two models is right
pred_tr = classifier.predict(ids_test, batch_size=256, verbose=0)[:, 0] > 0
pred_bag = bag_model.predict(ids_test, batch_size=256, verbose=0)[:, 0] > 0
only_tr, only_bag = int(np.sum((pred_tr == y_test) & (pred_bag != y_test))), int(np.sum((pred_tr != y_test) & (pred_bag == y_test)))
print(f"test reviews right only for the Transformer: {only_tr:,}; right only for the baseline: {only_bag:,}")

# %% [markdown]
# Without the encoder block the model reaches a test accuracy of 0.8530 (best validation accuracy 0.8510), against
# 0.8725 for the Transformer; on the same 25,000 test reviews, 1,500 are classified correctly only by the
# Transformer and 1,014 only by the baseline. One caveat, visible in its log: the baseline was still improving when
# it reached the cap of 12 quarter epochs (its best validation accuracy is the last one), while the Transformer
# stopped early after 7. So the comparison measures what the block adds under this recipe and budget, not at
# convergence; the baseline's quarters also ran about ten times faster (2–3 s against 16–29 s in the logs).
#
# **Against 08, on the same split and test set.** The table puts both models of this notebook next to the numbers
# that 08's last full run stored in `results/08_rnn_lstm_text.json` (we do not re-run 08's models here, so no paired
# test between them is possible; with 25,000 test reviews, one accuracy's standard error is about 0.002).

# %%
# NBVAL_IGNORE_OUTPUT
results_08 = (du.config.PROJECT_ROOT or Path("..")) / "results" / "08_rnn_lstm_text.json"  # 08's last full run
r08 = json.loads(results_08.read_text())["metrics"]
comparison = pd.DataFrame(
    [
        ("08: LSTM(64), first 100 tokens", r08["lstm_test_accuracy"]),
        ("08: Conv1D, first 100 tokens", r08["conv1d_test_accuracy"]),
        ("08: TF-IDF uni+bigrams + logistic regression", r08["tfidf_bigram_test_accuracy"]),
        ("08: NBSVM, 1-3-grams (NB-weighted, linear)", r08["nbsvm_test_accuracy"]),
        ("08: NB net (network on NB-weighted n-grams)", r08["nb_net_test_accuracy"]),
        (f"10: embedding + mean, no attention, last {SEQ_LEN} tokens", bag_test_accuracy),
        (f"10: Transformer encoder, last {SEQ_LEN} tokens", transformer_test_accuracy),
    ],
    columns=["model", "test accuracy"],
)
print(comparison.to_string(index=False))

# %% [markdown]
# The Transformer reaches a test accuracy of 0.8725 (best validation accuracy 0.8824, after the fourth quarter, i.e.
# one pass over the training reviews). The training log shows why stopping early matters here: in the fifth quarter,
# the start of the second pass, training accuracy jumps to 0.93 while validation accuracy drops to 0.864. The
# issue's target of 0.87 is met by a small margin on one seed: 0.0025 above it, about one standard error (0.002) of
# one accuracy on 25,000 reviews, and the spread between seeds was not measured.
#
# In the table, the Transformer differs from 08's LSTM and Conv1D in at least four ways at once: the architecture;
# the length read (256 tokens instead of 100); which end of the review is read (the last tokens here, the first 100
# in 08); and the training recipe (quarter-epoch early stopping here) and the run itself (08's numbers are read from
# its stored results, not re-run). Its lead over them therefore says nothing about attention versus recurrence; the
# one-change comparison is the no-attention baseline above. The Transformer is
# **behind every n-gram model of 08**: TF-IDF with logistic regression (0.9015), NBSVM (0.9156 in the 08 run this table read; 08's
# current run, with a wider grid for its `C`, stores 0.9153), the NB net
# (0.9202). That is the honest picture for a Transformer trained from scratch on a task like this one. Two likely
# reasons, not measured here: the label depends mostly on which words and short phrases occur, which is exactly
# what a bag of n-grams captures; and 20,000 labelled reviews are little for learning word embeddings, positions
# and attention from nothing, while a linear model reads each n-gram's weight almost directly off its counts in
# the two classes. What changes the picture in practice is pretraining a Transformer on large unlabelled corpora
# and fine-tuning it (BERT and its successors), which this notebook does not do.
#
# **Where did it look?** The weights of the encoder block for one short test review, averaged over the heads: row
# $i$ shows how much token $i$ takes from each token $j$. Next to it, the attention each token *receives*
# (the column means), on an axis zoomed to the range of the bars (it starts at 0.028). The colour bar shows how
# narrow the range is: every weight of the map lies between about 0.028 and 0.034, against 1/32 ≈ 0.031 for
# uniform attention over its 32 tokens, so the weights are close to **uniform**. Within that range the column of
# "worst" is the brightest (most tokens take slightly more from it; its column mean, 0.032, tops the printed
# list), and the darkest cell of the map is "worst" attending to itself. In the bar chart every bar ends near the
# dashed uniform line except that of "worst", which passes it clearly. For this one review the block mostly
# averages the token vectors, with a little extra weight on "worst"; other reviews were not examined.

# %%
# NBVAL_IGNORE_OUTPUT
attention_model = keras.Model(ids_in, imdb_attention)
vocab = vectorizer.get_vocabulary()
lengths_test = (ids_test != 0).sum(1)
pick_review = int(np.flatnonzero((lengths_test >= 25) & (lengths_test <= 40))[0])
n_tok = int(lengths_test[pick_review])
w_review = attention_model(ids_test[pick_review : pick_review + 1], training=False).numpy()[0].mean(0)[:n_tok, :n_tok]
tokens = [vocab[i] for i in ids_test[pick_review, :n_tok]]
p_pos = float(keras.ops.sigmoid(classifier(ids_test[pick_review : pick_review + 1], training=False))[0, 0])
print(f"review (label {'positive' if y_test[pick_review] else 'negative'}, model P(positive) = {p_pos:.2f}):")
print(" ".join(tokens))
received = w_review.mean(0)
print("most attended tokens:", ", ".join(f"{tokens[j]} ({received[j]:.3f})" for j in np.argsort(-received)[:8]),
      f"| uniform would be {1 / n_tok:.3f}")  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [1.6, 1]})
im = axes[0].imshow(w_review, cmap="viridis")
fig.colorbar(im, ax=axes[0], fraction=0.04, label="attention weight")
axes[0].set_xticks(range(n_tok), tokens, rotation=90, fontsize=7)
axes[0].set_yticks(range(n_tok), tokens, fontsize=7)
axes[0].set_xlabel("key (attended token)")
axes[0].set_ylabel("query token")
axes[0].set_title("self-attention weights, mean over heads")
axes[1].barh(range(n_tok), received, color="tab:blue")
axes[1].set_yticks(range(n_tok), tokens, fontsize=7)
axes[1].invert_yaxis()
axes[1].axvline(1 / n_tok, color="gray", ls="--", label="uniform")
axes[1].set_xlabel("attention received (column mean); axis starts at 0.9 x uniform")
axes[1].set_xlim(0.9 * received.min(), 1.02 * received.max())  # the differences are small: zoom in
axes[1].legend(loc="lower right", framealpha=1.0)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. An encoder–decoder Transformer that translates English to Chinese
#
# ### The data and a split by sentence
#
# 29,155 English–Chinese pairs from Tatoeba, short everyday sentences sorted by English length. Some English
# sentences have several Chinese translations (29,155 pairs for 27,661 distinct English sentences, printed below),
# so a random split of the *pairs* would put some English sentences in both training and test, and the model would
# be tested on sentences it has seen (measured in the Pitfalls section). We split by **distinct English sentence**
# with `du.data.split_by_sentence` (a random split of the distinct sentences, returning the pair indices of each
# part): 2,000 sentences for test, 1,000 for validation, the rest for training, each with all its translations.
# Punctuation is handled once, before anything else: the Chinese side mixes full-width marks (！？，) with ASCII
# ones (!?,) in a few percent of the sentences (printed), and we map the ASCII marks to their full-width forms, so
# the model, the references and the retrieval baseline all use one set.
#
# An exact-string split does not rule out **near-duplicates**. The cell also measures two kinds: test English
# sentences that equal a training sentence once lower-cased and stripped of punctuation, and test references that
# occur verbatim as a training target (a short Chinese sentence such as 我饿了。 can translate several different
# English sentences). Measured: only 5 of the 2,000 test English sentences (0.2 %) have such a loose twin in training, but 19.0 % of the
# test pairs have a reference that occurs verbatim among the training targets. Section 7 scores both systems
# without each kind.

# %%
english, chinese, attribution = du.data.load_tatoeba_cmn()  # the registry's checked copy of the Tatoeba file
# One choice for punctuation, made before anything else: ASCII ? ! , : ; ( ) in the Chinese sentences become their
# full-width forms, so training targets, references and both systems' outputs use one set of marks.
ascii_share = np.mean([any(c in "?!,:;()" for c in s) for s in chinese])
chinese = np.array([s.translate(str.maketrans("?!,:;()", "？！，：；（）")) for s in chinese], dtype=object)
print(f"Chinese sentences with ASCII punctuation, now mapped to full-width: {ascii_share:.1%}")
print(f"{len(english):,} pairs, {len(set(english)):,} distinct English sentences")
for i in (0, 5000, 20000, len(english) - 1):
    print(f"  {english[i]!r} -> {chinese[i]!r}")
print("attribution of the first pair:", attribution[0])
# split_by_sentence: a random split of the DISTINCT English sentences; returns the pair indices of each part
idx_train, idx_val, idx_test = du.data.split_by_sentence(english, n_test=2000, n_val=1000, seed=0)
print(f"pairs: train {len(idx_train):,} | val {len(idx_val):,} | test {len(idx_test):,}; "
      f"English sentences shared by train and test: {len(set(english[idx_train]) & set(english[idx_test]))}")  # fmt: skip


def loose(s):
    """Lower-case, drop punctuation, collapse spaces: 'Go!' and 'go.' become the same string."""
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


train_loose = {loose(s) for s in english[idx_train]}
test_english = sorted(set(english[idx_test]))
near_twin = {s for s in test_english if loose(s) in train_loose}
train_targets = set(chinese[idx_train])
ref_in_train = np.mean([c in train_targets for c in chinese[idx_test]])
print(f"test English sentences equal to a training sentence after lower-casing and dropping punctuation: "
      f"{len(near_twin)} of {len(test_english):,} ({len(near_twin) / len(test_english):.1%})")
print(f"test references (pairs) that occur verbatim as a training target: {ref_in_train:.1%}")

# %% [markdown]
# **Tokens.** English is split into lower-cased words and punctuation marks; Chinese, which is written without
# spaces, into single characters (a character-level target keeps the vocabulary small, about 2,800 symbols, and
# needs no word segmenter). Vocabularies come from the training pairs only; id 0 is padding, 1 an unknown token,
# and the Chinese side gets `[start]` (2) and `[end]` (3) around every sentence.
#
# **Teacher forcing.** The decoder learns to predict character $t+1$ from the English sentence and the *true*
# characters $\le t$: its input is the target shifted right (`[start] 我 爱 你`), and what it must output is the
# target shifted left (`我 爱 你 [end]`). All positions are trained in parallel, which is why the causal mask is
# needed. At test time there are no true characters: the decoder is fed its own previous outputs, one at a time.

# %%
def en_tokens(s):
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", s.lower())


def zh_tokens(s):
    return [c for c in s if not c.isspace()]


PAD, UNK, START, END = 0, 1, 2, 3


def build_vocab(token_lists, specials):
    counts = Counter(t for tokens in token_lists for t in tokens)
    itos = list(specials) + [t for t, _ in counts.most_common()]
    return itos, {t: i for i, t in enumerate(itos)}


en_itos, en_stoi = build_vocab([en_tokens(s) for s in english[idx_train]], ["[pad]", "[UNK]"])
zh_itos, zh_stoi = build_vocab([zh_tokens(s) for s in chinese[idx_train]], ["[pad]", "[UNK]", "[start]", "[end]"])


def encode_en(s):
    return [en_stoi.get(t, UNK) for t in en_tokens(s)] or [UNK]


def encode_zh(s):
    return [START] + [zh_stoi.get(c, UNK) for c in zh_tokens(s)] + [END]


def pad(seqs):
    out = np.zeros((len(seqs), max(map(len, seqs))), np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


print(f"vocabularies: English {len(en_itos):,} words, Chinese {len(zh_itos):,} characters (specials included)")
example = 20000
src_ids, tgt_ids = encode_en(english[example]), encode_zh(chinese[example])
print(english[example], "->", en_tokens(english[example]), "->", src_ids)
print(chinese[example], "->", tgt_ids)
print("decoder input :", " ".join(zh_itos[i] for i in tgt_ids[:-1]))
print("decoder target:", " ".join(zh_itos[i] for i in tgt_ids[1:]))

# %% [markdown]
# **Batches grouped by length.** Sentence lengths vary a lot; padding every batch to the longest sentence of the
# corpus would waste computation on padding. Each epoch we sort the training pairs by length
# (plus uniform noise of up to 2 tokens, so that batches differ between epochs while staying grouped by length),
# cut them into batches of 64, pad each batch only to its own longest sentence, and shuffle the order of the
# batches.

# %%
# NBVAL_IGNORE_OUTPUT
mt_train = du.take(idx_train, quick=4000, seed=1)
mt_test = du.take(idx_test, quick=600, seed=1)  # pairs; their distinct English sentences are decoded
src_train = [encode_en(s) for s in english[mt_train]]
tgt_train = [encode_zh(s) for s in chinese[mt_train]]
src_val = [encode_en(s) for s in english[idx_val]]
tgt_val = [encode_zh(s) for s in chinese[idx_val]]
MT_BATCH = 64


def length_batches(src, tgt, rng=None):
    """Yield ((source, decoder input), decoder target) batches of similar lengths; shuffled when rng is given."""
    key = np.array([len(s) + len(t) for s, t in zip(src, tgt, strict=True)], dtype=float)
    if rng is not None:
        key += rng.uniform(0, 2, len(key))  # noise of up to 2 tokens: reorders only pairs of similar length
    order = np.argsort(key, kind="stable")
    chunks = [order[i : i + MT_BATCH] for i in range(0, len(order), MT_BATCH)]
    if rng is not None:
        rng.shuffle(chunks)
    for chunk in chunks:
        s, t = pad([src[i] for i in chunk]), pad([tgt[i] for i in chunk])
        yield (s, t[:, :-1]), t[:, 1:]


signature = ((tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32)),
             tf.TensorSpec((None, None), tf.int32))  # fmt: skip
options = tf.data.Options()
options.autotune.enabled = False  # measured on this 2-core machine: autotuning stalled the start of epochs
batch_rng = np.random.default_rng(SEED)
mt_steps = -(-len(src_train) // MT_BATCH)
ds_train = (tf.data.Dataset.from_generator(lambda: length_batches(src_train, tgt_train, batch_rng), output_signature=signature)
            .repeat().prefetch(2).with_options(options))  # fmt: skip
val_steps = -(-len(src_val) // MT_BATCH)  # the same batches at every validation pass
ds_val = (tf.data.Dataset.from_generator(lambda: length_batches(src_val, tgt_val), output_signature=signature)
          .repeat().prefetch(2).with_options(options))  # fmt: skip
padded_share = np.mean([(t == 0).mean() for (_, t), _ in length_batches(src_train, tgt_train, np.random.default_rng(0))])
print(f"{len(src_train):,} training pairs, {mt_steps} batches per epoch; share of padding in the decoder inputs: "
      f"{padded_share:.2f} (grouped by length)")  # fmt: skip

# %% [markdown]
# ### The model
#
# The **encoder** is the block of section 5 applied to the English tokens (embedding × $\sqrt{d}$ plus sinusoidal
# encodings). The **decoder block** has three sub-layers, each with a residual connection and LayerNorm:
# causal self-attention over the Chinese characters so far (padding mask and causal mask combined), then
# **cross-attention** whose queries are the decoder's positions and whose keys and values are the encoder's
# outputs (with the English padding mask), then the feed-forward network. A final dense layer gives logits over the
# Chinese characters. Sizes: one encoder and one decoder block, $d_{\text{model}} = 256$, 4 heads, feed-forward
# width 512 (twice $d_{\text{model}}$, as in the IMDB block; the paper used four times), dropout 0.1. The loss is
# the cross-entropy of the next character, ignoring padding positions (`ignore_class=0`: padded positions get no
# loss, and Keras 3 averages over the non-padding positions only, so the batch's amount of padding does not dilute
# it). Adam with the paper's $\beta_2 = 0.98$ and $\epsilon = 10^{-9}$, a linear warm-up to $10^{-3}$ over 800
# steps (about two epochs; neither the peak nor the warm-up was tuned in this notebook), then
# decay $\propto 1/\sqrt{\text{step}}$ (the shape of the paper's schedule).

# %%
class PositionalEmbedding(L.Layer):
    """Token embedding scaled by sqrt(d) plus fixed sinusoidal position encodings."""

    def __init__(self, vocab_size, d_model, max_len=128, **kwargs):
        super().__init__(**kwargs)
        self.d_model = d_model
        self.embedding = L.Embedding(vocab_size, d_model)
        self.encodings = ops.convert_to_tensor(sinusoids(max_len, d_model))

    def call(self, ids):
        x = self.embedding(ids) * np.sqrt(self.d_model).astype("float32")
        return x + ops.take(self.encodings, ops.arange(ops.shape(ids)[1]), axis=0)[None]


class TransformerDecoderBlock(L.Layer):
    """Causal self-attention, cross-attention to the encoder's outputs, feed-forward; residuals and LayerNorm."""

    def __init__(self, d_model, num_heads, ff_dim, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = L.MultiHeadAttention(num_heads, key_dim=d_model // num_heads, dropout=dropout)
        self.cross_attention = L.MultiHeadAttention(num_heads, key_dim=d_model // num_heads, dropout=dropout)
        self.ffn = keras.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(d_model)])
        self.norms = [L.LayerNormalization() for _ in range(3)]
        self.drops = [L.Dropout(dropout) for _ in range(3)]

    def call(self, y, memory, tgt_mask, src_mask, training=False):
        n = ops.shape(y)[1]
        causal = ops.tril(ops.ones((n, n), dtype="bool"))[None]  # (1, n, n): query t sees keys <= t
        self_mask = ops.logical_and(causal, tgt_mask[:, None, :])  # ... and no padding
        a = self.self_attention(y, y, attention_mask=self_mask, training=training)
        y = self.norms[0](y + self.drops[0](a, training=training))
        c, cross_weights = self.cross_attention(y, memory, attention_mask=src_mask[:, None, :],
                                                return_attention_scores=True, training=training)  # fmt: skip
        y = self.norms[1](y + self.drops[1](c, training=training))
        return self.norms[2](y + self.drops[2](self.ffn(y), training=training)), cross_weights


class WarmupInverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup` steps, then peak * sqrt(warmup / step)."""

    def __init__(self, peak=1e-3, warmup=800):
        self.peak, self.warmup = peak, warmup

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        return self.peak * ops.minimum(step / self.warmup, ops.sqrt(self.warmup / step))

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup}


MT_D, MT_HEADS, MT_FF = 256, 4, 512
keras.utils.set_random_seed(SEED)
src_in = keras.Input((None,), dtype="int32", name="english_ids")
tgt_in = keras.Input((None,), dtype="int32", name="chinese_ids_so_far")
src_embed = PositionalEmbedding(len(en_itos), MT_D, name="english_embedding")
tgt_embed = PositionalEmbedding(len(zh_itos), MT_D, name="chinese_embedding")
encoder = TransformerEncoderBlock(MT_D, MT_HEADS, MT_FF, name="encoder")
decoder = TransformerDecoderBlock(MT_D, MT_HEADS, MT_FF, name="decoder")
to_logits = L.Dense(len(zh_itos), name="next_character")

memory, _ = encoder(src_embed(src_in), ops.not_equal(src_in, PAD))
dec_out, _ = decoder(tgt_embed(tgt_in), memory, ops.not_equal(tgt_in, PAD), ops.not_equal(src_in, PAD))
translator = keras.Model([src_in, tgt_in], to_logits(L.Dropout(0.1)(dec_out)), name="translator")
translator([np.ones((1, 3), np.int32), np.full((1, 4), START, np.int32)])  # builds every sub-layer
translator.summary(line_length=100)

# %% [markdown]
# Training runs in two cells of `MT_EPOCHS / 2` epochs each (the second continues where the first stopped, with
# the same optimizer state and schedule), only so that no single cell runs for too long on a slow machine.

# %%
# NBVAL_IGNORE_OUTPUT
MT_EPOCHS = du.pick(full=12, quick=2)
warmup = du.pick(full=800, quick=40)  # steps; 800 = about 2 epochs; the quick profile trains only 2 x 63 steps
# beta_2 = 0.98 and a tiny epsilon are the paper's Adam settings for Transformers
translator.compile(optimizer=keras.optimizers.Adam(WarmupInverseSqrt(warmup=warmup), beta_2=0.98, epsilon=1e-9),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD))  # fmt: skip


class KeepBest(keras.callbacks.Callback):
    """Keeps a copy of the weights of the epoch with the lowest validation loss (across both fit calls)."""

    best, weights, epoch = np.inf, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_loss"] < self.best:
            self.best, self.weights, self.epoch = logs["val_loss"], self.model.get_weights(), epoch + 1


keep_best = KeepBest()
# shuffle=False: the generator already shuffles its batches (Keras 3 ignores shuffle=True for a dataset and warns)
fit_args = dict(validation_data=ds_val, steps_per_epoch=mt_steps, validation_steps=val_steps, shuffle=False,
                verbose=2, callbacks=[keep_best])  # fmt: skip
with du.Timer() as mt_timer_1:
    mt_history_1 = translator.fit(ds_train, epochs=MT_EPOCHS // 2, **fit_args)

# %%
# NBVAL_IGNORE_OUTPUT
with du.Timer() as mt_timer_2:
    mt_history = translator.fit(ds_train, initial_epoch=MT_EPOCHS // 2, epochs=MT_EPOCHS, **fit_args)
for key, values in mt_history_1.history.items():  # one history for the learning curves
    mt_history.history[key] = values + mt_history.history[key]
mt_s_per_epoch = (mt_timer_1.seconds + mt_timer_2.seconds) / MT_EPOCHS
mt_tokens = sum(len(t) - 1 for t in tgt_train)  # predicted characters per epoch
# the loss of a model that knows only how often each character occurs (frequencies from the training targets)
symbol_counts = Counter(c for t in tgt_train for c in t[1:])
unigram_val_loss = float(-np.mean([np.log(symbol_counts.get(c, 0.5) / mt_tokens) for t in tgt_val for c in t[1:]]))
print(f"{MT_EPOCHS} epochs, {mt_s_per_epoch:.0f} s/epoch, {mt_tokens / mt_s_per_epoch:,.0f} target characters/s "
      f"({len(src_train) / mt_s_per_epoch:.0f} pairs/s) | final val loss {mt_history.history['val_loss'][-1]:.3f}, "
      f"lowest {keep_best.best:.3f} after epoch {keep_best.epoch} "
      f"(character frequencies alone: {unigram_val_loss:.3f})")  # fmt: skip

# %%
fig = du.plot.learning_curves(mt_history, title="translator: next-character cross-entropy")
plt.show()

# %% [markdown]
# `du.plot.learning_curves` draws the loss of every epoch from the Keras history, training and validation.
# The curves show the classic picture of a small data set: the training loss keeps falling, while the validation
# loss is lowest after epoch 6 (1.706) and creeps back up to 1.867 by epoch 12. The lower validation loss does not
# mean better translations here: decoded greedily, the validation sentences score BLEU 36.3 with the weights after
# epoch 12 and 34.0 with those of epoch 6 (printed by the decoding cell below), so the epoch-12 weights translate.
# The loss scores the probability given to every reference character, BLEU only the characters that greedy
# decoding picks; the two need not agree.
#
# ### Greedy decoding
#
# To translate, the encoder runs once; then the decoder starts from `[start]`, and at each step we append the most
# probable next character and run the decoder again on the longer prefix, until every sentence of the batch has
# produced `[end]` or 60 characters have been written. The special ids `[pad]`, `[UNK]` and `[start]` are excluded
# from the argmax, so the output contains only characters and `[end]`. A sentence that never produces `[end]` runs
# to the limit: it is the classic decoding bug to watch for (a loop that repeats a character or a phrase), so we
# count such sentences.
#
# The decoding cell also chooses which weights translate: those after the last epoch, or those of the epoch with the
# lowest validation loss (kept by the `KeepBest` callback during training). It decodes the 1,000 validation
# sentences with both and keeps the one with the higher validation BLEU; the test set plays no part in the choice.

# %%
# NBVAL_IGNORE_OUTPUT
encoder_model = keras.Model(src_in, memory)
memory_in = keras.Input((None, MT_D), name="memory")
step_out, step_cross = decoder(tgt_embed(tgt_in), memory_in, ops.not_equal(tgt_in, PAD), ops.not_equal(src_in, PAD))
decoder_model = keras.Model([tgt_in, memory_in, src_in], [to_logits(step_out), step_cross])
MAX_OUT = 60  # characters; longer than any training target (longest printed below)


# At the first step the decoder's self-attention has one key; Keras then warns that a softmax over one element is
# always 1. That is expected here (the first character may only look at [start]), so the warning is silenced.
warnings.filterwarnings("ignore", message="You are using a softmax over axis")


def greedy_translate(sentences, batch=250):  # 250 sentences per batch: fits memory, few decoder calls
    """Greedy decoding; returns the Chinese strings and, per sentence, whether it emitted [end]."""
    outputs, ended = [], []
    for b in range(0, len(sentences), batch):
        src = tf.constant(pad([encode_en(s) for s in sentences[b : b + batch]]))
        mem = encoder_model(src, training=False)
        tgt = np.full((src.shape[0], 1), START, np.int32)
        done = np.zeros(src.shape[0], bool)
        for _ in range(MAX_OUT):
            logits, _ = decoder_model([tf.constant(tgt), mem, src], training=False)
            step_logits = logits[:, -1].numpy()
            step_logits[:, [PAD, UNK, START]] = -np.inf  # never emit padding, [UNK] or [start]
            nxt = np.argmax(step_logits, axis=-1).astype(np.int32)
            nxt[done] = PAD
            tgt = np.concatenate([tgt, nxt[:, None]], axis=1)
            done |= nxt == END
            if done.all():
                break
        for row in tgt[:, 1:]:
            stop = np.flatnonzero(row == END)
            outputs.append("".join(zh_itos[i] for i in row[: stop[0] if len(stop) else len(row)]))
            ended.append(bool(len(stop)))
    return outputs, np.array(ended)


def references(idx):
    """Distinct English sentences of idx and, for each, all its Chinese translations (as sacrebleu streams)."""
    groups = {}
    for i in idx:
        groups.setdefault(english[i], []).append(chinese[i])
    sources = list(groups)
    refs = [groups[s] for s in sources]
    streams = [[r[j] if j < len(r) else None for r in refs] for j in range(max(map(len, refs)))]
    return sources, refs, streams


test_sources, test_refs, test_streams = references(mt_test)
print(f"{len(test_sources):,} test sentences; references per sentence:", dict(sorted(Counter(map(len, test_refs)).items())),
      f"| longest training target: {max(map(len, tgt_train)) - 2} characters")  # fmt: skip

# Which weights translate: those after the last epoch, or those of the epoch with the lowest validation loss
# (KeepBest)? Chosen by BLEU on the validation sentences, never on the test set.
final_weights = translator.get_weights()
dev_sources, _, dev_streams = references(du.take(idx_val, quick=300, seed=1))
weight_options = {f"after epoch {MT_EPOCHS} (last)": (MT_EPOCHS, final_weights),
                  f"after epoch {keep_best.epoch} (lowest val loss)": (keep_best.epoch, keep_best.weights)}  # fmt: skip
val_bleu = {}
for name, (_, w) in weight_options.items():
    translator.set_weights(w)  # encoder_model and decoder_model share these layers
    val_bleu[name] = sacrebleu.corpus_bleu(greedy_translate(dev_sources)[0], dev_streams, tokenize="zh").score
    print(f"weights {name}: validation loss {mt_history.history['val_loss'][weight_options[name][0] - 1]:.3f}, "
          f"validation BLEU (greedy) {val_bleu[name]:.1f}")  # fmt: skip
chosen_weights = max(val_bleu, key=val_bleu.get)
mt_chosen_epoch = weight_options[chosen_weights][0]
translator.set_weights(weight_options[chosen_weights][1])
mt_val_loss = mt_history.history["val_loss"][mt_chosen_epoch - 1]
print(f"translating with the weights {chosen_weights}")

# %%
# NBVAL_IGNORE_OUTPUT
with du.Timer() as decode_timer:
    test_hyps, test_ended = greedy_translate(test_sources)
no_end = int((~test_ended).sum())
print(f"greedy decoding of {len(test_sources):,} sentences: {decode_timer.seconds:.0f} s | "
      f"sentences without [end]: {no_end}")  # fmt: skip

# %% [markdown]
# ## 7. Measuring translation: BLEU and chrF against all references, and a retrieval baseline
#
# **BLEU** (Papineni et al., 2002) counts the $n$-grams ($n = 1..4$) of a translation that also occur in one of
# its references, over the whole test corpus, takes the geometric mean of the four precisions and multiplies it by
# a brevity penalty for translations shorter than their references; it is reported ×100. For Chinese, `sacrebleu`
# with `tokenize="zh"` splits the text into characters (and keeps runs of Latin letters or digits together), so the
# $n$-grams are character $n$-grams. **chrF** (Popović, 2015) is an F-score of character $n$-grams ($n = 1..6$)
# that weighs recall twice as much as precision. Both are computed against **all** the translations of each test
# sentence: a correct translation that matches a second reference instead of the first still finds its $n$-grams.
#
# **A baseline that does not translate.** Tatoeba sentences can have near-twins in the training split (measured in
# section 6). The retrieval "translator" finds the training English sentence most similar to the input under
# TF-IDF (cosine similarity of word n-gram vectors) and returns its Chinese. A model that only memorized the
# training pairs would behave much like this lookup, so beating it is the minimum a translator must show. The
# n-gram range of the TF-IDF is chosen on the validation sentences. The gap between the two systems gets a **paired
# bootstrap**: the test sentences are drawn with replacement 1,000 times, both systems are scored on each draw, and
# the spread of the difference gives a 95 % interval.

# %%
# NBVAL_IGNORE_OUTPUT
def corpus_scores(hyps, streams):
    return (sacrebleu.corpus_bleu(hyps, streams, tokenize="zh").score,
            sacrebleu.corpus_chrf(hyps, streams).score)  # fmt: skip


first_translation = {}
for i in mt_train:
    first_translation.setdefault(english[i], chinese[i])
retrieval_english = list(first_translation)
val_sources, _, val_streams = references(idx_val)
retrieval = {}
for ngrams in ((1, 1), (1, 2)):
    tfidf = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b|[^\w\s]", ngram_range=ngrams, sublinear_tf=True)  # noqa: S106
    X_train = tfidf.fit_transform(retrieval_english)

    def retrieve(sentences, tfidf=tfidf, X_train=X_train):
        nearest = np.asarray((tfidf.transform(sentences) @ X_train.T).argmax(axis=1)).ravel()
        return [first_translation[retrieval_english[j]] for j in nearest]

    retrieval[ngrams] = (retrieve, corpus_scores(retrieve(val_sources), val_streams))
    print(f"retrieval, TF-IDF word n-grams {ngrams}: validation BLEU {retrieval[ngrams][1][0]:.1f}, "
          f"chrF {retrieval[ngrams][1][1]:.1f}")  # fmt: skip
best_ngrams = max(retrieval, key=lambda k: retrieval[k][1][0])
retrieval_hyps = retrieval[best_ngrams][0](test_sources)

retrieval_bleu_test, retrieval_chrf_test = corpus_scores(retrieval_hyps, test_streams)
bleu_test, chrf_test = corpus_scores(test_hyps, test_streams)
scores = pd.DataFrame({"BLEU": [retrieval_bleu_test, bleu_test], "chrF": [retrieval_chrf_test, chrf_test]},
                      index=[f"retrieval (TF-IDF {best_ngrams})", "Transformer, greedy"])  # fmt: skip
print(f"\nTEST, {len(test_sources):,} English sentences, all references:")
print(scores.round(1).to_string())
print(sacrebleu.corpus_bleu(test_hyps, test_streams, tokenize="zh"))


def paired_bootstrap(hyps_a, hyps_b, streams, n=1000, seed=0):
    """Paired bootstrap over sentences (as sacrebleu's paired_bs does): draw the test sentences with replacement
    n times, score both systems on each draw; returns {metric: differences a - b, one per draw}."""
    draws = np.random.default_rng(seed).integers(0, len(hyps_a), size=(n, len(hyps_a)))
    diffs = {}
    for name, metric in (("BLEU", sacrebleu.BLEU(tokenize="zh")), ("chrF", sacrebleu.CHRF())):
        # per-sentence n-gram counts; the corpus score is computed from their sums
        stats_a = np.array(metric._extract_corpus_statistics(hyps_a, streams))
        stats_b = np.array(metric._extract_corpus_statistics(hyps_b, streams))
        diffs[name] = np.array([metric._compute_score_from_stats(stats_a[d].sum(0)).score
                                - metric._compute_score_from_stats(stats_b[d].sum(0)).score for d in draws])  # fmt: skip
    return diffs


gap = paired_bootstrap(test_hyps, retrieval_hyps, test_streams)
for name, d in gap.items():
    print(f"{name} model - retrieval, 1,000 paired bootstrap draws of the test sentences: 95% interval "
          f"[{np.percentile(d, 2.5):.1f}, {np.percentile(d, 97.5):.1f}], share of draws <= 0: {np.mean(d <= 0):.3f}")
bleu_gap_low = float(np.percentile(gap["BLEU"], 2.5))
subsets = {
    "without a loose English twin in training": [i for i, src in enumerate(test_sources) if src not in near_twin],
    "whose references are all absent from the training targets": [
        i for i, refs in enumerate(test_refs) if not any(r in train_targets for r in refs)
    ],
}
for name, keep in subsets.items():
    keep_streams = [[stream[i] for i in keep] for stream in test_streams]
    keep_streams = [st for st in keep_streams if any(r is not None for r in st)]
    m_scores = corpus_scores([test_hyps[i] for i in keep], keep_streams)
    r_scores = corpus_scores([retrieval_hyps[i] for i in keep], keep_streams)
    print(f"test sentences {name} ({len(keep):,}): BLEU model {m_scores[0]:.1f} vs retrieval {r_scores[0]:.1f}, "
          f"chrF {m_scores[1]:.1f} vs {r_scores[1]:.1f}")  # fmt: skip

# %% [markdown]
# On the 2,000 test sentences the Transformer beats the retrieval baseline on both measures: BLEU 35.3 against 29.9
# and chrF 30.5 against 26.6 (the Check cell asserts both wins and BLEU ≥ 33). The paired bootstrap puts the BLEU
# gap between 4.0 and 6.9 and the chrF gap between 2.6 and 5.3 (95 % intervals); none of the 1,000 draws reversed
# the order. The baseline's TF-IDF used word unigrams and bigrams, chosen on the validation sentences (BLEU 30.8
# against 29.4 with unigrams). The line printed by `sacrebleu` shows where the model loses points: 67.5 % of its
# characters occur in a reference, 42.7 % of its character pairs and 21.9 % of its runs of four; its output is a
# little shorter than the references (brevity penalty 0.954).
#
# **Near-duplicates.** Leaving out the 5 test sentences with a loose English twin in training changes almost
# nothing (BLEU 35.3 against 29.7). Keeping only the 1,630 test sentences none of whose references occurs as a
# training target, both systems score lower and the gap widens: BLEU 30.3 against 19.0, chrF 26.2 against 16.8. A
# lookup profits most from Chinese sentences it has already seen, and so, to a lesser degree, does the model. That a
# lookup without any translation scores BLEU 29.9 on the whole test set is the warning of this data set: a BLEU in
# the high 20s on Tatoeba says little until it is compared with this baseline.
#
# ### Translations as they come out
#
# Twelve test sentences drawn at random, with the model's output, the retrieval baseline's output, the references
# and the sentence-level chrF of the model's output; then the five test sentences with the lowest chrF.

# %%
# NBVAL_IGNORE_OUTPUT
sentence_chrf = np.array([sacrebleu.sentence_chrf(h, r).score for h, r in zip(test_hyps, test_refs, strict=True)])
retrieval_chrf = np.array([sacrebleu.sentence_chrf(h, r).score for h, r in zip(retrieval_hyps, test_refs, strict=True)])


def show(rows_to_show):
    for i in rows_to_show:
        print(f"EN  {test_sources[i]}")
        print(f"MT  {test_hyps[i]}   (chrF {sentence_chrf[i]:.0f})")
        print(f"RET {retrieval_hyps[i]}   (chrF {retrieval_chrf[i]:.0f})")
        print(f"REF {' | '.join(test_refs[i])}\n")


shown = np.random.default_rng(3).choice(len(test_sources), size=12, replace=False)
show(shown)
print("--- the five lowest chrF ---\n")
show(np.argsort(sentence_chrf)[:5])
print(f"model better than retrieval on {np.mean(sentence_chrf > retrieval_chrf):.0%} of the sentences, "
      f"worse on {np.mean(sentence_chrf < retrieval_chrf):.0%}, tied on {np.mean(sentence_chrf == retrieval_chrf):.0%}")

# %% [markdown]
# Read as they are, the twelve random sentences span the whole range: exact translations ("I want to do more." →
# 我想做更多。 and "Gold is much heavier than water." → 金子比水重得多。, chrF 100; the retrieval baseline returns
# the same sentences, which have twins in training), near misses ("You shouldn't go." → 你不应该走的。, "you
# shouldn't leave", chrF 36), fluent Chinese that says something else ("Let's not discuss it." → 一起讨论吧。,
# "let's discuss it together", the opposite, which is also what retrieval returns; "Smoking affects your
# health." → 吸烟突然失败了。, "smoking suddenly failed"), sentences cut short ("You look tired. You should rest a
# little." keeps only its first half, 你看起来很困了。), and nonsense ("I'd like a nonstop flight to New York." →
# 我想去纽约翰中失败了。). Otherwise the baseline returns something related but wrong (我想试穿这件衣服。, "I want
# to try on this piece of clothing", for "I'm folding my dress."). The lowest-chrF list shows that a plausible
# translation can score 0 ("Have a nice flight." → 有一个好的航班。, word for word "have a good flight", against the
# idiomatic 飞行愉快！), outputs unrelated to the input ("The moonlight is beautiful." → 草坪！, "lawn!"), a set
# phrase that retrieval finds and the model garbles ("See you around." → 再见！ against 在看来看看。), and long
# sentences that come out as fragments. One reference mixes Latin letters into the Chinese (Tom写作…), as Tatoeba
# references sometimes do.
# Sentence-level chrF of a short Chinese sentence is harsh (one wrong character costs a lot), which is why it is used
# here only to rank and compare; the corpus scores above are the measure. By sentence-level chrF the model is better
# than retrieval on 64 % of the test sentences, worse on 28 % and tied on 7 % (last printed line). Only 2 of the 2,000
# test sentences never produced `[end]` (printed with the decoding time above).
#
# **Does the advantage hold at every length?** The table splits the test sentences into three groups by English
# length (in tokens) and scores both systems on each.

# %%
# NBVAL_IGNORE_OUTPUT
src_len = np.array([len(en_tokens(s)) for s in test_sources])
cuts = np.quantile(src_len, [1 / 3, 2 / 3])
bins = np.digitize(src_len, cuts, right=True)
by_length = []
for b in range(3):
    sel = np.flatnonzero(bins == b)
    streams_b = [[stream[i] for i in sel] for stream in test_streams]
    streams_b = [s for s in streams_b if any(r is not None for r in s)]
    hyps_m, hyps_r = [test_hyps[i] for i in sel], [retrieval_hyps[i] for i in sel]
    bleu_m, chrf_m = corpus_scores(hyps_m, streams_b)
    bleu_r, chrf_r = corpus_scores(hyps_r, streams_b)
    gap_b = paired_bootstrap(hyps_m, hyps_r, streams_b, seed=b)
    by_length.append({"English tokens": f"{src_len[sel].min()}-{src_len[sel].max()}", "sentences": len(sel),
                      "BLEU model": bleu_m, "BLEU retr.": bleu_r,
                      "BLEU diff 95% CI": "[{:.1f}, {:.1f}]".format(*np.percentile(gap_b["BLEU"], [2.5, 97.5])),
                      "chrF model": chrf_m, "chrF retr.": chrf_r,
                      "chrF diff 95% CI": "[{:.1f}, {:.1f}]".format(*np.percentile(gap_b["chrF"], [2.5, 97.5]))})  # fmt: skip
print(pd.DataFrame(by_length).round(1).to_string(index=False))
print("(groups are cut at the terciles of the length; sentences of equal length stay together, so sizes differ)")

# %% [markdown]
# The model's lead is largest on the short sentences (2–6 tokens: BLEU 43.1 against 30.9, 95 % interval of the
# difference 9.5 to 14.7), smaller on the middle group (37.1 against 29.9, interval 5.1 to 9.5), and gone on the
# longest group (9–25 tokens: BLEU 25.8 against 26.6, interval −3.7 to 2.0; chrF 22.7 against 25.2, interval −5.2
# to 0.2). Both intervals of the long group contain 0, so the data show the lead vanishing there, not a
# significant loss. The groups hold 798, 780 and 422 sentences: the cuts are at the terciles of the length, and
# sentences of equal length stay in one group. We did not measure why the lead vanishes; two candidates to test are
# that long pairs are rare in training (the corpus is mostly short sentences) and that a greedy decoder's early
# mistakes carry through a long output, while the baseline always returns a complete, fluent sentence that shares
# many characters with the references.
#
# ### Cross-attention: where the decoder looked
#
# For one test sentence, the cross-attention weights of the decoder (mean over the 4 heads) while it wrote each
# Chinese character: row = character written, column = English token. The sentence is the test sentence of at least
# seven English tokens with the highest chrF. Matplotlib's default font has no Chinese glyphs; if a CJK font is
# installed it is used for the row labels, otherwise the rows are numbered and the characters printed with their
# numbers.

# %%
# NBVAL_IGNORE_OUTPUT
cjk_font = next((f.name for f in font_manager.fontManager.ttflist
                 if any(k in f.name for k in ("CJK", "Hei", "YaHei", "PingFang", "WenQuanYi", "Song"))), None)  # fmt: skip
candidates = np.flatnonzero(src_len >= 7)
pick_mt = int(candidates[np.argmax(sentence_chrf[candidates])])
src_ex = tf.constant(pad([encode_en(test_sources[pick_mt])]))
tgt_ex = tf.constant(pad([[START] + [zh_stoi.get(c, UNK) for c in test_hyps[pick_mt]]]))
_, cross_w = decoder_model([tgt_ex, encoder_model(src_ex, training=False), src_ex], training=False)
cross_w = cross_w.numpy()[0].mean(0)  # (characters written + 1, English tokens)
rows_zh = list(test_hyps[pick_mt]) + ["[end]"]
print("EN:", test_sources[pick_mt], "| MT:", test_hyps[pick_mt], "| REF:", " | ".join(test_refs[pick_mt]))
print("rows:", " ".join(f"{i}={c}" for i, c in enumerate(rows_zh)))
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(cross_w, cmap="viridis", vmin=0, vmax=1)
fig.colorbar(im, ax=ax, fraction=0.04, label="attention weight (0 to 1)")
ax.set_xticks(range(len(en_tokens(test_sources[pick_mt]))), en_tokens(test_sources[pick_mt]), rotation=45)
if cjk_font:
    ax.set_yticks(range(len(rows_zh)), rows_zh, fontfamily=cjk_font)
else:
    ax.set_yticks(range(len(rows_zh)), [f"{i}" if c != "[end]" else f"{i} [end]" for i, c in enumerate(rows_zh)])
ax.set_xlabel("English token (key)")
ax.set_ylabel("Chinese character written (query)")
ax.set_title("cross-attention, mean over heads")
fig.tight_layout()
plt.show()
print("for each character, the English token with the largest weight:",
      ", ".join(f"{c}->{en_tokens(test_sources[pick_mt])[j]}" for c, j in zip(rows_zh, cross_w.argmax(1), strict=True)))  # fmt: skip

# %% [markdown]
# No CJK font is installed on the machine that ran this notebook, so the rows are numbered and the characters are
# printed above the picture. The picture is close to a diagonal: the brightest cell of each row is the English token
# that the character translates (printed list: 你 → you, 认 and 为 → think, 我 → i, 能 → can, 帮 → help, 吗 and ？
# → ?). On the colour bar (0 to 1), rows 0 to 5 put between about 0.55 and 0.95 of their weight on that one token;
# 忙 (row 6) and `[end]` (row 9) spread theirs over several tokens, with at most about 0.35 on "?". This sentence
# keeps the English word order in Chinese and was translated exactly (it was chosen as the best-scored test sentence
# of at least seven tokens): the easy case, and the only alignment shown. Nobody told the model which word
# translates which; the alignment was learned from the loss on the next character alone.
#
# ## 8. Pitfalls
#
# **A classifier is not a translator.** Tutorials circulate in which an `Embedding → Conv1D` (or `LSTM`) stack
# ending in `Dense(vocab_size, activation="softmax")` is presented as "a Transformer machine-translation model". Such
# a model emits **one** probability vector per input sentence: it can label a sentence, it cannot write one; and it
# contains no attention at all. Translation needs a model that emits a *sequence* of tokens whose length is not
# fixed in advance, each conditioned on the input and on the tokens written so far: an encoder–decoder (recurrent
# or Transformer) with a decoding loop. The shapes say it:

# %%
mislabeled = keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(len(en_itos), 64),
                               L.Conv1D(64, 5, activation="relu"), L.GlobalMaxPooling1D(),
                               L.Dense(len(zh_itos), activation="softmax")], name="conv1d_classifier")  # fmt: skip
batch_src = pad([encode_en(s) for s in ("I love you.", "Where is the station?")])
batch_tgt = pad([encode_zh(s)[:-1] for s in ("我爱你。", "车站在哪里？")])
print("Conv1D 'translator' output:", tuple(mislabeled(batch_src).shape), "-> one distribution per sentence")
print("encoder-decoder output:    ", tuple(translator([batch_src, batch_tgt], training=False).shape),
      "-> one distribution per position of the Chinese output")  # fmt: skip

# %% [markdown]
# Name models for what they do: the first is a sentence classifier over 2,759 classes; only the second, with its
# decoding loop, translates.
#
# **Splitting pairs instead of sentences.** If the 29,155 *pairs* are shuffled and cut, an English sentence with
# several translations lands on both sides of the cut, and the test set rewards memorization. Measured on a random
# cut of the pairs with a test set of the same size as ours:

# %%
random_order = np.random.default_rng(0).permutation(len(english))
pair_test, pair_train = random_order[: len(idx_test)], random_order[len(idx_test) :]
seen = np.isin(english[pair_test], english[pair_train])
print(f"random split of pairs: {seen.mean():.1%} of the test pairs have their English sentence in training "
      f"(split by sentence: {np.isin(english[idx_test], english[idx_train]).mean():.1%})")  # fmt: skip

# %% [markdown]
# **A position embedding that never trains.** Written the obvious way in the functional API, a learned position
# embedding is an `Embedding` called on `ops.arange(n)`. That input is a constant, not a model input, so the layer
# runs once while the model is being built; the model keeps the result as a constant and does not own the layer's
# weights. Counting them shows it (token embedding 1,000 × 8, positions 50 × 8):

# %%
toy_in = keras.Input((50,), dtype="int32")
broken = keras.Model(toy_in, L.Embedding(1000, 8)(toy_in) + L.Embedding(50, 8)(ops.arange(50))[None])
fixed = keras.Model(toy_in, TokenAndPositionEmbedding(1000, 50, 8)(toy_in))
print(f"weights owned by the model: position embedding outside a layer {broken.count_params():,} | "
      f"inside TokenAndPositionEmbedding {fixed.count_params():,}")

# %% [markdown]
# The first model has only the token embedding's 8,000 weights: its positions are frozen random vectors.
#
# The other pitfalls of this notebook were measured where they arise: attention without a padding mask (outputs
# that depend on the batch's padding) and a decoder without a causal mask (earlier positions that see later tokens)
# in section 3, and the decoding loop that never emits `[end]` in section 6.
#
# ## Results
#
# The cell prints this run's total wall time and the machine's load, then `du.report` prints every metric as a
# table and, in the full profile, writes them to `results/10_attention_and_transformers.json`.

# %%
# NBVAL_IGNORE_OUTPUT
# du.report prints the metrics and, in the full profile, writes them to results/10_attention_and_transformers.json
notebook_s = time.perf_counter() - notebook_start
print(f"this run: {notebook_s / 60:.1f} min from the second cell to here | load average (1, 5, 15 min): "
      f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPU cores")  # fmt: skip
results_path = du.report(
    "10_attention_and_transformers",
    mha_max_abs_diff=mha_max_abs_diff,
    padding_leak_without_mask=float(padding_leak["without mask"]),
    padding_leak_with_mask=float(padding_leak["with padding mask"]),
    causal_leak_without_mask=float(causal_leak["without mask"]),
    causal_leak_with_mask=float(causal_leak["with causal mask"]),
    transformer_test_accuracy=transformer_test_accuracy,
    transformer_val_accuracy=transformer_val_accuracy,
    transformer_quarter_epochs=quarters_run,
    transformer_best_quarter=best_quarter,
    transformer_s_per_epoch=imdb_s_per_epoch,
    transformer_train_s_per_epoch=imdb_train_s_per_epoch,
    no_attention_test_accuracy=bag_test_accuracy,
    no_attention_val_accuracy=bag_val_accuracy,
    nbsvm_test_accuracy_from_08=r08["nbsvm_test_accuracy"],
    bleu_test=bleu_test,
    chrf_test=chrf_test,
    retrieval_bleu_test=retrieval_bleu_test,
    retrieval_chrf_test=retrieval_chrf_test,
    test_sentences=len(test_sources),
    sentences_without_end=no_end,
    translator_epochs=MT_EPOCHS,
    translator_s_per_epoch=mt_s_per_epoch,
    translator_val_loss=mt_val_loss,
    unigram_val_loss=unigram_val_loss,
    translator_target_chars_per_s=mt_tokens / mt_s_per_epoch,
    greedy_decoding_s=decode_timer.seconds,
    translator_weights_epoch=mt_chosen_epoch,
    bleu_gap_ci_low=bleu_gap_low,
    test_loose_twins=len(near_twin),
    test_refs_in_train_share=float(ref_in_train),
    notebook_minutes=notebook_s / 60,
)

# %%
# Check, full profile: the hand-written MHA matches Keras; masks remove the measured leaks; the IMDB Transformer
# reaches 0.87 test accuracy; the translator reaches BLEU 33 and beats the retrieval baseline on BLEU and chrF.
# Quick (2,500 reviews, 4,000 pairs, 1-2 epochs): the classifier is well above chance (0.5), and the translator's
# validation loss is below that of a model that knows only the character frequencies (it uses the context); its
# BLEU after two short epochs proves nothing, so there is no quick BLEU bar.
assert mha_max_abs_diff <= 1e-5, mha_max_abs_diff
assert padding_leak["without mask"] > 1e-2 and padding_leak["with padding mask"] < 1e-5, padding_leak
assert causal_leak["without mask"] > 1e-2 and causal_leak["with causal mask"] < 1e-5, causal_leak
assert transformer_test_accuracy >= du.pick(full=0.87, quick=0.65), transformer_test_accuracy
assert bleu_test >= du.pick(full=33.0, quick=0.0), bleu_test
assert mt_val_loss < du.pick(full=0.6, quick=0.95) * unigram_val_loss, (mt_val_loss, unigram_val_loss)
assert chrf_test >= du.pick(full=retrieval_chrf_test, quick=0.0), (chrf_test, retrieval_chrf_test)
assert bleu_test > du.pick(full=retrieval_bleu_test, quick=0.0), (bleu_test, retrieval_bleu_test)
print("checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Beam search.** Replace greedy decoding by a beam of width 4 (keep the 4 best prefixes by summed
#    log-probability, with a length normalization) and compare BLEU, chrF and decoding time on the same test set.
# 2. **When to stop, and how deep.** The notebook kept the weights of the lowest validation loss in memory
#    (`KeepBest`). Do it with `keras.callbacks.ModelCheckpoint("best.weights.h5", save_weights_only=True,
#    save_best_only=True)` instead: in Keras 3 the path must end in `.weights.h5` when only weights are saved (or in
#    `.keras` for a whole model, which then needs `custom_objects={...}` with the notebook's layers and
#    `WarmupInverseSqrt` to be loaded again); reload with `translator.load_weights("best.weights.h5")`.
#    Then train a 2+2-layer translator for the same number of epochs, and for the same wall-clock time: which
#    comparison is fair, and what do they show?
# 3. **No causal mask.** Remove the causal mask from the decoder's self-attention, train for two epochs and compare
#    the training loss and the greedy translations with the masked model. Explain both.
# 4. **IMDB, which end of the review?** Train the classifier on the *first* 256 tokens instead of the last
#    (`truncating="post"`), then with `SEQ_LEN` 128 and 512; compare validation accuracy and time per epoch.
#    Where does the bag of n-grams of 08 stay ahead, and why?
#
# **Next:** [11 · Generative adversarial networks](11_generative_adversarial_networks.ipynb).
