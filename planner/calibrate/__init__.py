"""Measurement harness that runs on the device (torch): sweeps, acceptance, lengths, sample banks."""
