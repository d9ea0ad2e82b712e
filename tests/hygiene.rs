//! Headless hygiene and honest timings: no Vulkan loader noise and one warning when no GPU is
//! usable; run.json and `bench` say where the time went.

mod common;

use common::idpsim_cmd;

/// Without XDG_RUNTIME_DIR and without any Vulkan driver, `--backend auto` warns once, on one
/// line, and the loader prints nothing.
#[test]
fn no_gpu_warns_once_and_the_loader_is_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = idpsim_cmd(&["run", "--preset", "quickstart", "--trajectories", "64", "--quiet", "--out"])
        .arg(&out)
        .env_remove("XDG_RUNTIME_DIR")
        .env("VK_ICD_FILENAMES", tmp.path().join("no-such-icd.json"))
        .env("VK_DRIVER_FILES", tmp.path().join("no-such-icd.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("no usable GPU").count(), 1, "one warning: {err}");
    assert_eq!(err.lines().count(), 1, "nothing else on stderr: {err}");
    let o = idpsim_cmd(&["devices"]).env_remove("XDG_RUNTIME_DIR").output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("XDG_RUNTIME_DIR"));
}

/// run.json gives set-up, integration and writing times that add up to the wall time, and
/// rates per wall second and per integration second; `bench --repeat` reports min and median.
#[test]
fn timings_are_recorded_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = idpsim_cmd(&["run", "--preset", "quickstart", "--trajectories", "512", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let t = &run["timing"];
    let f = |k: &str| t[k].as_f64().unwrap_or_else(|| panic!("timing.{k}: {t}"));
    let (setup, integration, writing, wall) = (f("setup_s"), f("integration_s"), f("writing_s"), f("wall_s"));
    assert!(setup >= 0.0 && integration > 0.0 && writing >= 0.0, "{t}");
    let parts = setup + integration + writing;
    assert!(parts <= wall * 1.0001 + 1e-3 && parts >= 0.8 * wall, "{parts} of {wall}: {t}");
    let rate = |k: &str| run["rates"][k]["neuron_steps_per_s"].as_f64().unwrap();
    assert!(rate("integration") >= rate("wall"));
    assert_eq!(run["rates"]["wall"]["neuron_steps_per_s"], run["neuron_steps_per_s"]);
    let steps = 512.0 * 2000.0 * 64.0;
    assert!((rate("integration") * integration / steps - 1.0).abs() < 1e-9);

    let o = idpsim_cmd(&["bench", "--backend", "cpu", "--cases", "b", "--scale-down", "64", "--repeat", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text.lines().find(|l| l.starts_with('{')).expect("a JSON line");
    let j: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(j["repeat"], 3);
    assert!(j["seconds_min"].as_f64().unwrap() <= j["seconds_median"].as_f64().unwrap());
    assert!(j["integration_seconds_median"].as_f64().unwrap() <= j["seconds_median"].as_f64().unwrap());
    assert!(j["kernel_seconds_median"].is_null(), "the CPU reference has no GPU timestamps: {j}");
    assert!(j["layout_used"].is_null(), "the CPU reference has no work layout: {j}");

    // On a device with timestamps the kernels' own time is part of the integration time.
    let Some(g) = common::gpu() else { return };
    if !g.ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        eprintln!("the device has no timestamps: kernel time not checked");
        return;
    }
    let o = idpsim_cmd(&["bench", "--cases", "b", "--scale-down", "64", "--repeat", "3"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let j: serde_json::Value = serde_json::from_str(text.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(j["layout_used"], "thread", "case (b), N = 2: one invocation per trajectory: {j}");
    let kernel = j["kernel_seconds_median"].as_f64().unwrap_or_else(|| panic!("no kernel time: {j}"));
    let integration = j["integration_seconds_median"].as_f64().unwrap();
    assert!(kernel > 0.0 && kernel <= integration * 1.0001, "kernel {kernel} s of integration {integration} s");
    let rate = j["kernel_neuron_steps_per_s"].as_f64().unwrap();
    assert!((rate * kernel / (1024.0 * 2.0 * 1000.0) - 1.0).abs() < 1e-9, "{j}");
}

/// The large-P and time-to-answer bench cases: a large-P case reports its rate; `tta` times the
/// 9-point memory-load sweep as a whole process twice (empty caches, then warm) and names the
/// device each point ran on; an unknown case is refused with the accepted ones.
#[test]
fn bench_large_p_and_time_to_answer_cases() {
    let o = idpsim_cmd(&["bench", "--backend", "cpu_fast", "--cases", "d", "--scale-down", "4"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let j: serde_json::Value = serde_json::from_str(text.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(
        (j["case"].as_str(), j["N"].as_u64(), j["P"].as_u64(), j["M"].as_u64()),
        (Some("d"), Some(1000), Some(250), Some(64))
    );
    assert!(j["neuron_steps_per_s"].as_f64().unwrap() > 0.0);

    let o = idpsim_cmd(&["bench", "--backend", "cpu_fast", "--cases", "tta"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "empty caches, then warm: {lines:?}");
    for (l, caches) in lines.iter().zip(["empty caches", "warm"]) {
        assert_eq!(
            (l["case"].as_str(), l["caches"].as_str(), l["points"].as_u64()),
            (Some("tta"), Some(caches), Some(9))
        );
        assert_eq!(l["chosen"], serde_json::json!("cpu_fast"));
        assert!(l["seconds"].as_f64().unwrap() > 0.0);
    }

    let o = idpsim_cmd(&["bench", "--cases", "z"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("accepted: a, b, c, d, e, f, g, tta"));
}
