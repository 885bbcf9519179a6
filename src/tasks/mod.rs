//! The three tasks, each in its own folder (model, data, training task, metrics, checkpoint
//! metadata) over the shared layers: [`classify`] (text classification), [`lm`] (language models)
//! and [`forecast`] (time series). Tasks never import one another; what two of them share lives below.

pub mod classify;
pub mod forecast;
pub mod lm;
