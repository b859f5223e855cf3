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
# # 09 · Time-series forecasting: Beijing PM2.5, one hour and one day ahead
#
# Forecasting looks like regression with extra columns, and most of its traps come from forgetting that time
# only runs one way. We forecast the hourly fine-particle concentration (PM2.5, in µg/m³) at the US embassy in
# Beijing, 1 hour and 24 hours ahead, and we judge every neural network against forecasts that need no learning.
#
# **What you will learn**
# - cleaning a real sensor series: missing values (drop vs forward fill vs time interpolation, and which of them a
#   forecaster may actually use), one-hot wind direction, calendar features as sine/cosine pairs;
# - a **chronological** train/validation/test split and scaling with training statistics only;
# - turning a series into supervised (window → target) pairs with `keras.utils.timeseries_dataset_from_array`:
#   sequence length, sampling rate, horizon;
# - **naive baselines first**: persistence, seasonal naive, climatology, all scored on exactly the windows the
#   models are scored on, and never on targets that were missing in the raw data;
# - a **linear baseline** (ridge regression on the same windows) and the same linear model trained like the
#   networks, then Dense, LSTM, GRU, a stacked GRU with dropout and a Conv1D model as corrections to persistence,
#   for both horizons, trained with three seeds (Conv1D with one) so that differences smaller than the
#   seed-to-seed spread are called ties, and a day-block bootstrap of the test year for the margins; a table of test MAE in µg/m³, a week of
#   forecasts against the truth and the 1-hour errors;
# - pitfalls: shuffling before splitting, scoring filled-in targets, scaling with statistics of the future.
#
# **Prerequisites:** [01 · data preprocessing](01_data_preprocessing.ipynb) (splits, scaling, leakage),
# [04 · training deep networks](04_training_deep_networks.ipynb) (early stopping, dropout) and
# [08 · RNNs, LSTMs and text](08_rnn_lstm_text.ipynb) (what an LSTM/GRU cell computes).
#
# **Data:** Beijing PM2.5 hourly data 2010–2014 (Liang et al., 2015; UCI id 381, CC BY 4.0), 43,824 hours with
# weather from Beijing Capital International Airport; for the exercises, daily minimum temperatures in Melbourne
# 1981–1990 (Australian Bureau of Meteorology). Both come from the offline mirror or a verified download.
#
# **Run time (full profile, 2-core CPU):** 8.4 minutes (504 s) for the run stored here, 6.8 of them
# (411 s) training 32 forecasters (six kinds × two horizons × three seeds, Conv1D with one seed; the recurrent
# ones at roughly 3,700–19,000 training windows per second including the validation passes, printed with each
# run), on a machine shared with other jobs; an idle machine is faster.

# %%
# NBVAL_IGNORE_OUTPUT
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import dlutils as du

du.setup(seed=42)
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)

# %% [markdown]
# ## 1. The data
#
# One row per hour. `pm2.5` is the target; the other columns are weather: dew point `DEWP` (°C), temperature
# `TEMP` (°C), pressure `PRES` (hPa), the combined wind direction `cbwd` (NE, NW, SE, or `cv` for calm and
# variable), `Iws` the wind speed accumulated over the hours the wind has kept its direction (m/s), and `Is`/`Ir`
# the hours of snow/rain accumulated so far.

# %%
raw = du.data.load_beijing_pm25()
print("shape:", raw.shape, " from", raw.index[0], "to", raw.index[-1])
print("hourly grid without gaps:", bool((raw.index.to_series().diff().dropna() == pd.Timedelta("1h")).all()))
print("missing values per column:", raw.isna().sum().to_dict())
print("wind directions:", raw["cbwd"].value_counts().to_dict())
raw.head()

# %%
pm_raw = raw["pm2.5"]
print(pm_raw.describe().round(1).to_dict())
fig, axes = plt.subplots(2, 1, figsize=(11, 5.5))
axes[0].plot(pm_raw.index, pm_raw.to_numpy(), lw=0.3)
axes[0].set(title="PM2.5, hourly, 2010–2014", ylabel="µg/m³")
week = pm_raw["2014-01-10":"2014-01-24"]
axes[1].plot(week.index, week.to_numpy(), lw=1)
axes[1].set(title="two weeks in January 2014: episodes last one to several days and often clear within hours", ylabel="µg/m³")
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The series is heavy-tailed (a median of 72 against peaks near 1,000 µg/m³) and moves in **episodes** that
# last from one to several days: some rise within half a day (15 and 17 January), some over about two days
# (22–24 January), and several end within a few hours (16, 19 and 24 January). (The usual meteorological explanation, which this notebook does
# not test, is that stagnant air lets pollution accumulate and a strong northerly wind sweeps it away.) That
# makes the next hour easy (it is close to this hour) and the next day hard (will the episode end?). Keep that in mind when judging the numbers below.
#
# ## 2. Cleaning
#
# ### 2.1 Missing PM2.5 values: which filling may a forecaster use?
#
# 2,067 PM2.5 readings are missing, in gaps from 1 hour to several days. Three common strategies:
#
# - **drop the rows**: the hourly grid breaks: the "previous row" is no longer the previous hour, and any
#   window of 24 rows that spans a gap silently covers more than 24 hours;
# - **forward fill**: repeat the last observed value; *causal*: it uses only the past;
# - **time interpolation**: draw a straight line across the gap; usually closer to the truth, but *not causal*:
#   it uses the first value **after** the gap, which a forecaster standing inside the gap would not know.
#
# We measure how good each filling is by hiding values we do know and computing the **mean absolute error**
# (MAE: the average of |filled value − true value|, in µg/m³; defined formally in §4): first we copy the 2010 pattern of gaps onto
# the 2013 series (hour by hour) and compare each filling with the hidden truth.

# %%
starts = pm_raw.first_valid_index()
gap_lengths = pm_raw.isna().groupby(pm_raw.notna().cumsum()).sum()
gap_lengths = gap_lengths[gap_lengths > 0]
print(f"{pm_raw.isna().sum()} missing values in {len(gap_lengths)} gaps; longest gap {gap_lengths.max()} hours;"
      f" gaps of 1-3 hours: {(gap_lengths <= 3).sum()}")

# Dropping rows: how many 24-row windows would cover more than 24 hours?
kept_times = pm_raw.dropna().index.to_series()
span = kept_times.diff(23).dropna()  # time from the first to the last row of each 24-row window
print(f"after dropping: {int((span > pd.Timedelta('23h')).sum())} of {len(span)} windows of 24 rows"
      f" span more than 24 hours")

# Hide the 2010 gap pattern in 2013, where the truth is known
truth_2013 = pm_raw["2013"].to_numpy()
mask_2010 = pm_raw["2010"].isna().to_numpy()[: len(truth_2013)]
damaged = pd.Series(np.where(mask_2010, np.nan, truth_2013), index=pm_raw["2013"].index)
fillings = {
    "forward fill (causal)": damaged.ffill(),
    "time interpolation (uses the future)": damaged.interpolate(method="time"),
    "training mean": damaged.fillna(float(pm_raw[:"2012"].mean())),
}
# the length of the gap each hidden hour belongs to
gap_id = np.cumsum(~mask_2010)
gap_len = pd.Series(mask_2010).groupby(gap_id).transform("sum").to_numpy()
# score hidden hours with a known truth that every filling could fill (not the gap that opens the year)
hidden = mask_2010 & ~np.isnan(truth_2013) & fillings["forward fill (causal)"].notna().to_numpy()
rows = {}
for name, filled in fillings.items():
    err = np.abs(filled.to_numpy() - truth_2013)
    rows[name] = {f"gaps ≤ 6 h ({(hidden & (gap_len <= 6)).sum()} h)": err[hidden & (gap_len <= 6)].mean(),
                  f"gaps > 6 h ({(hidden & (gap_len > 6)).sum()} h)": err[hidden & (gap_len > 6)].mean()}
print("MAE of each filling against the hidden 2013 truth (µg/m³):")
pd.DataFrame(rows).T.round(1)

