"""qmr's terminal browser: step through full-precision vs quantized traces side by side."""
