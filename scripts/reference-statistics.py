#!/usr/bin/env python3
"""Freezes reference values for the judge and gate statistics into test/fixtures/statistics-reference.json.

The TypeScript implementations (steps/stats/agreement.ts, distributions.ts, paired-tests.ts) are
checked against these values by test/judge/statistics-reference.test.ts. The values come from
scikit-learn (Cohen's kappa), statsmodels (kappa's asymptotic standard error, the Wilson interval,
Stuart-Maxwell, McNemar) and scipy (chi-square, Student's t, incomplete beta, log-gamma, binomial).

The virtualenv is for this script only and lives outside the repository; CI never runs the script,
the JSON it writes is committed. Regenerate from the repository root with:

    python3 -m venv /tmp/refstats \
      && /tmp/refstats/bin/pip install numpy==2.4.6 scipy==1.17.1 statsmodels==0.15.0 scikit-learn==1.9.1 \
      && /tmp/refstats/bin/python scripts/reference-statistics.py

Every input is fixed or drawn from numpy's default_rng with a fixed seed, so the output only changes
when the libraries do.
"""

import json
import math
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy import special, stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.contingency_tables import SquareTable, mcnemar
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "statistics-reference.json"
COMMAND = (
    "python3 -m venv /tmp/refstats && /tmp/refstats/bin/pip install numpy==2.4.6 scipy==1.17.1 "
    "statsmodels==0.15.0 scikit-learn==1.9.1 && /tmp/refstats/bin/python scripts/reference-statistics.py"
)
ORDINAL = ["bad", "fair", "good"]  # an ordinal label order that is not alphabetical
Z95 = stats.norm.ppf(0.975)  # the z of agreement.ts's asymptotic interval (1.959963984540054)


def f(value):
    """A plain Python float, refusing NaN and infinities (JSON cannot hold them)."""
    value = float(value)
    assert math.isfinite(value), value
    return value


# --- Cohen's kappa ------------------------------------------------------------------------------


def noisy_copy(rng, a, labels, keep):
    """A second rater who copies the first with probability `keep` and otherwise guesses."""
    guess = rng.choice(labels, size=len(a))
    return np.where(rng.random(len(a)) < keep, a, guess)


def kappa_case(name, labels, a, b):
    a, b = [str(x) for x in a], [str(x) for x in b]
    table = confusion_matrix(a, b, labels=labels)  # rows: rater a, columns: rater b
    results = {}
    for weights, sk_weights, sm_wt in [("unweighted", None, None), ("linear", "linear", "linear"), ("quadratic", "quadratic", "quadratic")]:
        kappa = cohen_kappa_score(a, b, labels=labels, weights=sk_weights)
        sm = cohens_kappa(table, wt=sm_wt)
        assert abs(sm.kappa - kappa) < 1e-12, (name, weights, sm.kappa, kappa)
        # statsmodels reports two variances: var_kappa (Fleiss, Cohen & Everitt's large-sample
        # variance, behind std_kappa and the confidence interval) and var_kappa0 (the variance under
        # H0: kappa = 0, for its z test). agreement.ts computes the former. Where it is 0 in exact
        # arithmetic, rounding can leave it at -1e-15 and statsmodels' square root at NaN;
        # agreement.ts clamps it at 0, and so does this.
        assert sm.var_kappa > -1e-12, (name, weights, sm.var_kappa)
        se = math.sqrt(max(0.0, sm.var_kappa))
        if sm.var_kappa >= 0:
            assert se == sm.std_kappa and abs(sm.kappa_low - (kappa - Z95 * se)) < 1e-12
        results[weights] = {
            "kappa": f(kappa),
            "standardError": f(se),
            # Unclipped kappa -/+ z(0.975) SE, as statsmodels reports it; the test clips to [-1, 1]
            # as agreement.ts does.
            "ci": [f(kappa - Z95 * se), f(kappa + Z95 * se)],
        }
    return {"name": name, "labels": labels, "a": a, "b": b, "table": table.tolist(), "weights": results}