# %% [markdown]
# The real 2010 pattern contains only 23 hidden hours in gaps of up to 6 hours, too few to rank the fillings
# on short gaps. So we also hide **random** gaps of fixed lengths (1 to 48 hours; each gap placed where the two
# readings around it are known, gaps not overlapping) and repeat the same comparison on many more hours. The last
# column is the share of hidden hours where interpolation is closer to the truth than forward filling.

# %%
rng = np.random.default_rng(0)
observed_2013 = ~np.isnan(truth_2013)
rows = {}
for length, n_gaps in [(1, 300), (3, 200), (6, 150), (24, 60), (48, 30)]:
    mask = np.zeros(len(truth_2013), dtype=bool)
    placed = 0
    for s in rng.permutation(np.arange(1, len(truth_2013) - length - 1)):
        around = slice(s - 1, s + length + 1)  # the gap and the reading on each side of it
        if observed_2013[around].all() and not mask[around].any():
            mask[s:s + length] = True
            placed += 1
            if placed == n_gaps:
                break
    damaged_r = pd.Series(np.where(mask, np.nan, truth_2013), index=pm_raw["2013"].index)
    err_ff = np.abs(damaged_r.ffill().to_numpy() - truth_2013)[mask]
    err_int = np.abs(damaged_r.interpolate(method="time").to_numpy() - truth_2013)[mask]
    err_mean = np.abs(float(pm_raw[:"2012"].mean()) - truth_2013)[mask]
    rows[f"{placed} gaps of {length} h"] = {
        "hidden hours": int(mask.sum()), "forward fill": err_ff.mean(), "time interpolation": err_int.mean(),
        "training mean": err_mean.mean(), "interpolation closer (%)": 100 * np.mean(err_int < err_ff),
    }
print("MAE of each filling on randomly hidden 2013 gaps (µg/m³):")
pd.DataFrame(rows).T.round(1)

# %% [markdown]
# On every gap length we hid at random, time interpolation has the lowest MAE and is closer to the truth than
# forward filling on most hidden hours; on the 23 short-gap hours of the 2010 pattern it wins too. That makes it
# the right tool for *describing* the past (a plot, a monthly mean). On the long gaps of the real 2010 pattern (the
# 619 hours in the first table) forward filling happens to score a little better than interpolation, but that is
# one noisy realisation: about 13 gaps of 7–155 hours, the longest alone a quarter of those hours, no spread
# measured, and the random 24 h and 48 h gaps above show the opposite. All three fillings are far off across gaps
# of days. The reason to forward-fill the *inputs* is not accuracy but causality. A forecaster at time $t$ only has the readings up to $t$: an interpolated
# input inside a gap would contain the value from after the gap, possibly the very target being forecast. So:
#
# - **inputs**: forward fill (the series starts with a day of missing values, which we drop). A limitation we
#   keep: nothing tells the model which inputs were filled, so a 155-hour flat line looks like a real, unchanging
#   reading; adding the causal flag "was observed" (or "hours since the last reading") as an input feature
#   would fix that;
# - **targets**: a target that was missing in the raw data is never scored, and never trained on (a sample weight
#   of 0). Scoring a filled-in value would grade the model on our filling rule, not on the air (Pitfall 2).

# %%
df = raw.loc[starts:].copy()
observed = df["pm2.5"].notna().to_numpy()  # True where a real reading exists
df["pm2.5"] = df["pm2.5"].ffill()
print(f"series from {df.index[0]}: {len(df)} hours, {int((~observed).sum())} filled inputs, "
      f"{int(df['pm2.5'].isna().sum())} still missing")

# %% [markdown]
# ### 2.2 Features: wind direction, skewed accumulations, calendar
#
# - `cbwd` is a category: one-hot, four columns (a single number 0–3 would invent an order NE < NW < SE < cv).
# - `Iws` is an accumulated, strongly skewed quantity: $\log(1 + x)$ compresses its long tail.
# - Calendar: hour of day and day of year are **cyclic**: 23:00 is next to 00:00, and 31 December next to
#   1 January. A raw hour number puts them 23 apart; a point on the unit circle does not,
#   $$\big(\sin\tfrac{2\pi h}{24}, \cos\tfrac{2\pi h}{24}\big), \qquad
#     \big(\sin\tfrac{2\pi d}{365.25}, \cos\tfrac{2\pi d}{365.25}\big).$$
#   Both coordinates are needed: the sine alone gives 03:00 and 09:00 the same value
#   ($\sin\frac{\pi}{4} = \sin\frac{3\pi}{4}$); the pair is unique.

# %%
def make_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model inputs, one row per hour; column 0 is the (forward-filled) PM2.5 target series."""
    hour, day = frame.index.hour.to_numpy(), frame.index.day_of_year.to_numpy()
    features = pd.DataFrame(
        {
            "pm2.5": frame["pm2.5"],
            "DEWP": frame["DEWP"],
            "TEMP": frame["TEMP"],
            "PRES": frame["PRES"],
            "log1p_Iws": np.log1p(frame["Iws"]),
            "Is": frame["Is"],
            "Ir": frame["Ir"],
            "hour_sin": np.sin(2 * np.pi * hour / 24),
            "hour_cos": np.cos(2 * np.pi * hour / 24),
            "doy_sin": np.sin(2 * np.pi * day / 365.25),
            "doy_cos": np.cos(2 * np.pi * day / 365.25),
        },
        index=frame.index,
    )
    wind = pd.get_dummies(frame["cbwd"], prefix="wind", dtype="float64")
    return pd.concat([features, wind], axis=1).astype("float32")


features = make_features(df)
print("features:", features.shape)
features.iloc[[0, 1, 12, 23]].round(3)

# %% [markdown]
# ### 2.3 A chronological split, and statistics from the training years only
#
# A forecast is used on the future, so it is tested on the future: **train** on 2010–2012, **validate**
# (early stopping, model choice) on 2013, **test** once on 2014. Shuffling hours before splitting would put
# 2014's neighbours into training (Pitfall 1).
#
# Standardization $x' = (x - \mu)/\sigma$ uses $\mu, \sigma$ from the **training rows only**; computed on all
# rows, they would carry information about 2013–2014 into every input (Pitfall 3).

# %%
n_train = int((df.index < "2013-01-01").sum())
n_val = int((df.index < "2014-01-01").sum()) - n_train
n_test = len(df) - n_train - n_val
print(f"train {n_train} h ({df.index[0].date()} to 2012), validation {n_val} h (2013), test {n_test} h (2014)")

values = features.to_numpy()
mean, std = values[:n_train].mean(axis=0), values[:n_train].std(axis=0)
scaled = (values - mean) / std
PM_MEAN, PM_STD = float(mean[0]), float(std[0])
pm = df["pm2.5"].to_numpy("float32")  # µg/m³, forward-filled
print(f"PM2.5 training mean {PM_MEAN:.2f}, std {PM_STD:.2f} µg/m³")
print("scaled training columns: mean ≈ 0:", bool(np.allclose(scaled[:n_train].mean(0), 0, atol=1e-3)),
      " std ≈ 1:", bool(np.allclose(scaled[:n_train].std(0), 1, atol=1e-3)))


def to_ugm3(z: np.ndarray) -> np.ndarray:
    """Scaled PM2.5 back to µg/m³ (inverse of the standardization)."""
    return z * PM_STD + PM_MEAN


# %% [markdown]
# ## 3. Windows: from a series to (input, target) pairs
#
# **Idea.** A forecaster at hour $t$ sees the last few hours of every feature and predicts PM2.5 at $t + h$.
#
# **Math.** With sequence length $L$, sampling rate $r$ and horizon $h$, sample $i$ is
# $$\mathbf{X}_i = \big(\mathbf{x}_{i},\ \mathbf{x}_{i+r},\ \dots,\ \mathbf{x}_{i+(L-1)r}\big), \qquad
#   y_i = \text{pm}_{\,t_i + h}, \quad t_i = i + (L-1)r,$$
# so the target sits $(L-1)r + h$ rows after the window's first row. `timeseries_dataset_from_array(data,
# targets, sequence_length=L, sampling_rate=r)` pairs window $i$ of `data` with `targets[i]`; passing
# `targets[(L-1)r + h:]` (and `data` without its last $h$ rows, so both have the same number of samples) gives
# exactly the pairs above. We use $L = 24$ hourly steps ($r = 1$): the last day of weather and PM2.5.
#
# Each split is windowed on its own, so no window crosses a split boundary. Next to the scaled target we carry
# the flag "was observed", which becomes the sample weight (0 for a target that was missing in the raw data).
# How Keras 3 uses it: the loss of a batch of $N$ samples is $\frac{1}{N}\sum_i w_i\,|e_i|$, divided by $N$,
# not by $\sum_i w_i$. A missing target thus adds nothing to the loss, and a batch with many missing targets
# gets a proportionally smaller loss and gradient.

# %%
SEQ_LEN, SAMPLING, WINDOW_BATCH = 24, 1, 256  # WINDOW_BATCH: only for building the windows
HORIZONS = (1, 24)
SPLITS = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(df))}


def make_windows(split: str, horizon: int, batch_size: int = WINDOW_BATCH):
    """The windowed tf.data.Dataset of one split, plus each sample's target row index in `df`."""
    lo, hi = SPLITS[split]
    offset = (SEQ_LEN - 1) * SAMPLING + horizon
    target = np.stack([scaled[lo:hi, 0], observed[lo:hi]], axis=1).astype("float32")  # (value, weight)
    ds = keras.utils.timeseries_dataset_from_array(
        scaled[lo:hi - horizon], target[offset:], sequence_length=SEQ_LEN, sampling_rate=SAMPLING,
        batch_size=batch_size,
    )
    return ds, np.arange(lo + offset, hi)


