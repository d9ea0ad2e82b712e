"""The JAX peer of `idpsim bench --cases tta`: the memory-load question answered by a short
JAX script (jit + lax.scan on whatever device JAX finds), timed as a whole process.

Nine points: the classic network without input, the classic network with the cue as a bias and
the IDP network with the cue as its input, at P = 100, 150, 250 random memories, N = 1000,
64 trajectories each cued from a memory with 10 % of its signs flipped, Ψ = tanh(10 x), zeroed
diagonal, σ = 0, dt = 0.05, 400 steps. A trajectory retrieves when the memory with the largest
|m| averaged over the last time unit is its cue's and that average is at least 0.9 (idpsim's
retrieval observer). Prints one line per point and the total.

    python3 -m venv .venv && .venv/bin/pip install numpy jax
    time .venv/bin/python benches/jax_capacity.py
"""
import time

t_start = time.perf_counter()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

N, M, STEPS, DT, SLOPE, FLIP, WINDOW = 1000, 64, 400, 0.05, 10.0, 0.1, 20


def simulate(xi, x0, u, alpha, bias, steps):
    n = xi.shape[0]
    diag = alpha.sum(axis=-1, keepdims=True) / n  # [M, 1]: the zeroed diagonal's shift

    def step(x, _):
        z = jnp.tanh(SLOPE * x)
        m = z @ xi / n  # [M, P] overlaps
        field = (alpha * m) @ xi.T - diag * z + bias * u
        x = x + DT * (field - x)
        return x, z @ xi / n

    _, ms = jax.lax.scan(step, x0, None, length=steps)
    return ms[-WINDOW:].mean(axis=0)  # [M, P]


run = jax.jit(simulate, static_argnums=5)

total = 0
for p in (100, 150, 250):
    rng = np.random.default_rng(p)
    xi = rng.choice(np.float32([-1, 1]), size=(N, p))
    target = rng.integers(0, p, size=M)
    signs = np.where(rng.random((M, N)) < FLIP, -1.0, 1.0).astype(np.float32)
    cue = (xi[:, target].T * signs).astype(np.float32)  # [M, N]
    for variant in ("classic", "classic-cue-input", "idp"):
        t0 = time.perf_counter()
        if variant == "idp":
            alpha, bias = cue @ xi / N, 0.0  # α = Ξᵀu/N, the input only through the synapses
        else:
            alpha, bias = np.ones((M, p), np.float32), (1.0 if variant == "classic-cue-input" else 0.0)
        mbar = np.asarray(run(jnp.asarray(xi), jnp.asarray(cue), jnp.asarray(cue), jnp.asarray(alpha), bias, STEPS))
        best = np.abs(mbar).argmax(axis=1)
        ok = (best == target) & (np.abs(mbar[np.arange(M), target]) >= 0.9)
        total += 1
        print(f"P = {p:3d} {variant:<18} accuracy {ok.mean():.4f}  {time.perf_counter() - t0:.2f} s")
print(f"{total} points, whole process {time.perf_counter() - t_start:.2f} s on {jax.devices()[0].device_kind}")