def kappa_cases():
    cases = []
    # ../shared/CONTEXT.md's reference vectors.
    y1, y2 = [1, 2, 3, 4, 5, 3, 2], [1, 3, 3, 5, 4, 2, 2]
    context = kappa_case("CONTEXT.md y1/y2", ["1", "2", "3", "4", "5"], y1, y2)
    w = context["weights"]
    assert (round(w["unweighted"]["kappa"], 5), round(w["linear"]["kappa"], 5), round(w["quadratic"]["kappa"], 5)) == (0.26316, 0.58824, 0.81579)
    assert (round(w["unweighted"]["ci"][0], 4), round(w["unweighted"]["ci"][1], 4)) == (-0.2034, 0.7297)
    cases.append(context)
    # Random raters over three ordinal labels, agreeing more or less, at a few sizes.
    for seed, n, keep in [(1, 15, 0.5), (2, 40, 0.7), (3, 120, 0.6), (4, 400, 0.8), (5, 60, 0.2)]:
        rng = np.random.default_rng(seed)
        a = rng.choice(ORDINAL, size=n, p=[0.3, 0.3, 0.4])
        cases.append(kappa_case(f"random seed {seed}, {n} items, copy rate {keep}", ORDINAL, a, noisy_copy(rng, a, ORDINAL, keep)))
    # Systematic disagreement: the second rater mostly reverses the scale (negative kappa).
    rng = np.random.default_rng(6)
    a = rng.choice(ORDINAL, size=50)
    reverse = {"bad": "good", "fair": "fair", "good": "bad"}
    cases.append(kappa_case("reversed scale, 50 items", ORDINAL, a, noisy_copy(rng, np.array([reverse[x] for x in a]), ORDINAL, 0.7)))
    # A label in the order that neither rater used.
    rng = np.random.default_rng(7)
    a = rng.choice(ORDINAL, size=30)
    cases.append(kappa_case("unused fourth label, 30 items", ORDINAL + ["excellent"], a, noisy_copy(rng, a, ORDINAL, 0.6)))
    # One rater constant, the other mixed: kappa 0 (CONTEXT.md).
    cases.append(kappa_case("one rater constant", ORDINAL, ["fair"] * 6, ["bad", "fair", "good", "fair", "good", "fair"]))
    return cases


# --- Wilson interval ----------------------------------------------------------------------------


def wilson_cases():
    cases = []
    for successes, n in [(60, 100), (0, 10), (10, 10), (0, 1), (1, 1), (3, 7), (17, 23), (1, 1000), (500, 1000), (999, 1000), (12345, 20000)]:
        low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
        cases.append({"successes": successes, "n": n, "ci": [f(low), f(high)]})
    assert [round(x, 3) for x in cases[0]["ci"]] == [0.502, 0.691]  # CONTEXT.md: 60 wins of 100
    return cases


# --- Distributions ------------------------------------------------------------------------------


def distribution_cases():
    rng = np.random.default_rng(11)
    # P(X >= x), chi-square: the usual critical values, moderate values, and far tails (tiny p).
    chi = [(x, df) for df in [1, 2, 3, 4, 7, 10, 30] for x in [0.05, 1.0, 3.841458820694124, 9.5, 40.0]]
    chi += [(100.0, 1), (200.0, 3), (500.0, 2), (1000.0, 30), (0.001, 30), (25.0, 100)]
    chi += [(round(float(rng.uniform(0, 30)), 6), int(rng.integers(1, 20))) for _ in range(8)]
    # P(T <= t), Student's t, both tails; some far out.
    tcdf = [(t, df) for df in [1, 2, 5, 9, 30, 200] for t in [-40.0, -3.0, -0.2, 0.0, 0.7, 2.0, 12.0]]
    tcdf += [(-1000.0, 3), (-8.0, 1000), (round(float(rng.normal(0, 3)), 6), int(rng.integers(1, 60)))]
    # Quantiles of t at the levels a report uses and beyond.
    tppf = [(p, df) for df in [1, 2, 3, 5, 10, 29, 100, 1000] for p in [0.001, 0.025, 0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995]]
    # I_x(a, b), including the half-integer b = 1/2 the t distribution uses, and tiny values.
    shapes = [(0.5, 0.5), (1.0, 1.0), (2.5, 0.5), (0.5, 7.0), (10.0, 3.0), (50.0, 2.0), (100.0, 100.0)]
    beta = [(x, a, b) for a, b in shapes for x in [0.01, 0.2, 0.5, 0.8, 0.99]]
    beta += [(round(float(rng.uniform(0, 1)), 6), round(float(rng.uniform(0.2, 40)), 4), round(float(rng.uniform(0.2, 40)), 4)) for _ in range(6)]
    # ln Gamma below 0.5 (the reflection branch), around its zeros at 1 and 2, and large.
    lgam = [1e-3, 0.1, 0.25, 0.5, 0.9, 1.0, 1.5, 2.0, 2.5, 3.7, 10.0, 57.3, 171.5, 1000.0, 1e5]
    # P(X >= k), X ~ Binomial(n, 1/2), up to the few thousand items the judge sees.
    binom = [(0, 10), (11, 10), (10, 10), (1, 1), (5, 10), (8, 10), (15, 20), (13, 25), (60, 100), (75, 100), (1100, 2000), (1300, 2000), (3000, 4000)]
    return {
        "chiSquareSurvival": [{"x": x, "df": df, "p": f(stats.chi2.sf(x, df))} for x, df in chi],
        "studentTCdf": [{"t": t, "df": df, "p": f(stats.t.cdf(t, df))} for t, df in tcdf],
        "studentTQuantile": [{"p": p, "df": df, "t": f(stats.t.ppf(p, df))} for p, df in tppf],
        "regularizedBeta": [{"x": x, "a": a, "b": b, "value": f(special.betainc(a, b, x))} for x, a, b in beta],
        "logGamma": [{"x": x, "value": f(special.gammaln(x))} for x in lgam],
        # binom.sf(k - 1, n) = P(X > k - 1) = P(X >= k)
        "binomialHalfUpperTail": [{"k": k, "n": n, "p": f(stats.binom.sf(k - 1, n, 0.5))} for k, n in binom],
    }