ds, target_rows = make_windows("train", horizon=24)
x_batch, t_batch = next(iter(ds))
print("one batch: inputs", tuple(x_batch.shape), " targets (value, weight)", tuple(t_batch.shape))
print("windows in the training split:", sum(int(x.shape[0]) for x, _ in ds), "=", len(target_rows))

# Check the pairing by hand: window 5 covers rows 5..28, its target is row 5 + 23 + 24 = 52
i = 5
print("inputs are rows i .. i+23:", np.array_equal(x_batch[i].numpy(), scaled[i:i + SEQ_LEN]))
print("target is row i + 23 + 24:", bool(np.isclose(t_batch[i, 0].numpy(), scaled[i + 23 + 24, 0])),
      "| target row", target_rows[i], "at", df.index[target_rows[i]])

# %% [markdown]
# The picture: one window of inputs (24 hourly steps, $r = 1$), the two targets we forecast, and, for
# comparison, the same $L = 24$ with $r = 3$, which covers about three days (70 hours) with one step every three hours.

# %%
t0 = 200  # a window in January 2010
fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
stretch = np.arange(t0 - 50, t0 + 24 * 3 + 30)
for ax, rate in zip(axes, (1, 3), strict=True):
    first = t0 + 23 - (SEQ_LEN - 1) * rate  # both windows end at the same hour t
    steps = first + rate * np.arange(SEQ_LEN)
    t_last = steps[-1]
    ax.plot(stretch, pm[stretch], color="lightgray", lw=1, label="PM2.5 series")
    ax.axvspan(steps[0] - 0.5, t_last + 0.5, color="tab:blue", alpha=0.08)
    ax.plot(steps, pm[steps], "o", color="tab:blue", ms=4,
            label=f"inputs: sequence_length={SEQ_LEN}, sampling_rate={rate}")
    for horizon, color in zip(HORIZONS, ("tab:orange", "tab:red"), strict=True):
        ax.plot(t_last + horizon, pm[t_last + horizon], "*", color=color, ms=14, label=f"target, horizon {horizon} h")
    ax.axvline(t_last, color="k", lw=0.8, ls="--")
    ax.text(t_last, ax.get_ylim()[1] * 0.92, "  t (now)", fontsize=9)
    ax.set(ylabel="µg/m³", title=f"sampling_rate={rate}: the window covers {(SEQ_LEN - 1) * rate + 1} hours")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
axes[1].set_xlabel("hour index since the start of the series")
fig.tight_layout()
plt.show()

# %% [markdown]
# The windowed dataset gathers every window on the fly, again at every epoch. The training set (about 26,000 windows of 24 × 15 numbers, 40 MB) fits in memory, so we collect
# each split into arrays once and let `fit` shuffle them every epoch. (The quick profile keeps a random 1,000
# windows of the validation and test splits, and later a random subset of the training windows.)

# %%
def window_arrays(split: str, horizon: int) -> dict:
    ds, rows = make_windows(split, horizon)
    batches = list(ds.as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches])
    t = np.concatenate([b[1] for b in batches])
    assert len(x) == len(rows)
    keep = np.arange(len(rows)) if split == "train" else du.take(np.arange(len(rows)), quick=1000)
    return {"x": x[keep], "y": t[keep, :1], "weight": t[keep, 1], "rows": rows[keep]}


# %%
# NBVAL_IGNORE_OUTPUT
data = {h: {split: window_arrays(split, h) for split in SPLITS} for h in HORIZONS}
for h in HORIZONS:
    print(f"horizon {h:>2} h: " + ", ".join(
        f"{s} {len(d['x'])} windows ({int(d['weight'].sum())} scored)" for s, d in data[h].items()))

# %% [markdown]
# ## 4. Baselines first
#
# Before any network, the forecasts that need no learning. With $\hat{y}_{t+h}$ the forecast made at hour $t$:
#
# - **persistence** (last value): $\hat{y}_{t+h} = y_t$;
# - **seasonal naive** (same hour yesterday): $\hat{y}_{t+h} = y_{t+h-24}$. For $h = 24$ it *is* persistence;
#   for $h = 1$ it uses a reading 23 hours older than persistence does;
# - **constant**: the mean or the median of the training years (the crudest climatology; a proper
#   climatology is a seasonal or hour-of-day normal, Exercise 3). For the mean absolute error
#   $$\text{MAE} = \frac{1}{n}\sum_{i=1}^{n} |y_i - \hat{y}_i|,$$
#   the best constant is the **median** (the derivative of $\sum_i |y_i - c|$ in $c$ is the number of $y_i$
#   below $c$ minus the number above), so on this skewed series the median beats the mean.
#
# Every forecast is scored on exactly the model's windows, on the targets that were really observed, in µg/m³.

# %%
# NBVAL_IGNORE_OUTPUT
train_observed = pm[:n_train][observed[:n_train]]
CLIM_MEAN, CLIM_MEDIAN = float(train_observed.mean()), float(np.median(train_observed))


def mae(pred: np.ndarray, rows: np.ndarray) -> float:
    """MAE in µg/m³ over the target rows that were observed in the raw data."""
    keep = observed[rows]
    return float(np.mean(np.abs(np.ravel(pred)[keep] - pm[rows][keep])))


def naive_forecasts(rows: np.ndarray, horizon: int) -> dict:
    return {
        "persistence": pm[rows - horizon],
        "seasonal naive": pm[rows - 24],
        "constant (train mean)": np.full(len(rows), CLIM_MEAN),
        "constant (train median)": np.full(len(rows), CLIM_MEDIAN),
    }


naive = {
    (name, h): {split: mae(f, data[h][split]["rows"]) for split in ("val", "test")
                for f in [naive_forecasts(data[h][split]["rows"], h)[name]]}
    for h in HORIZONS for name in naive_forecasts(data[h]["test"]["rows"], h)
}
naive_table = pd.DataFrame(
    {f"{h} h ahead": {name: naive[(name, hh)]["test"] for (name, hh) in naive if hh == h} for h in HORIZONS}
)
print(f"training mean {CLIM_MEAN:.1f}, median {CLIM_MEDIAN:.1f} µg/m³; test MAE of the naive forecasts (µg/m³):")
naive_table.round(2)

