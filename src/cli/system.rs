//! `info` (adapters and limits) and `bench` (kernel timings).

use anyhow::Result;
use lstm_transfer::bench::{STANDARD_SHAPES, Shape, bench_shape, format_report, measure_ceilings};
use lstm_transfer::gpu::{USEFUL_FEATURES, list_adapters};

use super::GpuArgs;

pub fn info(gpu: &GpuArgs) -> Result<()> {
    let choice = gpu.choice();
    let adapters = list_adapters(&choice);
    if adapters.is_empty() {
        return Err(choice.none_found().into());
    }
    for (i, a) in adapters.iter().enumerate() {
        let features: Vec<&str> = USEFUL_FEATURES.iter().filter(|(f, _)| a.features.contains(*f)).map(|(_, n)| *n).collect();
        let l = &a.limits;
        let bus = if a.info.device_pci_bus_id.is_empty() { String::new() } else { format!(", PCI {}", a.info.device_pci_bus_id) };
        println!(
            "[{i}] {} — {:?} backend, {:?}, driver {} {}{bus}",
            a.info.name, a.info.backend, a.info.device_type, a.info.driver, a.info.driver_info
        );
        println!(
            "    features: {}",
            if features.is_empty() { "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into() } else { features.join(", ") }
        );
        println!(
            "    max buffer {} MiB, max storage binding {} MiB, {} storage buffers per stage, workgroup {}x{} ({} invocations, {} B shared), {} workgroups per dimension",
            l.max_buffer_size >> 20,
            l.max_storage_buffer_binding_size >> 20,
            l.max_storage_buffers_per_shader_stage,
            l.max_compute_workgroup_size_x,
            l.max_compute_workgroup_size_y,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size,
            l.max_compute_workgroups_per_dimension
        );
    }
    Ok(())
}

pub fn parse_shape(s: &str) -> std::result::Result<Shape, String> {
    let v: Vec<usize> =
        s.split(',').map(|x| x.trim().parse::<usize>()).collect::<std::result::Result<_, _>>().map_err(|e| e.to_string())?;
    match v[..] {
        [b, t, e, h] if b > 0 && t > 0 && e > 0 && h > 0 => Ok(Shape { b, t, e, h }),
        _ => Err(format!("expected four positive numbers B,T,E,H, got '{s}'")),
    }
}

pub fn bench(gpu: &GpuArgs, shapes: &[Shape], repeats: usize, json: bool) -> Result<()> {
    let ctx = gpu.context()?;
    let shapes = if shapes.is_empty() { STANDARD_SHAPES.to_vec() } else { shapes.to_vec() };
    let ceilings = measure_ceilings(&ctx, repeats)?;
    let results = shapes.into_iter().map(|s| bench_shape(&ctx, s, repeats, &ceilings)).collect::<lstm_transfer::Result<Vec<_>>>()?;
    if json {
        let out = serde_json::json!({ "adapter": ctx.adapter_line(), "precision": ctx.precision(), "repeats": repeats, "ceilings": ceilings, "shapes": results, "tuning": ctx.tuning().records() });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", format_report(&ctx, &ceilings, &results));
    }
    Ok(())
}
