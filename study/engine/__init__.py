"""The engine: TensorFlow set up once, model building, optimisers, diagnostics, the in-graph training loop."""