# %% [markdown]
# One hour ahead, persistence is hard to beat: the air rarely changes much within an hour. One day ahead it is
# worse than the best constant, the training median: yesterday's level says little about tomorrow's, and a
# constant at least never chases an episode that has ended. The bar for the 24-hour models is therefore the **best** of these naive forecasts,
# whichever it is (chosen on the validation year, below).
#
# ### 4.1 A linear baseline on the same windows
#
# Before a network, the strongest simple *learned* forecast: ridge regression (scikit-learn `Ridge`) on the same
# windows, flattened to $24 \times 15 = 360$ numbers, predicting the same target as the networks below, the
# change from the last PM2.5 reading (so a very strong penalty gives back persistence plus a constant shift:
# `Ridge` does not penalise the intercept, which becomes the mean training change). It differs from the
# networks in several things besides being linear: it minimizes the squared error (which targets the conditional
# mean, while we score the MAE) plus $\alpha\lVert w\rVert^2$, in closed form, with $\alpha$ chosen on the
# validation year from a grid. To separate these from the model class, §5 also trains the same linear model
# exactly like the networks.

# %%
# NBVAL_IGNORE_OUTPUT
from sklearn.linear_model import Ridge

ALPHAS = 10.0 ** np.arange(-3, 8)


def flat_window(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)  # 24 hours × 15 features → 360 inputs


def ridge_forecast(fit: Ridge, x: np.ndarray) -> np.ndarray:
    """Last PM2.5 reading plus the predicted change, in µg/m³."""
    return to_ugm3(x[:, -1, 0] + fit.predict(flat_window(x)))


linear = {}
for h in HORIZONS:
    d = data[h]
    x_tr, y_tr, w_tr = du.take(d["train"]["x"], d["train"]["y"], d["train"]["weight"], quick=2000)
    change = y_tr[:, 0] - x_tr[:, -1, 0]  # target minus the last scaled PM2.5 input
    fits = {a: Ridge(alpha=a).fit(flat_window(x_tr), change, sample_weight=w_tr) for a in ALPHAS}
    val_by_alpha = {a: mae(ridge_forecast(f, d["val"]["x"]), d["val"]["rows"]) for a, f in fits.items()}
    alpha = min(val_by_alpha, key=val_by_alpha.get)
    linear[h] = {"alpha": alpha, "pred_test": ridge_forecast(fits[alpha], d["test"]["x"])}
    linear[h].update(val=val_by_alpha[alpha], test=mae(linear[h]["pred_test"], d["test"]["rows"]))
    print(f"{h:>2} h ahead, validation MAE by alpha: "
          + ", ".join(f"{a:g}: {m:.2f}" for a, m in val_by_alpha.items()))
    print(f"      chosen alpha {alpha:g}: val MAE {linear[h]['val']:.2f}, test MAE {linear[h]['test']:.2f} µg/m³")

# %% [markdown]
# Ridge is a real forecaster: one day ahead it is 7% below the best naive forecast (test MAE 60.64 against the
# median's 65.47), one hour ahead a little below persistence (11.69 against 11.96). The chosen $\alpha$ tells the
# two horizons apart: at 1 h a strong penalty ($10^5$), which keeps the forecast close to persistence; at 24 h almost
# none (the validation MAE is flat below $\alpha = 1$). This is the bar a network has to clear to be worth its
# training.
#
# ## 5. Neural forecasters
#
# **Idea.** Every model receives the 24 × 15 window and predicts a **correction to persistence**:
# $$\hat{y}_{t+h} = y_t + f_\theta(\mathbf{X}_t),$$
# an `Add` of the last scaled PM2.5 input and the network's output. The output layer `change` starts with
# zero weights and bias (`kernel_initializer="zeros"`; the bias is zero by default), so an untrained network has
# $f_\theta = 0$ and *is* the persistence forecast, and the network only has to learn the change, which matters most for
# $h = 1$. The loss is the MAE itself on the scaled target (dividing by $\sigma$ does not move the minimum),
# with sample weight 0 for targets that were missing.
#
# The models, all small (361 weights for the linear one, about 4,700 to 11,600 for the others):
# - **linear** (a control, not a network): flatten the window, `Dense(1)`. It is ridge's model class, trained
#   exactly like the networks below (MAE loss, Adam, no penalty, early stopping), so the step ridge → linear
#   isolates the training recipe and the step linear → network isolates the model class;
# - **Dense**: flatten the window, one hidden layer (32 ReLU units). It does know the order: every (hour, feature)
#   input has its own weights, so "PM2.5 one hour ago" and "PM2.5 ten hours ago" are different inputs. What it
#   lacks is **weight sharing over time**: a pattern learned at one position of the window must be learned
#   again at every other position (the recurrent and convolutional layers below reuse the same weights at every
#   step). Without the hidden layer it would be the linear model above;
# - **LSTM** and **GRU** (32 units): read the window in time order, keeping a state (notebook 08);
# - **stacked GRU with dropout**: two GRU layers, the first returning its whole sequence, dropout on the inputs
#   of each. Against the GRU this changes two things at once (depth and dropout), so a difference between them
#   could not be credited to either;
# - **Conv1D**: filters sliding over time (kernel 5 hours), pooling, a second convolution, global average. The
#   global average throws away *where* in the window a pattern occurred, and for a forecast the most recent
#   hours matter most; that is a likely reason for its weaker scores below (not tested here: ending with
#   `Flatten` or the last time step instead would test it).
#
# The last PM2.5 input is taken with plain tensor slicing, `inputs[:, -1, :1]`, which Keras 3 records as a
# `GetItem` operation and can save and reload; a `Lambda(lambda w: ...)` layer would work too, but
# `keras.models.load_model` refuses to deserialize a Python lambda unless called with `safe_mode=False`.

# %%
import os
import tempfile

N_FEATURES = scaled.shape[1]


def build_model(kind: str, horizon: int) -> keras.Model:
    inputs = keras.Input(shape=(SEQ_LEN, N_FEATURES), name="window")
    if kind == "linear":
        x = keras.layers.Flatten(name="flatten")(inputs)
    elif kind == "dense":
        x = keras.layers.Flatten(name="flatten")(inputs)
        x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    elif kind == "lstm":
        x = keras.layers.LSTM(32, name="lstm")(inputs)
    elif kind == "gru":
        x = keras.layers.GRU(32, name="gru")(inputs)
    elif kind == "stacked_gru":
        x = keras.layers.GRU(32, dropout=0.1, return_sequences=True, name="gru_1")(inputs)
        x = keras.layers.GRU(32, dropout=0.1, name="gru_2")(x)
    elif kind == "conv1d":
        x = keras.layers.Conv1D(32, 5, activation="relu", name="conv_1")(inputs)
        x = keras.layers.MaxPooling1D(2, name="pool")(x)
        x = keras.layers.Conv1D(32, 5, activation="relu", name="conv_2")(x)
        x = keras.layers.GlobalAveragePooling1D(name="average")(x)
    else:
        raise ValueError(kind)
    change = keras.layers.Dense(1, kernel_initializer="zeros", name="change")(x)  # f = 0 before training
    last_pm = inputs[:, -1, :1]  # y_t, scaled: a GetItem op, serializable (unlike a Lambda)
    outputs = keras.layers.Add(name="forecast")([last_pm, change])
    return keras.Model(inputs, outputs, name=f"{kind}_{horizon}h")


gru_24 = build_model("gru", 24)
gru_24.summary()

# untrained = persistence, and the model survives a save/load round trip without safe_mode=False

x_probe = data[24]["val"]["x"][:5]
print("untrained forecast equals the last PM2.5 input:",
      bool(np.allclose(gru_24.predict(x_probe, verbose=0)[:, 0], x_probe[:, -1, 0])))