# --- Paired tests -------------------------------------------------------------------------------


def paired_table(labels, before, after):
    # table[i][j]: items labelled labels[i] before and labels[j] after, as paired-tests.ts counts them.
    # Only the table goes into the fixture (the test expands it back into label vectors): the
    # statistics depend on nothing else, and 2,000 items of labels would bloat the file.
    return confusion_matrix(before, after, labels=labels)


def stuart_maxwell_cases():
    cases = []
    for seed, n, move, shift in [(21, 30, 0.3, 0.0), (22, 80, 0.25, 0.0), (23, 300, 0.2, 0.1), (24, 150, 0.4, 0.2), (25, 2000, 0.2, 0.3)]:
        rng = np.random.default_rng(seed)
        before = rng.choice(ORDINAL, size=n, p=[0.3, 0.4, 0.3])
        after = noisy_copy(rng, before, ORDINAL, 1 - move)
        # A lenient shift: some items move one label up the scale (the marginals drift).
        up = {"bad": "fair", "fair": "good", "good": "good"}
        after = np.where(rng.random(n) < shift, [up[x] for x in after], after)
        table = paired_table(ORDINAL, before, after)
        off = table + table.T
        # Non-singular by construction: every label has items moving in or out of it.
        assert all(off[i].sum() - 2 * table[i, i] > 0 for i in range(3)), table
        result = SquareTable(table, shift_zeros=False).homogeneity(method="stuart_maxwell")
        cases.append(
            {
                "name": f"seed {seed}, {n} items, move {move}, shift {shift}",
                "labels": ORDINAL,
                "table": table.tolist(),
                "statistic": f(result.statistic),
                "df": int(result.df),
                # statsmodels computes p as 1 - chi2.cdf, exact to about 1e-16 absolute only (it is 0.0
                # for the largest case); chi2.sf of its statistic keeps the relative precision of tiny p.
                "p": f(result.pvalue),
                "pSurvival": f(stats.chi2.sf(result.statistic, result.df)),
            }
        )
    return cases


def mcnemar_cases():
    cases = []
    labels = ["pass", "fail"]
    for seed, n, move, shift in [(31, 25, 0.3, 0.0), (32, 100, 0.2, 0.15), (33, 1000, 0.1, 0.1)]:
        rng = np.random.default_rng(seed)
        before = rng.choice(labels, size=n)
        after = noisy_copy(rng, before, labels, 1 - move)
        after = np.where(rng.random(n) < shift, "pass", after)
        table = paired_table(labels, before, after)
        result = mcnemar(table, exact=False, correction=False)
        # With two labels Stuart-Maxwell is McNemar's test without continuity correction.
        sm = SquareTable(table, shift_zeros=False).homogeneity(method="stuart_maxwell")
        assert abs(sm.statistic - result.statistic) < 1e-12 * max(1, result.statistic), (sm.statistic, result.statistic)
        cases.append(
            {
                "name": f"seed {seed}, {n} items",
                "labels": labels,
                "table": table.tolist(),
                "statistic": f(result.statistic),
                "p": f(result.pvalue),
            }
        )
    return cases


