//! Text classification: the classifier model (embedding → LSTM → pooling → head, with an optional
//! DANN domain head), its training task, evaluation and metrics, checkpoints with PyTorch names, and
//! the layer-group tools of fine-tuning.

pub mod checkpoint;
pub mod finetune;
pub mod metrics;
pub mod model;
pub mod predictor;
pub mod stepwise;
pub mod train;

pub use checkpoint::{Checkpoint, ModelInfo};
pub use model::{Classifier, ClassifierConfig};
pub use predictor::{PendingPredictions, Prediction, Predictor};
pub use train::{
    ClassifierRun, EpochLog, GroupSummary, Monitor, TrainConfig, TrainData, TrainState, evaluate, parameter_summary, train_classifier,
};
