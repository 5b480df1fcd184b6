"""The process's TensorFlow set-up and numerics: what decides a cell's float results besides its settings."""
