"""Recovery fine-tuning: curate examples at the first faulty step, train a LoRA adapter on the quantized
model, evaluate it against its parent run. Submodules import torch/peft/trl lazily; this package does not."""