with tempfile.TemporaryDirectory() as tmp:
    gru_24.save(os.path.join(tmp, "gru_24.keras"))
    reloaded = keras.models.load_model(os.path.join(tmp, "gru_24.keras"))
print("reloaded model gives the same forecasts:",
      bool(np.allclose(reloaded.predict(x_probe, verbose=0), gru_24.predict(x_probe, verbose=0))))

# %% [markdown]
# **Training recipe.** Adam ($2 \cdot 10^{-3}$), batch `BATCH_SIZE` = 512, MAE loss, early stopping on the
# validation loss (patience 2, keeping the best weights). The epoch cap differs by cost: the cheap linear and
# Dense models get up to 40 epochs, so that early stopping, not the cap, ends their training; the recurrent and
# convolutional models are capped at 8 epochs to keep the run short (the printout shows which runs hit the cap).
# The linear, Dense and recurrent models are trained with three seeds (the seed sets the initial weights, the
# dropout masks and the order of the batches), so that the spread between seeds can be measured; Conv1D gets one
# seed to save time, so its score has no measured spread. The printed throughput is
# training windows × epochs divided by the time of `fit`, which includes the validation passes, so it
# understates the pure training speed. The quick profile trains on a random subset of the training windows for
# two epochs, with one seed.

# %%
KINDS = ("linear", "dense", "lstm", "gru", "stacked_gru", "conv1d")
NETWORKS = KINDS[1:]  # the best network is chosen among these; "linear" is the control
SEEDS = du.pick(full=(42, 43, 44), quick=(42,))
SEEDS_BY_KIND = {kind: SEEDS[:1] if kind == "conv1d" else SEEDS for kind in KINDS}
EPOCHS_BY_KIND = {kind: du.pick(full=40 if kind in ("linear", "dense") else 8, quick=2) for kind in KINDS}
BATCH_SIZE = 512


def fit_and_score(kind: str, horizon: int, seed: int) -> dict:
    d = data[horizon]
    x_tr, y_tr, w_tr = du.take(d["train"]["x"], d["train"]["y"], d["train"]["weight"], quick=2000)
    du.seed_everything(seed)
    model = build_model(kind, horizon)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mae")
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    with du.Timer() as timer:
        history = model.fit(
            x_tr, y_tr, sample_weight=w_tr, batch_size=BATCH_SIZE, epochs=EPOCHS_BY_KIND[kind], verbose=0, callbacks=[stop],
            validation_data=(d["val"]["x"], d["val"]["y"], d["val"]["weight"]),
        )
    out = {"model": model, "history": history.history, "seconds": timer.seconds, "windows": len(x_tr)}
    for split in ("val", "test"):
        # a direct call instead of model.predict: no new tf.function per model (no retracing warnings)
        out[f"pred_{split}"] = to_ugm3(keras.ops.convert_to_numpy(model(d[split]["x"], training=False))[:, 0])
        out[split] = mae(out[f"pred_{split}"], d[split]["rows"])
    return out


# %%
# NBVAL_IGNORE_OUTPUT
runs = {}
for h in HORIZONS:
    for kind in KINDS:
        for seed in SEEDS_BY_KIND[kind]:
            runs[(kind, h, seed)] = r = fit_and_score(kind, h, seed)
            epochs = len(r["history"]["loss"])
            print(f"{h:>2} h  {kind:<12} seed {seed}  epochs {epochs:>2}/{EPOCHS_BY_KIND[kind]}  {r['seconds']:5.1f} s"
                  f" ({epochs * r['windows'] / r['seconds']:,.0f} windows/s incl. validation)"
                  f"  val MAE {r['val']:6.2f}  test MAE {r['test']:6.2f} µg/m³", flush=True)
train_seconds = sum(r["seconds"] for r in runs.values())
print(f"{len(runs)} runs, total training time {train_seconds:.0f} s (validation passes included)")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, h in zip(axes, HORIZONS, strict=True):
    w_mean = float(data[h]["val"]["weight"].mean())  # share of validation windows with a scored target
    for color, kind in zip(plt.cm.tab10.colors, KINDS, strict=False):
        for seed, style in zip(SEEDS_BY_KIND[kind], ("-", "--", ":"), strict=False):
            # Keras divides by all windows; dividing by the mean weight puts it on the scored-target scale
            val_loss = np.array(runs[(kind, h, seed)]["history"]["val_loss"]) * PM_STD / w_mean
            ax.plot(np.arange(1, len(val_loss) + 1), val_loss, "o", ls=style, ms=2.5, lw=1, color=color,
                    label=f"{kind}, seed {seed}" if h == HORIZONS[-1] else None)
    best_naive_val = min(naive[(name, h)]["val"] for name in naive_table.index)
    ax.axhline(best_naive_val, color="gray", lw=1.5, ls="-.", label="best naive (val)" if h == HORIZONS[-1] else None)
    ax.set(title=f"{h} h ahead: validation MAE per epoch", xlabel="epoch", ylabel="MAE on scored targets (µg/m³)")
    ax.set_xlim(0.5, 12.5)  # the linear and Dense runs that go on longer are flat beyond this
    ax.grid(alpha=0.3)
axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1)
fig.tight_layout()
plt.show()

# %% [markdown]
# Keras's validation loss is the sample-weighted mean over *all* windows (missing targets count as zero error);
# multiplied by $\sigma$ and divided by the mean weight (the share of scored windows, about 99%) it reads as the
# MAE over scored targets, on the same scale as the dashed baseline (up to how Keras averages a smaller last
# batch). Every recurrent run at 1 h used all 8 epochs and its curve is still falling at
# the end (by roughly 0.05–0.1 µg/m³ per epoch), so the recurrent 1 h scores would likely improve a little with a
# longer budget; the linear and Dense runs stopped early, far below their 40-epoch cap. At 24 h the curves are
# noisy and most runs stop before the cap. Early stopping with patience 2 also reacts to noise: one Dense run at
# 1 h (seed 43) stopped after 3 epochs, which widens Dense's seed range. The table below holds the real scores.
#
# ## 6. The scores
#
# Every forecast is chosen on the **validation** year, the test year only reports it: the best naive forecast
# per horizon, ridge's $\alpha$, and the best network, the kind with the lowest **mean** validation MAE over its
# seeds (the linear control is not a candidate). A network is reported with its mean over seeds and the range (min–max); a kind whose mean validation MAE
# is closer to the best kind's than the larger of their two seed ranges is called a **tie**, since another set of
# seeds could swap them. This rule is rough: a max–min range over three seeds is a noisy estimate of the spread,
# and one unlucky or lucky seed can make or break a tie. It also says nothing about the sampling uncertainty of a
# single test year; for that, the cell after the table resamples whole test days.

# %%
# NBVAL_IGNORE_OUTPUT
summary = {}
for h in HORIZONS:
    for kind in KINDS:
        v = np.array([runs[(kind, h, s)]["val"] for s in SEEDS_BY_KIND[kind]])
        t = np.array([runs[(kind, h, s)]["test"] for s in SEEDS_BY_KIND[kind]])
        summary[(kind, h)] = {"val": v.mean(), "val_range": np.ptp(v), "test": t.mean(), "test_range": np.ptp(t),
                              "test_min": t.min(), "test_max": t.max(), "seeds": len(v)}
        if len(v) == 1:  # one seed: no spread measured
            summary[(kind, h)].update(val_range=np.nan, test_range=np.nan)

rows = {}
for h in HORIZONS:
    for name in naive_table.index:
        rows[(name, h)] = {"val": naive[(name, h)]["val"], "test": naive[(name, h)]["test"]}
    rows[("ridge (linear)", h)] = {"val": linear[h]["val"], "test": linear[h]["test"]}
    for kind in KINDS:
        s = summary[(kind, h)]
        rows[(f"{kind} ({s['seeds']} seed{'s' if s['seeds'] > 1 else ''})", h)] = {
            "val": s["val"], "test": s["test"], "val range": s["val_range"], "test range": s["test_range"]}
