"""Per-position acceptance from published acceptance lengths (docs/profile.md, "Acceptance from a published
length").

Why: papers and engine blogs report the mean accepted length tau (tokens per verify round, the bonus token
included) at one or a few draft lengths K, not alpha per position. The rule: between consecutive reported K the
acceptance is constant, alpha_i = a for K_prev < i <= K, with a solving
    tau(K) - tau(K_prev) = P_prev * (a + a^2 + ... + a^(K - K_prev)),
where P_prev = prod_{j <= K_prev} alpha_j (K_prev = 0, tau = 1, P = 1 to start). One reported K gives the
constant alpha of a geometric chain; tau(K) from the result reproduces every reported length exactly."""

from __future__ import annotations


def _geom(a: float, n: int) -> float:
    return sum(a ** i for i in range(1, n + 1))


def alpha_from_lengths(lengths: dict[int, float], fail) -> list[float]:
    """alpha_1..alpha_Kmax from {K: tau}; `fail(key, message)` reports an impossible length (raises)."""
    alpha: list[float] = []
    k_prev, tau_prev, p_prev = 0, 1.0, 1.0
    for k in sorted(lengths):
        tau, n = lengths[k], k - k_prev
        gain = tau - tau_prev
        most = p_prev * n
        if gain < 0 or gain > most + 1e-12:
            fail(str(k), f"is {tau:g}: must lie in [{tau_prev:g}, {tau_prev + most:g}] (at most one more token "
                         f"per draft position than at the previous length, never fewer)")
        lo, hi = 0.0, 1.0
        for _ in range(80):  # bisection: the geometric sum grows with a
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if p_prev * _geom(mid, n) < gain else (lo, mid)
        a = 0.5 * (lo + hi)
        alpha += [a] * n
        k_prev, tau_prev, p_prev = k, tau, p_prev * a ** n
    return alpha