def sign_test_cases():
    # scipy's exact two-sided binomial test at p = 1/2; paired-tests.ts computes min(1, 2 P(X >= max)).
    pairs = [(1, 0), (5, 0), (0, 5), (7, 3), (3, 7), (10, 10), (11, 10), (12, 2), (60, 40), (30, 70), (500, 450), (1000, 1100)]
    return [{"wins": w, "losses": l, "p": f(stats.binomtest(w, w + l, 0.5).pvalue)} for w, l in pairs]


def t_interval_cases():
    rng = np.random.default_rng(41)
    cases = []
    for n, level in [(2, 0.95), (3, 0.9), (5, 0.95), (20, 0.99), (100, 0.95), (40, 0.8)]:
        values = [round(float(v), 4) for v in rng.normal(0.6, 0.3, size=n)]
        cases.append(values_case(values, level))
    # Mirroring scores (1 win, 1/2 tie, 0 loss).
    cases.append(values_case([float(v) for v in rng.choice([0.0, 0.5, 1.0], size=30, p=[0.3, 0.2, 0.5])], 0.95))
    return cases


def values_case(values, level):
    array = np.array(values)
    low, high = stats.t.interval(level, len(values) - 1, loc=array.mean(), scale=stats.sem(array))
    return {"values": values, "level": level, "mean": f(array.mean()), "ci": [f(low), f(high)]}


# --- The slice gate: normal CDF, Holm's adjustment, the one-sided paired t test against a tolerance -----


def normal_cdf_cases():
    return [{"z": z, "p": f(stats.norm.cdf(z))} for z in [-8.0, -6.0, -3.0, -1.959963984540054, -0.5, 0.0, 0.3, 1.2, 2.5, 4.0]]


def holm_cases():
    rng = np.random.default_rng(51)
    vectors = [
        [0.01, 0.04, 0.03, 0.005],
        [0.2, 0.2, 0.2],
        [0.001, 0.5, 0.0125, 0.9, 0.0125, 0.03],
        [1.0],
        [round(float(v), 6) for v in rng.uniform(0, 0.2, size=13)],
    ]
    return [{"p": v, "adjusted": [f(x) for x in multipletests(v, method="holm")[1]]} for v in vectors]


def paired_regression_cases():
    """Per-example changes of a slice's score and the tolerance: scipy's one-sided one-sample t test of H0 mean >= -tolerance."""
    rng = np.random.default_rng(52)
    cases = []
    sparse = [0.0] * 26 + [-0.5, -0.333333, 0.166667, -1.0]  # most examples unchanged, as between two retrains
    for changes, tolerance in [
        (sparse, 0.02),
        (sparse, 0.0),
        ([round(float(v), 4) for v in rng.normal(-0.1, 0.2, size=30)], 0.05),
        ([round(float(v), 4) for v in rng.normal(0.02, 0.3, size=12)], 0.02),
        ([-0.25, 0.5], 0.0),
    ]:
        shifted = np.array(changes) + tolerance
        cases.append({"changes": changes, "tolerance": tolerance, "p": f(stats.ttest_1samp(shifted, 0.0, alternative="less").pvalue)})
    return cases


# --- Output -------------------------------------------------------------------------------------


def dump(value, indent=0):
    """JSON with short objects and every list of scalars on one line, to keep the fixture small."""
    flat = json.dumps(value, separators=(", ", ": "), allow_nan=False)
    scalars = isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value)
    if scalars or not isinstance(value, (list, dict)) or len(flat) + indent <= 150:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return "[\n" + ",\n".join(inner + dump(v, indent + 2) for v in value) + "\n" + pad + "]"


def main():
    fixture = {
        "generatedBy": {
            "script": "scripts/reference-statistics.py",
            "command": COMMAND,
            "python": platform.python_version(),
            "libraries": {name: version(name) for name in ["numpy", "scipy", "statsmodels", "scikit-learn"]},
        },
        "kappa": kappa_cases(),
        "wilson": wilson_cases(),
        **distribution_cases(),
        "stuartMaxwell": stuart_maxwell_cases(),
        "mcnemar": mcnemar_cases(),
        "signTest": sign_test_cases(),
        "tInterval": t_interval_cases(),
        "normalCdf": normal_cdf_cases(),
        "holm": holm_cases(),
        "pairedRegression": paired_regression_cases(),
    }
    OUT.write_text(dump(fixture) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