scores = pd.DataFrame(rows).T
scores.index.names = ["forecast", "horizon"]
table = pd.concat({f"{h} h": scores.xs(h, level="horizon") for h in HORIZONS}, axis=1)
print("MAE in µg/m³; networks: mean over seeds, range = max - min over seeds\n")
print(table.round(2).to_string(na_rep=""))

# %%
# NBVAL_IGNORE_OUTPUT
best, best_naive, ties = {}, {}, {}
for h in HORIZONS:
    best_naive[h] = min(naive_table.index, key=lambda n: naive[(n, h)]["val"])  # chosen on validation
    best[h] = min(NETWORKS, key=lambda k: summary[(k, h)]["val"])
    b = summary[(best[h], h)]
    ties[h] = [k for k in NETWORKS if k != best[h]
               and summary[(k, h)]["val"] - b["val"] < np.nanmax([b["val_range"], summary[(k, h)]["val_range"], 0])]
    naive_mae = naive[(best_naive[h], h)]["test"]
    print(f"{h:>2} h ahead: best network by mean validation MAE: {best[h]}"
          f" (val {b['val']:.2f}, seed range {b['val_range']:.2f}); tied on validation with: {', '.join(ties[h]) or 'none'}")
    print(f"      its test MAE {b['test']:.2f} µg/m³ (seeds {b['test_min']:.2f}-{b['test_max']:.2f});"
          f" best naive by validation ({best_naive[h]}) {naive_mae:.2f}, {100 * (1 - b['test'] / naive_mae):.1f}% lower;"
          f" ridge {linear[h]['test']:.2f}, {100 * (1 - b['test'] / linear[h]['test']):.1f}% lower;"
          f" linear (Keras) {summary[('linear', h)]['test']:.2f}")


# %% [markdown]
# How sure are these test-year margins? The test year is one sample of weather. A **paired day-block
# bootstrap** resamples the 365 test days with replacement (keeping each day's hours together, since
# neighbouring hours are strongly correlated), recomputes the MAE difference between two forecasts on the same
# resampled days, and repeats 2,000 times; the 2.5–97.5% percentiles give an interval for the difference. The
# best network enters with the error averaged over its seeds.

# %%
# NBVAL_IGNORE_OUTPUT
def day_bootstrap(err_a: np.ndarray, err_b: np.ndarray, rows: np.ndarray, n_boot: int = 2000) -> tuple:
    """Mean of err_a - err_b and its 95% interval, resampling whole days of the scored targets."""
    keep = observed[rows]
    day = pd.factorize(df.index[rows[keep]].normalize())[0]
    diff_sum = np.bincount(day, weights=(err_a - err_b)[keep])
    count = np.bincount(day)
    draws = np.random.default_rng(0).integers(0, len(count), size=(n_boot, len(count)))
    boot = diff_sum[draws].sum(axis=1) / count[draws].sum(axis=1)
    return diff_sum.sum() / count.sum(), *np.percentile(boot, [2.5, 97.5])


for h in HORIZONS:
    rows_test = data[h]["test"]["rows"]
    truth_test = pm[rows_test]
    err_best = np.mean([np.abs(runs[(best[h], h, s)]["pred_test"] - truth_test) for s in SEEDS_BY_KIND[best[h]]], axis=0)
    err_lin = np.mean([np.abs(runs[("linear", h, s)]["pred_test"] - truth_test) for s in SEEDS_BY_KIND["linear"]], axis=0)
    others = {"ridge": np.abs(linear[h]["pred_test"] - truth_test),
              f"best naive ({best_naive[h]})": np.abs(naive_forecasts(rows_test, h)[best_naive[h]] - truth_test)}
    pairs = [(best[h], err_best, name, e) for name, e in others.items()] + [
        (best[h], err_best, "linear (Keras)", err_lin), ("linear (Keras)", err_lin, "ridge", others["ridge"])]
    for name_a, ea, name_b, eb in pairs:
        d, lo, hi = day_bootstrap(ea, eb, rows_test)
        print(f"{h:>2} h  {name_a} - {name_b}: {d:+6.2f} µg/m³, 95% day-bootstrap interval [{lo:+.2f}, {hi:+.2f}]")

# %% [markdown]
# What the table, the seeds and the bootstrap say: 
#
# - **One hour ahead** the stacked GRU has the lowest mean validation MAE (12.48), but the GRU (12.49), the LSTM
#   (12.58) and the Dense model (12.79) are within the seed spread: a **tie** on validation (Dense only because
#   its own seed range is wide, the run that stopped after 3 epochs). On the test year the three recurrent means
#   are within about 0.05 µg/m³ of each other. The stacked GRU differs from the GRU in depth *and* dropout, so
#   the tie says nothing about either. Conv1D (one seed, 12.86) is behind the recurrent models.
# - **One day ahead** the GRU has the lowest mean validation MAE (60.33), and the seed ranges (up to about
#   1.5 µg/m³ on validation among the models with three seeds) cover the Dense model and the stacked GRU; the LSTM
#   (62.17) is just outside. The GRU's lead rests partly on one seed (seed 43: 59.51 against 61.02 and 60.44).
#   Conv1D (one seed, 64.73) is behind.
# - **Where the gain over the baselines comes from.** The Keras linear model is ridge's model class trained like
#   the networks, so ridge → linear (Keras) changes only the training recipe and linear (Keras) → network only
#   the model class. *One hour ahead* (test): persistence 11.96 → ridge 11.69 → linear (Keras) 11.76 → best
#   network 11.26. The recipe changes nothing measurable (+0.07 µg/m³, day-bootstrap interval −0.01 to +0.15);
#   the non-linear model class gains 0.50 (interval −0.60 to −0.42), more than ridge's 0.27 over persistence:
#   one hour ahead, most of the gain is *not* linear. *One day ahead*: the median 65.47 → ridge 60.64 → linear
#   (Keras) 59.79 → GRU 57.76. Ridge takes 4.8 of the 7.7 µg/m³: one day ahead most of the gain is linear. Of the
#   remaining 2.9, the recipe's 0.84 is not resolved (interval −1.85 to +0.18), the model class's 2.04 is
#   (interval −3.50 to −0.54).
# - **Which networks beat ridge.** The three recurrent networks beat ridge at both horizons on the test year,
#   and the best network's margin over ridge is outside the day-bootstrap noise (intervals −0.54 to −0.33 at 1 h,
#   −4.43 to −1.21 at 24 h). Dense beats ridge too but not the Keras linear model at 24 h (59.86 against 59.79).
#   Conv1D's single runs (11.62 and 60.13) are close to ridge, with no spread to judge them by.
# - **Limits of these statements.** The tie rule uses a max–min range over three seeds, a noisy estimate of the
#   spread. The bootstrap covers the sampling of test days only (the network enters averaged over its seeds), and
#   it treats days as independent although episodes last several days, so its intervals are somewhat too narrow.
#
# - **One hour ahead** the GRU has the lowest mean validation MAE, but the LSTM and the stacked GRU are within
#   its seed range: the three recurrent models are a **tie**; on the test year their means are within 0.05 µg/m³.
#   Conv1D and Dense are behind by more than the spread.
# - **One day ahead** the GRU again has the lowest mean validation MAE, and again the seed ranges (up to 1.5 µg/m³
#   on validation) cover the LSTM, the stacked GRU and even the Dense model: on the validation year we cannot
#   separate them. (On the test year the three recurrent models sit 1.2–1.8 µg/m³ below the Dense model, but the test
#   year is for reporting, not for choosing.) Conv1D is behind.
# - **Against the baselines**, most of the gain is linear. One day ahead, the best naive forecast → ridge → best
#   network goes 65.47 → 60.64 → 58.49 µg/m³: ridge takes 7.4%, the network another 3.5%. One hour ahead the
#   network is 2.5% below ridge and 4.7% below persistence. The networks do beat the linear model at both horizons,
#   by a few percent, and a single seed's run could have told a different story about *which* network.

