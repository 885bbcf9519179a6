//! An application that owns its wgpu device and a frame loop embeds lstm-transfer: it hands its
//! device to the engine, submits predictions between its own frames without ever blocking, and
//! picks the results up when the GPU has them.
//!
//!   cargo run --release --example embed_in_app                                  # a random model
//!   cargo run --release --example embed_in_app -- runs/classifier.safetensors   # a trained one

use std::time::{Duration, Instant};

use lstm_transfer::GpuContext;
use lstm_transfer::config::Pooling;
use lstm_transfer::data::{Dataset, Vocab, make_batches};
use lstm_transfer::tasks::classify::checkpoint;
use lstm_transfer::tasks::classify::{Classifier, ClassifierConfig};

const SENTENCES: [&str; 4] =
    ["the food was great and the staff were friendly", "cold food, rude waiter, never again", "an average place", "best pizza in town"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The host's own device, created its own way (a renderer would also create its surface here).
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))?;
    let framebuffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host frame"),
        size: 1 << 20,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    // 2. The engine adopts it: same device and queue, no second device.
    let ctx = GpuContext::from_device(device.clone(), queue.clone(), adapter.get_info());
    println!("adapter: {}", ctx.adapter_line());
    let (mut model, labels, ids) = match std::env::args().nth(1) {
        Some(path) => {
            let ckpt = checkpoint::load(path.as_ref(), None)?;
            let vocab = Vocab::from_tokens(ckpt.vocab.clone().ok_or("the checkpoint has no vocabulary")?)?;
            let ids: Vec<Vec<u32>> = SENTENCES.iter().map(|s| vocab.encode(s)).collect();
            (ckpt.classifier(&ctx, SENTENCES.len(), ckpt.info.max_len)?, ckpt.info.labels.clone(), ids)
        }
        None => {
            let cfg = ClassifierConfig {
                vocab: 100,
                embed: 16,
                hidden: 32,
                layers: 1,
                bidirectional: false,
                classes: 2,
                domains: 0,
                pooling: Pooling::Last,
            };
            let ids = SENTENCES.iter().map(|s| s.bytes().map(|b| b as u32 % 98 + 2).collect()).collect();
            (Classifier::new(&ctx, cfg, SENTENCES.len(), 64, 7)?, vec!["0".into(), "1".into()], ids)
        }
    };
    let data = Dataset { labels: vec![0; ids.len()], ids, domains: None };
    let plan = make_batches(&data, SENTENCES.len(), 64, None);

    // 3. The frame loop: the host's work every frame; the prediction rides along without blocking.
    let mut pending = None;
    let mut done = 0;
    let start = Instant::now();
    for frame in 0.. {
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("host frame") });
        encoder.clear_buffer(&framebuffer, 0, None); // stands in for the host's rendering
        queue.submit([encoder.finish()]);

        if pending.is_none() && done < plan.batches.len() {
            pending = Some(model.submit_logits(&ctx, &plan.batches[done])?);
            println!("frame {frame}: prediction submitted");
        }
        if let Some(p) = &pending
            && let Some(logits) = p.poll(&ctx)?
        {
            for (&row, z) in plan.rows[done].iter().zip(logits.chunks(labels.len())) {
                let best = (0..z.len()).fold(0, |m, c| if z[c] > z[m] { c } else { m });
                println!("frame {frame}: \"{}\" → {} (logits {z:?})", SENTENCES[row], labels[best]);
            }
            pending = None;
            done += 1;
        }
        if done == plan.batches.len() {
            println!(
                "all predictions back by frame {frame} ({:.1} ms); the loop never waited on them",
                start.elapsed().as_secs_f64() * 1e3
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(4)); // the host's frame pacing
    }
    Ok(())
}
