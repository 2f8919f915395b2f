"""Local inference on llama.cpp: model files, the batching scheduler, sampling, templates."""
