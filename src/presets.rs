//! Built-in specs: `idpsim presets` lists them, `idpsim preset NAME` prints one.

/// (name, one-line description, JSON).
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "quickstart",
        "IDP, N = 64 Hadamard memories, P = 4, mixed input dominated by memory 1, σ = 0.5, 16 384 trajectories",
        r#"{
  "name": "quickstart",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
  "input": { "segments": [ { "duration": 20.0, "weights": [1.2, 2.5, 0.9, 1.1] } ], "gain": 1.0 },
  "noise": { "sigma": 0.5 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 16384, "seed": 42, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": { "overlaps": { "every": 0.1, "per_trajectory": false }, "final_state": true },
  "run": { "backend": "auto" }
}"#,
    ),
    (
        "quickstart-classic",
        "the quickstart network as a classic Hopfield model with the same input as a bias",
        r#"{
  "name": "quickstart-classic",
  "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
  "input": { "segments": [ { "duration": 20.0, "weights": [1.2, 2.5, 0.9, 1.1] } ], "gain": 1.0 },
  "noise": { "sigma": 0.5 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 16384, "seed": 42, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": { "overlaps": { "every": 0.1, "per_trajectory": false }, "final_state": true },
  "run": { "backend": "auto" }
}"#,
    ),
    (
        "fpe2d-equal",
        "N = 2 IDP, equal saliencies α₁ = α₂ = 3/2 (the classic network with gain 3/2): four symmetric density peaks",
        r#"{
  "name": "fpe2d-equal",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 120.0, "saliency": [1.5, 1.5] } ] },
  "noise": { "sigma": 0.8 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 65536, "seed": 2025, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 1.0 },
    "histogram": { "of": "state", "axes": [0, 1], "bins": [100, 100], "range": [[-4, 4], [-4, 4]], "from": 20.0, "every": 0.5 }
  }
}"#,
    ),
    (
        "fpe2d-dominant",
        "N = 2 IDP, memory 1 dominant (α₁ = 3/2, α₂ = 9/4): the dominant memory's wells absorb most of the density",
        r#"{
  "name": "fpe2d-dominant",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 120.0, "saliency": [1.5, 2.25] } ] },
  "noise": { "sigma": 0.8 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 65536, "seed": 2025, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 1.0 },
    "histogram": { "of": "state", "axes": [0, 1], "bins": [100, 100], "range": [[-4, 4], [-4, 4]], "from": 20.0, "every": 0.5 }
  }
}"#,
    ),
    (
        "landscape-a",
        "N = 2 landscape, regime (a): both saliencies below 1, only the origin (a global minimum)",
        r#"{
  "name": "landscape-a",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 10.0, "saliency": [0.5, 0.8] } ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
  "observe": { "overlaps": { "every": 0.05 }, "final_state": true }
}"#,
    ),
    (
        "landscape-b",
        "N = 2 landscape, regime (b): α₁ < 1 < α₂, memory 2 attracts almost every state",
        r#"{
  "name": "landscape-b",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 10.0, "saliency": [0.8, 2.0] } ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
  "observe": { "overlaps": { "every": 0.05 }, "final_state": true }
}"#,
    ),
    (
        "landscape-c",
        "N = 2 landscape, regime (c): memory 1 exists as a saddle, memory 2 is the stable minimum",
        r#"{
  "name": "landscape-c",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 10.0, "saliency": [1.2, 2.25] } ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
  "observe": { "overlaps": { "every": 0.05 }, "final_state": true }
}"#,
    ),
    (
        "landscape-d",
        "N = 2 landscape, regime (d): both memories stable, the dominant one's wells deeper",
        r#"{
  "name": "landscape-d",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": false },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 10.0, "saliency": [1.5, 2.25] } ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
  "observe": { "overlaps": { "every": 0.05 }, "final_state": true }
}"#,
    ),
    (
        "bench-a",
        "benchmark (a): IDP, N = 1024 random memories, P = 10, δ = 10, σ = 8, zero diagonal, 512 trajectories, 1000 steps",
        r#"{
  "name": "bench-a",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1024, "p": 10, "seed": 1 },
  "input": { "segments": [ { "duration": 10.0, "weights": [2.5, 1, 1, 1, 1, 1, 1, 1, 1, 1] } ] },
  "noise": { "sigma": 8.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 512, "seed": 1, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": { "overlaps": { "every": 0.1 } }
}"#,
    ),
    (
        "bench-b",
        "benchmark (b): IDP, N = 2, P = 2, σ = 0.5, 65 536 trajectories, 1000 steps",
        r#"{
  "name": "bench-b",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": true },
  "memories": { "kind": "hadamard", "n": 2, "p": 2 },
  "input": { "segments": [ { "duration": 10.0, "weights": [2.5, 1.0] } ] },
  "noise": { "sigma": 0.5 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 65536, "seed": 1, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": { "overlaps": { "every": 0.1 } }
}"#,
    ),
    (
        "bench-c",
        "benchmark (c): classic, N = 64 random memories, P = 10, σ = 0.5, zero diagonal, 4096 trajectories, 1000 steps",
        r#"{
  "name": "bench-c",
  "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 1.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 64, "p": 10, "seed": 1 },
  "input": { "segments": [ { "duration": 10.0, "weights": [2.5, 1, 1, 1, 1, 1, 1, 1, 1, 1] } ] },
  "noise": { "sigma": 0.5 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 1, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": { "overlaps": { "every": 0.1 } }
}"#,
    ),
    (
        "authors-a",
        "the authors' experiment A: three chained 10-unit segments of random mixed inputs (dominant 0, 1, 2), N = 1024, P = 10, δ = 10, σ = 8; IDP vs classic vs classic with 1-unit pulses; 10 000 random inputs per model",
        r#"{
  "name": "authors-a",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1024, "p": 10, "seed": 1 },
  "input": { "segments": [
    { "duration": 10.0, "random_weights": { "dominant_memory": 0 } },
    { "duration": 10.0, "random_weights": { "dominant_memory": 1 } },
    { "duration": 10.0, "random_weights": { "dominant_memory": 2 } }
  ] },
  "noise": { "sigma": 8.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 10000, "seed": 1, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": "target", "threshold": 0.9 }
  },
  "sweep": { "variants": {
    "idp": { "model.kind": "idp" },
    "classic": { "model.kind": "classic" },
    "classic-pulse": { "model.kind": "classic", "input.segments.*.pulse": 1.0 }
  } }
}"#,
    ),
    (
        "authors-b",
        "the authors' experiment B (glitch): 25 units, dominant memory 0 on [0, 8), a 2-unit glitch to 1, back to 0, then 1 on [15, 19) and 2 on [19, 25); IDP vs classic vs classic with pulses; 10 000 random inputs per model",
        r#"{
  "name": "authors-b",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1024, "p": 10, "seed": 1 },
  "input": { "segments": [
    { "duration": 8.0, "random_weights": { "dominant_memory": 0 } },
    { "duration": 2.0, "random_weights": { "dominant_memory": 1 } },
    { "duration": 5.0, "random_weights": { "dominant_memory": 0 } },
    { "duration": 4.0, "random_weights": { "dominant_memory": 1 } },
    { "duration": 6.0, "random_weights": { "dominant_memory": 2 } }
  ] },
  "noise": { "sigma": 8.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 10000, "seed": 2, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 0.5 }
  },
  "sweep": { "variants": {
    "idp": { "model.kind": "idp" },
    "classic": { "model.kind": "classic" },
    "classic-pulse": { "model.kind": "classic", "input.segments.*.pulse": 1.0 }
  } }
}"#,
    ),
    (
        "morph",
        "an input that morphs slowly (15 time units) from a mixture dominated by memory 0 to one dominated by memory 1 (the paper's Fig. 1a); IDP vs classic, σ = 8, 10 000 random inputs each",
        r#"{
  "name": "morph",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1024, "p": 10, "seed": 1 },
  "input": { "segments": [
    { "duration": 10.0, "random_weights": { "dominant_memory": 0 } },
    { "duration": 20.0, "ramp": 15.0, "random_weights": { "dominant_memory": 1 } }
  ] },
  "noise": { "sigma": 8.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 10000, "seed": 3, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": 1, "threshold": 0.9 }
  },
  "sweep": { "variants": {
    "idp": { "model.kind": "idp" },
    "classic": { "model.kind": "classic" }
  } }
}"#,
    ),
    (
        "robustness-sweep",
        "retrieval accuracy vs noise σ ∈ {0, 1, 2, 4, 8, 16} for IDP, classic and classic with a 1-unit pulse: N = 1024, P = 10, δ = 10, one 5-unit segment of a random mixed input per trajectory, 10 000 per point",
        r#"{
  "name": "robustness-sweep",
  "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1024, "p": 10, "seed": 1 },
  "input": { "segments": [ { "duration": 5.0, "random_weights": { "dominant_memory": "random" } } ] },
  "noise": { "sigma": 8.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 10000, "seed": 4, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": "target", "threshold": 0.9 }
  },
  "sweep": {
    "noise.sigma": [0, 1, 2, 4, 8, 16],
    "variants": {
      "idp": { "model.kind": "idp" },
      "classic": { "model.kind": "classic" },
      "classic-pulse": { "model.kind": "classic", "input.segments.*.pulse": 1.0 }
    }
  }
}"#,
    ),
    (
        "capacity",
        "memory load: retrieval from 10 %-flipped cues of a random memory per trajectory against P/N = 0.02 to 0.25 at N = 1000 (σ = 0, δ = 10, zeroed diagonal), the classic network without input and with the cue as a bias, and the IDP network with the cue as its input; 5 networks per point (mean ± standard error over networks), 400 trajectories each",
        r#"{
  "name": "capacity",
  "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1000, "p": 20, "seed": 1 },
  "input": { "segments": [ { "duration": 20.0, "cue": { "index": "random", "amplitude": 1.0 } } ] },
  "noise": { "sigma": 0.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.05 },
  "ensemble": { "trajectories": 400, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
  "observe": { "overlaps": { "every": 1.0 }, "retrieval": { "threshold": 0.9, "window": 1.0 } },
  "sweep": {
    "memories.p": [20, 50, 80, 100, 120, 130, 140, 150, 160, 180, 200, 250],
    "variants": {
      "classic": { "model.kind": "classic", "input.segments.0.cue.amplitude": 0.0 },
      "classic-cue-input": { "model.kind": "classic" },
      "idp": { "model.kind": "idp" }
    },
    "replicates": 5
  }
}"#,
    ),
    (
        "capacity-noise",
        "memory load × noise: the capacity preset over P/N = 0.02 to 0.25 and σ = 0 to 1, one heat map of accuracy and final overlap per model, 500 trajectories per point",
        r#"{
  "name": "capacity-noise",
  "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
  "memories": { "kind": "random", "n": 1000, "p": 20, "seed": 1 },
  "input": { "segments": [ { "duration": 20.0, "cue": { "index": "random", "amplitude": 1.0 } } ] },
  "noise": { "sigma": 0.0 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.05 },
  "ensemble": { "trajectories": 500, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
  "observe": { "overlaps": { "every": 1.0 }, "retrieval": { "threshold": 0.9, "window": 1.0 } },
  "sweep": {
    "memories.p": [20, 50, 100, 150, 200, 250],
    "noise.sigma": [0, 0.25, 0.5, 0.75, 1.0],
    "variants": {
      "classic": { "model.kind": "classic", "input.segments.0.cue.amplitude": 0.0 },
      "idp": { "model.kind": "idp" }
    }
  }
}"#,
    ),
    (
        "modern-equivalence",
        "the modern three-layer model with identity Ψ_α, Ψ_y and fast layers (τ_α = τ_y = 0.05) next to the IDP model it reduces to: the quickstart network and input, 16 384 trajectories each",
        r#"{
  "name": "modern-equivalence",
  "model": { "kind": "modern", "activation": { "kind": "tanh", "slope": 1.0 }, "tau_alpha": 0.05, "tau_y": 0.05 },
  "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
  "input": { "segments": [ { "duration": 20.0, "weights": [1.2, 2.5, 0.9, 1.1] } ] },
  "noise": { "sigma": 0.5 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 16384, "seed": 42, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": 1, "threshold": 0.9 }
  },
  "sweep": { "variants": {
    "idp": { "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } } },
    "modern": {}
  } }
}"#,
    ),
    (
        "modern-filter",
        "the modern model's input filter: memory 0's input, then at t = 10 one that removes memory 0's equilibrium (α₀ = 0.5 < 1) and favours memory 1; the saliencies follow with time constant τ_α ∈ {0, 1, 2, 4} and the switch to memory 1 lags by ≈ τ_α ln 4",
        r#"{
  "name": "modern-filter",
  "model": { "kind": "modern", "activation": { "kind": "tanh", "slope": 1.0 }, "tau_alpha": 1.0 },
  "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
  "input": { "segments": [
    { "duration": 10.0, "weights": [2.5, 1.2, 0.9, 1.1] },
    { "duration": 20.0, "weights": [0.5, 2.5, 0.5, 0.5] }
  ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 4096, "seed": 7, "initial": { "kind": "memory", "index": 0, "amplitude": 1.0, "jitter": 0.1 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": 1, "threshold": 0.9 }
  },
  "sweep": { "model.tau_alpha": [0, 1, 2, 4] }
}"#,
    ),
    (
        "modern-softmax",
        "attention-like retrieval: the modern model with a softmax memory layer (β = 4), identity features and its energy E_tr, quickstart memories and input, σ = 0.3, 16 384 trajectories",
        r#"{
  "name": "modern-softmax",
  "model": { "kind": "modern", "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": 4.0 } } },
  "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
  "input": { "segments": [ { "duration": 10.0, "weights": [1.2, 2.5, 0.9, 1.1] } ] },
  "noise": { "sigma": 0.3 },
  "integrator": { "scheme": "euler_maruyama", "dt": 0.01 },
  "ensemble": { "trajectories": 16384, "seed": 5, "initial": { "kind": "normal", "std": 1.0 } },
  "observe": {
    "overlaps": { "every": 0.1 },
    "energy": {},
    "retrieval": { "threshold": 0.9, "window": 1.0 },
    "first_passage": { "memory": 1, "threshold": 0.9 }
  }
}"#,
    ),
];

/// The JSON of a preset.
pub fn get(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.0 == name).map(|p| p.2)
}

/// Comma-separated preset names, for error messages.
pub fn names() -> String {
    PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
}
