//! Built-in specs: `idpsim presets` lists them, `idpsim preset NAME` prints one. Each is a file
//! under `presets/` in the repository (included here at build time), which users can read and copy.

/// (name, one-line description, JSON): the JSON is `presets/NAME.json`.
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "quickstart",
        "IDP, N = 64 Hadamard memories, P = 4, mixed input dominated by memory 1, σ = 0.5, 16 384 trajectories",
        include_str!("../presets/quickstart.json"),
    ),
    (
        "quickstart-classic",
        "the quickstart network as a classic Hopfield model with the same input as a bias",
        include_str!("../presets/quickstart-classic.json"),
    ),
    (
        "fpe2d-equal",
        "N = 2 IDP, equal saliencies α₁ = α₂ = 3/2 (the classic network with gain 3/2): four symmetric density peaks",
        include_str!("../presets/fpe2d-equal.json"),
    ),
    (
        "fpe2d-dominant",
        "N = 2 IDP, memory 1 dominant (α₁ = 3/2, α₂ = 9/4): the dominant memory's wells absorb most of the density",
        include_str!("../presets/fpe2d-dominant.json"),
    ),
    (
        "landscape-a",
        "N = 2 landscape, regime (a): both saliencies below 1, only the origin (a global minimum)",
        include_str!("../presets/landscape-a.json"),
    ),
    (
        "landscape-b",
        "N = 2 landscape, regime (b): α₁ < 1 < α₂, memory 2 attracts almost every state",
        include_str!("../presets/landscape-b.json"),
    ),
    (
        "landscape-c",
        "N = 2 landscape, regime (c): memory 1 exists as a saddle, memory 2 is the stable minimum",
        include_str!("../presets/landscape-c.json"),
    ),
    (
        "landscape-d",
        "N = 2 landscape, regime (d): both memories stable, the dominant one's wells deeper",
        include_str!("../presets/landscape-d.json"),
    ),
    (
        "occupancy",
        "basin occupancy vs noise: N = 2 IDP, Hadamard memories, slope 2, saliencies u = (1, 3) (both memories stable), σ = 0.3 to 1.2; the pooled mass within 0.4 of ±γ_μ ξ^μ over t ∈ [20, 60], 16 384 trajectories per point",
        include_str!("../presets/occupancy.json"),
    ),
    (
        "bench-a",
        "benchmark (a): IDP, N = 1024 random memories, P = 10, δ = 10, σ = 8, zero diagonal, 512 trajectories, 1000 steps",
        include_str!("../presets/bench-a.json"),
    ),
    (
        "bench-b",
        "benchmark (b): IDP, N = 2, P = 2, σ = 0.5, 65 536 trajectories, 1000 steps",
        include_str!("../presets/bench-b.json"),
    ),
    (
        "bench-c",
        "benchmark (c): classic, N = 64 random memories, P = 10, σ = 0.5, zero diagonal, 4096 trajectories, 1000 steps",
        include_str!("../presets/bench-c.json"),
    ),
    (
        "authors-a",
        "the authors' experiment A: three chained 10-unit segments of random mixed inputs (dominant 0, 1, 2), N = 1024, P = 10, δ = 10, σ = 8; IDP vs classic vs classic with 1-unit pulses; 10 000 random inputs per model",
        include_str!("../presets/authors-a.json"),
    ),
    (
        "authors-b",
        "the authors' experiment B (glitch): 25 units, dominant memory 0 on [0, 8), a 2-unit glitch to 1, back to 0, then 1 on [15, 19) and 2 on [19, 25); IDP vs classic vs classic with pulses; 10 000 random inputs per model",
        include_str!("../presets/authors-b.json"),
    ),
    (
        "morph",
        "an input that morphs slowly (15 time units) from a mixture dominated by memory 0 to one dominated by memory 1 (the paper's Fig. 1a); IDP vs classic, σ = 8, 10 000 random inputs each",
        include_str!("../presets/morph.json"),
    ),
    (
        "robustness-sweep",
        "retrieval accuracy vs noise σ ∈ {0, 1, 2, 4, 8, 16} for IDP, classic and classic with a 1-unit pulse: N = 1024, P = 10, δ = 10, one 5-unit segment of a random mixed input per trajectory, 10 000 per point",
        include_str!("../presets/robustness-sweep.json"),
    ),
    (
        "capacity",
        "memory load: retrieval from 10 %-flipped cues of a random memory per trajectory against P/N = 0.02 to 0.25 at N = 1000 (σ = 0, δ = 10, zeroed diagonal), the classic network without input and with the cue as a bias, and the IDP network with the cue as its input; 5 networks per point (mean ± standard error over networks), 400 trajectories each",
        include_str!("../presets/capacity.json"),
    ),
    (
        "capacity-noise",
        "memory load × noise: the capacity preset over P/N = 0.02 to 0.25 and σ = 0 to 1, one heat map of accuracy and final overlap per model, 500 trajectories per point",
        include_str!("../presets/capacity-noise.json"),
    ),
    (
        "modern-equivalence",
        "the modern three-layer model with identity Ψ_α, Ψ_y and fast layers (τ_α = τ_y = 0.05) next to the IDP model it reduces to: the quickstart network and input, 16 384 trajectories each",
        include_str!("../presets/modern-equivalence.json"),
    ),
    (
        "modern-filter",
        "the modern model's input filter: memory 0's input, then at t = 10 one that removes memory 0's equilibrium (α₀ = 0.5 < 1) and favours memory 1; the saliencies follow with time constant τ_α ∈ {0, 1, 2, 4} and the switch to memory 1 lags by ≈ τ_α ln 4",
        include_str!("../presets/modern-filter.json"),
    ),
    (
        "modern-softmax",
        "attention-like retrieval: the modern model with a softmax memory layer (β = 4), identity features and its energy E_tr, quickstart memories and input, σ = 0.3, 16 384 trajectories",
        include_str!("../presets/modern-softmax.json"),
    ),
];

/// The JSON of a preset.
pub fn get(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.0 == name).map(|p| p.2.trim_end())
}

/// Comma-separated preset names, for error messages.
pub fn names() -> String {
    PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
}