# %% [markdown]
# A week of the test year, forecasts against the truth (the seed-42 run of the best network per horizon: the
# stacked GRU at 1 h, the GRU at 24 h). One hour ahead the forecasts hug the curve. One day ahead, persistence is
# the truth shifted right by a day, late at every turn; the GRU's forecast is smoother than the truth and, through
# the episode of 21–25 February, stays mostly at 150–220 µg/m³ (peak about 290 on 22 February) while the truth is
# mostly 250–450. A model trained on the MAE forecasts a **conditional median**: §4 showed that the constant with
# the lowest MAE is the median; in the same way, the forecast with the lowest expected MAE *given the window* is
# the median of the target's distribution given that window. When the window says little about tomorrow, that
# median sits near the typical level, well below the peaks of an episode.

# %%
week_start = df.index.get_loc(pd.Timestamp("2014-02-18 00:00"))
fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
for ax, h in zip(axes, HORIZONS, strict=True):
    rows_test = data[h]["test"]["rows"]
    sel = (rows_test >= week_start) & (rows_test < week_start + 24 * 7)
    times = df.index[rows_test[sel]]
    truth = np.where(observed[rows_test[sel]], pm[rows_test[sel]], np.nan)
    ax.plot(times, truth, color="k", lw=1.5, label="truth (observed)")
    ax.plot(times, pm[rows_test[sel] - h], color="tab:gray", lw=1, ls="--", label="persistence")
    if h == 24:
        ax.axhline(CLIM_MEDIAN, color="tab:green", lw=1, ls=":", label="constant (train median)")
    ax.plot(times, runs[(best[h], h, SEEDS[0])]["pred_test"][sel], color="tab:red", lw=1.3, label=f"{best[h]} (seed {SEEDS[0]})")
    ax.set(title=f"{h} h ahead, test week from 18 February 2014", ylabel="PM2.5 (µg/m³)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
fig.autofmt_xdate()
fig.tight_layout()
plt.show()

# %% [markdown]
# One hour ahead the three curves lie on top of each other, so the errors are easier to read than the forecasts:
# below, forecast minus truth over the same week for persistence, the ridge model and the best network.

# %%
# NBVAL_IGNORE_OUTPUT
h = 1
rows_test = data[h]["test"]["rows"]
sel = (rows_test >= week_start) & (rows_test < week_start + 24 * 7)
times = df.index[rows_test[sel]]
truth = np.where(observed[rows_test[sel]], pm[rows_test[sel]], np.nan)  # NaN: a gap in the line, as in Fig. above
forecasts_1h = {"persistence": pm[rows_test[sel] - h], "ridge": linear[h]["pred_test"][sel],
                f"{best[h]} (seed {SEEDS[0]})": runs[(best[h], h, SEEDS[0])]["pred_test"][sel]}
fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
axes[0].plot(times, truth, color="k", lw=1.2)
axes[0].set(title="1 h ahead, test week from 18 February 2014: truth (observed)", ylabel="PM2.5 (µg/m³)")
for (name, f), color in zip(forecasts_1h.items(), ("tab:gray", "tab:blue", "tab:red"), strict=True):
    err = f - truth
    axes[1].plot(times, err, color=color, lw=1, label=f"{name}: week MAE {np.nanmean(np.abs(err)):.1f}")
    print(f"{name:<22} week MAE {np.nanmean(np.abs(err)):5.2f}, largest |error| {np.nanmax(np.abs(err)):5.1f} µg/m³")
axes[1].axhline(0, color="k", lw=0.6)
axes[1].set(title="forecast minus truth", ylabel="error (µg/m³)")
for ax in axes:
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8, loc="lower left")
fig.autofmt_xdate()
fig.tight_layout()
plt.show()

# %% [markdown]
# The three error curves move together: all three forecasts miss the same sudden rises (the negative spikes, down to
# about −60 to −75 µg/m³ on 21–22 February) and falls (the positive ones), because none of them can know of a change
# before it starts. In this particular week persistence even has the lowest MAE (13.8 against 14.2 for ridge and 14.0 for the
# stacked GRU): the best network's 5.9% gain over persistence is an average over the test year and does not show
# in every week, so
# judge forecasts on long test periods, not on a week that looks good in a plot.

# %% [markdown]
# ## 7. Pitfalls
#
# ### Pitfall 1: shuffling before splitting
#
# Split the same windows at random instead of by time and the validation score looks far better than it will be
# on the future: neighbouring windows share 23 of their 24 hours and have nearly the same target, so a random
# validation set is full of near-copies of training windows, and a model that can memorise scores well on them.
# A $k$-nearest-neighbour regressor (scikit-learn, $k = 5$, on the flattened windows of PM2.5 and weather)
# memorises by construction. On the 2010–2012 windows for the 24-hour target we fit it twice, on a random 80% and
# on the chronologically first 80%, and validate each on the remaining 20%: the random split validates on windows
# scattered among the training ones, the chronological one on the last months of 2012 (windows starting after a
# gap of one window span plus the horizon, 47 hours, so that no training target lies inside them). Same data,
# same model, same sizes: the difference between the two validation scores is the leak. The 2014 test year adds
# the year-to-year shift on top.

# %%
# NBVAL_IGNORE_OUTPUT
from sklearn.neighbors import KNeighborsRegressor


def flat(x: np.ndarray) -> np.ndarray:
    return x[:, :, :7].reshape(len(x), -1)  # PM2.5 and the six weather columns, 24 hours each


d24 = data[24]
labelled = np.flatnonzero(d24["train"]["weight"] > 0)  # windows with an observed target
perm = np.random.default_rng(0).permutation(labelled)
cut = int(0.8 * len(perm))
rows_tr = d24["train"]["rows"]
span = (SEQ_LEN - 1) * SAMPLING + 24  # from a window's first row to its target
splits_knn = {
    "random 80/20": (perm[:cut], perm[cut:]),
    "chronological 80/20": (labelled[:cut],
                            labelled[(rows_tr[labelled] - span > rows_tr[labelled[cut - 1]])]),  # after a gap
}
for name, (fit_i, val_i) in splits_knn.items():
    fit_i = du.take(fit_i, quick=3000)
    knn = KNeighborsRegressor(n_neighbors=5).fit(flat(d24["train"]["x"][fit_i]), pm[rows_tr[fit_i]])
    val_mae = mae(knn.predict(flat(d24["train"]["x"][val_i])), rows_tr[val_i])
    test_mae = mae(knn.predict(flat(d24["test"]["x"])), d24["test"]["rows"])
    print(f"5-NN, 24 h ahead, {name:<19}: fit on {len(fit_i)} windows, validation MAE {val_mae:6.2f}"
          f" ({len(val_i)} windows), 2014 test MAE {test_mae:6.2f} µg/m³")
print(f"for comparison, 2014 test MAE: persistence {naive[('persistence', 24)]['test']:.2f},"
      f" {best_naive[24]} {naive[(best_naive[24], 24)]['test']:.2f}, ridge {linear[24]['test']:.2f}")

# %% [markdown]
# Same model, same amount of data: the random split validates at 33.39 µg/m³, the chronological split at
# 70.29. That difference of about 37 µg/m³ is the leak: the random validation windows have near-copies among the
# training windows, the chronological ones do not. On the 2014 test year both kNN models score 72.5–74.7, worse
# than every naive forecast printed (persistence 67.68, the median 65.47): memorising windows does not forecast.
#
# **Symptom:** a validation score much better than any honest estimate, which then collapses on new data.
# It would also mislead early stopping and model selection. **Fix:** split by time, and if windows are cut from
# one series across a boundary, keep a gap of at least the window span plus the horizon, $(L-1)r + h$ rows (47
# for the 24-hour target), between the last training target and the first validation window; otherwise a
# training target falls inside a validation window. (Here each split is windowed on its own, so none does.)
#
# ### Pitfall 2: scoring targets that were filled in
#
# If the missing targets are filled and then scored, the score partly grades the filling rule. With forward
# filling, a filled target equals the last observation before its gap, so persistence scores exactly zero on
# every filled target whose forecast was issued inside the same gap or at its last observation: the metric
# rewards whatever forecast resembles the filling rule.

