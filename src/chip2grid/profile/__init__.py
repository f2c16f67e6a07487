"""Measure the machine's accelerator (or CPU) and write a calibration file with provenance."""
