//! An application that already owns a wgpu device hands it to lstm-transfer and runs a classifier
//! on it. (`cargo run --example adopt_device`)

use lstm_transfer::kernels::pool::Pooling;
use lstm_transfer::model::{Batch, Classifier, ClassifierConfig};
use lstm_transfer::GpuContext;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The host application's own device, created its own way.
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))?;

    // The engine adopts it: same device, same queue, no second device.
    let ctx = GpuContext::from_device(device.clone(), queue.clone(), adapter.get_info());
    let cfg = ClassifierConfig { vocab: 100, embed: 16, hidden: 32, layers: 1, bidirectional: false, classes: 3, domains: 0, pooling: Pooling::Last };
    let mut model = Classifier::new(&ctx, cfg, 2, 4, 42)?;
    let batch = Batch { batch: 2, steps: 4, ids: vec![5, 6, 7, 0, 8, 9, 10, 11], lengths: vec![3, 4], labels: vec![0, 0], domain_labels: None };
    let logits = model.logits(&ctx, &batch)?;
    println!("adapter: {}\nlogits: {logits:?}", ctx.adapter_line());
    Ok(())
}