# %%
for h in HORIZONS:
    for split, (lo, hi) in SPLITS.items():
        rows_s = np.arange(lo + (SEQ_LEN - 1) * SAMPLING + h, hi)  # every window of the split
        persist = pm[rows_s - h]
        honest = mae(persist, rows_s)
        all_rows = float(np.mean(np.abs(persist - pm[rows_s])))
        filled = ~observed[rows_s]
        print(f"{h:>2} h persistence, {split:<5}: {honest:7.3f} µg/m³ on observed targets, {all_rows:7.3f} with the"
              f" {filled.sum():>4} filled targets scored too ({100 * (all_rows / honest - 1):+.1f}%; error on them"
              f" {np.mean(np.abs(persist - pm[rows_s])[filled]):6.2f})")

# %% [markdown]
# Scoring filled targets flatters persistence, and the more targets are filled, the more: in the training
# years (1,862 missing hours) persistence looks 7.1% (1 h) and 4.4% (24 h) better than it is, in 2013 and 2014
# (82 and 99 missing hours) 0.2–1.1% better. At 1 h every filled target scores exactly 0 for persistence. **Fix:** keep a mask of real observations and score only those.
#
# ### Pitfall 3: scaling with statistics of the future
#
# Fitting the scaler on all five years feeds the test years' level and spread into every training input. The
# statistics differ measurably:

# %%
mean_all, std_all = values.mean(axis=0), values.std(axis=0)
leak = pd.DataFrame(
    {"train mean": mean, "all-years mean": mean_all, "train std": std, "all-years std": std_all},
    index=features.columns,
).loc[["pm2.5", "DEWP", "TEMP", "PRES", "log1p_Iws"]]
leak.astype("float64").round(3)

# %% [markdown]
# The shift is small for this series, which has no strong trend over the years; the habit is what matters: on a series with a trend (prices, counts of users), the future's mean inside the
# scaler tells the model where the level will go. **Fix:** compute every statistic (scaler, imputer, climatology)
# on the training period only, as done above.
#
# ## Results
#
# Test MAE in µg/m³ on the 2014 windows with observed targets. The best network per horizon is chosen on 2013 by
# its mean validation MAE over three seeds and reported as the mean of its three test scores (with the range);
# `tied_*` lists the networks within the seed spread on validation; the naive forecast and ridge's $\alpha$ are
# chosen on 2013 too.

# %%
# NBVAL_IGNORE_OUTPUT
best_mae = {h: summary[(best[h], h)]["test"] for h in HORIZONS}  # mean over seeds
naive_mae = {h: naive[(best_naive[h], h)]["test"] for h in HORIZONS}
linear_mae = {h: linear[h]["test"] for h in HORIZONS}
per_model = {f"mae_{h}h_{kind}": summary[(kind, h)]["test"] for h in HORIZONS for kind in KINDS}
du.report(
    "09_time_series_forecasting",
    best_mae_24h=best_mae[24],
    best_mae_24h_seed_range=float(np.nan_to_num(summary[(best[24], 24)]["test_range"])),  # 0: one seed
    linear_mae_24h=linear_mae[24],
    naive_mae_24h=naive_mae[24],
    best_mae_1h=best_mae[1],
    best_mae_1h_seed_range=float(np.nan_to_num(summary[(best[1], 1)]["test_range"])),  # 0: one seed
    linear_mae_1h=linear_mae[1],
    naive_mae_1h=naive_mae[1],
    best_model_24h=best[24],
    tied_24h=", ".join(ties[24]) or "none",
    best_naive_24h=best_naive[24],
    best_model_1h=best[1],
    tied_1h=", ".join(ties[1]) or "none",
    best_naive_1h=best_naive[1],
    margin_24h_percent=round(100 * (1 - best_mae[24] / naive_mae[24]), 1),
    margin_over_linear_24h_percent=round(100 * (1 - best_mae[24] / linear_mae[24]), 1),
    persistence_mae_24h=naive[("persistence", 24)]["test"],
    ridge_alpha_24h=linear[24]["alpha"],
    ridge_alpha_1h=linear[1]["alpha"],
    seeds_per_model=len(SEEDS),
    **per_model,
    train_seconds=round(train_seconds, 1),
)

# %%
# Check, full profile: the best network (mean over its seeds) beats the ridge baseline at both horizons; at 24 h
# ridge beats the best naive forecast and the best network is at least 10% below it; at 1 h the best network is at
# least 2% below persistence. Quick (2,000 training windows, two epochs, one seed): the networks stay within 5%
# (24 h) and 25% (1 h) of the naive bar, which takes learning (an untrained network is the persistence forecast,
# its change layer starting at zero; persistence is 3-6% worse than the median at 24 h), and within 10% / 25% of
# ridge fitted on the same 2,000 windows.
assert linear_mae[24] < naive_mae[24], (linear_mae[24], naive_mae[24])
assert best_mae[24] <= du.pick(full=0.9, quick=1.05) * naive_mae[24], (best_mae[24], naive_mae[24])
assert best_mae[1] <= du.pick(full=0.98, quick=1.25) * naive_mae[1], (best_mae[1], naive_mae[1])
assert best_mae[24] < du.pick(full=1.0, quick=1.10) * linear_mae[24], (best_mae[24], linear_mae[24])
assert best_mae[1] < du.pick(full=1.0, quick=1.25) * linear_mae[1], (best_mae[1], linear_mae[1])
print("checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Longer memory.** Change `SAMPLING` to 3 (about three days, 70 hours, of history in the same 24 steps)
#    for the 24-hour models. Does the extra history help the GRU? Does the picture in section 3 match the new
#    windows? Careful: the target offset grows from 47 to 93 rows, so each split loses 46 more windows and the
#    scores are on a different window set; for a fair comparison score both settings on the common target rows.
# 2. **Forecast the whole next day.** Make the target the 24 values $y_{t+1}, \dots, y_{t+24}$ (a `Dense(24)`
#    output) and plot the test MAE against the lead time. Where does the model stop beating persistence?
#    `make_windows` carries one (value, weight) pair per window; you will need an (N, 24) target array and an
#    (N, 24) mask of observed targets as the sample weight, one entry per lead time.
# 3. **A tougher naive forecast.** Replace the constant climatology by the training median for each (month,
#    hour of day) and score it on the same windows. How large is the 24-hour margin of the best network over it, and over ridge?
# 4. **Melbourne temperatures.** Forecast tomorrow's minimum temperature in Melbourne (1981–1990), train on
#    1981–1988, validate on 1989, test on 1990. A start, with the persistence and seasonal (same day last year)
#    baselines on the test year, is below; beat them with a GRU on 30-day windows plus day-of-year features.

# %%
temps = du.data.load_melbourne_temperatures()
print(f"{len(temps)} days from {temps.index[0].date()} to {temps.index[-1].date()}; "
      f"missing dates: {[str(d.date()) for d in pd.date_range(temps.index[0], temps.index[-1]).difference(temps.index)]}")
daily = temps.asfreq("D")  # put the two missing dates back as NaN
test_days = daily["1990"]
persist_day = daily.shift(1)["1990"]
last_year = daily.shift(365)["1990"]
ok = test_days.notna() & persist_day.notna() & last_year.notna()
print(f"1990, tomorrow's minimum: persistence MAE {np.abs(test_days - persist_day)[ok].mean():.3f} °C,"
      f" same day last year {np.abs(test_days - last_year)[ok].mean():.3f} °C")
fig, ax = plt.subplots(figsize=(11, 3))
ax.plot(daily.index, daily.to_numpy(), lw=0.5)
ax.set(title="Melbourne daily minimum temperature", ylabel="°C")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Next:** [10 · attention and Transformers](10_attention_and_transformers.ipynb): attention replaces the
# recurrent state with direct look-ups across the whole sequence.
